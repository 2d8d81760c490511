-- Hookhaven schema, version 2 (SQLite): Dashboard administrators and their sessions.
-- Every *_at column holds milliseconds since the Unix epoch.

CREATE TABLE admins (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    id            TEXT NOT NULL UNIQUE,
    email         TEXT NOT NULL UNIQUE,      -- lower-cased
    password_hash TEXT NOT NULL,             -- argon2id PHC string; never a password
    created_at    INTEGER NOT NULL
);

CREATE TABLE admin_sessions (
    id_hash      TEXT PRIMARY KEY NOT NULL,  -- SHA-256 (hex) of the cookie value
    admin_id     TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    csrf_token   TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);

CREATE INDEX admin_sessions_admin_id ON admin_sessions (admin_id);
CREATE INDEX admin_sessions_last_seen_at ON admin_sessions (last_seen_at);
