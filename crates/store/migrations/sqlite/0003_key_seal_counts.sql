-- Hookhaven schema, version 3 (SQLite): how many values each master key has sealed.
-- AES-GCM with random 96-bit nonces must stay well below 2^32 seals per key; the servers
-- add their counts here and refuse new seals under a key past the limit (see
-- docs/operations.md, "Master key").

CREATE TABLE key_seal_counts (
    key_id TEXT PRIMARY KEY NOT NULL,
    seals  INTEGER NOT NULL
);
