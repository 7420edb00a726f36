# nginx's start: the login that guards Adminer, from the env (the admin's
# user and password, bcrypt-hashed; the password goes through PHP's env,
# never an argument), then nginx itself.
set -eu
umask 077
php -r 'echo getenv("ADMIN_USER"), ":", password_hash(getenv("ADMIN_PASSWORD"), PASSWORD_BCRYPT), "\n";' \
	>/tmp/htpasswd.new
mv /tmp/htpasswd.new /tmp/htpasswd
exec nginx -c /nua/app/nginx.conf -g 'daemon off;'
