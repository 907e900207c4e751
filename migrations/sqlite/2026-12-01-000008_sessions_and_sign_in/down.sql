DROP INDEX login_failures_by_email_and_ip;
CREATE INDEX login_failures_by_email ON login_failures (email_normalized, failed_at);
DROP TABLE user_sessions;
