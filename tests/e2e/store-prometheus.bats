#!/usr/bin/env bats
# Prometheus from the store: its pages and API behind the admin's password,
# its own scrape, a sample pushed by remote write, backed up and restored.

load helpers
load server
load store

# A remote-write request (protobuf, snappy-framed) of one sample: metric
# $1, value $2, labels $3... as NAME=VALUE, stamped now. Snappy's block
# format allows a stream of literals only, which is all this writes.
remote_write_body() {
	python3 - "$@" <<-'PY'
	import struct, sys, time

	def varint(n):
	    out = bytearray()
	    while n > 0x7f:
	        out.append(n & 0x7f | 0x80)
	        n >>= 7
	    out.append(n)
	    return bytes(out)

	def ld(num, data):
	    return varint(num << 3 | 2) + varint(len(data)) + data

	labels = sorted([("__name__", sys.argv[1])] + [tuple(a.split("=", 1)) for a in sys.argv[3:]])
	series = b"".join(ld(1, ld(1, k.encode()) + ld(2, v.encode())) for k, v in labels)
	sample = varint(1 << 3 | 1) + struct.pack("<d", float(sys.argv[2]))
	sample += varint(2 << 3) + varint(int(time.time() * 1000))
	msg = ld(1, series + ld(2, sample))
	out = bytearray(varint(len(msg)))
	for i in range(0, len(msg), 60):
	    out.append(len(msg[i:i + 60]) - 1 << 2)
	    out += msg[i:i + 60]
	sys.stdout.buffer.write(bytes(out))
	PY
}

# Push a sample (arguments as remote_write_body's); prints the status code.
push() {
	remote_write_body "$@" | web prometheus -o /dev/null -w '%{http_code}' -u "admin:$pw" \
		-H "Content-Encoding: snappy" -H "Content-Type: application/x-protobuf" \
		-H "X-Prometheus-Remote-Write-Version: 0.1.0" --data-binary @- "$base/api/v1/write"
}

# The result of an instant query $1, as a JSON array of "labels value"
# (nothing at all when the query fails).
query() {
	web prometheus -u "admin:$pw" --data-urlencode "query=$1" "$base/api/v1/query" |
		jq -ec 'select(.status == "success") | [.data.result[] |
			"\(.metric | del(.__name__) | to_entries | map("\(.key)=\(.value)") | join(",")) \(.value[1])"]'
}

@test "store: prometheus installs; behind its password it scrapes itself, takes a pushed sample, backed up and restored" {
	store_install prometheus
	[[ $output == *"Prometheus 2.42.0-1 installed as prometheus"* && $output == *"admin login:    admin"* ]]
	pw=$(secret prometheus ADMIN_PASSWORD)
	[ ${#pw} -eq 20 ]
	# Nothing without the password, nor with another.
	[ "$(web prometheus -o /dev/null -w '%{http_code}' "$base/classic/graph")" = 401 ]
	[ "$(web prometheus -o /dev/null -w '%{http_code}' "$base/api/v1/query?query=up")" = 401 ]
	[ "$(web prometheus -o /dev/null -w '%{http_code}' -u admin:wrong "$base/classic/graph")" = 401 ]
	# Its page, after the login; / leads there.
	[[ $(web prometheus -u "admin:$pw" -L "$base/") == *"<title>Prometheus Time Series Collection and Processing Server</title>"* ]]
	# It scrapes itself (with the password): up is 1 within a scrape or two.
	local i got=
	for i in $(seq 40); do
		got=$(query up)
		[ "$got" != "[]" ] && break
		sleep 1
	done
	[ "$got" = '["instance=127.0.0.1:9090,job=prometheus 1"]' ]
	# A sample pushed by remote write is read back; not without the password.
	[ "$(push nua_test_sample 42 source=nua-tests)" = 204 ]
	[ "$(remote_write_body nua_test_intruder 1 | web prometheus -o /dev/null -w '%{http_code}' \
		-H "Content-Encoding: snappy" --data-binary @- "$base/api/v1/write")" = 401 ]
	[ "$(query nua_test_sample)" = '["source=nua-tests 42"]' ]
	[ "$(query nua_test_intruder)" = "[]" ]
	# Backed up, another sample, restored: that one is gone, the first is there.
	"$NUA" backup prometheus >/dev/null
	[ "$(push nua_test_after_backup 7)" = 204 ]
	[ "$(query nua_test_after_backup)" = '[" 7"]' ]
	"$NUA" restore prometheus >/dev/null
	for i in $(seq 30); do
		[ "$(web prometheus -o /dev/null -w '%{http_code}' -u "admin:$pw" "$base/-/ready")" = 200 ] && break
		sleep 1
	done
	[ "$(query nua_test_after_backup)" = "[]" ]
	[ "$(query nua_test_sample)" = '["source=nua-tests 42"]' ]
}
