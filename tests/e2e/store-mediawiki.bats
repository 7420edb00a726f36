#!/usr/bin/env bats
# MediaWiki from the store: installed by its own install.php with the
# generated admin, no web installer left, a page edited through the API
# and read back, backed up and restored.
load helpers
load server
load store

# Log in as the admin through the API (clientlogin, with its login token).
mediawiki_login() {
	local token
	token=$(web mediawiki "$base/api.php?action=query&meta=tokens&type=login&format=json" |
		jq -r .query.tokens.logintoken)
	[[ $token == *'+\' ]]
	web mediawiki --data-urlencode "logintoken=$token" --data-urlencode "username=$1" \
		--data-urlencode "password=$2" -d "loginreturnurl=http://mediawiki.localhost/" \
		-d "action=clientlogin&format=json" "$base/api.php" | jq -r .clientlogin.status
}

# Save page $1 with the text $2 (the API's edit, with a CSRF token); prints
# the result, or the error's code.
mediawiki_edit() {
	local token
	token=$(web mediawiki "$base/api.php?action=query&meta=tokens&format=json" | jq -r .query.tokens.csrftoken)
	web mediawiki --data-urlencode "token=$token" --data-urlencode "title=$1" --data-urlencode "text=$2" \
		-d "action=edit&summary=nua+test&format=json" "$base/api.php" | jq -r '.edit.result // .error.code'
}

mediawiki_raw() {
	web mediawiki "$base/index.php?title=$1&action=raw"
}

@test "store: mediawiki installs; its admin logs in and edits a page, backed up and restored" {
	store_install mediawiki
	[[ $output == *"MediaWiki 1.39.17-1 installed as mediawiki: http://mediawiki.localhost:$NUA_HTTP_PORT/"* ]]
	[[ $output == *"admin login:    Admin"* ]]
	local pw
	pw=$(secret mediawiki ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	[[ $output == *"admin password: $pw"* ]]
	# Its Main Page, under the wiki's name; the web installer is not served.
	[[ $(web mediawiki "$base/wiki/Main_Page") == *"<title>My Wiki</title>"* ]]
	[[ $(web mediawiki "$base/wiki/Main_Page") == *"MediaWiki has been installed."* ]]
	[ "$(web mediawiki -o /dev/null -w '%{http_code}' "$base/mw-config/index.php")" = 403 ]
	# Links on the host and port it is reached at.
	[ "$(web mediawiki -o /dev/null -w '%{redirect_url}' "$base/")" = \
		"http://mediawiki.localhost:$NUA_HTTP_PORT/wiki/Main_Page" ]
	# A visitor cannot edit; a wrong password fails; the admin logs in.
	[ "$(mediawiki_edit Nua_test "Vandalism")" = permissiondenied ]
	[ "$(mediawiki_login Admin wrong-password)" = FAIL ]
	[ "$(mediawiki_login Admin "$pw")" = PASS ]
	[ "$(mediawiki_edit Nua_test "First version, from the Nua tests")" = Success ]
	[ "$(mediawiki_raw Nua_test)" = "First version, from the Nua tests" ]
	[[ $(web mediawiki "$base/wiki/Nua_test") == *"<title>Nua test - My Wiki</title>"* ]]
	# Backed up, edited again, restored: the second edit is gone.
	"$NUA" backup mediawiki >/dev/null
	[ "$(mediawiki_edit Nua_test "Second version")" = Success ]
	[ "$(mediawiki_raw Nua_test)" = "Second version" ]
	"$NUA" restore mediawiki >/dev/null
	[ "$(mediawiki_raw Nua_test)" = "First version, from the Nua tests" ]
	# The admin's login still works (its account came back with the pages).
	rm -f "$BATS_TEST_TMPDIR/jar"
	[ "$(mediawiki_login Admin "$pw")" = PASS ]
}
