# The TOTP code (RFC 6238: HMAC-SHA1, 30 s, 6 digits) of the base32 secret
# $1 at unix time $2 (now by default), for the tests of the login portal.
import sys, hmac, hashlib, struct, time, base64
s = sys.argv[1]; t = int(sys.argv[2]) if len(sys.argv) > 2 else int(time.time())
k = base64.b32decode(s + "=" * (-len(s) % 8))
h = hmac.new(k, struct.pack(">Q", t // 30), hashlib.sha1).digest()
o = h[-1] & 15
print("%06d" % ((struct.unpack(">I", h[o:o+4])[0] & 0x7fffffff) % 1000000))
