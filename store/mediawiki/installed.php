<?php
/* Exits 0 when MediaWiki's tables are in the instance's database. */
mysqli_report(MYSQLI_REPORT_ERROR | MYSQLI_REPORT_STRICT);
$db = new mysqli(getenv('DB_HOST'), getenv('DB_USER'), getenv('DB_PASSWORD'), getenv('DB_DB'),
		 (int)getenv('DB_PORT'));
$r = $db->query("SHOW TABLES LIKE 'page'");
exit($r->num_rows === 1 ? 0 : 1);
