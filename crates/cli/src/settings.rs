//! Command-line flags, `HOOKHAVEN_*` environment variables and the optional TOML file,
//! resolved into a server `Config`. Precedence: flag, then environment, then file, then
//! the defaults.

use std::net::SocketAddr;
use std::path::PathBuf;

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
