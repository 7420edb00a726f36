#!/usr/bin/env bats
# WordPress from the store: installed with its admin, no installer left,
# links on the host and port it is reached at, a post published through
# the REST API, backed up and restored.
load helpers
load server
load store

# Log in as the admin through wp-login.php (its test cookie first); the
# answer's status and where it sends to.
wordpress_login() {
	web wordpress -o /dev/null "$base/wp-login.php"
	web wordpress -o /dev/null -w '%{http_code} %{redirect_url}' --data-urlencode "log=$1" \
		--data-urlencode "pwd=$2" -d 'wp-submit=Log+In&testcookie=1' "$base/wp-login.php"
}

# Publish a post titled $1 with the content $2, as the logged-in admin
# (the REST API with the cookie and its nonce); prints its path.
wordpress_post() {
	local nonce answer
	nonce=$(web wordpress "$base/wp-admin/admin-ajax.php?action=rest-nonce")
	[[ $nonce =~ ^[0-9a-f]{10}$ ]]
	answer=$(web wordpress -H "X-WP-Nonce: $nonce" -H "Content-Type: application/json" \
		-d "$(jq -n --arg t "$1" --arg c "$2" '{title: $t, content: $c, status: "publish"}')" \
		"$base/wp-json/wp/v2/posts")
	[ "$(jq -r .status <<<"$answer")" = publish ]
	jq -r .link <<<"$answer" | sed 's|^http://wordpress.localhost||'
}

@test "store: wordpress installs; its admin logs in and publishes a post, backed up and restored" {
	store_install wordpress
	[[ $output == *"WordPress 6.1.9-1 installed as wordpress: http://wordpress.localhost:$NUA_HTTP_PORT/"* ]]
	[[ $output == *"admin login:    admin"* ]]
	local pw first second
	pw=$(secret wordpress ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	[[ $output == *"admin password: $pw"* ]]
	# Its home page with the site's title; the installer is done.
	[[ $(web wordpress "$base/") == *"<title>My WordPress site</title>"* ]]
	[[ $(web wordpress "$base/wp-admin/install.php") == *"<h1>Already Installed</h1>"* ]]
	# Its links are on the host and port it is reached at.
	[ "$(web wordpress "$base/wp-json/" | jq -r .home)" = "http://wordpress.localhost" ]
	[ "$(curl -s -H "Host: wordpress.localhost:$NUA_HTTP_PORT" "$base/wp-json/" | jq -r .home)" = \
		"http://wordpress.localhost:$NUA_HTTP_PORT" ]
	# A wrong password is refused; the generated one opens the dashboard.
	[ "$(wordpress_login admin wrong-password)" = "200 " ]
	[ "$(wordpress_login admin "$pw")" = "302 http://wordpress.localhost/wp-admin/" ]
	[[ $(web wordpress "$base/wp-admin/") == *"<title>Dashboard &lsaquo; My WordPress site &#8212; WordPress</title>"* ]]
	# A post published, read back on the site by a visitor.
	first=$(wordpress_post "First post from Nua" "Written by the Nua tests.")
	[[ $first == /20[0-9][0-9]/[01][0-9]/first-post-from-nua/ ]]
	page=$(curl -s -H "Host: wordpress.localhost" "$base$first")
	[[ $page == *"<title>First post from Nua &#8211; My WordPress site</title>"* ]]
	[[ $page == *"Written by the Nua tests."* ]]
	# Backed up, a second post, restored: the second is gone, the first is there.
	"$NUA" backup wordpress >/dev/null
	second=$(wordpress_post "Second post" "Written after the backup.")
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: wordpress.localhost" "$base$second")" = 200 ]
	"$NUA" restore wordpress >/dev/null
	[ "$(curl -s -o /dev/null -w '%{http_code}' -H "Host: wordpress.localhost" "$base$second")" = 404 ]
	[[ $(curl -s -H "Host: wordpress.localhost" "$base$first") == *"Written by the Nua tests."* ]]
	[ "$(web wordpress "$base/wp-json/wp/v2/posts?search=Written" | jq -r '[.[].title.rendered] | sort | join(",")')" = \
		"First post from Nua" ]
}
