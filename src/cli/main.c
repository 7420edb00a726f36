/* nua: dispatch to one verb from the command table. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <jansson.h>

#include "build.h"
#include "cli.h"
#include "client.h"
#include "daemon/daemon.h"
#include "strbuf.h"
#include "tls.h"
#include "banned.h"

static const struct cmd_option check_options[] = {
	{ "--json", "print the normalised configuration as JSON" },
	{ NULL, NULL },
};

static const struct cmd_option help_options[] = {
	{ "--all", "also list hidden commands" },
	{ "--json", "list the commands as JSON" },
	{ NULL, NULL },
};

static const struct cmd_option build_options[] = {
	{ "--no-cache", "run every step again instead of reusing cached layers" },
	{ NULL, NULL },
};

static const struct cmd_option deploy_options[] = {
	{ "-n, --name NAME", "the instance's name (default: the image's id)" },
	{ "-d, --domain DOMAIN", "where it answers: example.com or example.com/path "
				 "(default: NAME.localhost)" },
	{ "-e, --env KEY=VALUE", "set a variable of its environment (repeatable)" },
	{ "-f, --file FILE", "deploy every [[site]] of a deploy.toml" },
	{ "--no-cache", "rebuild every step of a package" },
	{ "--resource NAME=URL", "use this server for the resource NAME instead of Nua's "
				 "(postgresql://USER:PASSWORD@HOST:PORT/DB)" },
	{ NULL, NULL },
};

static const struct cmd_option json_options[] = {
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option ls_options[] = {
	{ "--json", "print JSON" },
	{ "--names", "print only the names, one a line" },
	{ NULL, NULL },
};

static const struct cmd_option events_options[] = {
	{ "--since ID", "the events after the one with this id (default: the last 100)" },
	{ "-f, --follow", "keep printing events as they happen" },
	{ "--json", "print each event as one line of JSON" },
	{ NULL, NULL },
};

static const struct cmd_option logs_options[] = {
	{ "-f, --follow", "keep printing what the app writes" },
	{ "-n, --lines N", "print the last N lines first (default 100)" },
	{ "-t, --timestamps", "show when each line was written" },
	{ NULL, NULL },
};

static const struct cmd_option rm_options[] = {
	{ "--purge", "also delete the instance's volumes (its data)" },
	{ NULL, NULL },
};

static const struct cmd_option env_options[] = {
	{ "-u, --unset KEY", "remove a variable (repeatable)" },
	{ "--show-secrets", "show generated secrets instead of hiding them" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option images_options[] = {
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option image_options[] = {
	{ "--name REF", "import: the image's name (ID:VERSION-RELEASE)" },
	{ NULL, NULL },
};

static const struct cmd_option export_options[] = {
	{ "-o, --output FILE", "where to write it (a directory with --all)" },
	{ "--all", "every instance, one file each" },
	{ NULL, NULL },
};

static const struct cmd_option import_options[] = {
	{ "-n, --name N", "the instance's name here (a copy under another name)" },
	{ "-d, --domain D", "its domain here" },
	{ "--key FILE", "the writing server's recovery key (- for stdin)" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option upgrade_options[] = {
	{ "--no-cache", "rebuild every step of a package" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option restore_options[] = {
	{ "--as NEW", "make a new instance from the snapshot instead" },
	{ "-d, --domain D", "with --as: the new instance's domain" },
	{ "--all", "every instance of a backup target (disaster recovery)" },
	{ "--from TARGET", "with --all: the backup target to read" },
	{ "--key FILE", "with --all: the old server's recovery key (- for stdin)" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option backup_options[] = {
	{ "--all", "every instance (the resource servers are in their dumps)" },
	{ "--credentials", "target add: read the backend's KEY=VALUE secrets from stdin" },
	{ "--sftp-command CMD", "target add: the ssh command restic runs for an sftp: URL" },
	{ "--frequency D", "policy: how often to back up (24h, 6h...)" },
	{ "--keep-daily N", "policy: daily snapshots kept (also --keep-last, --keep-weekly, "
			    "--keep-monthly)" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option tls_options[] = {
	{ "--cert FILE", "set: the certificate and its chain (PEM)" },
	{ "--key FILE", "set: its private key (PEM)" },
	{ "--directory URL", "config: the ACME directory (default Let's Encrypt's)" },
	{ "--email ADDR", "config: the contact the ACME CA is given" },
	{ "--ca-bundle FILE", "config: a CA to trust for the ACME server (\"\": none)" },
	{ "--issuer acme|local", "config: where public domains get their certificates" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option install_options[] = {
	{ "-n, --name NAME", "the instance's name (the app's id by default)" },
	{ "-d, --domain DOMAIN", "where it answers (NAME.localhost by default)" },
	{ "--json", "print JSON (with the admin's credentials)" },
	{ NULL, NULL },
};

static const struct cmd_option domain_options[] = {
	{ "--redirect", "add: answer with a 301 to the main domain instead of serving" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option user_options[] = {
	{ "--role ROLE", "add: admin or user (user by default)" },
	{ "--email EMAIL", "add: the user's email" },
	{ "--off", "totp: turn the second factor off" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option token_options[] = {
	{ "--name NAME", "create: what the token is for (ci, laptop...)" },
	{ "--role ROLE", "create: admin, deploy (the default) or read" },
	{ "--instance NAME", "create: the only instance it may touch" },
	{ "--expires DURATION", "create: its life (30d, 12h, 90m); never by default" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option audit_options[] = {
	{ "--since ID", "the entries after this one" },
	{ "-n, --limit N", "at most N entries (100 by default)" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option access_options[] = {
	{ "--path P", "the URL prefix the rule is for (/ by default)" },
	{ "--allow LIST", "private: only these users and @groups (comma-separated)" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option server_options[] = {
	{ "--none", "domain: serve the API on this machine's socket only" },
	{ "--json", "print JSON" },
	{ NULL, NULL },
};

static const struct cmd_option login_options[] = {
	{ "--cacert FILE", "a CA certificate to trust for the server's HTTPS" },
	{ NULL, NULL },
};

static const struct cmd_option daemon_options[] = {
	{ "--detach", "run in the background once it serves" },
	{ "stop --all", "stop: the instances, resource servers, nginx and the bridge too" },
	{ "stop --timeout S", "stop: seconds to wait for the daemon before killing it (30)" },
	{ NULL, NULL },
};

const struct cmd_struct nua_commands[] = {
	{ "build", cmd_build, CMD_NEED_DAEMON, "nua build [--no-cache] [DIR]",
	  "build a package into an image",
	  "Build the package in DIR (the current directory by default) into an image of the\n"
	  "local store, named ID:VERSION-RELEASE. Each step makes a layer that is reused while\n"
	  "the step and what it reads are unchanged. Prints the image's name.",
	  build_options, "dir" },
	{ "deploy", cmd_deploy, CMD_NEED_DAEMON,
	  "nua deploy DIR|IMAGE [--name NAME] [--domain DOMAIN] [--env KEY=VALUE]...\n"
	  "       nua deploy -f deploy.toml",
	  "deploy a package or an image as a new instance or a new version",
	  "Build DIR when it is a package, start the image as a new instance in its own\n"
	  "container, wait for it to answer, and route DOMAIN to it through nginx. Prints\n"
	  "the instance's URL. A failed deploy leaves nothing behind. When NAME is an\n"
	  "existing instance, the image becomes its new version: started beside the running\n"
	  "one and switched to once it answers; if it never does, the old one keeps serving.",
	  deploy_options, "dir" },
	{ "ls", cmd_ls, CMD_NEED_DAEMON, "nua ls [--json|--names]", "list instances",
	  "List the instances with their image, state, uptime and URL.", ls_options, NULL },
	{ "status", cmd_status, CMD_NEED_DAEMON, "nua status [--json] NAME",
	  "show an instance's state and last log lines",
	  "Show the instance's image and generation, URL, state, health, process, address,\n"
	  "uptime, restarts and last exit status, and the last lines of its log.",
	  json_options, "instance" },
	{ "logs", cmd_logs, CMD_NEED_DAEMON, "nua logs [-f] [-n N] [-t] NAME",
	  "print an instance's log",
	  "Print what the instance's app wrote on its standard output and error.", logs_options,
	  "instance" },
	{ "start", cmd_start, CMD_NEED_DAEMON, "nua start NAME", "start a stopped instance",
	  "Start the instance's container and route its domain to it again.", NULL, "instance" },
	{ "stop", cmd_stop, CMD_NEED_DAEMON, "nua stop NAME", "stop an instance",
	  "Stop the instance's app (SIGTERM, then SIGKILL after 10 s); its domain answers 503\n"
	  "until it starts again.",
	  NULL, "instance" },
	{ "restart", cmd_restart, CMD_NEED_DAEMON, "nua restart NAME", "restart an instance",
	  "Start the instance's app again as a new generation beside the running one, and\n"
	  "switch to it once it answers.",
	  NULL, "instance" },
	{ "rm", cmd_rm, CMD_NEED_DAEMON, "nua rm [--purge] NAME", "remove an instance",
	  "Stop and remove the instance and its route. Its volumes are kept, and found again\n"
	  "by a new instance of the same name, unless --purge is given.",
	  rm_options, "instance" },
	{ "env", cmd_env, CMD_NEED_DAEMON,
	  "nua env NAME [KEY=VALUE]... [-u KEY]... [--show-secrets] [--json]",
	  "show or change an instance's environment",
	  "Without changes, print the instance's variables (generated secrets hidden). With\n"
	  "KEY=VALUE or -u KEY, change them and restart the instance when it runs.",
	  env_options, "instance" },
	{ "images", cmd_images, CMD_NEED_DAEMON, "nua images [--json]", "list the local images",
	  "List the images of the local store: REF (ID:VERSION-RELEASE), the manifest's\n"
	  "DIGEST, the SIZE of their layers and when they were CREATED.",
	  images_options, NULL },
	{ "image", cmd_image, CMD_NEED_DAEMON,
	  "nua image rm REF | export REF FILE | import FILE [--name REF]",
	  "remove, export or import an image",
	  "rm removes an image no instance uses, and the layers nothing else needs. export\n"
	  "writes an archive that 'docker load' and 'podman load' accept (OCI layout and\n"
	  "docker-archive). import reads such an archive, 'docker save' output or an OCI\n"
	  "layout tar, checking every digest; --name names the image.",
	  image_options, "file" },
	{ "events", cmd_events, CMD_NEED_DAEMON, "nua events [--since ID] [-f] [--json]",
	  "show what happened to the instances",
	  "Print the server's events, oldest first, one a line: TIME  INSTANCE  KIND  MESSAGE.\n"
	  "Kinds: deploy, deploy-failed, start, start-failed, switch, stop, restart, env,\n"
	  "remove, crash, unhealthy, crashloop and daemon. With -f, keep printing\n"
	  "them as they happen.",
	  events_options, NULL },
	{ "stats", cmd_stats, CMD_NEED_DAEMON, "nua stats [--json] [NAME]",
	  "show what the instances use",
	  "Print, for every instance (or NAME), its CPU use in percent of one core, memory,\n"
	  "processes, restarts and health check latency over the last five minutes.",
	  json_options, "instance" },
	{ "resources", cmd_resources, CMD_NEED_DAEMON,
	  "nua resources [--json] | dump|restore INSTANCE RESOURCE FILE",
	  "list the resource servers; dump or restore a resource",
	  "Without arguments, list the servers Nua runs for the instances' resources\n"
	  "(PostgreSQL, MariaDB, Redis): their state and health, and which instance's\n"
	  "resource each serves. dump writes the data of an instance's resource to FILE as\n"
	  "PostgreSQL's custom format, SQL for MariaDB, commands for Redis (mode 0600);\n"
	  "restore reads such a file (or a PostgreSQL dump as SQL) back into it,\n"
	  "replacing its tables.",
	  json_options, "instance" },
	{ "backup", cmd_backup, CMD_NEED_DAEMON,
	  "nua backup [--json] NAME|--all | key | check | policy | target [ls | add NAME URL | rm "
	  "NAME]",
	  "back up an instance; the recovery key; the schedule; the repositories",
	  "Take a snapshot of instance NAME (or of every instance with --all) into the\n"
	  "server's backup repositories with restic: its volumes, a dump of each of its\n"
	  "databases made while it runs, its image and its record (env with secrets still\n"
	  "sealed, domain). The first backup makes a repository under $NUA_ROOT/backups with\n"
	  "a random password. 'nua backup key' prints what to keep off the server to\n"
	  "restore after losing it: the repositories, their passwords and the master key.\n"
	  "'nua backup target add NAME URL' adds a repository every backup also goes to: a\n"
	  "directory, or restic's sftp:, s3:, rest:, b2:, azure:, gs:, swift: or rclone:\n"
	  "URLs; with --credentials, KEY=VALUE lines on standard input give the backend's\n"
	  "secrets (AWS_ACCESS_KEY_ID=..., or RESTIC_PASSWORD for an existing repository),\n"
	  "kept sealed.\n"
	  "The daemon backs every instance up on a schedule: its package's [backup]\n"
	  "frequency, or the server's ('nua backup policy --frequency 24h', the default),\n"
	  "a backup missed while it was down as soon as it runs again; then forgets the\n"
	  "snapshots the retention does not keep (--keep-last, --keep-daily (7),\n"
	  "--keep-weekly (4), --keep-monthly (6)). Once a day it prunes each repository\n"
	  "and checks a seventh of its data; 'nua backup check' prunes and reads all of it\n"
	  "back now.",
	  backup_options, "instance" },
	{ "backups", cmd_backups, CMD_NEED_DAEMON, "nua backups [--json] [NAME]",
	  "list the snapshots",
	  "List the snapshots of every instance (or of NAME), oldest first: id, time,\n"
	  "kind (manual, scheduled, safety), repository, size and what each holds.",
	  json_options, "instance" },
	{ "restore", cmd_restore, CMD_NEED_DAEMON,
	  "nua restore [--json] NAME [SNAPSHOT] [--as NEW [--domain D]] | --all --from TARGET "
	  "[--key FILE]",
	  "put an instance back as a snapshot holds it; copy it; bring a server back",
	  "Restore instance NAME from SNAPSHOT (an id or its first digits; default: the\n"
	  "latest). A safety backup is taken first; then the app is stopped, its volumes\n"
	  "and databases are replaced by the snapshot's (the databases keep their current\n"
	  "credentials), the image the snapshot names is started and its health awaited.\n"
	  "If any step fails, the instance is put back as it was and serves again.\n"
	  "With --as NEW, the snapshot becomes a new instance beside the original (a demo\n"
	  "copy, a test of the backup), with databases and credentials of its own.\n"
	  "With --all --from TARGET, on a new server: every instance whose snapshots are in\n"
	  "the backup target comes back as it was (image, data, env, domain); --key FILE\n"
	  "(- for standard input) gives the old server's recovery key ('nua backup key').",
	  restore_options, "instance" },
	{ "upgrade", cmd_upgrade, CMD_NEED_DAEMON, "nua upgrade [--no-cache] [--json] NAME [DIR|IMAGE]",
	  "upgrade an instance, backing it up first",
	  "Back instance NAME up, then switch it to the new version (DIR, a package\n"
	  "directory built first; IMAGE; or the newest image of its package here) without\n"
	  "downtime. The package's [run] migrate runs once, before the new version starts.\n"
	  "If the migration, the start or the health check fails, the old version keeps\n"
	  "serving and its data is put back from the backup: the upgrade rolls back by\n"
	  "itself, and says why.",
	  upgrade_options, "instance" },
	{ "rollback", cmd_rollback, CMD_NEED_DAEMON, "nua rollback [--json] NAME",
	  "go back to the version before the last upgrade",
	  "Restore instance NAME from the backup its last upgrade took: the previous\n"
	  "version, with its data as it was then (a safety backup is taken first).",
	  json_options, "instance" },
	{ "export", cmd_export, CMD_NEED_DAEMON, "nua export NAME -o FILE | --all -o DIR",
	  "write an instance to one file, to move it",
	  "Write instance NAME to FILE (DIR/NAME.nua for each with --all): its image, record,\n"
	  "volumes and database dumps, with a checksum of every file, compressed. 'nua\n"
	  "import' on another server makes it again there.",
	  export_options, "instance" },
	{ "import", cmd_import, CMD_NEED_DAEMON,
	  "nua import [--name N] [--domain D] [--key FILE] FILE...",
	  "make an instance from a file 'nua export' wrote",
	  "Make the instance FILE holds on this server, provisioning its resources here:\n"
	  "under its own name, the same instance moved (its env whole; --key FILE gives the\n"
	  "recovery key of the server that wrote it, whose master key sealed its secrets);\n"
	  "with --name, a copy with databases and credentials of its own. A damaged, cut\n"
	  "short or newer file is refused and changes nothing.",
	  import_options, "file" },
	{ "tls", cmd_tls, CMD_NEED_DAEMON,
	  "nua tls [--json] [ls] | ca | renew NAME|DOMAIN | set DOMAIN --cert F --key F | hsts NAME "
	  "on|off | config [--directory URL] [--email E] [--ca-bundle F] [--issuer I]",
	  "list the certificates; the local CA; renew, set one; HSTS; ACME settings",
	  "Every instance whose [port.web] has ssl (the default) is served over HTTPS on\n"
	  "NUA_HTTPS_PORT (443) once its domain has a certificate, and its HTTP requests\n"
	  "are redirected there. Public domains get theirs from an ACME CA (Let's Encrypt\n"
	  "unless 'config --directory' says another) through the http-01 challenge, in\n"
	  "the background after a deploy; domains no public CA can validate (*.localhost,\n"
	  "*.test, *.internal, *.local...) get one from Nua's local CA at once, and are\n"
	  "served on both HTTP and HTTPS: 'nua tls ca' prints the CA's certificate to\n"
	  "trust. The daemon renews a certificate when a third of its life is left, retries\n"
	  "failures with a growing delay, and warns 14 days before one expires.\n"
	  "'set' installs the operator's own certificate and key for a domain (Nua does\n"
	  "not renew it); 'renew' asks for a new one now (for an instance's domain, or a\n"
	  "domain); 'hsts NAME on' makes the instance\n"
	  "send Strict-Transport-Security over HTTPS.",
	  tls_options, NULL },
	{ "store", cmd_store, CMD_NEED_DAEMON, "nua store [--json] [WORD]",
	  "list and search the applications of the store",
	  "List the applications that come with Nua, ready to install: their version, the\n"
	  "backing services they get (a database...), and a summary. WORD keeps those\n"
	  "whose name, title, summary or tags hold it.",
	  json_options, NULL },
	{ "install", cmd_install, CMD_NEED_DAEMON,
	  "nua install APP [--name NAME] [--domain DOMAIN] [--json]",
	  "build and deploy an application of the store in one command",
	  "Build the store's package APP (its layers cached after the first time) and deploy\n"
	  "it as a new instance, with its databases, then print its URL and, for an app\n"
	  "with an administrator, the first admin's login and generated password (kept\n"
	  "sealed; 'nua env NAME --show-secrets' shows it again). An instance of that name\n"
	  "that exists already is refused: 'nua upgrade' moves one to a newer version.",
	  install_options, NULL },
	{ "domain", cmd_domain, CMD_NEED_DAEMON,
	  "nua domain [--json] NAME | add NAME DOMAIN[/PATH] [--redirect] | rm NAME DOMAIN[/PATH]",
	  "list, add and remove the domains an instance answers on",
	  "An instance answers on the domain it was deployed with (its main domain) and on\n"
	  "its aliases: 'add' serves it on one more domain (or DOMAIN/PATH) at once, with\n"
	  "HTTPS as its main domain has (a certificate for the alias is asked for in the\n"
	  "background); with --redirect the alias answers with a 301 to the same URL on\n"
	  "the main domain. A domain served by another instance is refused. 'rm' removes\n"
	  "an alias; the main domain stays.",
	  domain_options, "instance" },
	{ "user", cmd_user, CMD_NEED_DAEMON,
	  "nua user [ls] | add NAME [--role ROLE] [--email EMAIL] | passwd NAME | role NAME ROLE | totp NAME [--off] | rm NAME",
	  "list, add and remove the users; their passwords and roles",
	  "The people who use Nua. 'add' and 'passwd' read the password from the terminal\n"
	  "(twice, not shown) or, when standard input is not a terminal, its first line;\n"
	  "never from the command line. At least 10 characters; kept as an argon2id hash.\n"
	  "A user's role is admin (everything) or user. 'totp' asks for a second factor\n"
	  "at the login portal: it shows a QR code for an authenticator app, takes a code\n"
	  "from it, then prints ten one-time recovery codes; --off turns it off.",
	  user_options, NULL },
	{ "group", cmd_group, CMD_NEED_DAEMON,
	  "nua group [ls] | add GROUP | rm GROUP | join GROUP USER | leave GROUP USER",
	  "list, add and remove the groups of users",
	  "Groups of users, to give access to apps to several people at once.",
	  json_options, NULL },
	{ "token", cmd_token, CMD_NEED_DAEMON,
	  "nua token [ls] | create --name NAME [--role ROLE] [--instance NAME] [--expires D] | rm ID|NAME",
	  "create, list and revoke the API's tokens (for CI and remote use)",
	  "A token lets a program (CI, a laptop) use the API from afar, through the admin\n"
	  "domain over HTTPS. Its role says what it may do: admin everything the API\n"
	  "offers from afar, deploy build and deploy and run instances (not remove them,\n"
	  "nor users, tokens or settings), read only look. --instance limits it to one\n"
	  "instance. 'create' prints the token once; only its hash is kept.",
	  token_options, NULL },
	{ "audit", cmd_audit, CMD_NEED_DAEMON, "nua audit [--since ID] [-n N] [--json]",
	  "show what was changed through the API, by whom and from where",
	  "Every request that changes something (and every one refused for want of a valid\n"
	  "token or of the right) is recorded: when, who (root on the server's socket, or\n"
	  "the token), from where, what, and the answer's status.",
	  audit_options, NULL },
	{ "access", cmd_access, CMD_NEED_DAEMON,
	  "nua access NAME [--json] | NAME private|public [--path P] [--allow LIST] | NAME rm [--path P]",
	  "make an app private or public, for everyone or some users, by URL path",
	  "An app is public until a rule says otherwise. 'private' asks visitors to log in\n"
	  "at the portal of the admin domain ('nua server') before they see the app (or the\n"
	  "part of it under --path); --allow limits it to users and @groups\n"
	  "(alice,@dev). 'public' opens a path of a private app ('--path /api' for its own\n"
	  "clients). The rule of the longest matching path decides. A browser is sent to\n"
	  "the portal and back; another client gets a 401. The app gets the user in the\n"
	  "X-Nua-User, X-Nua-Email and X-Nua-Groups headers, which clients cannot set.",
	  access_options, "instance" },
	{ "server", cmd_server, CMD_NEED_DAEMON, "nua server [--json] | domain DOMAIN | domain --none",
	  "show or set the server's admin domain (the remote API)",
	  "The admin domain serves the API over HTTPS (through nginx, with a certificate\n"
	  "like an instance's), for 'nua login' and CI from other machines, with a token\n"
	  "('nua token create'). Without one, the API is on this machine's socket only.",
	  server_options, NULL },
	{ "login", cmd_login, 0, "nua login URL [--cacert FILE]",
	  "use a Nua server from this machine, with a token",
	  "Read a token (from the terminal, not shown, or the first line of standard input),\n"
	  "check it against the server's API at URL (its admin domain: 'nua server' there\n"
	  "says it), and keep both in ~/.config/nua/remote.json (0600): every command then\n"
	  "goes to that server. --cacert names a CA certificate to trust (for a server on a\n"
	  "development domain, 'nua tls ca' there prints it). In CI, NUA_HOST and\n"
	  "NUA_TOKEN (and NUA_CACERT) do the same without a file.",
	  login_options, NULL },
	{ "logout", cmd_logout, 0, "nua logout",
	  "forget the server 'nua login' kept",
	  "Remove ~/.config/nua/remote.json: commands go to this machine's daemon again.",
	  NULL, NULL },
	{ "daemon", cmd_daemon, 0, "nua daemon [--detach] | nua daemon stop [--all]",
	  "run or stop the orchestrator",
	  "Run the daemon that owns this server's state: it serves the API on\n"
	  "$NUA_RUN/nua.sock (which every other command talks to), converges what runs on\n"
	  "what the state says, restarts crashed apps and samples their metrics. --detach\n"
	  "returns once it serves, logging to $NUA_ROOT/daemon.log.\n"
	  "'nua daemon stop' stops the daemon; the apps keep running, and the next daemon\n"
	  "takes them over. With --all, every instance, resource server, nginx and the\n"
	  "containers' bridge stop too, without changing what should run: the next 'nua\n"
	  "daemon' starts them again, to the same state.",
	  daemon_options, NULL },
	{ "check", cmd_check, 0, "nua check [--json] [DIR|FILE]",
	  "validate a package's nua-config.toml",
	  "Read DIR/nua-config.toml (or FILE; the current directory by default), check every\n"
	  "section and key, and print a one-line summary of the package. Every problem is\n"
	  "printed as FILE:LINE:COL: message and the exit status is 2.",
	  check_options, "dir" },
	{ "help", cmd_help, 0, "nua help [COMMAND]", "show help for nua or one of its commands",
	  "Without an argument, list the commands; with one, show its usage and options.",
	  help_options, "command" },
	{ "version", cmd_version, 0, "nua version", "print the version of nua",
	  "Print the version of this nua binary (also: nua --version).", NULL, NULL },
	{ "completion", cmd_completion, 0, "nua completion bash",
	  "print a shell completion script",
	  "Print a bash completion script generated from the command table. Load it with\n"
	  "  source <(nua completion bash)",
	  NULL, NULL },
	{ NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL },
};

const struct cmd_struct *cli_find_command(const char *name)
{
	for (const struct cmd_struct *c = nua_commands; c->name; c++)
		if (streq(c->name, name))
			return c;
	return NULL;
}

static void print_options(const struct cmd_struct *cmd, FILE *out)
{
	if (!cmd->options || !cmd->options[0].name)
		return;
	fprintf(out, "\noptions:\n");
	for (const struct cmd_option *o = cmd->options; o->name; o++)
		fprintf(out, "  %-22s %s\n", o->name, o->help);
}

int cli_usage_error(const struct cmd_struct *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s\n", cmd->usage);
	print_options(cmd, stderr);
	return NUA_EINPUT;
}

int cli_error(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static void print_command_help(const struct cmd_struct *cmd, FILE *out)
{
	fprintf(out, "usage: %s\n\n%s\n", cmd->usage, cmd->help);
	print_options(cmd, out);
}

int cli_getopt(const struct cmd_struct *cmd, int argc, char **argv, const char *shortopts,
	       const struct option *longopts)
{
	struct option all[32];
	size_t n = 0;
	char sopts[64];
	int c, idx = optind;

	/* "+" stops at the first non-option, ":" reports a missing argument
	 * distinctly; -h and --help are always there. */
	snprintf(sopts, sizeof(sopts), "+:h%s", shortopts ? shortopts : "");
	for (; longopts && longopts[n].name; n++) {
		if (n >= ARRAY_SIZE(all) - 2)
			BUG("too many options for '%s'", cmd->name);
		all[n] = longopts[n];
	}
	all[n++] = (struct option){ "help", no_argument, NULL, 'h' };
	all[n] = (struct option){ NULL, 0, NULL, 0 };
	opterr = 0;
	c = getopt_long(argc, argv, sopts, all, NULL);
	if (c == 'h') {
		print_command_help(cmd, stdout);
		exit(0);
	}
	if (c == '?' || c == ':') {
		const char *arg = argv[idx < argc ? idx : argc - 1];

		if (c == ':')
			cli_usage_error(cmd, "option '%s' needs a value", arg);
		else if (optopt && !starts_with(arg, "--"))
			cli_usage_error(cmd, "unknown option '-%c'", optopt);
		else
			cli_usage_error(cmd, "unknown option '%s'", arg);
		return '?';
	}
	return c;
}

int cli_getopt_args(const struct cmd_struct *cmd, int argc, char **argv, const char *shortopts,
		    const struct option *longopts, struct cli_args *pos)
{
	for (;;) {
		int c;

		if (optind >= argc)
			return -1;
		c = cli_getopt(cmd, argc, argv, shortopts, longopts);
		if (c != -1)
			return c;
		if (optind >= argc)
			return -1;
		if (streq(argv[optind - 1], "--")) {
			while (optind < argc) {
				ALLOC_GROW(pos->v, pos->n + 1, pos->alloc);
				pos->v[pos->n++] = argv[optind++];
			}
			return -1;
		}
		ALLOC_GROW(pos->v, pos->n + 1, pos->alloc);
		pos->v[pos->n++] = argv[optind++];
	}
}

/* The visible command nearest to a mistyped name, or NULL. */
static const char *suggest_command(const char *name)
{
	const char *names[64];
	size_t n = 0;

	for (const struct cmd_struct *k = nua_commands; k->name; k++) {
		if (n >= ARRAY_SIZE(names) - 1)
			BUG("command table larger than %zu", ARRAY_SIZE(names));
		if (!(k->flags & CMD_HIDDEN))
			names[n++] = k->name;
	}
	names[n] = NULL;
	return nearest_word(name, names);
}

static void list_commands(FILE *out, bool all)
{
	fprintf(out, "usage: nua [--version] [--help] COMMAND [ARGS]\n\n"
		     "Nua is a self-hosted platform for web apps. Commands:\n\n");
	for (const struct cmd_struct *c = nua_commands; c->name; c++)
		if (all || !(c->flags & CMD_HIDDEN))
			fprintf(out, "  %-12s %s\n", c->name, c->summary);
	fprintf(out, "\nRun 'nua help COMMAND' for the usage and options of a command.\n");
}

static int list_commands_json(bool all)
{
	json_t *arr = json_array();

	for (const struct cmd_struct *c = nua_commands; c->name; c++) {
		json_t *opts = json_array();

		if (!all && (c->flags & CMD_HIDDEN))
			continue;
		for (const struct cmd_option *o = c->options; o && o->name; o++)
			json_array_append_new(opts, json_pack("{s:s, s:s}", "option", o->name,
							      "help", o->help));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:o}", "name", c->name,
						     "usage", c->usage, "summary", c->summary,
						     "options", opts));
	}
	json_dumpf(arr, stdout, JSON_INDENT(2));
	fputc('\n', stdout);
	json_decref(arr);
	return 0;
}

int cmd_help(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "all", no_argument, NULL, 'a' },
		{ "json", no_argument, NULL, 'j' },
		{ NULL, 0, NULL, 0 },
	};
	const struct cmd_struct *self = cli_find_command("help");
	bool all = false, json = false;
	int c;

	while ((c = cli_getopt(self, argc, argv, "", longopts)) != -1) {
		if (c == '?')
			return NUA_EINPUT;
		if (c == 'a')
			all = true;
		if (c == 'j')
			json = true;
	}
	if (json) {
		if (optind < argc)
			return cli_usage_error(self, "--json lists all commands; it takes no argument");
		return list_commands_json(all);
	}
	if (optind >= argc) {
		list_commands(stdout, all);
		return 0;
	}
	if (argc - optind > 1)
		return cli_usage_error(self, "too many arguments");
	const struct cmd_struct *cmd = cli_find_command(argv[optind]);
	if (!cmd) {
		const char *near = suggest_command(argv[optind]);

		if (near)
			return cli_error(NUA_EINPUT, "no command named '%s'; did you mean '%s'?",
					 argv[optind], near);
		return cli_error(NUA_EINPUT, "no command named '%s'; see 'nua help'", argv[optind]);
	}
	print_command_help(cmd, stdout);
	return 0;
}

int cmd_version(int argc, char **argv)
{
	const struct cmd_struct *self = cli_find_command("version");
	int c;

	while ((c = cli_getopt(self, argc, argv, "", NULL)) != -1)
		if (c == '?')
			return NUA_EINPUT;
	if (optind < argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	printf("nua %s\n", NUA_VERSION);
	return 0;
}

int cmd_completion(int argc, char **argv)
{
	const struct cmd_struct *self = cli_find_command("completion");
	int c;

	while ((c = cli_getopt(self, argc, argv, "", NULL)) != -1)
		if (c == '?')
			return NUA_EINPUT;
	if (argc - optind != 1 || !streq(argv[optind], "bash"))
		return cli_usage_error(self, "only 'bash' completion is available");

	printf("# bash completion for nua, generated by 'nua completion bash'\n"
	       "_nua() {\n"
	       "\tlocal cur=${COMP_WORDS[COMP_CWORD]}\n"
	       "\tif [ \"$COMP_CWORD\" -eq 1 ]; then\n"
	       "\t\tCOMPREPLY=($(compgen -W '");
	for (const struct cmd_struct *k = nua_commands; k->name; k++)
		if (!(k->flags & CMD_HIDDEN))
			printf("%s ", k->name);
	printf("--help --version' -- \"$cur\"))\n"
	       "\t\treturn\n"
	       "\tfi\n"
	       "\tcase ${COMP_WORDS[1]} in\n");
	for (const struct cmd_struct *k = nua_commands; k->name; k++) {
		printf("\t%s)\n", k->name);
		printf("\t\tif [[ $cur == -* ]]; then\n\t\t\tCOMPREPLY=($(compgen -W '--help");
		for (const struct cmd_option *o = k->options; o && o->name; o++) {
			/* "-n, --lines N" completes to its long form. */
			const char *l = strstr(o->name, "--");
			size_t len = l ? strcspn(l, " =") : 0;

			if (l)
				printf(" %.*s", (int)len, l);
		}
		printf("' -- \"$cur\"))\n\t\t\treturn\n\t\tfi\n");
		if (k->complete && streq(k->complete, "dir"))
			printf("\t\tCOMPREPLY=($(compgen -d -- \"$cur\"))\n");
		else if (k->complete && streq(k->complete, "file"))
			printf("\t\tCOMPREPLY=($(compgen -f -- \"$cur\"))\n");
		else if (k->complete && streq(k->complete, "command")) {
			printf("\t\tCOMPREPLY=($(compgen -W '");
			for (const struct cmd_struct *j = nua_commands; j->name; j++)
				if (!(j->flags & CMD_HIDDEN))
					printf("%s ", j->name);
			printf("' -- \"$cur\"))\n");
		} else if (k->complete && streq(k->complete, "instance"))
			printf("\t\tCOMPREPLY=($(compgen -W \"$(nua ls --names 2>/dev/null)\" -- \"$cur\"))\n");
		printf("\t\t;;\n");
	}
	printf("\tesac\n"
	       "}\n"
	       "complete -o default -F _nua nua\n");
	return 0;
}

/* nua __build --parent=PID [--no-cache] [--tty] -- DIR, its result on fd 3. */
static int build_worker_cmd(int argc, char **argv)
{
	bool no_cache = false, tty = false;
	long parent = 0;
	int i;

	for (i = 1; i < argc && !streq(argv[i], "--"); i++) {
		if (strncmp(argv[i], "--parent=", 9) == 0)
			parent = strtol(argv[i] + 9, NULL, 10);
		else if (streq(argv[i], "--no-cache"))
			no_cache = true;
		else if (streq(argv[i], "--tty"))
			tty = true;
		else
			return cli_error(NUA_EINPUT, "__build: unknown option '%s'", argv[i]);
	}
	if (i + 2 != argc || parent <= 0 || fcntl(3, F_GETFD) < 0)
		return cli_error(NUA_EINPUT, "__build is the daemon's build worker, not a command");
	/* It dies with the daemon's thread that waits for it; a daemon gone
	 * already is the same. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != (pid_t)parent)
		return NUA_EFAIL;
	return build_worker_main(argv[i + 1], no_cache, tty, 3);
}

/* nua __uacme CERTS -- UACME ARGS...: uacme trusting the CA bundle in CERTS
 * (tls.c runs it so). */
static int uacme_cmd(int argc, char **argv)
{
	struct nua_error *err = NULL;

	if (argc < 4 || !streq(argv[2], "--"))
		return cli_error(NUA_EINPUT, "__uacme is the daemon's ACME client, not a command");
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	tls_uacme_exec(argv[1], argv + 3, &err);
	fprintf(stderr, "nua: %s\n", err ? err->msg : "cannot run uacme");
	nua_error_free(err);
	return NUA_EFAIL;
}

int main(int argc, char **argv)
{
	const struct cmd_struct *cmd;

	setvbuf(stderr, NULL, _IOLBF, 0);
	if (argc < 2) {
		list_commands(stderr, false);
		return NUA_EINPUT;
	}
	if (streq(argv[1], "--version") || streq(argv[1], "-V"))
		argv[1] = (char *)"version";
	else if (streq(argv[1], "--help") || streq(argv[1], "-h"))
		argv[1] = (char *)"help";
	if (argv[1][0] == '-')
		return cli_error(NUA_EINPUT, "unknown option '%s'; see 'nua help'", argv[1]);
	/* Not for people: the daemon's build worker (build_package_worker). */
	if (streq(argv[1], "__build"))
		return build_worker_cmd(argc - 1, argv + 1);
	if (streq(argv[1], "__uacme"))
		return uacme_cmd(argc - 1, argv + 1);
	cmd = cli_find_command(argv[1]);
	if (!cmd) {
		const char *near = suggest_command(argv[1]);

		if (near)
			return cli_error(NUA_EINPUT, "'%s' is not a nua command; did you mean '%s'?",
					 argv[1], near);
		return cli_error(NUA_EINPUT, "'%s' is not a nua command; see 'nua help'", argv[1]);
	}
	optind = 1;
	if (cmd->flags & CMD_NEED_DAEMON) {
		int status;

		/* What goes to the daemon goes as JSON, which holds UTF-8 only. */
		for (int i = 2; i < argc; i++) {
			json_t *t = json_string(argv[i]);

			if (!t)
				return cli_error(NUA_EINPUT, "argument %d is not valid UTF-8", i - 1);
			json_decref(t);
		}
		client_init();
		status = cmd->fn(argc - 1, argv + 1);
		client_cleanup();
		return status;
	}
	return cmd->fn(argc - 1, argv + 1);
}
