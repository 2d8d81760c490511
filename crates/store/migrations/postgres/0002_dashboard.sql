-- Hookhaven schema, version 2 (PostgreSQL): Dashboard administrators and their sessions.
-- The same logical schema as the SQLite one. Every *_at column holds milliseconds since
-- the Unix epoch.

CREATE TABLE admins (
    seq           BIGSERIAL NOT NULL,
    id            TEXT NOT NULL,
    email         TEXT NOT NULL,             -- lower-cased
    password_hash TEXT NOT NULL,             -- argon2id PHC string; never a password
    created_at    BIGINT NOT NULL,
    CONSTRAINT admins_pkey PRIMARY KEY (seq),
    CONSTRAINT admins_id_key UNIQUE (id),
    CONSTRAINT admins_email_key UNIQUE (email)
);

CREATE TABLE admin_sessions (
    id_hash      TEXT NOT NULL,              -- SHA-256 (hex) of the cookie value
    admin_id     TEXT NOT NULL,
    csrf_token   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    CONSTRAINT admin_sessions_pkey PRIMARY KEY (id_hash),
    CONSTRAINT admin_sessions_admin_id_fkey FOREIGN KEY (admin_id)
        REFERENCES admins (id) ON DELETE CASCADE
);

CREATE INDEX admin_sessions_admin_id ON admin_sessions (admin_id);
CREATE INDEX admin_sessions_last_seen_at ON admin_sessions (last_seen_at);
