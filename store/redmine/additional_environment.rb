# Nua's settings for Redmine, read after Debian's per-instance ones.
# Rails' cache is the instance's Redis resource: its user may touch only
# the keys under CACHE_PREFIX ("INSTANCE_cache:"), and the cache's
# namespace is that prefix (Rails adds the ':').
cache = {
  url: ENV.fetch('CACHE_URL'),
  namespace: ENV.fetch('CACHE_PREFIX').chomp(':'),
  expires_in: 1.day,
}
config.cache_store = :redis_cache_store, cache
config.redmine_search_cache_store = :redis_cache_store, cache
# /usr/share/redmine is read-only to the app: no schema dump after a migration.
config.active_record.dump_schema_after_migration = false
# Logs go to standard output (RAILS_LOG_TO_STDOUT), not to files, at the
# level of REDMINE_LOG_LEVEL.
config.log_level = ENV.fetch('REDMINE_LOG_LEVEL', 'info').to_sym
