# Puma for Redmine, run by nua-init as www-data: one process, a few
# threads, its pid under /tmp, its log on the standard output.
directory '/usr/share/redmine'
environment 'production'
bind "tcp://0.0.0.0:#{ENV.fetch('PORT')}"
threads 2, 6
workers 0
pidfile '/tmp/redmine/puma.pid'
