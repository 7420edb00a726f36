# Run by first-start.sh with Redmine loaded: Redmine's default data
# (trackers, statuses, roles, priorities) in English, the admin made by the
# migrations given the login, e-mail and password of the environment (no
# change of password asked at the first login), the REST API on.
Redmine::DefaultData::Loader.load('en') if Redmine::DefaultData::Loader.no_data?

admin = User.where(admin: true).order(:id).first
# Still admin/admin, as the migrations made it: set it once.
if admin.check_password?('admin')
  admin.login = ENV.fetch('ADMIN_USER')
  admin.mail = ENV.fetch('ADMIN_EMAIL')
  admin.password = ENV.fetch('ADMIN_PASSWORD')
  admin.password_confirmation = admin.password
  admin.must_change_passwd = false
  admin.save!
end

Setting.rest_api_enabled = '1'
Setting.host_name = ENV.fetch('APP_DOMAIN')
puts "Redmine ready; its admin is '#{admin.login}'"
