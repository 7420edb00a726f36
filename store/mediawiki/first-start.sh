# The first start of a MediaWiki instance: MediaWiki's own installer makes
# the tables, the Main Page and the admin with the generated password, in
# the database Nua gives it. The passwords go through file descriptors,
# never the command line. It is pointed at a LocalSettings.php of its own
# (the template is there already and would make it refuse), which is then
# dropped. Run again on an installed wiki, it does nothing.
set -eu
if php /nua/app/installed.php; then
	echo "MediaWiki is installed already"
	exit 0
fi
rm -rf /tmp/mediawiki-install
mkdir -m 0700 /tmp/mediawiki-install
MW_CONFIG_FILE=/tmp/mediawiki-install/LocalSettings.php \
	php /usr/share/mediawiki/maintenance/install.php --quiet \
	--dbtype mysql --dbserver "$DB_HOST:$DB_PORT" --dbname "$DB_DB" --dbuser "$DB_USER" \
	--dbpassfile php://fd/4 --passfile php://fd/3 \
	--server "http://$DOMAIN" --scriptpath "" --lang en \
	--skins Vector,MonoBook,Timeless --confpath /tmp/mediawiki-install \
	"$WIKI_NAME" "$ADMIN_USER" 3<<PASS 4<<DBPASS
$ADMIN_PASSWORD
PASS
$DB_PASSWORD
DBPASS
rm -rf /tmp/mediawiki-install
echo "MediaWiki ready; its admin is '$ADMIN_USER'"
