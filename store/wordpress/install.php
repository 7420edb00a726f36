<?php
/* The first start of a WordPress instance: the tables, the site's title
 * and its admin with the generated password, as WordPress's installer page
 * would make them, so that no installer is left to a visitor. Run again on
 * an installed site, it changes nothing. The password comes from the
 * environment, never from the command line. */
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if (is_blog_installed()) {
	echo "WordPress is installed already\n";
	exit(0);
}

/* The installer sends a mail and asks the site for itself over HTTP (to
 * test permalinks): neither can work before the site is served. */
add_filter('pre_http_request', function () {
	return new WP_Error('nua_install', 'no HTTP request while installing');
});
add_filter('pre_wp_mail', '__return_false');

$result = wp_install(getenv('SITE_TITLE'), getenv('ADMIN_USER'), getenv('ADMIN_EMAIL'), true, '',
		     wp_slash(getenv('ADMIN_PASSWORD')));
if (is_wp_error($result) || empty($result['user_id'])) {
	fwrite(STDERR, "WordPress's install failed\n");
	exit(1);
}
/* Pretty permalinks (nginx sends every unknown path to index.php). */
update_option('permalink_structure', '/%year%/%monthnum%/%postname%/');
flush_rewrite_rules(false);
printf("WordPress ready; its admin is '%s'\n", getenv('ADMIN_USER'));
