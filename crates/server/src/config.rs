//! Resolved server configuration. The CLI fills it from flags, `HOOKHAVEN_*` environment
//! variables and an optional TOML file; this crate only reads it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `host[:port]` that clients use. Issuer `https://{domain}/`, audience
    /// `https://{domain}/api/v2/` (the `http://` form is accepted too).
    pub domain: String,
    pub database_url: String,
    pub master_key_file: PathBuf,
    /// The keyring text itself, from `HOOKHAVEN_MASTER_KEY`; wins over the file.
    pub master_key: Option<String>,
    pub tls: TlsMode,
    pub log_json: bool,
    pub token_lifetime_secs: i64,
    pub rate_limit: RateLimitConfig,
    /// Pool and timeouts for a PostgreSQL database.
    pub postgres: hookhaven_store::PgOptions,
    /// Limits and network policy of the hook sandbox.
    pub runtime: hookhaven_runtime::RuntimeConfig,
    /// Key rotation: reloading keys and the background jobs.
    pub keys: KeysConfig,
    /// Limits applied at the edge, before a request reaches a handler.
    pub edge: EdgeLimits,
}

/// Defences at the edge: sizes, timeouts and the connection cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EdgeLimits {
    /// The largest request body, bytes (413 past it).
    pub max_body_bytes: usize,
    /// The largest request head (request line and headers), bytes (431 past it).
    pub max_header_bytes: usize,
    /// Time a client gets to send the whole request head on a new connection or between
    /// keep-alive requests; a slow-loris connection is closed when it runs out.
    pub header_read_timeout: Duration,
    /// Connections served at once; past it new connections get a 503 and are closed.
    pub max_connections: usize,
    /// Time a request gets from its head being read to its response (503 past it). Kept
    /// above the hook deadline so that a hook run ends on its own deadline first.
    pub request_timeout: Duration,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            max_body_bytes: crate::body::MAX_BODY_BYTES,
            max_header_bytes: 16 * 1024,
            header_read_timeout: Duration::from_secs(60),
            max_connections: 1024,
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Key rotation settings (see docs/operations.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeysConfig {
    /// How often the signing-key set is re-read from the database, so that every
    /// instance publishes and uses a rotated set without a restart.
    pub signing_reload: std::time::Duration,
    /// Rotate the signing key when it is this many days old (checked hourly by every
    /// instance; only one rotation wins). `None`: rotate only by command.
    pub signing_rotation_days: Option<u64>,
    /// How often the master keyring file is checked for a change (mtime and size).
    pub keyring_reload: std::time::Duration,
    /// How often the background job looks for values sealed under an old master key.
    pub rewrap_interval: std::time::Duration,
    /// Values re-sealed per transaction by the background job.
    pub rewrap_batch: u32,
    /// How often this instance adds its seal counts to the database and checks the
    /// active master key against `seal_limits`.
    pub seal_count_flush: std::time::Duration,
    /// Seals per master key before a warning and before refusing (security row 5).
    pub seal_limits: SealLimits,
}

/// Seals allowed under one master key. AES-GCM with random 96-bit nonces must stay well
/// below 2^32 seals per key; only tests set other values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealLimits {
    /// Past this total, every flush logs a warning to rotate the master key.
    pub warn: u64,
    /// At this total, new seals under the key are refused (503) until it is rotated.
    pub refuse: u64,
}

impl Default for SealLimits {
    fn default() -> Self {
        SealLimits {
            warn: 1 << 30,
            refuse: 1 << 31,
        }
    }
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            signing_reload: std::time::Duration::from_secs(30),
            signing_rotation_days: None,
            keyring_reload: std::time::Duration::from_secs(10),
            rewrap_interval: std::time::Duration::from_secs(10),
            rewrap_batch: 100,
            seal_count_flush: std::time::Duration::from_secs(5),
            seal_limits: SealLimits::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    Off,
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    /// Generate (once) a certificate for `IP:127.0.0.1` and `DNS:localhost` into
    /// `<data-dir>/tls/`.
    SelfSigned,
}

/// Token buckets: `burst` requests at once, refilled at `per_second`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimitConfig {
    pub per_client_burst: u32,
    pub per_client_per_second: f64,
    pub per_ip_burst: u32,
    pub per_ip_per_second: f64,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        // Generous: far above Auth0's per-tenant limits, so that deploy pipelines that
        // fetch every hook in parallel never see a 429, yet a runaway script is held back.
        RateLimitConfig {
            per_client_burst: 2000,
            per_client_per_second: 1000.0,
            per_ip_burst: 4000,
            per_ip_per_second: 2000.0,
        }
    }
}

impl Config {
    /// Defaults for a data directory: SQLite inside it, the keyring beside it.
    pub fn for_data_dir(data_dir: PathBuf) -> Config {
        Config {
            database_url: format!("sqlite://{}", data_dir.join("hookhaven.db").display()),
            master_key_file: data_dir.join("master.key"),
            data_dir,
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            domain: "127.0.0.1:8080".to_string(),
            master_key: None,
            tls: TlsMode::Off,
            log_json: false,
            token_lifetime_secs: 86400,
            rate_limit: RateLimitConfig::default(),
            runtime: hookhaven_runtime::RuntimeConfig::default(),
            postgres: hookhaven_store::PgOptions::default(),
            keys: KeysConfig::default(),
            edge: EdgeLimits::default(),
        }
    }

    pub fn issuer(&self) -> String {
        format!("https://{}/", self.domain)
    }

    /// The Management API audience in its canonical form.
    pub fn audience(&self) -> String {
        format!("https://{}/api/v2/", self.domain)
    }

    /// Every audience string that names this server's Management API.
    pub fn accepted_audiences(&self) -> Vec<String> {
        vec![self.audience(), format!("http://{}/api/v2/", self.domain)]
    }
}
