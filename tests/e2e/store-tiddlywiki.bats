#!/usr/bin/env bats
# TiddlyWiki from the store: its page for anyone, tiddlers written through
# its HTTP API by the admin only, read back, backed up and restored.

load helpers
load server
load store

# PUT tiddler $1 with text $2 (curl's options after); prints the status.
put_tiddler() {
	local title=$1 text=$2
	shift 2
	web tiddlywiki -o /dev/null -w '%{http_code}' -X PUT -H "X-Requested-With: TiddlyWiki" \
		-H "Content-Type: application/json" \
		-d "$(jq -nc --arg t "$title" --arg x "$text" '{title: $t, text: $x, tags: "nua"}')" \
		"$@" "$base/recipes/default/tiddlers/$(jq -rn --arg t "$title" '$t | @uri')"
}

# The text of tiddler $1, or the HTTP status when there is none.
tiddler_text() {
	local out
	out=$(web tiddlywiki -w '\n%{http_code}' "$base/recipes/default/tiddlers/$(jq -rn --arg t "$1" '$t | @uri')")
	case ${out##*$'\n'} in
	200) jq -r .text <<<"${out%$'\n'*}" ;;
	*) echo "${out##*$'\n'}" ;;
	esac
}

@test "store: tiddlywiki installs; anyone reads, the admin writes a tiddler, backed up and restored" {
	store_install tiddlywiki
	[[ $output == *"TiddlyWiki 5.3.8-1 installed as tiddlywiki"* && $output == *"admin login:    admin"* ]]
	pw=$(secret tiddlywiki ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	# The wiki's page, with the title made at the first start, for anyone.
	[[ $(web tiddlywiki "$base/") == *"<title>TiddlyWiki — a non-linear personal web notebook</title>"* ]]
	[ "$(web tiddlywiki "$base/status" | jq -c '{anonymous, read_only, tiddlywiki_version}')" = \
		'{"anonymous":true,"read_only":true,"tiddlywiki_version":"5.3.8"}' ]
	[ "$(web tiddlywiki -u "admin:$pw" "$base/status" | jq -c '{username, read_only}')" = \
		'{"username":"admin","read_only":false}' ]
	# Writes: refused without the password, with another, or without
	# TiddlyWiki's anti-CSRF header; the admin's is read back.
	[ "$(put_tiddler "Nua test" "Anonymous")" = 401 ]
	[ "$(put_tiddler "Nua test" "Wrong" -u admin:wrong)" = 401 ]
	[ "$(web tiddlywiki -o /dev/null -w '%{http_code}' -X PUT -u "admin:$pw" -H "Content-Type: application/json" \
		-d '{"title": "Nua test", "text": "No header"}' "$base/recipes/default/tiddlers/Nua%20test")" = 403 ]
	[ "$(tiddler_text "Nua test")" = 404 ]
	[ "$(put_tiddler "Nua test" "First version, from the Nua tests" -u "admin:$pw")" = 204 ]
	[ "$(tiddler_text "Nua test")" = "First version, from the Nua tests" ]
	[[ $(web tiddlywiki "$base/") == *"First version, from the Nua tests"* ]]
	# The server writes a changed tiddler to its file within a second.
	sleep 2
	"$NUA" backup tiddlywiki >/dev/null
	[ "$(put_tiddler "Nua test" "Second version" -u "admin:$pw")" = 204 ]
	[ "$(put_tiddler "Written after the backup" "Gone after the restore" -u "admin:$pw")" = 204 ]
	[ "$(tiddler_text "Nua test")" = "Second version" ]
	sleep 2
	"$NUA" restore tiddlywiki >/dev/null
	local i
	for i in $(seq 30); do
		[ "$(web tiddlywiki -o /dev/null -w '%{http_code}' "$base/status")" = 200 ] && break
		sleep 1
	done
	[ "$(tiddler_text "Nua test")" = "First version, from the Nua tests" ]
	[ "$(tiddler_text "Written after the backup")" = 404 ]
	# The admin still writes (the credentials come from the environment).
	[ "$(put_tiddler "Nua test" "Third version" -u "admin:$pw")" = 204 ]
	[ "$(tiddler_text "Nua test")" = "Third version" ]
}
