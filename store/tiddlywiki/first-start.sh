# The first start of a TiddlyWiki instance: a wiki folder of the server
# edition (tiddlywiki --init server) on the volume, with the title and
# subtitle of the instance's environment.
set -eu
tw="node /nua/app/node_modules/tiddlywiki/tiddlywiki.js"
wiki=/var/lib/tiddlywiki/wiki
if [ ! -e "$wiki/tiddlywiki.info" ]; then
	rm -rf "$wiki"
	$tw "$wiki" --init server
fi
mkdir -p "$wiki/tiddlers"
for t in SiteTitle:"$WIKI_TITLE" SiteSubtitle:"$WIKI_SUBTITLE"; do
	name=${t%%:*}
	file="$wiki/tiddlers/\$__$name.tid"
	[ -e "$file" ] || printf 'title: $:/%s\n\n%s' "$name" "${t#*:}" >"$file"
done
echo "TiddlyWiki ready; its admin is '$ADMIN_USER'"
