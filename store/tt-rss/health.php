<?php
// The health check of Tiny Tiny RSS: its login page, through nginx and
// PHP-FPM, as the app makes it from the database (without PostgreSQL it
// is an error message, still with status 200: the status alone says
// nothing).
$page = @file_get_contents('http://127.0.0.1:' . getenv('PORT') . '/', false,
	stream_context_create(['http' => ['timeout' => 8]]));
exit($page !== false && strpos($page, '<title>Tiny Tiny RSS : Login</title>') !== false ? 0 : 1);
