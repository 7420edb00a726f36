#!/usr/bin/env bats
# Backups to remote repositories through restic's own backends: an S3
# server (from npm) and an SFTP server (Debian's sshd), both started here on
# loopback. Every backup goes to each target; a target that cannot be
# reached is an error and an event, the others keep their snapshot.

load helpers
load server
load remote

get() { curl -s -m 10 -H "Host: $1.localhost" "http://127.0.0.1:$NUA_HTTP_PORT$2"; }

file_setup() {
	s3_start "$BATS_FILE_TMPDIR/s3"
	sftp_start "$BATS_FILE_TMPDIR/sftp"
	"$NUA" deploy "$NUA_TOP/apps/notes-pg" --name notes >/dev/null
}

notes() { curl -s -m 10 -H "Host: notes.localhost" "http://127.0.0.1:$NUA_HTTP_PORT/notes" "$@"; }

@test "remote: S3 and SFTP targets, with credentials kept sealed" {
	run "$NUA" backup target add s3 "$S3_URL" --credentials <<-EOF
		AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY
		AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY
	EOF
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$NUA" backup target add sftp "$SFTP_URL" --sftp-command "$SFTP_COMMAND"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	run "$NUA" backup target
	[[ "$output" == *"s3 "*"$S3_URL"*"AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"* ]]
	[[ "$output" == *"sftp "*"$SFTP_URL"* ]]
	[[ "$output" == *"local "* ]]
	# The secret is sealed, not in the state file.
	run grep -c "$S3_SECRET_KEY" "$NUA_ROOT/nua.db"
	[ "$output" = 0 ]
	# A name taken, a credential restic does not read, a bad URL.
	run "$NUA" backup target add s3 /tmp/x
	[ "$status" -eq 2 ]
	[[ "$output" == *"exists already"* ]]
	run "$NUA" backup target add bad /tmp/x --credentials <<<"LD_PRELOAD=/tmp/x.so"
	[ "$status" -eq 2 ]
	run "$NUA" backup target add bad 'ftp://x/y'
	[ "$status" -eq 2 ]
}

@test "remote: a backup goes to every target, and each restores" {
	notes -d 'in every copy' >/dev/null
	run "$NUA" backup notes
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"backing up notes to s3"* ]]
	[[ "$output" == *"backing up notes to sftp"* ]]
	[ "$("$NUA" backups --json notes | jq -r '[.[].target] | sort | join(",")')" = "local,s3,sftp" ]
	for t in s3 sftp; do
		notes -d "after, before the restore from $t" >/dev/null
		snap=$("$NUA" backups --json notes | jq -r "[.[] | select(.target == \"$t\" and .kind == \"manual\")][-1].id")
		run "$NUA" restore notes "${snap:0:10}"
		[ "$status" -eq 0 ] || { echo "$output"; false; }
		[[ "$output" == *"reading snapshot ${snap:0:8} from $t"* ]]
		[ "$(notes)" = '["in every copy"]' ]
	done
	# The repositories are real: restic itself reads them.
	AWS_ACCESS_KEY_ID=$S3_ACCESS_KEY AWS_SECRET_ACCESS_KEY=$S3_SECRET_KEY \
		RESTIC_PASSWORD=$("$NUA" backup key | sed -n 's/^nua-recovery-v1://p' | base64 -d | jq -r '.targets[] | select(.name == "s3") | .password') \
		restic -r "$S3_URL" --no-cache snapshots --json --tag instance=notes | jq -e 'length >= 1'
}

@test "remote: a target that cannot be reached fails the backup by name; the others keep theirs" {
	s3_stop
	local_before=$(ls "$NUA_ROOT/backups/local/snapshots" | wc -l)
	run "$NUA" backup notes
	[ "$status" -eq 1 ]
	[[ "$output" == *"backup target 's3'"*"connection refused"* ]]
	[[ "$output" == *"snapshot "*" of notes in local"* ]]
	[[ "$output" == *"snapshot "*" of notes in sftp"* ]]
	[ "$(ls "$NUA_ROOT/backups/local/snapshots" | wc -l)" -gt "$local_before" ]
	run "$NUA" events --since 0 --json
	[[ "$output" == *'"kind":"backup-failed"'*"to s3 failed"* ]]
	# The listing says which target it cannot read, and lists the others.
	run "$NUA" backups notes
	[ "$status" -eq 0 ]
	[[ "$output" == *"warning: backup target s3 cannot be read"* ]]
	[[ "$output" == *" local "* ]]
	# A restore needs one copy of its safety backup: it goes on.
	notes -d 'not in any backup' >/dev/null
	snap=$("$NUA" backups --json notes 2>/dev/null | jq -r '[.[] | select(.target == "local" and .kind == "manual")][0].id')
	run "$NUA" restore notes "${snap:0:8}"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(notes)" = '["in every copy"]' ]
}
