# The first start of a Prometheus instance: the TSDB's directory, and the
# web config that asks for the admin's password (its bcrypt hash, made by
# htpasswd from the password on its standard input).
set -eu
umask 027
data=/var/lib/prometheus
install -d "$data/metrics2"
if [ ! -s "$data/web.yml" ]; then
	hash=$(printf '%s' "$ADMIN_PASSWORD" | htpasswd -inB -C 10 "$ADMIN_USER" | cut -d: -f2-)
	case $hash in
	'$2'*) ;;
	*) echo "htpasswd made no bcrypt hash" >&2; exit 1 ;;
	esac
	printf "# Prometheus's web config: basic auth for every page and API.\nbasic_auth_users:\n  '%s': '%s'\n" \
		"$ADMIN_USER" "$hash" >"$data/web.yml.tmp"
	mv "$data/web.yml.tmp" "$data/web.yml"
fi
echo "Prometheus ready; its admin is '$ADMIN_USER'"
