#!/bin/sh
# Start Redis with its data (append-only file) and its users (an ACL file)
# on the volume. Passwords go through files only this user can read, never
# on a command line.
set -eu
conf=/tmp/redis.conf
acl=/data/users.acl
umask 077
if [ ! -s "$acl" ]; then
	printf 'user default on >%s ~* &* +@all\n' "$REDIS_PASSWORD" >"$acl"
fi
cat >"$conf" <<CONF
bind 0.0.0.0
port 6379
dir /data
appendonly yes
protected-mode yes
aclfile $acl
CONF
exec redis-server "$conf"
