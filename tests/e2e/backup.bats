#!/usr/bin/env bats
# Backups with restic and restores from them: volumes byte for byte,
# databases row for row, a restore that fails put back, an interrupted one
# undone. A real daemon, resource servers and apps on a private root.

load helpers
load server

get() { curl -s -m 10 -H "Host: $1.localhost" "http://127.0.0.1:$NUA_HTTP_PORT$2"; }
secret() { "$NUA" env --json --show-secrets "$1" | jq -r ".$2"; }
post() { curl -s -m 10 -H "Host: $1.localhost" -d "$3" "http://127.0.0.1:$NUA_HTTP_PORT$2"; }

# What a directory holds, to compare before and after: every entry's type,
# mode, owner, size, link target and (but for directories) modification
# time, then every file's checksum.
tree_sig() {
	(cd "$1" && find . -printf '%p|%y|%m|%U:%G|%l|%s|' -a \( -type d -printf '\n' -o -printf '%T@\n' \) |
		LC_ALL=C sort && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
}

# server.bash's teardown, then the small filesystem a test mounted.
teardown() {
	local rc=0
	nua_teardown_test || rc=1
	if [ -f "$BATS_TEST_TMPDIR/mounted" ]; then
		umount "$(cat "$BATS_TEST_TMPDIR/mounted")" || rc=1
	fi
	return $rc
}

# The daemon of the file's server, stopped and started again (the apps keep
# running), without registering the server as the test's own.
restart_daemon() {
	nua_stop_daemon
	"$NUA" daemon --detach 3>&-
}

# The events of instance $1 of kind $2, one JSON object a line.
events_of() {
	"$NUA" events --since 0 --json | jq -c "select(.instance == \"$1\" and .kind == \"$2\")"
}

# A copy of hello-python named $1 whose nua-config.toml ends with the text
# $2.
pkg_like_hello() {
	local pkg=$BATS_TEST_TMPDIR/$1
	cp -r "$NUA_TOP/apps/hello-python" "$pkg"
	sed -i "s/^id = \"hello-python\"/id = \"$1\"/" "$pkg/nua-config.toml"
	printf '%s\n' "$2" >>"$pkg/nua-config.toml"
	echo "$pkg"
}

# Files a backup must bring back exactly.
odd_files() {
	local d=$1
	mkdir -p "$d/sub dir/deeper" "$d/empty-dir"
	printf 'plain\n' >"$d/plain.txt"
	printf 'spaces\n' >"$d/sub dir/a file with spaces"
	printf 'newline\n' >"$d/new"$'\n'"line"
	printf 'unicode\n' >"$d/été-日本-ü.txt"
	printf 'dash\n' >"$d/-leading-dash"
	: >"$d/empty"
	head -c 100000000 /dev/urandom >"$d/sub dir/deeper/big.bin"
	printf 'secret\n' >"$d/private" && chmod 600 "$d/private"
	printf '#!/bin/sh\n' >"$d/script" && chmod 4755 "$d/script"
	chown 1234:5678 "$d/plain.txt"
	chown -h 1000:1000 "$d/sub dir"
	ln -s plain.txt "$d/link"
	ln -s /nowhere/at/all "$d/dangling"
	ln "$d/plain.txt" "$d/hardlink"
	touch -d '2001-02-03 04:05:06' "$d/plain.txt"
}

@test "backup: a volume comes back byte for byte, with names, modes, owners and links" {
	run "$NUA" deploy "$NUA_TOP/apps/hello-python" --name hp
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$(get hp /)" == *"Visit number 1."* ]]
	vol=$NUA_ROOT/instances/hp/volumes/data
	odd_files "$vol"
	before=$(tree_sig "$vol")
	run "$NUA" backup hp
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" =~ hp:\ snapshot\ [0-9a-f]{8} ]]
	[[ "$output" == *"backing up hp to local"* ]]
	snap=$("$NUA" backups --json hp | jq -r '.[-1].id')
	[ "$("$NUA" backups --json hp | jq -r '.[-1] | .kind, .target, .image, (.volumes | join(","))' | tr '\n' ' ')" = "manual local hello-python:1.0.0-1 data " ]
	[ "$("$NUA" backups --json hp | jq '.[-1].bytes > 100000000')" = true ]
	# The repository and its password stay on the server, 0600/0700.
	[ -f "$NUA_ROOT/backups/local/config" ]
	[ "$(stat -c %a "$NUA_ROOT/backups/local")" = 700 ]
	# Changes after the backup: all of them go with the restore.
	rm -rf "$vol/sub dir" "$vol/link"
	printf 'changed\n' >"$vol/plain.txt"
	printf 'new\n' >"$vol/added-later"
	chmod 644 "$vol/private"
	[ "$(tree_sig "$vol")" != "$before" ]
	run "$NUA" restore hp "${snap:0:8}"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"taking a safety backup of hp"* ]]
	[[ "$output" == *"restoring volume data"* ]]
	[[ "$output" == *"hp restored from snapshot"* ]]
	[ "$(tree_sig "$vol")" = "$before" ]
	# It serves again, counting on from the restored counter.
	[[ "$(get hp /)" == *"Visit number 2."* ]]
	[ "$("$NUA" status --json hp | jq -r .state)" = running ]
	# The safety backup holds what was there before the restore.
	[ "$("$NUA" backups --json hp | jq -r '[.[] | .kind] | join(",")')" = "manual,safety" ]
	run "$NUA" events --json
	[[ "$output" == *'"kind":"restore"'* ]]
	# Nothing of the restore is left behind.
	[ ! -e "$NUA_ROOT/instances/hp/restore" ]
}

@test "backup: a second backup with nothing changed adds almost nothing" {
	"$NUA" backup hp
	"$NUA" backup hp
	added=$("$NUA" backups --json hp | jq '.[-1].added')
	[ "$added" -lt 2000000 ] || { echo "added $added bytes"; false; }
}

@test "backup: PostgreSQL, MariaDB and Redis data come back row for row" {
	run "$NUA" deploy "$NUA_TOP/apps/counter-redis" --name cnt
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$NUA" deploy "$NUA_TOP/apps/guestbook-mariadb" --name gb
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(get cnt /count/a)" = 1 ]
	[ "$(get cnt /count/a)" = 2 ]
	[ "$(post cnt /log 'first line')" = logged ]
	[ "$(post gb / ada)" = signed ]
	run "$NUA" backup --all
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"cnt: snapshot"* ]]
	[[ "$output" == *"gb: snapshot"* ]]
	[[ "$output" != *"nua-postgres: snapshot"* ]]
	run "$NUA" backups cnt
	[[ "$output" == *"database cache"* ]]
	[[ "$output" == *"database db"* ]]
	# Changes after the backup.
	[ "$(get cnt /count/a)" = 3 ]
	[ "$(get cnt /count/b)" = 1 ]
	post cnt /log 'second line'
	post gb / grace
	[ "$(get gb /)" = '["ada", "grace"]' ]
	run "$NUA" restore cnt
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"restoring resource db (postgres)"* ]]
	[[ "$output" == *"restoring resource cache (redis)"* ]]
	[ "$(get cnt /log)" = '["first line"]' ]
	[ "$(get cnt /count/a)" = 3 ]
	[ "$(get cnt /count/b)" = 1 ]
	run "$NUA" restore gb
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(get gb /)" = '["ada"]' ]
	# The credentials are the ones the instance had.
	"$NUA" restart gb
	[ "$(get gb /)" = '["ada"]' ]
}

@test "backup: a snapshot made into a new instance, with databases of its own" {
	[ "$(get cnt /log)" = '["first line"]' ]
	# The manual backup (the latest is the safety backup of the restore).
	snap=$("$NUA" backups --json cnt | jq -r '[.[] | select(.kind == "manual")][-1].short_id')
	run "$NUA" restore cnt "$snap" --as cnt2 --domain cnt2.localhost
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"cnt2 made from snapshot $snap of cnt: http://cnt2.localhost"* ]]
	[ "$(get cnt2 /log)" = '["first line"]' ]
	[ "$(get cnt2 /count/a)" = 3 ]
	# The copy's Redis keys are its own: the original's counter went on
	# from 3, untouched by the copy's restore.
	[ "$(get cnt /count/a)" = 4 ]
	# Its own credentials and database: what it writes, the original
	# does not see.
	[ "$(secret cnt2 DB_PASSWORD)" != "$(secret cnt DB_PASSWORD)" ]
	[[ "$(secret cnt2 DATABASE_URL)" == "postgresql://cnt2_db:"* ]]
	post cnt2 /log 'only in the copy'
	[ "$(get cnt /log)" = '["first line"]' ]
	[ "$(get cnt2 /log)" = '["first line", "only in the copy"]' ]
	run "$NUA" restore cnt --as cnt2
	[ "$status" -eq 2 ]
	[[ "$output" == *"'cnt2' exists already"* ]]
	run "$NUA" restore cnt --as 'Bad_Name'
	[ "$status" -eq 2 ]
	"$NUA" rm --purge cnt2
}

@test "backup: an unknown snapshot lists the known ones; another package's is refused" {
	run "$NUA" restore hp deadbeef
	[ "$status" -eq 2 ]
	[[ "$output" == *"no snapshot 'deadbeef' of 'hp'; its snapshots:"* ]]
	[[ "$output" == *"manual"* ]]
	run "$NUA" restore hp 'x/../y'
	[ "$status" -eq 2 ]
	run "$NUA" restore nosuch
	[ "$status" -eq 2 ]
	[[ "$output" == *"nosuch"* ]]
	run "$NUA" backup nosuch
	[ "$status" -eq 2 ]
	# The name now runs another package: the snapshots of the old one do
	# not fit it.
	run "$NUA" deploy "$NUA_TOP/apps/notes-pg" --name other
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	"$NUA" backup other
	"$NUA" rm --purge other
	run "$NUA" deploy "$NUA_TOP/apps/hello-python" --name other
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$NUA" restore other
	[ "$status" -eq 2 ]
	[[ "$output" == *"holds the package 'notes-pg', and 'other' runs 'hello-python'"* ]]
	[ "$("$NUA" status --json other | jq -r .state)" = running ]
	"$NUA" rm --purge other
}

@test "backup: a restore that fails puts the instance back as it was" {
	pkg=$BATS_TEST_TMPDIR/fragile
	cp -r "$NUA_TOP/apps/hello-python" "$pkg"
	sed -i 's/^id = "hello-python"/id = "fragile"/; s|^start = .*|start = "test ! -e /var/lib/hello/poison \&\& exec python3 /nua/app/app.py"|' \
		"$pkg/nua-config.toml"
	run "$NUA" deploy "$pkg" --name fr
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	vol=$NUA_ROOT/instances/fr/volumes/data
	[[ "$(get fr /)" == *"Visit number 1."* ]]
	# A snapshot whose data the app refuses to start with.
	touch "$vol/poison"
	"$NUA" backup fr
	rm "$vol/poison"
	printf 'after\n' >"$vol/after-the-backup"
	[[ "$(get fr /)" == *"Visit number 2."* ]]
	before=$(tree_sig "$vol")
	run "$NUA" restore fr
	[ "$status" -eq 1 ]
	[[ "$output" == *"'fr' was put back as it was"* ]]
	[ "$(tree_sig "$vol")" = "$before" ]
	[[ "$(get fr /)" == *"Visit number 3."* ]]
	[ "$("$NUA" status --json fr | jq -r .state)" = running ]
	run "$NUA" events --json
	[[ "$output" == *'"kind":"restore-failed"'*"put back as it was"* ]]
	[ ! -e "$NUA_ROOT/instances/fr/restore" ]
	"$NUA" rm --purge fr
}

@test "backup: the recovery key holds the master key and each repository's password" {
	run "$NUA" backup key
	[ "$status" -eq 0 ]
	[[ "$output" == *"# target local: $NUA_ROOT/backups/local"* ]]
	key=$(printf '%s\n' "$output" | sed -n 's/^nua-recovery-v1://p')
	json=$(printf '%s' "$key" | base64 -d)
	[ "$(jq -r '.targets[0].name' <<<"$json")" = local ]
	pw=$(jq -r '.targets[0].password' <<<"$json")
	[ ${#pw} -eq 40 ]
	[ "$(jq -r '.master_key | length' <<<"$json")" = 43 ]
	# The password opens the repository, and is stored sealed.
	run env RESTIC_PASSWORD="$pw" restic -r "$NUA_ROOT/backups/local" --no-cache snapshots --json
	[ "$status" -eq 0 ]
	[ "$(jq length <<<"$output")" -ge 3 ]
	run grep -c "$pw" "$NUA_ROOT/nua.db"
	[ "$output" = 0 ]
}

@test "backup: the schedule backs up, pauses the app when asked, keeps what the policy keeps" {
	pkg=$(pkg_like_hello often $'[backup]\nfrequency = "1s"\npause = true')
	"$NUA" backup policy --keep-last 2 --keep-daily 0 --keep-weekly 0 --keep-monthly 0
	run "$NUA" deploy "$pkg" --name often
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# A round every 10 s: four scheduled backups within a minute or so.
	for i in $(seq 120); do
		[ "$(events_of often backup | wc -l)" -ge 4 ] && break
		sleep 1
	done
	[ "$(events_of often backup | wc -l)" -ge 4 ]
	events_of often backup | jq -r .message | grep -q '^scheduled snapshot .*, the app paused meanwhile$'
	[ "$(events_of often backup-forget | wc -l)" -ge 1 ]
	# Paused for the backup only: it runs and answers.
	[ "$("$NUA" status --json often | jq -r .state)" = running ]
	[[ "$(get often /)" == *"Visit number"* ]]
	# The retention keeps two (a third may be between its backup and its
	# forget), of four and more taken.
	[ "$("$NUA" backups --json often | jq length)" -le 3 ]
	"$NUA" rm --purge often
	"$NUA" backup policy --keep-last 0 --keep-daily 7 --keep-weekly 4 --keep-monthly 6
}

@test "backup: a backup missed while the daemon was down runs when it starts" {
	pkg=$(pkg_like_hello hourly $'[backup]\nfrequency = "1h"')
	run "$NUA" deploy "$pkg" --name hourly
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	"$NUA" backup hourly
	sleep 12 # a scheduler round: nothing is due
	[ "$(events_of hourly backup | wc -l)" -eq 1 ]
	nua_stop_daemon
	# Two hours pass while it is down.
	python3 - "$NUA_ROOT/nua.db" <<'PY'
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1])
past = int(time.time()) - 7200
db.execute("UPDATE backups SET time = ? WHERE instance = 'hourly'", (past,))
db.execute("UPDATE instances SET created_at = ? WHERE name = 'hourly'", (past,))
db.commit()
PY
	"$NUA" daemon --detach 3>&-
	for i in $(seq 60); do
		[ "$(events_of hourly backup | wc -l)" -ge 2 ] && break
		sleep 1
	done
	events_of hourly backup | tail -1 | jq -r .message | grep -q '^scheduled snapshot'
	"$NUA" rm --purge hourly
}

@test "backup: a daemon killed in the middle of a restore puts the instance back when it starts" {
	run "$NUA" deploy "$NUA_TOP/apps/notes-pg" --name killed
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	notes() { curl -s -m 10 -H "Host: killed.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/notes" "$@"; }
	notes -d 'in the backup' >/dev/null
	"$NUA" backup killed
	notes -d 'after the backup' >/dev/null
	vol=$NUA_ROOT/instances/killed
	"$NUA" restore killed >"$BATS_TEST_TMPDIR/restore.out" 2>&1 &
	op=$!
	# Killed once the app is stopped for the swap.
	for i in $(seq 300); do
		grep -q "^stopping killed" "$BATS_TEST_TMPDIR/restore.out" && break
		sleep 0.1
	done
	kill -9 "$(cat "$NUA_RUN/nua.pid")"
	wait "$op" || true
	[ -e "$vol/restore/journal.json" ]
	"$NUA" daemon --detach 3>&-
	for i in $(seq 120); do
		[ ! -e "$vol/restore" ] && [ "$("$NUA" status --json killed | jq -r .state)" = running ] && break
		sleep 1
	done
	[ ! -e "$vol/restore" ]
	[ "$(notes)" = '["in the backup", "after the backup"]' ]
	events_of killed restore-failed | jq -r .message | grep -q 'was interrupted; put back as it was'
	"$NUA" rm --purge killed
}

@test "backup: disaster recovery: a server's root deleted, its instances back on a new server" {
	offsite=$BATS_TEST_TMPDIR/offsite
	# Server A, with an off-site copy of its backups.
	nua_setup_server
	run "$NUA" deploy "$NUA_TOP/apps/notes-pg" --name notes --domain notes.example.test
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$NUA" deploy "$NUA_TOP/apps/hello-python" --name hello -e GREETING=Salut
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	curl -s -m 10 -H "Host: notes.example.test" -d 'kept through the disaster' \
		"http://127.0.0.1:$NUA_HTTP_PORT/notes" >/dev/null
	[[ "$(get hello /)" == *"Visit number 1."* ]]
	key=$(secret hello SECRET_KEY)
	"$NUA" backup target add offsite "$offsite"
	run "$NUA" backup --all
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	"$NUA" backup key >"$BATS_TEST_TMPDIR/recovery.key"
	# The disaster: A and everything under its root are gone.
	"$NUA" daemon stop --all
	rm -rf "$NUA_ROOT"
	# Server B, empty, with the recovery key and the off-site copy.
	nua_setup_server
	run "$NUA" restore --all --from offsite --key - <"$BATS_TEST_TMPDIR/recovery.key"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"notes restored"* ]]
	[[ "$output" == *"hello restored"* ]]
	[ "$(curl -s -m 10 -H "Host: notes.example.test" "http://127.0.0.1:$NUA_HTTP_PORT/notes")" = \
		'["kept through the disaster"]' ]
	[[ "$(get hello /)" == *"<h1>Salut</h1><p>Visit number 2."* ]]
	# Its secrets are the ones it had, sealed with B's key now.
	[ "$(secret hello SECRET_KEY)" = "$key" ]
	run grep -c "$key" "$NUA_ROOT/nua.db"
	[ "$output" = 0 ]
	# Again: nothing to do for instances B has.
	run "$NUA" restore --all --from offsite --key - <"$BATS_TEST_TMPDIR/recovery.key"
	[ "$status" -eq 0 ]
	[[ "$output" == *"notes exists here already: left as it is"* ]]
}

@test "backup: disaster recovery refuses a wrong key and an unknown target" {
	run "$NUA" restore --all --from nowhere
	[ "$status" -eq 2 ]
	[[ "$output" == *"no backup target named 'nowhere' here"* ]]
	printf 'nua-recovery-v1:bm90IGpzb24=\n' >"$BATS_TEST_TMPDIR/bad.key"
	run "$NUA" restore --all --from local --key "$BATS_TEST_TMPDIR/bad.key"
	[ "$status" -eq 2 ]
	[[ "$output" == *"the recovery key is damaged"* ]]
	run "$NUA" restore --all
	[ "$status" -eq 2 ]
}

@test "backup: export on one server, import on another: the same instance, or a copy" {
	vol=$NUA_ROOT/instances/hp/volumes/data
	before=$(tree_sig "$vol")
	cnt_log=$(get cnt /log)
	cnt_pw=$(secret cnt DB_PASSWORD)
	run "$NUA" export cnt -o "$BATS_TEST_TMPDIR/cnt.nua"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	"$NUA" export hp -o "$BATS_TEST_TMPDIR/hp.nua"
	[ "$(stat -c %a "$BATS_TEST_TMPDIR/cnt.nua")" = 600 ]
	"$NUA" backup key >"$BATS_TEST_TMPDIR/a.key"
	# Another server on the same machine.
	nua_setup_server
	run "$NUA" import "$BATS_TEST_TMPDIR/cnt.nua"
	[ "$status" -eq 2 ]
	[[ "$output" == *"sealed by another server: give that server's recovery key"* ]]
	[ "$("$NUA" ls --json | jq length)" = 0 ]
	run "$NUA" import "$BATS_TEST_TMPDIR/cnt.nua" --key "$BATS_TEST_TMPDIR/a.key"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"cnt imported: http://cnt.localhost"* ]]
	[ "$(get cnt /log)" = "$cnt_log" ]
	# The same instance, moved: its credentials too.
	[ "$(secret cnt DB_PASSWORD)" = "$cnt_pw" ]
	run "$NUA" import "$BATS_TEST_TMPDIR/hp.nua" --name hp-copy --key "$BATS_TEST_TMPDIR/a.key"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(tree_sig "$NUA_ROOT/instances/hp-copy/volumes/data")" = "$before" ]
	[[ "$(curl -s -m 10 -H "Host: hp-copy.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/")" == *"Visit number"* ]]
}

@test "backup: a damaged, cut short, hostile or newer archive is refused, changing nothing" {
	f=$BATS_TEST_TMPDIR/hp.nua
	"$NUA" export hp -o "$f"
	head -c 1000000 "$f" >"$BATS_TEST_TMPDIR/cut.nua"
	run "$NUA" import "$BATS_TEST_TMPDIR/cut.nua" --name x1
	[ "$status" -eq 2 ]
	[[ "$output" == *"damaged or cut short"* ]]
	cp "$f" "$BATS_TEST_TMPDIR/flipped.nua"
	printf 'XXXX' | dd of="$BATS_TEST_TMPDIR/flipped.nua" bs=1 seek=5000000 conv=notrunc 2>/dev/null
	run "$NUA" import "$BATS_TEST_TMPDIR/flipped.nua" --name x2
	[ "$status" -eq 2 ]
	[[ "$output" == *"damaged"* ]]
	python3 - "$BATS_TEST_TMPDIR" <<'PY'
import io, json, sys, tarfile
d = sys.argv[1]
def add(t, name, data):
    ti = tarfile.TarInfo(name); ti.size = len(data); t.addfile(ti, io.BytesIO(data))
with tarfile.open(d + "/evil.nua", "w") as t:
    add(t, "../../escaped", b"x")
    add(t, "nua-archive.json", b'{"format": 1, "files": {}}')
with tarfile.open(d + "/newer.nua", "w") as t:
    add(t, "backup/nua-backup.json", b"{}")
    add(t, "nua-archive.json", b'{"format": 99, "files": {}}')
PY
	run "$NUA" import "$BATS_TEST_TMPDIR/evil.nua" --name x3
	[ "$status" -eq 2 ]
	[[ "$output" == *"holds an entry outside its tree: '../../escaped'"* ]]
	[ ! -e "$NUA_ROOT/escaped" ] && [ ! -e "$NUA_ROOT/backups/escaped" ]
	run "$NUA" import "$BATS_TEST_TMPDIR/newer.nua" --name x4
	[ "$status" -eq 2 ]
	[[ "$output" == *"format version 99, this nua reads up to 1"* ]]
	[ "$("$NUA" ls --json | jq -r '[.[].name | select(startswith("x"))] | length')" = 0 ]
	[ -z "$(ls -A "$NUA_ROOT/backups/tmp" 2>/dev/null)" ]
}

@test "backup: a disk full during a restore changes nothing; with room again, it restores" {
	# A server whose root is a small filesystem of its own.
	root=$BATS_TEST_TMPDIR/small
	mkdir -p "$root"
	mount -t tmpfs -o size=1500m nua-test-small "$root"
	echo "$root" >"$BATS_TEST_TMPDIR/mounted"
	export NUA_ROOT=$root/root NUA_RUN=$BATS_TEST_TMPDIR/run NUA_HTTP_PORT=$(free_port)
	mkdir -p "$NUA_ROOT" "$NUA_RUN"
	nua_start_daemon
	run "$NUA" deploy "$NUA_TOP/apps/hello-python" --name full
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	vol=$NUA_ROOT/instances/full/volumes/data
	head -c 50000000 /dev/urandom >"$vol/big"
	"$NUA" backup full
	rm "$vol/big"
	printf 'after\n' >"$vol/after"
	before=$(tree_sig "$vol")
	# Fill the disk, but for a few MB.
	avail=$(df --output=avail -B1 "$root" | tail -1)
	fallocate -l $((avail - 4000000)) "$root/filler"
	run "$NUA" restore full
	[ "$status" -eq 1 ]
	[[ "$output" == *"no space left on device"* ]]
	[ "$(tree_sig "$vol")" = "$before" ]
	[[ "$(curl -s -m 10 -H "Host: full.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/")" == *"Visit number"* ]]
	[ ! -e "$NUA_ROOT/instances/full/restore" ]
	rm "$root/filler"
	run "$NUA" restore full
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ -f "$vol/big" ] && [ ! -e "$vol/after" ]
	"$NUA" daemon stop --all
}

@test "backup: nua backup check reads every repository back, and finds a damaged one" {
	run "$NUA" backup check
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"pruning and checking backup target local"* ]]
	[[ "$output" == *"backup target local: no errors"* ]]
	# A pack of the repository damaged on disk.
	pack=$(find "$NUA_ROOT/backups/local/data" -type f -size +100k | head -1)
	cp -p "$pack" "$BATS_TEST_TMPDIR/pack"
	printf 'XXXXXXXXXXXXXXXX' | dd of="$pack" bs=1 seek=50000 conv=notrunc 2>/dev/null
	run "$NUA" backup check
	cp -p "$BATS_TEST_TMPDIR/pack" "$pack"
	[ "$status" -eq 1 ]
	[[ "$output" == *"a backup target failed its check"* ]]
	run "$NUA" events --since 0 --json
	[[ "$output" == *'"kind":"backup-check-failed"'* ]]
}
