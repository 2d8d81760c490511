-- Hookhaven schema, version 1 (SQLite).
-- Every *_at column holds milliseconds since the Unix epoch.

CREATE TABLE hooks (
    id           TEXT PRIMARY KEY NOT NULL,  -- ULID: sorting by id is creation order
    name         TEXT NOT NULL UNIQUE,       -- D3: unique in the tenant, stored as given
    script       TEXT NOT NULL,
    dependencies TEXT NOT NULL,              -- JSON object: package name -> version
    trigger_id   TEXT NOT NULL,
    enabled      INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

-- D2: one enabled hook per trigger. The store disables the previous hook first; this index
-- makes the database itself refuse anything that slips past that.
CREATE UNIQUE INDEX hooks_one_enabled_per_trigger ON hooks (trigger_id) WHERE enabled = 1;

CREATE TABLE hook_secrets (
    -- seq records creation order, which is the order secrets are listed in.
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    hook_id    TEXT NOT NULL REFERENCES hooks (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    value      TEXT,                         -- sealed envelope; NULL = created without a value (D1)
    key_id     TEXT,                         -- master key the value is sealed under, for rotation
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    UNIQUE (hook_id, name)
);

CREATE TABLE clients (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    secret_hmac BLOB NOT NULL,               -- D5: only the HMAC of the secret is kept
    created_at  INTEGER NOT NULL
);

CREATE TABLE client_grants (
    seq       INTEGER PRIMARY KEY AUTOINCREMENT,
    id        TEXT NOT NULL UNIQUE,
    client_id TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    audience  TEXT NOT NULL,
    scope     TEXT NOT NULL,                 -- JSON array of scope strings
    UNIQUE (client_id, audience)
);

CREATE TABLE server_keys (
    name       TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,                -- sealed envelope
    created_at INTEGER NOT NULL
);

CREATE TABLE audit_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    at           INTEGER NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    hook_id      TEXT,                       -- no foreign key: the trail outlives the hook
    target       TEXT,
    secret_names TEXT NOT NULL,              -- JSON array of names, never values
    outcome      TEXT NOT NULL CHECK (outcome IN ('success', 'failure')),
    detail       TEXT,
    request_id   TEXT
);

-- seq is the rowid, so these indexes already list each key's events in seq order.
CREATE INDEX audit_log_hook_id ON audit_log (hook_id);
CREATE INDEX audit_log_actor ON audit_log (actor);
