# The first start of a calibre instance: an empty library (calibredb makes
# its metadata.db), and the admin in the server's user database, with the
# generated password given on standard input, allowed to change the library.
set -eu
mkdir -p "$LIBRARY" /tmp/calibre/tmp
[ -e "$LIBRARY/metadata.db" ] || calibredb --with-library "$LIBRARY" list >/dev/null
users() { calibre-server --userdb "$USERDB" --manage-users -- "$@"; }
if ! users list | grep -qxF "$ADMIN_USER"; then
	printf '%s' "$ADMIN_PASSWORD" | users add "$ADMIN_USER"
fi
chmod 0600 "$USERDB"
echo "calibre ready; its admin is '$ADMIN_USER'"
