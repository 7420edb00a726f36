<?php
/* An upgrade of a WordPress instance (nua upgrade): the database brought
 * to the new version's schema, as wp-admin/upgrade.php would on a click.
 * Nothing to do when it is there already. */
define('WP_INSTALLING', true);
require '/usr/share/wordpress/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

if (!is_blog_installed()) {
	echo "WordPress is not installed: nothing to upgrade\n";
	exit(0);
}
$from = (int)get_option('db_version');
wp_upgrade();
printf("WordPress's database: version %d (was %d)\n", (int)get_option('db_version'), $from);
