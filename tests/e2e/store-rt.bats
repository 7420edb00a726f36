#!/usr/bin/env bats
# Request Tracker from the store: its login page, root's login with the
# generated password, tickets made and read through REST 2 and the web
# form, the referrer check on the address used, backed up and restored.

load helpers
load server
load store

# REST 2 as root with basic auth (no cookie): curl's arguments after the
# path $1.
rest() {
	local path=$1
	shift
	curl -s -m 60 -H "Host: rt.localhost" -u "root:$pw" "$@" "$base/REST/2.0/$path"
}

# Make a ticket in General with subject $1 through REST 2; prints its id.
new_ticket() {
	rest ticket -H "Content-Type: application/json" \
		-d "$(jq -nc --arg s "$1" '{Queue: "General", Subject: $s, Content: "From the Nua tests"}')" |
		jq -er '.id'
}

# The subject of ticket $1, or its HTTP status when there is none.
subject() {
	local out
	out=$(rest "ticket/$1" -w '\n%{http_code}')
	case ${out##*$'\n'} in
	200) jq -r .Subject <<<"${out%$'\n'*}" ;;
	*) echo "${out##*$'\n'}" ;;
	esac
}

@test "store: rt installs; root logs in, tickets are made and read back, backed up and restored" {
	store_install rt
	[[ $output == *"Request Tracker 5.0.3-1 installed as rt"* && $output == *"admin login:    root"* ]]
	pw=$(secret rt ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	local origin=http://rt.localhost:$NUA_HTTP_PORT page
	# The login page, served by RT through nginx.
	page=$(web rt "$base/")
	[[ $page == *"<title>Login</title>"* && $page == *"RT Version 5.0.3"* ]]
	next=$(sed -n 's/.*name="next" value="\([0-9a-f]*\)".*/\1/p' <<<"$page")
	[ -n "$next" ]
	# A wrong password is refused; root's logs in, and RT sends the browser
	# back to the address it used (host and port as nginx got them).
	page=$(web rt -H "Referer: $origin/" --data-urlencode user=root --data-urlencode pass=wrong \
		--data-urlencode "next=$next" "$base/NoAuth/Login.html")
	[[ $page == *"Your username or password is incorrect"* ]]
	[ "$(web rt -o /dev/null -w '%{http_code} %{redirect_url}' -H "Referer: $origin/" \
		--data-urlencode user=root --data-urlencode "pass=$pw" --data-urlencode "next=$next" \
		"$base/NoAuth/Login.html")" = "302 $origin/" ]
	page=$(web rt -H "Referer: $origin/" "$base/")
	[[ $page == *"<title>RT at a glance</title>"* ]]
	[[ $page == *'Logged in as <span class="current-user">root</span>'* ]]
	# A ticket through REST 2 (nothing without the password), read back.
	[ "$(rest ticket -u root:wrong -o /dev/null -w '%{http_code}' -H "Content-Type: application/json" \
		-d '{"Queue": "General", "Subject": "Intruder"}')" = 401 ]
	[ "$(new_ticket "First ticket, before the backup")" = 1 ]
	[ "$(subject 1)" = "First ticket, before the backup" ]
	[ "$(rest ticket/1 | jq -r '.Queue.id + " " + .Status + " " + .Creator.id')" = "1 new root" ]
	# The web form: RT's referrer check takes the address the browser used
	# as RT's own, and still refuses another site's.
	page=$(web rt -H "Referer: http://evil.example/" "$base/Ticket/Create.html?Queue=1")
	[[ $page == *"<title>Possible cross-site request forgery</title>"* ]]
	page=$(web rt -H "Referer: $origin/" "$base/Ticket/Create.html?Queue=1")
	[[ $page == *"<title>Create a new ticket in General</title>"* ]]
	token=$(sed -n 's/.*name="Token" value="\([0-9a-f]*\)".*/\1/p' <<<"$page" | head -1)
	[ -n "$token" ]
	location=$(web rt -o /dev/null -w '%{http_code} %{redirect_url}' \
		-H "Referer: $origin/Ticket/Create.html?Queue=1" -F id=new -F Queue=1 -F "Token=$token" \
		-F "Subject=From the web form" -F "Content=Hello" -F SubmitTicket=Create "$base/Ticket/Create.html")
	[[ $location == "302 $origin/Ticket/Display.html?id=2&results="* ]]
	page=$(web rt -H "Referer: $origin/Ticket/Create.html?Queue=1" "$base/${location#"302 $origin/"}")
	[[ $page == *"<title>#2: From the web form</title>"* && $page == *"Ticket 2 created in queue"* ]]
	[ "$(subject 2)" = "From the web form" ]
	[ "$(subject 3)" = 404 ]
	# Backed up, a third ticket, restored: it is gone, the others are there.
	"$NUA" backup rt >/dev/null
	[ "$(new_ticket "Third ticket, after the backup")" = 3 ]
	[ "$(subject 3)" = "Third ticket, after the backup" ]
	"$NUA" restore rt >/dev/null
	local i
	for i in $(seq 60); do
		[ "$(rest ticket/1 -o /dev/null -w '%{http_code}')" = 200 ] && break
		sleep 1
	done
	[ "$(subject 3)" = 404 ]
	[ "$(subject 1)" = "First ticket, before the backup" ]
	[ "$(subject 2)" = "From the web form" ]
}
