-- Each person's own time zone (an IANA name), chosen on their profile.
ALTER TABLE users ADD COLUMN time_zone TEXT NOT NULL DEFAULT 'UTC';
