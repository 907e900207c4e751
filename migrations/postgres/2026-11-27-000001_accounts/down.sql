DROP TABLE login_failures;
DROP TABLE app_settings;
DROP TABLE users;
