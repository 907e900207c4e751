-- Signed-in sessions, one row each: the cookie carries a random token whose hash is here, so
-- that signing out (here or everywhere), a password change or disabling the user ends the
-- session for every copy of the cookie.
CREATE TABLE user_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX user_sessions_by_user ON user_sessions (user_id);

-- Sign-in attempts are throttled per (email, address) and per address.
DROP INDEX login_failures_by_email;
CREATE INDEX login_failures_by_email_and_ip ON login_failures (email_normalized, ip, failed_at);
