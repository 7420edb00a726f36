# Shared set-up for the end-to-end tests: the nua under test and a private
# NUA_ROOT per test.
NUA_TOP=${NUA_TOP:-$(cd "$BATS_TEST_DIRNAME/../.." && pwd)}
NUA_BUILD=${NUA_BUILD:-$NUA_TOP/build}
NUA=$NUA_BUILD/nua

nua_setup_root() {
	export NUA_ROOT=$BATS_TEST_TMPDIR/root
	export NUA_RUN=$BATS_TEST_TMPDIR/run
	mkdir -p "$NUA_ROOT" "$NUA_RUN"
}

# The daemon of the current root (every command but check, help and version
# talks to it). nginx, which it starts, listens on a free loopback port
# unless the test chose one. The server is registered: the test's teardown
# (or, for one started in setup_file, teardown_file) stops it whole and
# checks that nothing of it is left, pass or fail.
nua_start_daemon() {
	case ${NUA_ROOT:-} in
	"" | /var/lib/nua | /var/lib/nua/)
		echo "nua_start_daemon: set a private NUA_ROOT (never the server's own)" >&2
		return 1 ;;
	esac
	export NUA_HTTP_ADDR=${NUA_HTTP_ADDR:-127.0.0.1}
	export NUA_HTTP_PORT=${NUA_HTTP_PORT:-$(free_port)}
	# HTTPS on a port of the root's own (never 443, which the server of
	# the quickstart may hold): a daemon started again on it keeps it.
	mkdir -p "$NUA_ROOT"
	if [ -s "$NUA_ROOT/.test-https-port" ]; then
		NUA_HTTPS_PORT=$(cat "$NUA_ROOT/.test-https-port")
	else
		NUA_HTTPS_PORT=$(free_port)
		echo "$NUA_HTTPS_PORT" >"$NUA_ROOT/.test-https-port"
	fi
	export NUA_HTTPS_PORT
	# No test server asks a CA on the internet: without a directory set,
	# ACME goes to a closed loopback port and fails at once.
	export NUA_ACME_DIRECTORY=${NUA_ACME_DIRECTORY:-https://127.0.0.1:9/directory}
	nua_register_server
	"$NUA" daemon --detach 3>&- || {
		cat "$NUA_ROOT/daemon.log" >&2
		return 1
	}
}

# Stop the daemon only (SIGTERM, SIGKILL after 10 s); the apps, resource
# servers and nginx keep running, as after a daemon's crash.
nua_stop_daemon() {
	"$NUA" daemon stop --timeout 10 >/dev/null 2>&1 || true
}

# ---- servers a test starts, stopped whole whatever happens ----

nua_servers_file() { echo "$BATS_FILE_TMPDIR/nua-servers"; }

# Record the current NUA_ROOT and NUA_RUN under the current test's name (or
# "file" in setup_file), once.
nua_register_server() {
	local f scope=${BATS_TEST_NAME:-file}
	f=$(nua_servers_file)
	touch "$f"
	grep -qxF "$scope $NUA_ROOT $NUA_RUN" "$f" || echo "$scope $NUA_ROOT $NUA_RUN" >>"$f"
}

nua_root_tag_of() { printf '%s' "$1" | sha256sum | cut -c1-8; }

# The live processes of the server of root $1, run directory $2 (tag $3),
# as "PID COMMAND": whose command line names its directories, whose cgroup
# bears its tag, or whose working directory or open files are under its
# directories. Zombies (already dead, waiting for their parent) and this
# shell are left out.
nua_procs_of() {
	local root=$1 run=$2 tag=$3 p cmd state
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" != "$$" ] && [ "${p#/proc/}" != "$BASHPID" ] || continue
		read -r state < <(awk '{print $3}' "$p/stat" 2>/dev/null) || continue
		[ "$state" != Z ] || continue
		cmd=$(tr '\0' ' ' <"$p/cmdline" 2>/dev/null) || continue
		if [[ $cmd == *"$root/"* || $cmd == *"$run/"* ]] ||
			grep -q "nua-$tag" "$p/cgroup" 2>/dev/null ||
			ls -l "$p/cwd" "$p/fd" 2>/dev/null | grep -qE -- "-> ($root|$run)(/|$)"; then
			echo "${p#/proc/} ${cmd:0:120}"
		fi
	done
}

# What is left of the server of root $1 and run directory $2, one line
# each: processes (daemon, nginx, conmon, containers), mounts, cgroups,
# network devices, iptables rules. Zombies (already dead, waiting for their
# parent) are not counted.
nua_leaks() {
	local root=$1 run=$2 tag pid cmd line
	tag=$(nua_root_tag_of "$root")
	while read -r pid cmd; do
		echo "process $pid: $cmd"
	done < <(nua_procs_of "$root" "$run" "$tag")
	while read -r line; do
		echo "mount $line"
	done < <(awk -v r="$root" -v n="$run" 'index($5, r "/") == 1 || $5 == r || index($5, n "/") == 1 || $5 == n {print $5}' /proc/self/mountinfo)
	while read -r line; do
		echo "cgroup $line"
	done < <(find /sys/fs/cgroup -maxdepth 6 -type d -name "*nua-$tag*" 2>/dev/null)
	while read -r line; do
		echo "network device $line"
	done < <(ip -o link show 2>/dev/null | awk -F': ' '{print $2}' | grep -F "nua-$tag")
	if command -v iptables-save >/dev/null; then
		while read -r line; do
			echo "iptables rule: $line"
		done < <(iptables-save 2>/dev/null | grep -F "nua-$tag" | head -5)
	fi
}

# Stop the server of root $1 and run directory $2 whole (nua daemon stop
# --all: daemon, instances, resource servers, nginx, bridge), check that
# nothing of it is left, then remove its files. Whatever is left is named
# on stderr, removed by force (so that one failure does not spoil the next
# tests), and fails the call.
nua_stop_server() {
	local root=$1 run=$2 leaks out ok=1
	[ -d "$root" ] || [ -d "$run" ] || return 0
	# A root the test deleted (a disaster) has nothing to stop; its run
	# directory is checked and removed all the same.
	if [ -d "$root" ] &&
		! out=$(NUA_ROOT=$root NUA_RUN=$run timeout 300 "$NUA" daemon stop --all --timeout 20 2>&1 3>&-); then
		echo "nua daemon stop --all failed for $root: $out" >&2
		ok=0
	fi
	leaks=$(nua_leaks "$root" "$run")
	if [ -n "$leaks" ]; then
		echo "left behind by the server of $root:" >&2
		echo "$leaks" | sed 's/^/  /' >&2
		nua_force_clean "$root" "$run"
	fi
	case $root in
	/tmp/* | "$BATS_RUN_TMPDIR"/*) rm -rf "$root" "$run" ;;
	esac
	[ -z "$leaks" ] && [ "$ok" = 1 ]
}

# The last resort after a failed stop: kill, unmount, delete by name.
nua_force_clean() {
	local root=$1 run=$2 tag pid cmd id
	tag=$(nua_root_tag_of "$root")
	for id in $(ls "$run/oci/runc" 2>/dev/null); do
		runc --root "$run/oci/runc" kill "$id" KILL 2>/dev/null || true
		runc --root "$run/oci/runc" delete --force "$id" 2>/dev/null || true
	done
	while read -r pid cmd; do
		kill -9 "$pid" 2>/dev/null || true
	done < <(nua_procs_of "$root" "$run" "$tag")
	sleep 0.3
	awk -v r="$root" -v n="$run" 'index($5, r "/") == 1 || index($5, n "/") == 1 {print $5}' /proc/self/mountinfo |
		sort -r | while read -r m; do umount -l "$m" 2>/dev/null || true; done
	find /sys/fs/cgroup -maxdepth 6 -depth -type d -name "*nua-$tag*" -exec rmdir {} \; 2>/dev/null || true
	ip link del "nua-$tag" 2>/dev/null || true
}

# Stop whole every server the current test started (teardown), or with
# "all" every server left (teardown_file); fails naming what was left.
nua_teardown_servers() {
	local f scope=${1:-${BATS_TEST_NAME:-file}} rc=0 s root run
	f=$(nua_servers_file)
	[ -f "$f" ] || return 0
	while read -r s root run; do
		[ "$scope" = all ] || [ "$s" = "$scope" ] || continue
		nua_stop_server "$root" "$run" || rc=1
		# grep exits 1 when no line is left: not an error here.
		grep -vxF "$s $root $run" "$f" >"$f.new" || true
		mv "$f.new" "$f"
	done < <(tac "$f")
	return $rc
}

# The teardown of every test: the servers it started itself go whole, and
# a file's server must have nothing of an instance it no longer knows.
nua_teardown_test() {
	local rc=0
	nua_teardown_servers || rc=1
	if [ -n "${NUA_FILE_ROOT:-}" ] && [ -d "$NUA_FILE_ROOT" ]; then
		NUA_ROOT=$NUA_FILE_ROOT NUA_RUN=$NUA_FILE_RUN nua_orphans || rc=1
	fi
	return $rc
}

# Containers, cgroups and mounts of instances the server of NUA_ROOT no
# longer knows (named on stderr; fails). Waits up to 10 s: a removal may
# be finishing.
nua_orphans() {
	local known tag i left
	tag=$(nua_root_tag_of "$NUA_ROOT")
	for i in $(seq 20); do
		known=$("$NUA" ls --json 2>/dev/null | jq -r '.[].name' 2>/dev/null) || return 0
		left=$(
			{
				ls "$NUA_RUN/oci/runc" 2>/dev/null
				find /sys/fs/cgroup -maxdepth 6 -type d -name "nua-$tag-*-g*" -printf '%f\n' 2>/dev/null
				awk -v r="$NUA_ROOT/instances/" 'index($5, r) == 1 {print $5}' /proc/self/mountinfo |
					sed "s|^$NUA_ROOT/instances/\([^/]*\)/gen/\([0-9]*\)/.*|nua-$tag-\1-g\2|"
			} | sort -u | while read -r id; do
				n=${id#nua-$tag-}
				n=${n%-g*}
				grep -qxF "$n" <<<"$known" || echo "$id"
			done
		)
		[ -n "$left" ] || return 0
		sleep 0.5
	done
	echo "left of instances the server no longer knows: $left" >&2
	return 1
}

# ---- a whole server (runtime, network, nginx) for the tests that deploy ----

# Set NUA_SKIP when this machine cannot run containers, saying what it
# lacks; the tests then skip with that reason.
nua_require_runtime() {
	local missing=()
	[ "$(id -u)" -eq 0 ] || { export NUA_SKIP="running containers needs root"; return 1; }
	for p in runc conmon debootstrap nginx nsenter; do
		command -v "$p" >/dev/null || missing+=("$p")
	done
	[ -x /usr/lib/cni/bridge ] || missing+=("containernetworking-plugins")
	if [ ${#missing[@]} -gt 0 ]; then
		export NUA_SKIP="not installed: ${missing[*]} (scripts/setup installs them)"
		return 1
	fi
	return 0
}

# A free TCP port on 127.0.0.1 for a server, without races: taken below
# the kernel's ephemeral range (which outgoing connections draw from, so a
# port that was free a moment ago may not be), and reserved under
# /tmp/nua-test-ports for this run (a reservation whose run is over is
# stale).
free_port() {
	local dir=/tmp/nua-test-ports owner=${NUA_TEST_OWNER:-$PPID} lo hi p i
	read -r lo hi </proc/sys/net/ipv4/ip_local_port_range
	mkdir -p "$dir"
	for i in $(seq 500); do
		if [ "$lo" -gt 30000 ]; then
			p=$((20000 + (RANDOM * 32768 + RANDOM) % 10000))
		else
			p=$((hi + 1 + (RANDOM * 32768 + RANDOM) % (65000 - hi)))
		fi
		if [ -e "$dir/$p" ]; then
			kill -0 "$(cat "$dir/$p" 2>/dev/null)" 2>/dev/null && continue
			rm -f "$dir/$p"
		fi
		(set -o noclobber; echo "$owner" >"$dir/$p") 2>/dev/null || continue
		# Without SO_REUSEADDR: a port with connections in TIME_WAIT
		# (a server of an earlier test had it) is not free for a
		# program that binds it plainly.
		if python3 -c 'import socket, sys
socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
			echo "$p" >>"$BATS_FILE_TMPDIR/nua-ports"
			echo "$p"
			return 0
		fi
		rm -f "$dir/$p"
	done
	echo "free_port: no free port found" >&2
	return 1
}

# Under tests/run, the run's end releases them: a port is never given
# twice in a run.
nua_release_ports() {
	local p
	[ -z "${NUA_TEST_OWNER:-}" ] || return 0
	[ -f "$BATS_FILE_TMPDIR/nua-ports" ] || return 0
	while read -r p; do rm -f "/tmp/nua-test-ports/$p"; done <"$BATS_FILE_TMPDIR/nua-ports"
	rm -f "$BATS_FILE_TMPDIR/nua-ports"
}

# A private server: its own root, a short run directory (conmon's socket
# paths must stay under 108 bytes), nginx on a free loopback port. The base
# rootfs cache is shared (NUA_CACHE), as debootstrap takes a while. The
# server of setup_file is the file's: each test's teardown checks that
# nothing of an instance it no longer knows is left.
nua_setup_server() {
	NUA_ROOT=$(mktemp -d /tmp/nua-root.XXXXXX)
	NUA_RUN=$(mktemp -d /tmp/nua-run.XXXXXX)
	NUA_HTTP_PORT=$(free_port)
	NUA_HTTP_ADDR=127.0.0.1
	export NUA_ROOT NUA_RUN NUA_HTTP_PORT NUA_HTTP_ADDR
	if [ -z "${BATS_TEST_NAME:-}" ]; then
		export NUA_FILE_ROOT=$NUA_ROOT NUA_FILE_RUN=$NUA_RUN
	fi
	nua_start_daemon
}

# teardown_file: every server still registered goes whole.
nua_teardown_server() {
	nua_teardown_servers all
	nua_release_ports
}

# GET http://127.0.0.1:$NUA_HTTP_PORT$2 with Host: $1; prints "STATUS" then
# the body.
http_get() {
	local body
	body=$(curl -s -m 10 -o - -w '\n%{http_code}' -H "Host: $1" "http://127.0.0.1:$NUA_HTTP_PORT$2")
	echo "${body##*$'\n'} ${body%$'\n'*}"
}
