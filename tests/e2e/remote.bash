# Remote repositories for the backup tests (load helpers, then this): an S3
# server and an SFTP server for restic, each on a free 127.0.0.1 port with
# its files under a directory the test names. Each server is registered:
# remote_teardown, in the test's teardown (with "all" in teardown_file),
# stops whatever the test (or the file) left running and fails naming what
# would not stop. s3_stop and sftp_stop stop one before that.
#
#   s3_start DIR     S3_URL S3_ENDPOINT S3_BUCKET S3_ACCESS_KEY S3_SECRET_KEY
#                    S3_PORT S3_PID S3_DIR; restic takes the keys as
#                    AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
#   sftp_start DIR   SFTP_URL SFTP_COMMAND (for restic's -o sftp.command=)
#                    SFTP_REPO_DIR SFTP_KEY SFTP_KNOWN_HOSTS SFTP_USER
#                    SFTP_SSH_OPTS (ssh's and sftp's options but the port)
#                    SFTP_PORT SFTP_PID SFTP_DIR

remote_file() { echo "$BATS_FILE_TMPDIR/nua-remote"; }

# A file that loads this after server.bash stops its remote servers with
# each test (those the test started) and with the file (all), before its
# Nua server.
teardown() {
	local rc=0
	remote_teardown || rc=1
	nua_teardown_test || rc=1
	return $rc
}

teardown_file() {
	local rc=0
	remote_teardown all || rc=1
	nua_teardown_server || rc=1
	return $rc
}

# Record a server as "SCOPE KIND PID PORT DIR", the scope being the current
# test's name or "file" in setup_file.
remote_register() {
	echo "${BATS_TEST_NAME:-file} $*" >>"$(remote_file)"
}

remote_unregister() {
	local f
	f=$(remote_file)
	[ -f "$f" ] || return 0
	awk -v pid="$1" '$3 != pid' "$f" >"$f.new"
	mv "$f.new" "$f"
}

# Those of the PIDs given that are alive: a zombie (dead, waiting for its
# parent) is not.
remote_alive() {
	local p s
	for p in "$@"; do
		read -r s 2>/dev/null <"/proc/$p/stat" || continue
		s=${s##*) }
		[ "${s%% *}" = Z ] || echo "$p"
	done
}

# Everything of the server PID on port PORT with files under DIR: the
# process and its descendants (sshd forks one per connection), whatever
# holds a connection made to its port (a connection's sshd outlives its
# parent, and one accepted while the parent stops is no descendant seen),
# whatever names DIR on its command line. Not this shell, and not another
# program that listens on the port (taken before the server could).
remote_procs() {
	local pid=$1 port=$2 dir=$3 p cmd
	{
		ps -e -o pid= -o ppid= | awk -v root="$pid" '
			{ parent[$1] = $2 }
			END {
				for (p in parent) {
					q = p
					while (q != "" && q != 0 && q != root) q = parent[q]
					if (q == root) print p
				}
			}'
		ss -Htnp state connected "sport = :$port" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2
		for p in /proc/[0-9]*; do
			cmd=$(tr '\0' ' ' 2>/dev/null <"$p/cmdline") || continue
			[[ $cmd == *"$dir/"* ]] && echo "${p#/proc/}"
		done
	} | grep -vxF -e "$$" -e "$BASHPID" | sort -un
}

# Stop the server PID on port PORT with files under DIR whole: SIGTERM,
# SIGKILL after 5 s to whatever is left; then reap it if it is this shell's
# child. Fails naming what is still alive 2 s after that.
remote_stop() {
	local pid=$1 port=$2 dir=$3 seen="" new left p i
	for i in $(seq 70); do
		# A process once seen is followed even when it no longer
		# matches (a child whose parent is gone).
		new=$(remote_procs "$@")
		for p in $new; do
			[[ " $seen " == *" $p "* ]] && continue
			seen+=" $p"
			[ "$i" -gt 50 ] || kill -TERM "$p" 2>/dev/null || true
		done
		# shellcheck disable=SC2086 # lists of PIDs
		left=$(remote_alive $seen)
		[ -n "$left" ] || break
		# shellcheck disable=SC2086
		[ "$i" -le 50 ] || kill -KILL $left 2>/dev/null || true
		sleep 0.1
	done
	wait "$pid" 2>/dev/null || true
	remote_unregister "$pid"
	if [ -n "$left" ]; then
		echo "left behind by the server $pid (port $port, $dir):" >&2
		for i in $left; do
			echo "  process $i: $(tr '\0' ' ' 2>/dev/null <"/proc/$i/cmdline" | cut -c1-120)" >&2
		done
		return 1
	fi
}

# Stop every server the current test started (teardown), or with "all"
# every one left (teardown_file); fails naming what would not stop.
remote_teardown() {
	local f scope=${1:-${BATS_TEST_NAME:-file}} rc=0 s pid port dir
	f=$(remote_file)
	[ -f "$f" ] || return 0
	while read -r s _ pid port dir; do
		[ "$scope" = all ] || [ "$s" = "$scope" ] || continue
		remote_stop "$pid" "$port" "$dir" || rc=1
	done < <(tac "$f")
	return $rc
}

# Wait up to 30 s for CHECK (a command) to succeed while the server PID
# lives; on failure, say why with the server's LOG.
remote_wait() {
	local what=$1 pid=$2 log=$3 end=$((SECONDS + 30))
	shift 3
	until "$@"; do
		if [ -z "$(remote_alive "$pid")" ]; then
			echo "$what: the server exited; its log:" >&2
		elif [ "$SECONDS" -ge "$end" ]; then
			echo "$what: no answer after 30 s; the server's log:" >&2
		else
			sleep 0.1
			continue
		fi
		sed 's/^/  /' "$log" >&2
		return 1
	done
}

# Whether PID listens on 127.0.0.1:PORT: before that, another program
# holding the port would answer the checks.
remote_listening() {
	ss -Hltnp "sport = :$2" 2>/dev/null | grep -q "pid=$1,"
}

# ---- S3 ----

s3_answers() {
	remote_listening "$S3_PID" "$S3_PORT" &&
		[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$S3_ENDPOINT/$S3_BUCKET/")" = 200 ]
}

# An S3 server (a fork of s3rver, from the npm registry: scripts/test-deps
# says which and installs it when missing) storing in DIR/data, with one
# bucket, nua-test; another repository goes in it as $S3_URL/PREFIX. It has one
# fixed key pair and lets anonymous requests through too: it tests what is
# sent, not who sends it. It computes the signature of bucket-level
# requests over a path without the trailing slash that restic's client
# signs, so signatures are not checked (an unknown key id still fails).
s3_start() {
	local dir cli port
	[ $# -eq 1 ] || { echo "usage: s3_start DIR" >&2; return 2; }
	mkdir -p "$1/data" && dir=$(cd "$1" && pwd -P) || return 1
	cli=$("$NUA_TOP/scripts/test-deps" --s3rver) || return 1
	port=$(free_port) || return 1
	# The package's bin script is missing from its published files: its CLI
	# module is what the bin would run.
	node -e 'require(process.argv[1]).parseAsync(process.argv.slice(2), { from: "user" })' \
		"$cli" --directory "$dir/data" --address 127.0.0.1 --port "$port" \
		--allow-mismatched-signatures --configure-bucket nua-test \
		</dev/null >"$dir/s3rver.log" 2>&1 3>&- &
	export S3_PID=$! S3_PORT=$port S3_DIR=$dir
	remote_register s3 "$S3_PID" "$port" "$dir"
	export S3_ENDPOINT=http://127.0.0.1:$port S3_BUCKET=nua-test
	export S3_URL=s3:$S3_ENDPOINT/$S3_BUCKET
	export S3_ACCESS_KEY=S3RVER S3_SECRET_KEY=S3RVER
	remote_wait s3_start "$S3_PID" "$dir/s3rver.log" s3_answers || { s3_stop; return 1; }
}

s3_stop() {
	[ -n "${S3_PID:-}" ] || return 0
	remote_stop "$S3_PID" "$S3_PORT" "$S3_DIR" || return 1
	unset S3_PID
}

# ---- SFTP ----

# Log in and list the repository directory, as restic would reach it.
sftp_answers() {
	remote_listening "$SFTP_PID" "$SFTP_PORT" || return 1
	# shellcheck disable=SC2086 # the options are words
	sftp $SFTP_SSH_OPTS -o Port="$SFTP_PORT" -b - "$SFTP_USER@127.0.0.1" \
		<<<"ls $SFTP_REPO_DIR" >/dev/null 2>>"$SFTP_DIR/sshd.log"
}

# An SFTP server: sshd with a configuration, host key and client key of its
# own under DIR (the system's /etc/ssh is not read), listening on
# 127.0.0.1:PORT only, letting in only the current user (root here) with
# the key, for SFTP only (internal-sftp, no shell, no forwarding).
# Repositories go under SFTP_REPO_DIR, DIR/repos. Without PAM, sshd takes an
# account whose password starts with '!' for locked: the log then says so.
sftp_start() {
	local dir port user opts
	[ $# -eq 1 ] || { echo "usage: sftp_start DIR" >&2; return 2; }
	mkdir -p "$1/repos" && dir=$(cd "$1" && pwd -P) || return 1
	# restic splits the sftp.command line at spaces.
	[[ $dir != *[[:space:]]* ]] || { echo "sftp_start: no spaces in DIR: $dir" >&2; return 1; }
	user=$(id -un)
	port=$(free_port) || return 1
	# ssh-keygen would ask before overwriting the keys of an earlier start.
	rm -f "$dir"/host_key* "$dir"/client_key*
	ssh-keygen -q -t ed25519 -N '' -C nua-test-host -f "$dir/host_key" || return 1
	ssh-keygen -q -t ed25519 -N '' -C nua-test-client -f "$dir/client_key" || return 1
	echo "restrict $(cat "$dir/client_key.pub")" >"$dir/authorized_keys"
	# Written ahead: the client knows the server from the first connection.
	echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" >"$dir/known_hosts"
	# StrictModes would refuse keys under /tmp, which anyone may write to.
	cat >"$dir/sshd_config" <<-EOF
		# A throwaway SFTP server of tests/e2e/remote.bash.
		Port $port
		ListenAddress 127.0.0.1:$port
		AddressFamily inet
		HostKey $dir/host_key
		PidFile $dir/sshd.pid
		AuthorizedKeysFile $dir/authorized_keys
		StrictModes no
		AllowUsers $user
		PermitRootLogin prohibit-password
		PubkeyAuthentication yes
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		HostbasedAuthentication no
		UsePAM no
		ForceCommand internal-sftp
		Subsystem sftp internal-sftp
		DisableForwarding yes
		PermitTTY no
		PermitUserRC no
		PrintMotd no
		LogLevel VERBOSE
	EOF
	# sshd running as root needs its privilege separation directory, which
	# only the system's ssh service would have made.
	if [ "$(id -u)" -eq 0 ] && [ ! -d /run/sshd ]; then
		mkdir -m 0755 /run/sshd || return 1
	fi
	/usr/sbin/sshd -t -f "$dir/sshd_config" || return 1
	# Appended to: the login check adds the client's errors to it.
	: >"$dir/sshd.log"
	/usr/sbin/sshd -D -e -f "$dir/sshd_config" </dev/null >>"$dir/sshd.log" 2>&1 3>&- &
	export SFTP_PID=$! SFTP_PORT=$port SFTP_DIR=$dir
	remote_register sftp "$SFTP_PID" "$port" "$dir"
	export SFTP_USER=$user SFTP_KEY=$dir/client_key SFTP_KNOWN_HOSTS=$dir/known_hosts
	export SFTP_REPO_DIR=$dir/repos
	# No ~/.ssh/config, no agent's keys, no prompt, no other known host.
	opts=(-F /dev/null -i "$SFTP_KEY" -o IdentitiesOnly=yes -o BatchMode=yes
		-o UserKnownHostsFile="$SFTP_KNOWN_HOSTS" -o GlobalKnownHostsFile=/dev/null
		-o StrictHostKeyChecking=yes -o ConnectTimeout=10 -o LogLevel=ERROR)
	export SFTP_SSH_OPTS="${opts[*]}"
	# restic runs this instead of its own ssh command line (the URL's host
	# and port are then unused, its path is what counts).
	export SFTP_COMMAND="ssh $SFTP_SSH_OPTS -p $port -l $user 127.0.0.1 -s sftp"
	# The sftp:user@host:/path form has no port: the URL form does, with
	# a second slash for an absolute path.
	export SFTP_URL=sftp://$user@127.0.0.1:$port/$SFTP_REPO_DIR/restic
	remote_wait sftp_start "$SFTP_PID" "$dir/sshd.log" sftp_answers || { sftp_stop; return 1; }
}

sftp_stop() {
	[ -n "${SFTP_PID:-}" ] || return 0
	remote_stop "$SFTP_PID" "$SFTP_PORT" "$SFTP_DIR" || return 1
	unset SFTP_PID
}

# ---- ACME: pebble ----

# pebble (Debian's ACME test server) with pebble-challtestsrv as its DNS:
# every name resolves to 127.0.0.1 (chall_add_a sets another address), and
# http-01 challenges are checked on HTTP_PORT (the Nua server's). Its API
# listens on 127.0.0.1 with a certificate made here, $PEBBLE_CA, which the
# ACME client must be told to trust. Started again after pebble_stop, it
# keeps its ports (but makes a new root: pebble_root fetches it).
#
#   pebble_start DIR HTTP_PORT   PEBBLE_URL PEBBLE_CA PEBBLE_PID PEBBLE_PORT
#                                PEBBLE_MGMT_PORT CHALL_PID CHALL_MGMT_PORT
pebble_answers() {
	remote_listening "$PEBBLE_PID" "$PEBBLE_PORT" &&
		curl -s -m 2 --cacert "$PEBBLE_CA" -o /dev/null "$PEBBLE_URL"
}

chall_answers() {
	remote_listening "$CHALL_PID" "$CHALL_MGMT_PORT"
}

pebble_start() {
	local dir http=$2
	[ $# -eq 2 ] || { echo "usage: pebble_start DIR HTTP_PORT" >&2; return 2; }
	mkdir -p "$1/chall" && dir=$(cd "$1" && pwd -P) || return 1
	if [ ! -s "$dir/cert.pem" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
			-keyout "$dir/key.pem" -out "$dir/cert.pem" -days 7 \
			-subj "/CN=pebble for the tests of Nua" \
			-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" 2>/dev/null || return 1
	fi
	if [ -z "${PEBBLE_PORT:-}" ]; then
		PEBBLE_PORT=$(free_port) && PEBBLE_MGMT_PORT=$(free_port) &&
			CHALL_DNS_PORT=$(free_port) && CHALL_MGMT_PORT=$(free_port) || return 1
		export PEBBLE_PORT PEBBLE_MGMT_PORT CHALL_DNS_PORT CHALL_MGMT_PORT
	fi
	if [ -z "${CHALL_PID:-}" ]; then
		pebble-challtestsrv -defaultIPv4 127.0.0.1 -defaultIPv6 "" \
			-dns01 "127.0.0.1:$CHALL_DNS_PORT" -http01 "" -https01 "" -tlsalpn01 "" \
			-management "127.0.0.1:$CHALL_MGMT_PORT" \
			</dev/null >"$dir/chall/chall.log" 2>&1 3>&- &
		export CHALL_PID=$!
		remote_register chall "$CHALL_PID" "$CHALL_MGMT_PORT" "$dir/chall"
		remote_wait pebble-challtestsrv "$CHALL_PID" "$dir/chall/chall.log" chall_answers ||
			return 1
	fi
	cat >"$dir/pebble.json" <<-EOF
	{"pebble": {"listenAddress": "127.0.0.1:$PEBBLE_PORT",
	  "managementListenAddress": "127.0.0.1:$PEBBLE_MGMT_PORT",
	  "certificate": "$dir/cert.pem", "privateKey": "$dir/key.pem",
	  "httpPort": $http, "tlsPort": $http, "ocspResponderURL": "",
	  "certificateValidityPeriod": ${PEBBLE_VALIDITY:-864000},
	  "externalAccountBindingRequired": false}}
	EOF
	# No sleep before a validation, no nonce refused at random: the tests
	# say what fails.
	PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
		pebble -config "$dir/pebble.json" -dnsserver "127.0.0.1:$CHALL_DNS_PORT" \
		</dev/null >>"$dir/pebble.log" 2>&1 3>&- &
	export PEBBLE_PID=$! PEBBLE_DIR=$dir PEBBLE_CA=$dir/cert.pem
	export PEBBLE_URL=https://127.0.0.1:$PEBBLE_PORT/dir
	remote_register pebble "$PEBBLE_PID" "$PEBBLE_PORT" "$dir"
	remote_wait pebble_start "$PEBBLE_PID" "$dir/pebble.log" pebble_answers ||
		{ pebble_stop; return 1; }
}

pebble_stop() {
	[ -n "${PEBBLE_PID:-}" ] || return 0
	remote_stop "$PEBBLE_PID" "$PEBBLE_PORT" "$PEBBLE_DIR" || return 1
	unset PEBBLE_PID
}

# pebble's current root certificate (PEM).
pebble_root() {
	curl -s -m 10 --cacert "$PEBBLE_CA" "https://127.0.0.1:$PEBBLE_MGMT_PORT/roots/0"
}

# POST JSON to pebble-challtestsrv's management ENDPOINT.
chall_post() {
	curl -s -m 10 -o /dev/null -X POST -d "$2" "http://127.0.0.1:$CHALL_MGMT_PORT/$1"
}

# HOST resolves to ADDR for pebble from now on.
chall_add_a() { chall_post add-a "{\"host\":\"$1\",\"addresses\":[\"$2\"]}"; }

# HOST resolves to 127.0.0.1 again.
chall_clear_a() { chall_post clear-a "{\"host\":\"$1\"}"; }

# Every lookup of HOST fails (SERVFAIL) for pebble, until chall_clear_servfail.
chall_servfail() { chall_post set-servfail "{\"host\":\"$1\"}"; }

chall_clear_servfail() { chall_post clear-servfail "{\"host\":\"$1\"}"; }

refuser_answers() {
	remote_listening "$REFUSER_PID" "$REFUSER_PORT"
}

# An ACME server on loopback that takes accounts and refuses every order
# with PROBLEM_TYPE and DETAIL (acme-refuser.py), in DIR: sets REFUSER_URL
# and REFUSER_CA (its certificate).
refuser_start() {
	local dir
	[ $# -eq 3 ] || { echo "usage: refuser_start DIR PROBLEM_TYPE DETAIL" >&2; return 2; }
	mkdir -p "$1" && dir=$(cd "$1" && pwd -P) || return 1
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$dir/key.pem" -out "$dir/cert.pem" -days 2 \
		-subj "/CN=ACME refuser for the tests of Nua" \
		-addext "subjectAltName=IP:127.0.0.1" 2>/dev/null || return 1
	REFUSER_PORT=$(free_port) || return 1
	python3 "$NUA_TOP/tests/e2e/acme-refuser.py" "$REFUSER_PORT" "$dir/cert.pem" \
		"$dir/key.pem" "$2" "$3" </dev/null >"$dir/requests.log" 2>&1 3>&- &
	export REFUSER_PID=$! REFUSER_PORT REFUSER_CA=$dir/cert.pem
	export REFUSER_URL=https://127.0.0.1:$REFUSER_PORT/dir REFUSER_LOG=$dir/requests.log
	remote_register refuser "$REFUSER_PID" "$REFUSER_PORT" "$dir"
	remote_wait refuser_start "$REFUSER_PID" "$REFUSER_LOG" refuser_answers
}
