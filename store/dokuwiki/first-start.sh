# The first start of a DokuWiki instance: its empty volumes get the pages
# Debian ships, an admin with the generated password (bcrypt, which
# DokuWiki's plain auth reads), read for everyone and edits for users.
set -eu
data=/var/lib/dokuwiki/data
acl=/var/lib/dokuwiki/acl
[ -e "$data/pages" ] || cp -a /nua/app/data-skel/. "$data/"
if [ ! -e "$acl/users.auth.php" ]; then
	hash=$(php -r 'echo password_hash(getenv("ADMIN_PASSWORD"), PASSWORD_BCRYPT);')
	{
		echo '# users.auth.php'
		echo '# <?php exit()?>'
		echo "# Don't modify the lines above"
		echo "$ADMIN_USER:$hash:Administrator:$ADMIN_EMAIL:admin,user"
	} >"$acl/users.auth.php"
fi
if [ ! -e "$acl/acl.auth.php" ]; then
	{
		echo '# acl.auth.php'
		echo '# <?php exit()?>'
		printf '*\t@ALL\t1\n*\t@user\t8\n'
	} >"$acl/acl.auth.php"
fi
[ -e "$acl/local.php" ] || echo '<?php' >"$acl/local.php"
echo "DokuWiki ready; its admin is '$ADMIN_USER'"
