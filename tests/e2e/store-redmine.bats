#!/usr/bin/env bats
# Redmine from the store: installed in one command, its admin logs in with the
# generated password, Rails' cache lands under its Redis prefix, a project and
# issues made through the REST API, backed up and restored.
load helpers
load server
load store

# The REST API as the admin (HTTP basic auth); the rest are curl's arguments.
redmine_api() {
	web redmine -u "admin:$(secret redmine ADMIN_PASSWORD)" "$@"
}

# POST the JSON $1 to the API's path $2; the rest are curl's arguments.
redmine_post() {
	local json=$1 path=$2
	shift 2
	redmine_api -H "Content-Type: application/json" -d "$json" "$@" "$base$path"
}

# Make an issue with subject $1 in the project nua-tests; prints its id.
redmine_issue() {
	redmine_post "{\"issue\": {\"project_id\": \"nua-tests\", \"subject\": \"$1\"$2}}" /issues.json |
		jq -r .issue.id
}

# The subjects of the project's issues, oldest first, on one line.
redmine_subjects() {
	redmine_api "$base/issues.json?project_id=nua-tests&status_id=*&sort=id" |
		jq -r '[.issues[].subject] | join(",")'
}

@test "store: redmine installs; its admin logs in, a project and an issue are made, backed up and restored" {
	store_install redmine
	[[ $output == *"Redmine 5.0.4-1 installed as redmine"* ]]
	[[ $output == *"admin login:    admin"* ]]
	local pw tok id up
	pw=$(secret redmine ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	[[ $output == *"admin password: $pw"* ]]
	# Its own page, through nginx.
	[[ $(web redmine "$base/") == *"<title>Redmine</title>"* ]]
	# The login form: a wrong password is refused, the generated one
	# opens the admin's page at once (no change of password asked).
	tok=$(web redmine "$base/login" | sed -n 's/.*name="authenticity_token" value="\([^"]*\)".*/\1/p' | head -1)
	[ -n "$tok" ]
	[[ $(web redmine --data-urlencode "authenticity_token=$tok" -d username=admin -d password=wrong-password \
		"$base/login") == *"Invalid user or password"* ]]
	[[ $(web redmine -o /dev/null -w '%{http_code} %{redirect_url}' --data-urlencode "authenticity_token=$tok" \
		-d username=admin --data-urlencode "password=$pw" "$base/login") == "302 "*"/my/page" ]]
	[[ $(web redmine "$base/my/page") == *'Logged in as <a class="user active" href="/users/1">admin</a>'* ]]
	# Rails' cache is in Redis, under the instance's prefix: the language
	# list of the account page is cached there (a dump holds the
	# instance's keys only, without the prefix).
	[ "$(secret redmine CACHE_PREFIX)" = "redmine_cache:" ]
	[ "$(web redmine -o /dev/null -w '%{http_code}' "$base/my/account")" = 200 ]
	"$NUA" resources dump redmine cache "$BATS_TEST_TMPDIR/cache.redis"
	grep -q '^SET "i18n/languages_options/5.0.4.stable" ' "$BATS_TEST_TMPDIR/cache.redis"
	# The REST API: no access without the password; a project, then an
	# issue with a file attached, read back.
	[ "$(web redmine -o /dev/null -w '%{http_code}' -u admin:wrong-password "$base/users/current.json")" = 401 ]
	[ "$(redmine_api "$base/users/current.json" | jq -r '.user.login + " " + (.user.admin | tostring)')" = "admin true" ]
	[ "$(redmine_post '{"project": {"name": "Nua tests", "identifier": "nua-tests"}}' /projects.json -o /dev/null \
		-w '%{http_code}')" = 201 ]
	up=$(printf 'Attached by the Nua tests\n' | redmine_api -H "Content-Type: application/octet-stream" \
		--data-binary @- "$base/uploads.json?filename=notes.txt" | jq -r .upload.token)
	[[ $up == 1.* ]]
	id=$(redmine_issue "First issue" ", \"uploads\": [{\"token\": \"$up\", \"filename\": \"notes.txt\"}]")
	[ "$id" = 1 ]
	[ "$(redmine_subjects)" = "First issue" ]
	[ "$(redmine_api "$base/issues/1.json?include=attachments" | jq -r '.issue.attachments[0].filename')" = notes.txt ]
	[ "$(redmine_api -L "$base/attachments/download/1/notes.txt")" = "Attached by the Nua tests" ]
	# The password is in no log, the app's or the daemon's.
	[ -z "$("$NUA" logs redmine | grep -F "$pw")" ]
	[ -z "$(grep -F "$pw" "$NUA_ROOT/daemon.log")" ]
	# Backed up, changed, restored: the change is gone, the first issue
	# and its file are back.
	"$NUA" backup redmine >/dev/null
	id=$(redmine_issue "Second issue" "")
	[ "$id" = 2 ]
	[ "$(redmine_subjects)" = "First issue,Second issue" ]
	"$NUA" restore redmine >/dev/null
	[ "$(redmine_subjects)" = "First issue" ]
	[ "$(redmine_api -o /dev/null -w '%{http_code}' "$base/issues/$id.json")" = 404 ]
	[ "$(redmine_api -L "$base/attachments/download/1/notes.txt")" = "Attached by the Nua tests" ]
}
