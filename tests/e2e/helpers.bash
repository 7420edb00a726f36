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
# unless the test chose one.
nua_start_daemon() {
	export NUA_HTTP_ADDR=${NUA_HTTP_ADDR:-127.0.0.1}
	export NUA_HTTP_PORT=${NUA_HTTP_PORT:-$(free_port)}
	"$NUA" daemon --detach || {
		cat "$NUA_ROOT/daemon.log" >&2
		return 1
	}
}

# Stop the daemon (SIGTERM; SIGKILL after 5 s) and nginx. Containers are
# not the daemon's: remove instances first.
nua_stop_daemon() {
	local pid i
	pid=$(cat "$NUA_RUN/nua.pid" 2>/dev/null) || pid=
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		for i in $(seq 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$pid" 2>/dev/null || true
	fi
	if [ -f "$NUA_ROOT/nginx/nginx.pid" ]; then
		kill "$(cat "$NUA_ROOT/nginx/nginx.pid")" 2>/dev/null || true
		sleep 0.2
	fi
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

# A free TCP port on 127.0.0.1.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A private server: its own root, a short run directory (conmon's socket
# paths must stay under 108 bytes), nginx on a free loopback port. The base
# rootfs cache is shared (NUA_CACHE), as debootstrap takes a while.
nua_setup_server() {
	NUA_ROOT=$(mktemp -d /tmp/nua-root.XXXXXX)
	NUA_RUN=$(mktemp -d /tmp/nua-run.XXXXXX)
	NUA_HTTP_PORT=$(free_port)
	NUA_HTTP_ADDR=127.0.0.1
	export NUA_ROOT NUA_RUN NUA_HTTP_PORT NUA_HTTP_ADDR
	nua_start_daemon
}

# Remove every instance, stop nginx, and leave no mount, bridge or file.
nua_teardown_server() {
	[ -n "${NUA_ROOT:-}" ] && [ -d "$NUA_ROOT" ] || return 0
	local name
	# The apps first: a resource server (nua-...) cannot go while an app
	# uses it.
	for name in $("$NUA" ls --json 2>/dev/null | jq -r '.[].name' 2>/dev/null | sort -k1,1 -t- -s |
		awk '!/^nua-/ {print} /^nua-/ {s = s $0 "\n"} END {printf "%s", s}'); do
		"$NUA" rm --purge "$name" >/dev/null 2>&1 || true
	done
	nua_stop_daemon
	nua_clean_runtime
	grep -o " $NUA_ROOT/[^ ]*\| $NUA_RUN/[^ ]*" /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	local tag
	tag=$(printf '%s' "$NUA_ROOT" | sha256sum | cut -c1-8)
	ip link del "nua-$tag" 2>/dev/null || true
	rm -rf "$NUA_ROOT" "$NUA_RUN"
}

# GET http://127.0.0.1:$NUA_HTTP_PORT$2 with Host: $1; prints "STATUS" then
# the body.
http_get() {
	local body
	body=$(curl -s -m 10 -o - -w '\n%{http_code}' -H "Host: $1" "http://127.0.0.1:$NUA_HTTP_PORT$2")
	echo "${body##*$'\n'} ${body%$'\n'*}"
}

# What a killed daemon or a failed test may leave of containers: runc's
# containers of this run directory and their conmon processes.
nua_clean_runtime() {
	local id
	[ -d "$NUA_RUN/oci/runc" ] || return 0
	for id in $(ls "$NUA_RUN/oci/runc" 2>/dev/null); do
		runc --root "$NUA_RUN/oci/runc" kill "$id" KILL 2>/dev/null || true
		runc --root "$NUA_RUN/oci/runc" delete --force "$id" 2>/dev/null || true
	done
}
