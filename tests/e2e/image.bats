#!/usr/bin/env bats
# The local image store through the CLI: import of a hand-made OCI layout,
# listing, export, a second import of the export, removal, refusal of
# damaged archives, and `docker load` of an export.

load helpers

setup() {
	nua_setup_root
	nua_start_daemon
}

# An OCI image layout archive at $1, named $2 (ref.name), of one layer:
# /bin/busybox (Debian's busybox-static) and /bin/sh linking to it.
make_busybox_archive() {
	local out=$1 ref=$2 d=$BATS_TEST_TMPDIR/oci l c m
	command -v busybox >/dev/null || skip "busybox-static is not installed (scripts/setup installs it)"
	rm -rf "$d"
	mkdir -p "$d/rootfs/bin" "$d/layout/blobs/sha256"
	cp "$(command -v busybox)" "$d/rootfs/bin/busybox"
	ln -s busybox "$d/rootfs/bin/sh"
	tar --format=pax --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1600000000 \
		-C "$d/rootfs" -cf "$d/layer.tar" bin
	l=$(sha256sum <"$d/layer.tar" | cut -d' ' -f1)
	cp "$d/layer.tar" "$d/layout/blobs/sha256/$l"
	jq -cn --arg arch "$(dpkg --print-architecture)" --arg l "sha256:$l" \
		'{architecture: $arch, os: "linux",
		  config: {Env: ["PATH=/bin"], Cmd: ["/bin/sh"]},
		  rootfs: {type: "layers", diff_ids: [$l]}}' >"$d/config.json"
	c=$(sha256sum <"$d/config.json" | cut -d' ' -f1)
	cp "$d/config.json" "$d/layout/blobs/sha256/$c"
	jq -cn --arg c "sha256:$c" --argjson cs "$(stat -c %s "$d/config.json")" \
		--arg l "sha256:$l" --argjson ls "$(stat -c %s "$d/layer.tar")" \
		'{schemaVersion: 2, mediaType: "application/vnd.oci.image.manifest.v1+json",
		  config: {mediaType: "application/vnd.oci.image.config.v1+json", digest: $c, size: $cs},
		  layers: [{mediaType: "application/vnd.oci.image.layer.v1.tar", digest: $l, size: $ls}]}' \
		>"$d/manifest.json"
	m=$(sha256sum <"$d/manifest.json" | cut -d' ' -f1)
	cp "$d/manifest.json" "$d/layout/blobs/sha256/$m"
	jq -cn --arg m "sha256:$m" --argjson ms "$(stat -c %s "$d/manifest.json")" --arg ref "$ref" \
		'{schemaVersion: 2,
		  manifests: [{mediaType: "application/vnd.oci.image.manifest.v1+json", digest: $m,
		               size: $ms, annotations: {"org.opencontainers.image.ref.name": $ref}}]}' \
		>"$d/layout/index.json"
	echo '{"imageLayoutVersion":"1.0.0"}' >"$d/layout/oci-layout"
	tar -C "$d/layout" -cf "$out" oci-layout index.json blobs
	echo "sha256:$m"
}

@test "an OCI layout imports, lists, exports and imports again to the same digest" {
	local digest first
	digest=$(make_busybox_archive "$BATS_TEST_TMPDIR/in.tar" bbox:1.0-1)

	run "$NUA" image import "$BATS_TEST_TMPDIR/in.tar"
	[ "$status" -eq 0 ]
	[ "$output" = "imported bbox:1.0-1" ]
	# The layer is unpacked under its digest, ready to be a lower directory.
	[ -x "$NUA_ROOT/layers/$(ls "$NUA_ROOT/layers" | grep -v '^\.')/diff/bin/busybox" ]

	run "$NUA" images --json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.[0].ref' <<<"$output")" = "bbox:1.0-1" ]
	first=$(jq -r '.[0].digest' <<<"$output")
	# Stored as given: the manifest's digest is the archive's.
	[ "$first" = "$digest" ]
	[ "$(jq -r '.[0].size' <<<"$output")" -gt 100000 ]

	run "$NUA" images
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "REF"*"DIGEST"*"SIZE"*"CREATED" ]]
	[[ ${lines[1]} == "bbox:1.0-1  ${first:7:12}  "*" ago" ]]

	run "$NUA" image export bbox:1.0-1 "$BATS_TEST_TMPDIR/out.tar"
	[ "$status" -eq 0 ]
	run tar -tf "$BATS_TEST_TMPDIR/out.tar"
	[[ $output == *"manifest.json"* ]]
	[[ $output == *"index.json"* ]]
	[[ $output == *"blobs/sha256/${first:7}"* ]]
	tar -xOf "$BATS_TEST_TMPDIR/out.tar" manifest.json | jq -e '.[0].RepoTags == ["bbox:1.0-1"]'

	run "$NUA" image rm bbox:1.0-1
	[ "$status" -eq 0 ]
	run "$NUA" images --json
	[ "$output" = "[]" ]
	[ ! -e "$NUA_ROOT/images/blobs/sha256/${first:7}" ]

	run "$NUA" image import "$BATS_TEST_TMPDIR/out.tar"
	[ "$status" -eq 0 ]
	run "$NUA" images --json
	[ "$(jq -r '.[0].digest' <<<"$output")" = "$first" ]

	# --name wins over the archive's name, before or after the file.
	run "$NUA" image import --name copy:2.0 "$BATS_TEST_TMPDIR/out.tar"
	[ "$status" -eq 0 ]
	[ "$output" = "imported copy:2.0-1" ]
	run "$NUA" image import "$BATS_TEST_TMPDIR/out.tar" --name copy:3.0-4
	[ "$status" -eq 0 ]
	[ "$output" = "imported copy:3.0-4" ]
	run "$NUA" images --json
	[ "$(jq length <<<"$output")" -eq 3 ]
}

@test "a damaged or nameless archive is refused with exit 2 and nothing stored" {
	local d
	make_busybox_archive "$BATS_TEST_TMPDIR/in.tar" bbox:1.0-1 >/dev/null
	d=$BATS_TEST_TMPDIR/oci/layout
	# One byte of busybox changed: the layer no longer has its digest.
	local blob
	blob=$(jq -r '.layers[0].digest' "$BATS_TEST_TMPDIR/oci/manifest.json")
	printf 'X' | dd of="$d/blobs/sha256/${blob#sha256:}" bs=1 seek=5000 conv=notrunc 2>/dev/null
	tar -C "$d" -cf "$BATS_TEST_TMPDIR/bad.tar" oci-layout index.json blobs
	run "$NUA" image import "$BATS_TEST_TMPDIR/bad.tar"
	[ "$status" -eq 2 ]
	[[ $output == *"is not a usable image archive"*"has digest"* ]]
	run "$NUA" images --json
	[ "$output" = "[]" ]
	[ -z "$(ls "$NUA_ROOT/layers")" ]

	echo "not an archive" >"$BATS_TEST_TMPDIR/junk.tar"
	run "$NUA" image import "$BATS_TEST_TMPDIR/junk.tar"
	[ "$status" -eq 2 ]

	# No name in the archive: --name is needed.
	make_busybox_archive "$BATS_TEST_TMPDIR/anon.tar" 1.0 >/dev/null
	run "$NUA" image import "$BATS_TEST_TMPDIR/anon.tar"
	[ "$status" -eq 2 ]
	[[ $output == *"--name"* ]]
	run "$NUA" image import "$BATS_TEST_TMPDIR/anon.tar" --name anon:1.0-1
	[ "$status" -eq 0 ]
}

@test "image verbs refuse bad usage and unknown refs with exit 2" {
	run "$NUA" image rm nope:1.0-1
	[ "$status" -eq 2 ]
	[[ $output == *"no image 'nope:1.0-1'"* ]]
	run "$NUA" image export nope:1.0-1 "$BATS_TEST_TMPDIR/x.tar"
	[ "$status" -eq 2 ]
	[ ! -e "$BATS_TEST_TMPDIR/x.tar" ]
	run "$NUA" image frob
	[ "$status" -eq 2 ]
	[[ $output == *"usage: nua image"* ]]
	run "$NUA" image import
	[ "$status" -eq 2 ]
	run "$NUA" image import "$BATS_TEST_TMPDIR/missing.tar"
	[ "$status" -eq 2 ]
	run "$NUA" images extra
	[ "$status" -eq 2 ]
}

# ---- docker load of an export ----

DOCKER_T=
DOCKERD_PID=

stop_dockerd() {
	[ -n "$DOCKER_T" ] || return 0
	if [ -n "$DOCKERD_PID" ]; then
		kill "$DOCKERD_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.2; done
		kill -9 "$DOCKERD_PID" 2>/dev/null || true
	fi
	grep -o " $DOCKER_T/[^ ]*" /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
	rm -rf "$DOCKER_T"
}

teardown() {
	stop_dockerd
	nua_teardown_test
}

@test "docker load accepts an export and runs it" {
	[ "$(id -u)" -eq 0 ] || skip "dockerd needs root"
	command -v dockerd >/dev/null || skip "docker.io is not installed (scripts/setup installs it)"
	local docker=/usr/bin/docker
	[ -x "$docker" ] || docker=$(command -v docker)

	make_busybox_archive "$BATS_TEST_TMPDIR/in.tar" bbox:1.0-1 >/dev/null
	run "$NUA" image import "$BATS_TEST_TMPDIR/in.tar"
	[ "$status" -eq 0 ]
	run "$NUA" image export bbox:1.0-1 "$BATS_TEST_TMPDIR/out.tar"
	[ "$status" -eq 0 ]

	# A private dockerd; the short path keeps its unix sockets under 108 bytes.
	DOCKER_T=$(mktemp -d /tmp/nua-docker.XXXXXX)
	dockerd --data-root "$DOCKER_T/docker" --exec-root "$DOCKER_T/exec" \
		--pidfile "$DOCKER_T/docker.pid" -H "unix://$DOCKER_T/docker.sock" \
		--bridge=none --iptables=false --ip-masq=false >"$DOCKER_T/log" 2>&1 &
	DOCKERD_PID=$!
	for _ in $(seq 100); do
		[ -S "$DOCKER_T/docker.sock" ] && DOCKER_HOST=unix://$DOCKER_T/docker.sock "$docker" info >/dev/null 2>&1 && break
		kill -0 "$DOCKERD_PID" 2>/dev/null || break
		sleep 0.3
	done
	if ! DOCKER_HOST=unix://$DOCKER_T/docker.sock "$docker" info >/dev/null 2>&1; then
		local why
		why=$(grep -i -m1 'level=fatal\|failed to start' "$DOCKER_T/log" || tail -1 "$DOCKER_T/log")
		skip "dockerd does not start here: $why"
	fi
	export DOCKER_HOST=unix://$DOCKER_T/docker.sock

	run "$docker" load -i "$BATS_TEST_TMPDIR/out.tar"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ $output == *"bbox:1.0-1"* ]]
	run "$docker" run --rm --network none bbox:1.0-1 /bin/busybox echo hi
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$output" = "hi" ]

	# And what `docker save` writes comes back in (docker-archive layout).
	run "$docker" save -o "$BATS_TEST_TMPDIR/saved.tar" bbox:1.0-1
	[ "$status" -eq 0 ]
	run "$NUA" image import "$BATS_TEST_TMPDIR/saved.tar" --name saved:1.0-1
	[ "$status" -eq 0 ]
	[ "$output" = "imported saved:1.0-1" ]
	run "$NUA" images --json
	[ "$(jq -r '.[] | select(.ref == "saved:1.0-1") | .size' <<<"$output")" -gt 100000 ]
}
