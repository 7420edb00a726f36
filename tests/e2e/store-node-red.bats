#!/usr/bin/env bats
# The store's Node-RED: installed in one command, its editor and admin API
# behind the generated admin, a flow deployed and answering through nginx,
# backed up, changed and restored.
load helpers
load server
load store

# The answer of /auth/token for user $1, password $2 (on curl's stdin); the
# rest are curl's arguments.
node_red_token() {
	local user=$1 pw=$2
	shift 2
	printf %s "$pw" | web node-red -d client_id=node-red-admin -d grant_type=password \
		-d 'scope=*' -d "username=$user" --data-urlencode password@- "$@" "$base/auth/token"
}

# Deploy a flow whose GET /nua-hello answers the text $2, with the token $1;
# prints the HTTP status.
node_red_deploy() {
	jq -n --arg text "$2" '[
		{id: "f1", type: "tab", label: "Nua test"},
		{id: "n1", z: "f1", type: "http in", url: "/nua-hello", method: "get", wires: [["n2"]]},
		{id: "n2", z: "f1", type: "template", field: "payload", fieldType: "msg",
		 syntax: "plain", template: $text, output: "str", wires: [["n3"]]},
		{id: "n3", z: "f1", type: "http response", statusCode: "", wires: []}]' |
		web node-red -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $1" \
			-H "Content-Type: application/json" -H "Node-RED-Deployment-Type: full" \
			--data-binary @- "$base/flows"
}

# The answer of GET /nua-hello once it is $1 (a deploy starts the new flow a
# moment after it answers), or after 15 s whatever it is.
node_red_hello() {
	local i answer
	for i in $(seq 30); do
		answer=$(web node-red "$base/nua-hello")
		[ "$answer" != "$1" ] || break
		sleep 0.5
	done
	echo "$answer"
}

@test "store: node-red installs; its admin logs in and deploys a flow that answers, backed up and restored" {
	store_install node-red
	[[ $output == *"Node-RED 4.1.15-1 installed as node-red: http://node-red.localhost:$NUA_HTTP_PORT/"* ]]
	[[ $output == *"admin login:    admin"* ]]
	local pw token
	pw=$(secret node-red ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	[[ $output == *"admin password: $pw"* ]]
	# The editor's page; its admin API wants a token, a wrong password gets none.
	[[ $(web node-red "$base/") == *"<title>Node-RED</title>"* ]]
	[ "$(web node-red -o /dev/null -w '%{http_code}' "$base/flows")" = 401 ]
	[ "$(node_red_token admin wrong -o /dev/null -w '%{http_code}')" = 403 ]
	token=$(node_red_token admin "$pw" | jq -r .access_token)
	[ -n "$token" ]
	[ "$token" != null ]
	[ "$(web node-red -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/flows")" = 200 ]
	# A flow deployed through the admin API answers on its path, through nginx.
	[ "$(node_red_deploy "$token" "Hello from the Nua tests")" = 204 ]
	[ "$(node_red_hello "Hello from the Nua tests")" = "Hello from the Nua tests" ]
	# The hash of the password is on the volume; the password is nowhere in clear.
	[ -s "$NUA_ROOT/instances/node-red/volumes/data/.admin-password.bcrypt" ]
	[ -z "$(grep -rlF "$pw" "$NUA_ROOT/instances/node-red/volumes")" ]
	# Backed up, changed, restored: the first flow answers again.
	"$NUA" backup node-red >/dev/null
	[ "$(node_red_deploy "$token" "Changed after the backup")" = 204 ]
	[ "$(node_red_hello "Changed after the backup")" = "Changed after the backup" ]
	"$NUA" restore node-red >/dev/null
	[ "$(node_red_hello "Hello from the Nua tests")" = "Hello from the Nua tests" ]
	# The admin logs in again after the restore.
	[ "$(node_red_token admin "$pw" | jq -r .token_type)" = Bearer ]
}
