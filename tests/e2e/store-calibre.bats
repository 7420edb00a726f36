#!/usr/bin/env bats
# calibre's content server from the store: installed in one command, only
# its users get in, the admin adds books through the server's API (as the
# web page's "Add books" does), backed up and restored.
load helpers
load server
load store

# GET or POST $1 on the server as the admin; the rest are curl's arguments.
calibre_get() {
	local path=$1
	shift
	web calibre -u "admin:$(secret calibre ADMIN_PASSWORD)" "$@" "$base$path"
}

# Add a book in the TXT format from the file name $1 (its title) holding $2.
calibre_add() {
	local name=${1// /%20}
	printf '%s\n' "$2" | calibre_get "/cdb/add-book/0/n/$name.txt/library" --data-binary @- |
		jq -r .book_id
}

# The titles of the library's books, by id, on one line.
calibre_titles() {
	local ids
	ids=$(calibre_get "/ajax/search/library?query=&sort=id&sort_order=asc" | jq -r '.book_ids | join(",")')
	[ -n "$ids" ] || return 0
	calibre_get "/ajax/books/library?ids=$ids" | jq -r 'to_entries | sort_by(.key | tonumber) | map(.value.title) | join(",")'
}

@test "store: calibre installs; its admin adds a book to the library, backed up and restored" {
	store_install calibre
	[[ $output == *"Calibre 6.13.0-1 installed as calibre"* ]]
	[[ $output == *"admin login:    admin"* ]]
	local pw
	pw=$(secret calibre ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	[[ $output == *"admin password: $pw"* ]]
	# Nothing without a user, nor with a wrong password.
	[ "$(web calibre -o /dev/null -w '%{http_code}' "$base/")" = 401 ]
	[ "$(web calibre -o /dev/null -w '%{http_code}' -u admin:wrong-password "$base/ajax/library-info")" = 401 ]
	# Its own page, through nginx, for the admin; the library made at
	# install, empty.
	[[ $(calibre_get /) == *"<title>calibre</title>"* ]]
	[ "$(calibre_get /ajax/library-info | jq -r .default_library)" = library ]
	[ "$(calibre_titles)" = "" ]
	# A book added, listed, its file read back.
	[ "$(calibre_add "First Book" "It was a bright cold day in April.")" = 1 ]
	[ "$(calibre_titles)" = "First Book" ]
	[ "$(calibre_get /get/TXT/1/library)" = "It was a bright cold day in April." ]
	# The password is in no log, the app's or the daemon's.
	[ -z "$("$NUA" logs calibre | grep -F "$pw")" ]
	[ -z "$(grep -F "$pw" "$NUA_ROOT/daemon.log")" ]
	# Backed up, changed, restored: the change is gone.
	"$NUA" backup calibre >/dev/null
	[ "$(calibre_add "Second Book" "Call me Ishmael.")" = 2 ]
	[ "$(calibre_titles)" = "First Book,Second Book" ]
	"$NUA" restore calibre >/dev/null
	[ "$(calibre_titles)" = "First Book" ]
	[ "$(calibre_get /get/TXT/2/library -o /dev/null -w '%{http_code}')" = 404 ]
	[ "$(calibre_get /get/TXT/1/library)" = "It was a bright cold day in April." ]
}
