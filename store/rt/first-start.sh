# The first start of a Request Tracker instance: RT's schema and initial
# data in the instance's database, root's password the generated one (read
# by rt-setup-database from its standard input). psql gets the database's
# password from the environment. A setup cut short is dropped and made
# again; a finished one is marked by a comment on the users table.
set -eu
export PGHOST="$DB_HOST" PGPORT="$DB_PORT" PGUSER="$DB_USER" PGDATABASE="$DB_DB" PGPASSWORD="$DB_PASSWORD"
done_mark="Request Tracker set up by the first start of Nua"
sql() { psql -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }

if [ "$(sql "SELECT obj_description(to_regclass('public.users'), 'pg_class')")" = "$done_mark" ]; then
	echo "Request Tracker's database is set up already"
else
	if [ "$(sql "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")" != 0 ]; then
		echo "Dropping the tables of a setup that did not finish"
		sql "SET client_min_messages = warning; DROP SCHEMA public CASCADE; CREATE SCHEMA public"
	fi
	printf '%s\n' "$ADMIN_PASSWORD" |
		rt-setup-database-5 --action init --skip-create --root-password-file /dev/stdin
	sql "COMMENT ON TABLE users IS '$done_mark'"
fi
echo "Request Tracker ready; its superuser is '$ADMIN_USER'"
