<?php
/* The health check: PHP-FPM answers, with the drivers Adminer needs. */
if (!extension_loaded('mysqli') || !extension_loaded('pgsql')) {
	http_response_code(500);
	exit("a database driver is missing\n");
}
echo "ok\n";
