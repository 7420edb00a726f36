<?php
// The first start of a Tiny Tiny RSS instance: its schema in the empty
// PostgreSQL database, the admin the schema makes given the login and the
// password of the environment (tt-rss's own salted hash), and the API
// enabled for it. Safe to run twice.
set_include_path('/usr/share/tt-rss/www/include' . PATH_SEPARATOR . get_include_path());
define('DISABLE_SESSIONS', true);
chdir('/usr/share/tt-rss/www');
require_once 'autoload.php';
require_once 'functions.php';
require_once 'config.php';
require_once 'db.php';
require_once 'db-prefs.php';

$pdo = Db::pdo();
if ($pdo->query("SELECT to_regclass('ttrss_version') IS NULL AS empty")->fetch()['empty']) {
	$pdo->exec(file_get_contents('/usr/share/tt-rss/schema/ttrss_schema_pgsql.sql'));
	echo "schema made, version " . $pdo->query("SELECT schema_version FROM ttrss_version")->fetch()['schema_version'] . "\n";
}

// The schema's admin has the password "password" (SHA1, no salt): give it
// the generated one, once.
$login = getenv('ADMIN_USER');
$sth = $pdo->prepare("SELECT id FROM ttrss_users WHERE access_level = 10 AND pwd_hash = ? ORDER BY id LIMIT 1");
$sth->execute([encrypt_password('password')]);
if ($row = $sth->fetch()) {
	$salt = bin2hex(random_bytes(125));
	$sth = $pdo->prepare("UPDATE ttrss_users SET login = ?, salt = ?, pwd_hash = ?, created = NOW() WHERE id = ?");
	$sth->execute([$login, $salt, encrypt_password(getenv('ADMIN_PASSWORD'), $salt, true), $row['id']]);
}

$sth = $pdo->prepare("SELECT id FROM ttrss_users WHERE login = ?");
$sth->execute([$login]);
$uid = $sth->fetch()['id'];
// The admin's preferences as its first login would make them, with the
// API on (no session here: tt-rss's preferences read $_SESSION).
$_SESSION = ['uid' => false];
Pref_Prefs::initialize_user_prefs($uid);
set_pref('ENABLE_API_ACCESS', true, $uid);
echo "Tiny Tiny RSS ready; its admin is '$login'\n";
