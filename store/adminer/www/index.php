<?php
/* Adminer with the plugins this package uses: no call home for new
 * versions, and a login form that lists the database servers of the Nua
 * server (servers.php, written from the env at each start) and refuses any
 * other host, so that Adminer cannot be pointed elsewhere. */
function adminer_object() {
	include_once '/usr/share/adminer/plugins/plugin.php';
	include_once '/usr/share/adminer/plugins/version-noverify.php';
	include_once '/usr/share/adminer/plugins/login-servers.php';
	return new AdminerPlugin(array(
		new AdminerVersionNoverify(),
		new AdminerLoginServers(include '/etc/adminer/servers.php'),
	));
}

include '/usr/share/adminer/adminer.php';
