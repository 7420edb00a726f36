# The first start of a Redmine instance: the schema in its PostgreSQL
# database, then first-start.rb (the default data, the admin, the REST API).
# Both are safe to run twice.
set -eu
# Only warnings and errors in the deploy's output, not every migration.
export REDMINE_LOG_LEVEL=warn
mkdir -p /tmp/redmine
cd /usr/share/redmine
VERBOSE=false bundle exec rake db:migrate
bundle exec rails runner /nua/app/first-start.rb
