#!/bin/sh
# Start Redis with its data (append-only file) on the volume. The password
# goes through a configuration file only this user can read, never on a
# command line.
set -eu
conf=/tmp/redis.conf
umask 077
cat >"$conf" <<CONF
bind 0.0.0.0
port 6379
dir /data
appendonly yes
protected-mode yes
requirepass $REDIS_PASSWORD
CONF
exec redis-server "$conf"
