#!/usr/bin/env bats
# Tiny Tiny RSS from the store: installed in one command, its admin logs in
# with the generated password (login form and JSON API), its update daemon
# runs, articles shared to its Published feed are backed up and restored.
load helpers
load server
load store

# A call of the JSON API: $1 is the request (a JSON object without "sid"),
# sent with the session of $TTRSS_SID when there is one.
ttrss_api() {
	local req=$1
	[ -z "${TTRSS_SID:-}" ] || req=$(jq -c --arg sid "$TTRSS_SID" '. + {sid: $sid}' <<<"$req")
	web tt-rss -H "Content-Type: application/json" -d "$req" "$base/api/"
}

# Log in to the API as the admin with the password $1; sets TTRSS_SID.
ttrss_api_login() {
	TTRSS_SID=
	TTRSS_SID=$(ttrss_api "$(jq -nc --arg pw "$1" '{op: "login", user: "admin", password: $pw}')" |
		jq -r 'select(.status == 0) | .content.session_id')
	[ -n "$TTRSS_SID" ]
}

# Share an article titled $1, of URL $2, to the Published feed.
ttrss_publish() {
	[ "$(ttrss_api "$(jq -nc --arg t "$1" --arg u "$2" '{op: "shareToPublished", title: $t,
		url: $u, content: "From the Nua tests"}')" | jq -r .content.status)" = OK ]
}

# The titles in the Published feed, oldest first, on one line.
ttrss_published() {
	ttrss_api '{"op": "getHeadlines", "feed_id": -2}' | jq -r '.content | sort_by(.id) | map(.title) | join(",")'
}

@test "store: tt-rss installs; its admin logs in, an article is published, backed up and restored" {
	store_install tt-rss
	[[ $output == *"Tiny Tiny RSS 21-git20210204.b4cbc79-1 installed as tt-rss"* ]]
	[[ $output == *"admin login:    admin"* ]]
	local pw
	pw=$(secret tt-rss ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	[[ $output == *"admin password: $pw"* ]]
	# Its own login page, through nginx.
	[[ $(web tt-rss "$base/") == *"<title>Tiny Tiny RSS : Login</title>"* ]]
	# The login form: a wrong password is refused, the generated one
	# opens the reader.
	web tt-rss -o /dev/null -d op=login -d login=admin -d password=wrong-password "$base/public.php"
	[[ $(web tt-rss "$base/") == *"Incorrect username or password"* ]]
	[ "$(web tt-rss -o /dev/null -w '%{http_code}' -d op=login -d login=admin --data-urlencode "password=$pw" \
		"$base/public.php")" = 302 ]
	[[ $(web tt-rss "$base/") == *"<title>Tiny Tiny RSS</title>"* ]]
	# The JSON API is on for the admin; a wrong password gets nothing.
	[ "$(ttrss_api '{"op": "login", "user": "admin", "password": "wrong-password"}' | jq -r .content.error)" = LOGIN_ERROR ]
	ttrss_api_login "$pw"
	# The update daemon runs (it stamps its lock directory).
	[ "$(ttrss_api '{"op": "getConfig"}' | jq -r .content.daemon_is_running)" = true ]
	ttrss_publish "First article" https://example.org/first
	[ "$(ttrss_published)" = "First article" ]
	# The password is in no log, the app's or the daemon's.
	[ -z "$("$NUA" logs tt-rss | grep -F "$pw")" ]
	[ -z "$(grep -F "$pw" "$NUA_ROOT/daemon.log")" ]
	# Backed up, changed, restored: the change is gone.
	"$NUA" backup tt-rss >/dev/null
	ttrss_publish "Second article" https://example.org/second
	[ "$(ttrss_published)" = "First article,Second article" ]
	"$NUA" restore tt-rss >/dev/null
	ttrss_api_login "$pw"
	[ "$(ttrss_published)" = "First article" ]
}
