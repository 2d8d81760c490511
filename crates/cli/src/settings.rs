//! Command-line flags, `HOOKHAVEN_*` environment variables and the optional TOML file,
//! resolved into a server `Config`. Precedence: flag, then environment, then file, then
//! the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Args;
use hookhaven_server::config::{Config, TlsMode};
use serde::Deserialize;

/// Where the data lives; shared by `serve` and the offline commands.
#[derive(Args, Debug, Clone)]
pub struct StorageArgs {
    /// TOML configuration file; its keys are the long flag names with underscores.
    #[arg(long, env = "HOOKHAVEN_CONFIG")]
    pub config: Option<PathBuf>,
    /// Data directory [default: ./data].
    #[arg(long, env = "HOOKHAVEN_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Database URL [default: sqlite://<data-dir>/hookhaven.db].
    #[arg(long, env = "HOOKHAVEN_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Master keyring file [default: <data-dir>/master.key]. The keyring text itself may
    /// instead be given in HOOKHAVEN_MASTER_KEY.
    #[arg(long, env = "HOOKHAVEN_MASTER_KEY_FILE")]
    pub master_key_file: Option<PathBuf>,
    /// The host[:port] clients use [default: the listen address].
    #[arg(long, env = "HOOKHAVEN_DOMAIN")]
    pub domain: Option<String>,
    /// PostgreSQL pool size [default: 10].
    #[arg(long, env = "HOOKHAVEN_DATABASE_POOL_SIZE")]
    pub database_pool_size: Option<u32>,
    /// PostgreSQL statement timeout, milliseconds [default: 30000].
    #[arg(long, env = "HOOKHAVEN_DATABASE_STATEMENT_TIMEOUT_MS")]
    pub database_statement_timeout_ms: Option<u64>,
}

#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
    /// Address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "HOOKHAVEN_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// PEM certificate chain to serve https with (needs --tls-key).
    #[arg(long, env = "HOOKHAVEN_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "HOOKHAVEN_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Serve https with a certificate for IP:127.0.0.1 and DNS:localhost, generated once
    /// into <data-dir>/tls/cert.pem.
    #[arg(long, env = "HOOKHAVEN_TLS_SELF_SIGNED", num_args = 0..=1, default_missing_value = "true")]
    pub tls_self_signed: Option<bool>,
    /// Log format: text or json [default: text].
    #[arg(long, env = "HOOKHAVEN_LOG_FORMAT")]
    pub log_format: Option<String>,
    /// Requests a client may burst [default: 2000].
    #[arg(long, env = "HOOKHAVEN_RATE_LIMIT_BURST")]
    pub rate_limit_burst: Option<u32>,
    /// Requests per second a client is refilled with [default: 1000].
    #[arg(long, env = "HOOKHAVEN_RATE_LIMIT_PER_SECOND")]
    pub rate_limit_per_second: Option<f64>,
    /// Access token lifetime in seconds [default: 86400].
    #[arg(long, env = "HOOKHAVEN_TOKEN_LIFETIME")]
    pub token_lifetime: Option<i64>,
    #[command(flatten)]
    pub hooks: HookArgs,
    #[command(flatten)]
    pub edge: EdgeArgs,
    #[command(flatten)]
    pub keys: crate::keys::KeyArgs,
}

/// Defences at the edge.
#[derive(Args, Debug, Clone, Default)]
pub struct EdgeArgs {
    /// Requests one IP address may burst, on every route including /oauth/token
    /// [default: 4000, or twice --rate-limit-burst].
    #[arg(long, env = "HOOKHAVEN_RATE_LIMIT_IP_BURST")]
    pub rate_limit_ip_burst: Option<u32>,
    /// Requests per second one IP address is refilled with [default: 2000, or twice
    /// --rate-limit-per-second].
    #[arg(long, env = "HOOKHAVEN_RATE_LIMIT_IP_PER_SECOND")]
    pub rate_limit_ip_per_second: Option<f64>,
    /// Largest request body, bytes [default: 1048576].
    #[arg(long, env = "HOOKHAVEN_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest request head (request line and headers), bytes [default: 16384].
    #[arg(long, env = "HOOKHAVEN_MAX_HEADER_BYTES")]
    pub max_header_bytes: Option<usize>,
    /// Seconds a client gets to send a request head (and to finish a TLS handshake); an
    /// idle keep-alive connection is closed after it too [default: 60].
    #[arg(long, env = "HOOKHAVEN_HEADER_READ_TIMEOUT")]
    pub header_read_timeout: Option<u64>,
    /// Connections served at once; more get a 503 and are closed [default: 1024].
    #[arg(long, env = "HOOKHAVEN_MAX_CONNECTIONS")]
    pub max_connections: Option<usize>,
    /// Seconds a request may take before it is answered with a 503 [default: 30, and at
    /// least the hook timeout plus 10].
    #[arg(long, env = "HOOKHAVEN_REQUEST_TIMEOUT")]
    pub request_timeout: Option<u64>,
}

/// The hook sandbox's limits and network policy.
#[derive(Args, Debug, Clone, Default)]
pub struct HookArgs {
    /// Wall-clock deadline of one hook invocation, seconds [default: 20].
    #[arg(long, env = "HOOKHAVEN_HOOK_TIMEOUT")]
    pub hook_timeout: Option<u64>,
    /// Memory limit of one hook invocation, MiB [default: 64].
    #[arg(long, env = "HOOKHAVEN_HOOK_MEMORY_MB")]
    pub hook_memory_mb: Option<usize>,
    /// Worker threads running hooks [default: the number of cores].
    #[arg(long, env = "HOOKHAVEN_HOOK_WORKERS")]
    pub hook_workers: Option<usize>,
    /// Hosts hook code may fetch from over https, comma-separated (`*.example.com` allowed).
    #[arg(long, env = "HOOKHAVEN_FETCH_ALLOW_HOSTS", value_delimiter = ',')]
    pub fetch_allow_hosts: Option<Vec<String>>,
    /// Hosts hook code may also reach over plain http, comma-separated.
    #[arg(long, env = "HOOKHAVEN_FETCH_ALLOW_HTTP_HOSTS", value_delimiter = ',')]
    pub fetch_allow_http_hosts: Option<Vec<String>>,
    /// Private or loopback hosts that are exempt from the address block (e.g. a local
    /// test stub), comma-separated. Use with care.
    #[arg(
        long,
        env = "HOOKHAVEN_FETCH_ALLOW_PRIVATE_HOSTS",
        value_delimiter = ','
    )]
    pub fetch_allow_private_hosts: Option<Vec<String>>,
}

/// The TOML file: every key optional, unknown keys refused so typos don't pass silently.
#[derive(Deserialize, Default, Debug)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    master_key_file: Option<PathBuf>,
    domain: Option<String>,
    listen: Option<SocketAddr>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    tls_self_signed: Option<bool>,
    log_format: Option<String>,
    rate_limit_burst: Option<u32>,
    rate_limit_per_second: Option<f64>,
    token_lifetime: Option<i64>,
    database_pool_size: Option<u32>,
    database_statement_timeout_ms: Option<u64>,
    hook_timeout: Option<u64>,
    hook_memory_mb: Option<usize>,
    hook_workers: Option<usize>,
    fetch_allow_hosts: Option<Vec<String>>,
    fetch_allow_http_hosts: Option<Vec<String>>,
    fetch_allow_private_hosts: Option<Vec<String>>,
    rate_limit_ip_burst: Option<u32>,
    rate_limit_ip_per_second: Option<f64>,
    max_body_bytes: Option<usize>,
    max_header_bytes: Option<usize>,
    header_read_timeout: Option<u64>,
    max_connections: Option<usize>,
    request_timeout: Option<u64>,
}

fn read_file(path: Option<&PathBuf>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))
}

impl StorageArgs {
    pub fn resolve(&self) -> anyhow::Result<Config> {
        ServeArgs {
            storage: self.clone(),
            listen: None,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: None,
            log_format: None,
            rate_limit_burst: None,
            rate_limit_per_second: None,
            token_lifetime: None,
            hooks: HookArgs::default(),
            edge: EdgeArgs::default(),
            keys: crate::keys::KeyArgs::default(),
        }
        .resolve()
    }
}

impl ServeArgs {
    pub fn resolve(&self) -> anyhow::Result<Config> {
        let file = read_file(self.storage.config.as_ref())?;
        let s = &self.storage;
        let data_dir = s
            .data_dir
            .clone()
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from("data"));
        let mut config = Config::for_data_dir(data_dir);
        if let Some(url) = s.database_url.clone().or(file.database_url) {
            config.database_url = url;
        }
        if let Some(path) = s.master_key_file.clone().or(file.master_key_file) {
            config.master_key_file = path;
        }
        config.master_key = std::env::var("HOOKHAVEN_MASTER_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty());
        if let Some(listen) = self.listen.or(file.listen) {
            config.listen = listen;
        }
        config.domain = match s.domain.clone().or(file.domain) {
            Some(domain) => validate_domain(domain)?,
            None => default_domain(config.listen),
        };
        let cert = self.tls_cert.clone().or(file.tls_cert);
        let key = self.tls_key.clone().or(file.tls_key);
        let self_signed = self
            .tls_self_signed
            .or(file.tls_self_signed)
            .unwrap_or(false);
        config.tls = match (cert, key, self_signed) {
            (Some(_), _, true) | (_, Some(_), true) => {
                bail!("--tls-self-signed cannot be combined with --tls-cert/--tls-key")
            }
            (Some(cert), Some(key), false) => TlsMode::Files { cert, key },
            (Some(_), None, _) | (None, Some(_), _) => {
                bail!("--tls-cert and --tls-key go together")
            }
            (None, None, true) => TlsMode::SelfSigned,
            (None, None, false) => TlsMode::Off,
        };
        config.log_json = match self.log_format.clone().or(file.log_format).as_deref() {
            None | Some("text") => false,
            Some("json") => true,
            Some(other) => bail!("unknown log format {other:?}; expected text or json"),
        };
        if let Some(burst) = self.rate_limit_burst.or(file.rate_limit_burst) {
            config.rate_limit.per_client_burst = burst;
            config.rate_limit.per_ip_burst =
                config.rate_limit.per_ip_burst.max(burst.saturating_mul(2));
        }
        if let Some(rate) = self.rate_limit_per_second.or(file.rate_limit_per_second) {
            if !rate.is_finite() || rate <= 0.0 {
                bail!("--rate-limit-per-second must be positive");
            }
            config.rate_limit.per_client_per_second = rate;
            config.rate_limit.per_ip_per_second =
                config.rate_limit.per_ip_per_second.max(rate * 2.0);
        }
        if let Some(lifetime) = self.token_lifetime.or(file.token_lifetime) {
            if !(60..=2_592_000).contains(&lifetime) {
                bail!("--token-lifetime must be between 60 and 2592000 seconds");
            }
            config.token_lifetime_secs = lifetime;
        }
        if let Some(size) = s.database_pool_size.or(file.database_pool_size) {
            if size == 0 {
                bail!("--database-pool-size must be at least 1");
            }
            config.postgres.max_connections = size;
        }
        if let Some(ms) = s
            .database_statement_timeout_ms
            .or(file.database_statement_timeout_ms)
        {
            config.postgres.statement_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        let h = &self.hooks;
        let runtime = &mut config.runtime;
        if let Some(secs) = h.hook_timeout.or(file.hook_timeout) {
            if !(1..=300).contains(&secs) {
                bail!("--hook-timeout must be between 1 and 300 seconds");
            }
            runtime.wall_deadline = Duration::from_secs(secs);
            runtime.cpu_deadline = runtime.cpu_deadline.min(runtime.wall_deadline);
        }
        if let Some(mb) = h.hook_memory_mb.or(file.hook_memory_mb) {
            if !(8..=4096).contains(&mb) {
                bail!("--hook-memory-mb must be between 8 and 4096");
            }
            runtime.memory_limit_bytes = mb * 1024 * 1024;
        }
        if let Some(workers) = h.hook_workers.or(file.hook_workers) {
            if workers == 0 {
                bail!("--hook-workers must be at least 1");
            }
            runtime.workers = workers;
        }
        let hosts = |v: Option<Vec<String>>| -> Vec<String> {
            v.unwrap_or_default()
                .into_iter()
                .map(|h| h.trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect()
        };
        if let Some(v) = h.fetch_allow_hosts.clone().or(file.fetch_allow_hosts) {
            runtime.network.allowed_hosts = hosts(Some(v));
        }
        if let Some(v) = h
            .fetch_allow_http_hosts
            .clone()
            .or(file.fetch_allow_http_hosts)
        {
            runtime.network.http_allowed_hosts = hosts(Some(v));
        }
        if let Some(v) = h
            .fetch_allow_private_hosts
            .clone()
            .or(file.fetch_allow_private_hosts)
        {
            runtime.network.allow_private_hosts = hosts(Some(v));
        }
        let e = &self.edge;
        if let Some(burst) = e.rate_limit_ip_burst.or(file.rate_limit_ip_burst) {
            if burst == 0 {
                bail!("--rate-limit-ip-burst must be at least 1");
            }
            config.rate_limit.per_ip_burst = burst;
        }
        if let Some(rate) = e.rate_limit_ip_per_second.or(file.rate_limit_ip_per_second) {
            if !rate.is_finite() || rate <= 0.0 {
                bail!("--rate-limit-ip-per-second must be positive");
            }
            config.rate_limit.per_ip_per_second = rate;
        }
        let edge = &mut config.edge;
        if let Some(n) = e.max_body_bytes.or(file.max_body_bytes) {
            if !(1024..=1024 * 1024 * 1024).contains(&n) {
                bail!("--max-body-bytes must be between 1024 and 1073741824");
            }
            edge.max_body_bytes = n;
        }
        if let Some(n) = e.max_header_bytes.or(file.max_header_bytes) {
            if !(1024..=1024 * 1024).contains(&n) {
                bail!("--max-header-bytes must be between 1024 and 1048576");
            }
            edge.max_header_bytes = n;
        }
        if let Some(secs) = e.header_read_timeout.or(file.header_read_timeout) {
            if !(1..=3600).contains(&secs) {
                bail!("--header-read-timeout must be between 1 and 3600 seconds");
            }
            edge.header_read_timeout = Duration::from_secs(secs);
        }
        if let Some(n) = e.max_connections.or(file.max_connections) {
            if n == 0 {
                bail!("--max-connections must be at least 1");
            }
            edge.max_connections = n;
        }
        let hook_secs = config.runtime.wall_deadline.as_secs();
        match e.request_timeout.or(file.request_timeout) {
            Some(secs) => {
                if !(1..=3600).contains(&secs) {
                    bail!("--request-timeout must be between 1 and 3600 seconds");
                }
                if secs <= hook_secs {
                    bail!(
                        "--request-timeout ({secs} s) must be longer than the hook timeout ({hook_secs} s), \
                         so that a hook run ends on its own deadline"
                    );
                }
                edge.request_timeout = Duration::from_secs(secs);
            }
            None => {
                edge.request_timeout = edge
                    .request_timeout
                    .max(Duration::from_secs(hook_secs + 10));
            }
        }
        self.keys.apply(&mut config.keys)?;
        Ok(config)
    }
}

/// The domain is `host[:port]`, with no scheme or path: it is pasted into URLs.
fn validate_domain(domain: String) -> anyhow::Result<String> {
    let ok = !domain.is_empty()
        && domain
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
    if !ok {
        bail!("--domain must be host[:port] without a scheme or path, e.g. localhost:8443 (got {domain:?})");
    }
    Ok(domain)
}

fn default_domain(listen: SocketAddr) -> String {
    if listen.ip().is_unspecified() {
        format!("localhost:{}", listen.port())
    } else {
        listen.to_string()
    }
}
