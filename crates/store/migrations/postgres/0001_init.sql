-- Hookhaven schema, version 1 (PostgreSQL). The same logical schema as the SQLite one;
-- constraints are named because the store maps violations by constraint name.
-- Every *_at column holds milliseconds since the Unix epoch.

CREATE TABLE hooks (
    id           TEXT COLLATE "C" NOT NULL,  -- ULID: byte order is creation order, as in SQLite
    name         TEXT NOT NULL,              -- D3: unique in the tenant, stored as given
    script       TEXT NOT NULL,
    dependencies TEXT NOT NULL,              -- JSON object: package name -> version
    trigger_id   TEXT NOT NULL,
    enabled      BOOLEAN NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    CONSTRAINT hooks_pkey PRIMARY KEY (id),
    CONSTRAINT hooks_name_key UNIQUE (name)
);

-- D2: one enabled hook per trigger. The store disables the previous hook first, under a
-- per-trigger lock; this index makes the database itself refuse anything that slips past.
CREATE UNIQUE INDEX hooks_one_enabled_per_trigger ON hooks (trigger_id) WHERE enabled;

CREATE TABLE hook_secrets (
    -- seq records creation order, which is the order secrets are listed in.
    seq        BIGSERIAL NOT NULL,
    hook_id    TEXT COLLATE "C" NOT NULL,
    name       TEXT NOT NULL,
    value      TEXT,                         -- sealed envelope; NULL = created without a value (D1)
    key_id     TEXT,                         -- master key the value is sealed under, for rotation
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    CONSTRAINT hook_secrets_pkey PRIMARY KEY (seq),
    CONSTRAINT hook_secrets_hook_id_name_key UNIQUE (hook_id, name),
    CONSTRAINT hook_secrets_hook_id_fkey FOREIGN KEY (hook_id)
        REFERENCES hooks (id) ON DELETE CASCADE
);

-- For key rotation: finding the values sealed under a key.
CREATE INDEX hook_secrets_key_id ON hook_secrets (key_id) WHERE value IS NOT NULL;

CREATE TABLE clients (
    seq         BIGSERIAL NOT NULL,
    client_id   TEXT NOT NULL,
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    secret_hmac BYTEA NOT NULL,              -- D5: only the HMAC of the secret is kept
    created_at  BIGINT NOT NULL,
    CONSTRAINT clients_pkey PRIMARY KEY (seq),
    CONSTRAINT clients_client_id_key UNIQUE (client_id)
);

CREATE TABLE client_grants (
    seq       BIGSERIAL NOT NULL,
    id        TEXT NOT NULL,
    client_id TEXT NOT NULL,
    audience  TEXT NOT NULL,
    scope     TEXT NOT NULL,                 -- JSON array of scope strings
    CONSTRAINT client_grants_pkey PRIMARY KEY (seq),
    CONSTRAINT client_grants_id_key UNIQUE (id),
    CONSTRAINT client_grants_client_id_audience_key UNIQUE (client_id, audience),
    CONSTRAINT client_grants_client_id_fkey FOREIGN KEY (client_id)
        REFERENCES clients (client_id) ON DELETE CASCADE
);

CREATE TABLE server_keys (
    name       TEXT NOT NULL,
    value      TEXT NOT NULL,                -- sealed envelope
    created_at BIGINT NOT NULL,
    CONSTRAINT server_keys_pkey PRIMARY KEY (name)
);

CREATE TABLE audit_log (
    seq          BIGSERIAL NOT NULL,
    at           BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    action       TEXT NOT NULL,
    hook_id      TEXT,                       -- no foreign key: the trail outlives the hook
    target       TEXT,
    secret_names TEXT NOT NULL,              -- JSON array of names, never values
    outcome      TEXT NOT NULL,
    detail       TEXT,
    request_id   TEXT,
    CONSTRAINT audit_log_pkey PRIMARY KEY (seq),
    CONSTRAINT audit_log_outcome_check CHECK (outcome IN ('success', 'failure'))
);

-- Newest first per hook or per actor, as the audit listing reads them.
CREATE INDEX audit_log_hook_id ON audit_log (hook_id, seq);
CREATE INDEX audit_log_actor ON audit_log (actor, seq);
