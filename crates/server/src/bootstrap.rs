//! Opening a data directory: the master keyring, the database, and the server keys kept
//! sealed inside it (the JWT signing key and the client-secret HMAC key). Shared by
//! `serve` and the offline CLI commands, which work on the data dir directly.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use hookhaven_core::{AuditEvent, ALL_SCOPES};
use hookhaven_crypto::{
    open_server_key, seal_server_key, ClientSecretHasher, MasterKeyring, SigningKey,
};
use hookhaven_store::{PgOptions, PgStore, SqliteStore, Store};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::registry;

/// Everything a running server or a CLI command needs from the data dir.
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub keyring: MasterKeyring,
    /// The current signing key (the one `signing` holds as `current`).
    pub signing_key: SigningKey,
    /// Current, next and previous signing keys.
    pub signing: crate::keys::SigningSet,
    /// Where the keyring came from, for reloading it.
    pub keyring_source: crate::keys::KeyringSource,
    pub secret_hasher: ClientSecretHasher,
}

const CLIENT_SECRET_KEY_NAME: &str = "client-secret-hmac-key";
pub const ADMIN_CREDENTIALS_FILE: &str = "admin-credentials.json";

pub async fn open_data_dir(config: &Config) -> anyhow::Result<Opened> {
    create_private_dir(&config.data_dir)?;
    let keyring = load_or_create_keyring(config)?;
    let store = open_store(&config.database_url, &config.postgres).await?;

    // Refuse to run over values we could never decrypt: better a clear stop now than
    // hooks that fail one by one later.
    let missing: Vec<String> = store
        .key_ids_in_use()
        .await
        .map_err(operator_error)
        .context("reading the key ids in use")?
        .into_iter()
        .filter(|id| !keyring.has_key(id))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the database holds values sealed under master key id(s) {} that the keyring does not have; start with the keyring that holds them (--master-key-file or HOOKHAVEN_MASTER_KEY)",
            missing.join(", ")
        );
    }

    let signing = crate::keys::load_or_create_signing_set(store.as_ref(), &keyring).await?;
    let signing_key = SigningKey::from_pkcs8_der(
        signing.current.kid().to_string(),
        &signing.current.to_pkcs8_der(),
    )
    .map_err(|e| anyhow::anyhow!("the stored signing key does not load: {e}"))?;
    let hmac_key =
        load_or_create_server_key(store.as_ref(), &keyring, CLIENT_SECRET_KEY_NAME, || {
            let mut key = Zeroizing::new(vec![0u8; 32]);
            rand_bytes(&mut key);
            key
        })
        .await?;
    let hmac_key: [u8; 32] = hmac_key
        .as_slice()
        .try_into()
        .context("the stored client-secret key has the wrong length")?;
    Ok(Opened {
        store,
        keyring,
        signing_key,
        signing,
        keyring_source: if config.master_key.is_some() {
            crate::keys::KeyringSource::Env
        } else {
            crate::keys::KeyringSource::File(config.master_key_file.clone())
        },
        secret_hasher: ClientSecretHasher::new(hmac_key),
    })
}

/// A store error as an operator should read it, with the detail a client never sees.
pub fn operator_error(e: hookhaven_core::Error) -> anyhow::Error {
    anyhow::anyhow!(e.detail())
}

fn rand_bytes(buf: &mut [u8]) {
    use rand::RngCore;
    rand::rngs::OsRng.fill_bytes(buf);
}

pub async fn open_store(
    database_url: &str,
    postgres: &PgOptions,
) -> anyhow::Result<Arc<dyn Store>> {
    if database_url.starts_with("sqlite:") {
        let store = SqliteStore::open(database_url).await.map_err(|e| {
            anyhow::anyhow!("cannot open the database {database_url}: {}", e.detail())
        })?;
        Ok(Arc::new(store))
    } else if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
        // The URL may hold a password: the message names the server, never the URL.
        let store = PgStore::open(database_url, postgres.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the database: {}", e.detail()))?;
        Ok(Arc::new(store))
    } else {
        bail!("unsupported database URL scheme; expected sqlite://PATH or postgres://USER@HOST/DATABASE")
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        return Ok(());
    }
    fs::create_dir_all(dir).with_context(|| format!("creating data dir {}", dir.display()))?;
    set_mode(dir, 0o700)
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .with_context(|| format!("setting permissions of {}", path.display()))
}

#[cfg(not(unix))]
fn set_mode(_path: &Path, _mode: u32) -> anyhow::Result<()> {
    Ok(())
}

/// Writes a file that only the owner may read, failing if it exists.
pub fn write_private_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    file.write_all(contents)?;
    file.sync_all()?;
    Ok(())
}

fn load_or_create_keyring(config: &Config) -> anyhow::Result<MasterKeyring> {
    if let Some(text) = &config.master_key {
        return MasterKeyring::parse(text)
            .map_err(|e| anyhow::anyhow!("HOOKHAVEN_MASTER_KEY is not a valid keyring: {e}"));
    }
    let path = &config.master_key_file;
    if path.exists() {
        let text = Zeroizing::new(
            fs::read_to_string(path)
                .with_context(|| format!("reading master key file {}", path.display()))?,
        );
        warn_if_readable_by_others(path);
        return MasterKeyring::parse(&text).map_err(|e| {
            anyhow::anyhow!(
                "master key file {} is not a valid keyring: {e}",
                path.display()
            )
        });
    }
    let keyring = MasterKeyring::generate();
    write_private_file(path, keyring.to_toml().as_bytes())?;
    tracing::info!(path = %path.display(), key_id = %keyring.active_id(), "generated a new master keyring");
    Ok(keyring)
}

fn warn_if_readable_by_others(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = fs::metadata(path) {
            if meta.permissions().mode() & 0o077 != 0 {
                tracing::warn!(path = %path.display(), "the master key file is readable by group or others; chmod 600 it");
            }
        }
    }
}

/// Reads a sealed server key, or creates, seals and stores one. When two instances start
/// at once, both end up with whichever was stored first.
async fn load_or_create_server_key(
    store: &dyn Store,
    keyring: &MasterKeyring,
    name: &str,
    make: impl FnOnce() -> Zeroizing<Vec<u8>>,
) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let sealed = match store.get_server_key(name).await.map_err(operator_error)? {
        Some(sealed) => sealed,
        None => {
            let fresh = seal_server_key(keyring, name, &make())?;
            store
                .put_server_key_if_absent(name, &fresh)
                .await
                .map_err(operator_error)?
        }
    };
    open_server_key(keyring, name, &sealed).map_err(|e| {
        anyhow::anyhow!("the server key {name:?} does not open with this master keyring ({e}); is this the keyring this database was created with?")
    })
}

/// What the admin credentials file holds: enough to fetch a token with curl.
#[derive(Serialize)]
struct AdminCredentials<'a> {
    client_id: &'a str,
    client_secret: &'a str,
    domain: &'a str,
    audience: &'a str,
    token_endpoint: String,
}

/// On a database with no client, creates an admin client holding every scope and writes
/// its credentials to a 0600 file in the data dir. Returns that file's path.
pub async fn ensure_admin_client(
    config: &Config,
    opened: &Opened,
) -> anyhow::Result<Option<PathBuf>> {
    if opened.store.count_clients().await.map_err(operator_error)? > 0 {
        return Ok(None);
    }
    let path = config.data_dir.join(ADMIN_CREDENTIALS_FILE);
    if path.exists() {
        bail!(
            "{} exists but the database has no client; move it away to let a new admin client be created",
            path.display()
        );
    }
    let audience = config.audience();
    let created = registry::create_client(
        opened.store.as_ref(),
        &opened.secret_hasher,
        "Hookhaven admin",
        "Created on first start with every scope",
        Some((&audience, ALL_SCOPES.to_vec())),
        AuditEvent::success("bootstrap", "client.create", None),
    )
    .await
    .map_err(operator_error)?;
    let scheme = if matches!(config.tls, crate::config::TlsMode::Off) {
        "http"
    } else {
        "https"
    };
    let credentials = AdminCredentials {
        client_id: &created.client.client_id,
        client_secret: &created.secret,
        domain: &config.domain,
        audience: &audience,
        token_endpoint: format!("{scheme}://{}/oauth/token", config.domain),
    };
    let text = Zeroizing::new(serde_json::to_string_pretty(&credentials)?);
    write_private_file(&path, text.as_bytes())?;
    Ok(Some(path))
}
