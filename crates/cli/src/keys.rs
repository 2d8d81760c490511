//! `hookhaven keys …`: rotating the master key and the JWT signing key, directly on a data
//! dir and database. Safe while servers run on the same database: every change is a
//! compare-and-swap, and servers pick changes up without a restart (docs/operations.md).

use std::time::Duration;

use anyhow::{bail, Context};
use clap::Subcommand;
use hookhaven_crypto::MasterKeyring;
use hookhaven_server::bootstrap::{open_data_dir, open_store};
use hookhaven_server::keys as server_keys;
use hookhaven_server::seal_limit;
use hookhaven_server::Config;
use serde_json::json;
use zeroize::Zeroizing;

use crate::settings::StorageArgs;

/// `serve` flags for key rotation.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct KeyArgs {
    /// Rotate the JWT signing key when it is this many days old (every instance checks
    /// hourly; only one rotation happens) [default: only by `hookhaven keys rotate-signing`].
    #[arg(long, env = "HOOKHAVEN_SIGNING_KEY_ROTATION_DAYS")]
    pub signing_key_rotation_days: Option<u64>,
    /// Seconds between re-reads of the signing keys from the database [default: 30].
    #[arg(long, env = "HOOKHAVEN_SIGNING_KEY_RELOAD_SECS")]
    pub signing_key_reload_secs: Option<u64>,
    /// Seconds between checks of the master key file for a change [default: 10].
    #[arg(long, env = "HOOKHAVEN_KEYRING_RELOAD_SECS")]
    pub keyring_reload_secs: Option<u64>,
    /// Seconds between looks for values under an old master key to re-seal [default: 10].
    #[arg(long, env = "HOOKHAVEN_REWRAP_INTERVAL_SECS")]
    pub rewrap_interval_secs: Option<u64>,
    /// Values re-sealed per transaction by the background job [default: 100].
    #[arg(long, env = "HOOKHAVEN_REWRAP_BATCH")]
    pub rewrap_batch: Option<u32>,
    /// For tests only: `WARN,REFUSE`, the seal counts per master key at which the server
    /// warns and then refuses new seals [default: 2^30,2^31].
    #[arg(long, env = "HOOKHAVEN_TEST_SEAL_LIMITS", hide = true)]
    pub test_seal_limits: Option<String>,
    /// For tests only: seconds between seal-count flushes to the database [default: 5].
    #[arg(long, env = "HOOKHAVEN_TEST_SEAL_COUNT_FLUSH_SECS", hide = true)]
    pub test_seal_count_flush_secs: Option<u64>,
}

impl KeyArgs {
    pub fn apply(&self, keys: &mut hookhaven_server::config::KeysConfig) -> anyhow::Result<()> {
        let secs = |v: u64, flag: &str| -> anyhow::Result<Duration> {
            if !(1..=86_400).contains(&v) {
                bail!("--{flag} must be between 1 and 86400 seconds");
            }
            Ok(Duration::from_secs(v))
        };
        if let Some(days) = self.signing_key_rotation_days {
            if !(1..=3650).contains(&days) {
                bail!("--signing-key-rotation-days must be between 1 and 3650");
            }
            keys.signing_rotation_days = Some(days);
        }
        if let Some(v) = self.signing_key_reload_secs {
            keys.signing_reload = secs(v, "signing-key-reload-secs")?;
        }
        if let Some(v) = self.keyring_reload_secs {
            keys.keyring_reload = secs(v, "keyring-reload-secs")?;
        }
        if let Some(v) = self.rewrap_interval_secs {
            keys.rewrap_interval = secs(v, "rewrap-interval-secs")?;
        }
        if let Some(v) = self.rewrap_batch {
            if !(1..=10_000).contains(&v) {
                bail!("--rewrap-batch must be between 1 and 10000");
            }
            keys.rewrap_batch = v;
        }
        if let Some(limits) = &self.test_seal_limits {
            let parsed = limits
                .split_once(',')
                .and_then(|(w, r)| Some((w.trim().parse().ok()?, r.trim().parse().ok()?)));
            match parsed {
                Some((warn, refuse)) if warn <= refuse && refuse > 0 => {
                    keys.seal_limits = hookhaven_server::config::SealLimits { warn, refuse };
                }
                _ => bail!("--test-seal-limits must be WARN,REFUSE with 0 <= WARN <= REFUSE"),
            }
        }
        if let Some(v) = self.test_seal_count_flush_secs {
            keys.seal_count_flush = secs(v, "test-seal-count-flush-secs")?;
        }
        Ok(())
    }
}

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Show the master keyring, how many values each master key seals, and the signing keys (JSON).
    Status {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Add a new master key and make it active. Writes the keyring file atomically
    /// (mode 0600); with HOOKHAVEN_MASTER_KEY, prints the new keyring to set instead.
    Rotate {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Re-seal every value still under an old master key with the active one, in batches
    /// (running servers do this on their own too).
    Rewrap {
        #[command(flatten)]
        storage: StorageArgs,
        /// Values re-sealed per transaction.
        #[arg(long, default_value_t = 100)]
        batch: u32,
    },
    /// Remove an old master key from the keyring; refused while any value uses it.
    Retire {
        #[command(flatten)]
        storage: StorageArgs,
        key_id: String,
    },
    /// Rotate the JWT signing key: the published next key starts signing, a new next key
    /// is published, and the old key stays published until its tokens have expired.
    RotateSigning {
        #[command(flatten)]
        storage: StorageArgs,
        /// Access-token lifetime the old key's tokens may have, seconds [default: the
        /// configured --token-lifetime, 86400].
        #[arg(long, env = "HOOKHAVEN_TOKEN_LIFETIME")]
        token_lifetime: Option<i64>,
    },
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::Status { storage } => status(storage.resolve()?).await,
        KeysCommand::Rotate { storage } => rotate(storage.resolve()?),
        KeysCommand::Rewrap { storage, batch } => rewrap(storage.resolve()?, batch).await,
        KeysCommand::Retire { storage, key_id } => retire(storage.resolve()?, &key_id).await,
        KeysCommand::RotateSigning {
            storage,
            token_lifetime,
        } => {
            let mut config = storage.resolve()?;
            if let Some(lifetime) = token_lifetime {
                config.token_lifetime_secs = lifetime;
            }
            rotate_signing(config).await
        }
    }
}

/// The keyring, never created here: a new keyring could open nothing in the database.
fn load_keyring(config: &Config) -> anyhow::Result<MasterKeyring> {
    if let Some(text) = &config.master_key {
        return MasterKeyring::parse(text)
            .map_err(|e| anyhow::anyhow!("HOOKHAVEN_MASTER_KEY is not a valid keyring: {e}"));
    }
    if !config.master_key_file.exists() {
        bail!(
            "no master keyring at {}; give the keyring in use (--master-key-file, --data-dir or HOOKHAVEN_MASTER_KEY)",
            config.master_key_file.display()
        );
    }
    server_keys::read_keyring_file(&config.master_key_file)
}

/// Saves a changed keyring: the file is replaced atomically; an environment keyring is
/// printed for the operator to set on every instance.
fn save_keyring(config: &Config, keyring: &MasterKeyring) -> anyhow::Result<()> {
    if config.master_key.is_some() {
        let text: Zeroizing<String> = keyring.to_toml();
        eprintln!(
            "The keyring comes from HOOKHAVEN_MASTER_KEY, which this command cannot change. \
             Set HOOKHAVEN_MASTER_KEY to the text below on every instance and restart them \
             one by one (a keyring in the environment is read only at start):"
        );
        println!("{}", text.as_str());
        return Ok(());
    }
    server_keys::write_keyring_file(&config.master_key_file, keyring)?;
    Ok(())
}

async fn status(config: Config) -> anyhow::Result<()> {
    let opened = open_data_dir(&config).await?;
    let counts = server_keys::sealed_counts(opened.store.as_ref()).await?;
    let keyring = &opened.keyring;
    let limits = config.keys.seal_limits;
    let seal_totals = seal_limit::sync(opened.store.as_ref(), keyring, limits).await?;
    let mut seals = serde_json::Map::new();
    for id in keyring.key_ids() {
        seals.insert(id, json!(0));
    }
    for (id, n) in &seal_totals {
        seals.insert(id.clone(), json!(n));
    }
    let active_seals = seal_totals
        .iter()
        .find(|(id, _)| id == keyring.active_id())
        .map_or(0, |(_, n)| *n);
    let mut sealed = serde_json::Map::new();
    for id in keyring.key_ids() {
        sealed.insert(id.clone(), json!(counts.get(&id).copied().unwrap_or(0)));
    }
    for (id, n) in &counts {
        sealed.entry(id.clone()).or_insert(json!(n));
    }
    let signing = &opened.signing;
    let out = json!({
        "master_key": {
            "active": keyring.active_id(),
            "keys": keyring.key_ids(),
            "sealed_values": sealed,
            "remaining_under_old_keys": counts
                .iter()
                .filter(|(id, _)| id.as_str() != keyring.active_id())
                .map(|(_, n)| n)
                .sum::<u64>(),
            // Values ever sealed under each key, by every instance (security row 5).
            "seals": seals,
            "seal_limit": {
                "warn_at": limits.warn,
                "refuse_at": limits.refuse,
                "active_status": match seal_limit::verdict(active_seals, limits) {
                    seal_limit::Verdict::Fine => "ok",
                    seal_limit::Verdict::Warn => "rotate soon",
                    seal_limit::Verdict::Refuse => "refusing new values; rotate now",
                },
            },
        },
        "signing_key": {
            "current": signing.current.kid(),
            "next": signing.next.as_ref().map(|k| k.kid().to_string()),
            "previous": signing
                .previous
                .iter()
                .map(|(kid, until)| json!({ "kid": kid, "published_until": until }))
                .collect::<Vec<_>>(),
            "rotated_at": signing.rotated_at,
            "published": signing.kids(),
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

fn rotate(config: Config) -> anyhow::Result<()> {
    let mut keyring = load_keyring(&config)?;
    let old = keyring.active_id().to_string();
    let new = keyring.add_active_key();
    save_keyring(&config, &keyring)?;
    eprintln!(
        "added master key {new} and made it active (was {old}). New values are sealed under it; \
         servers re-seal existing values in the background, or run `hookhaven keys rewrap`. \
         With several instances, copy the keyring file to each (they reload it within seconds)."
    );
    Ok(())
}

async fn rewrap(config: Config, batch: u32) -> anyhow::Result<()> {
    let opened = open_data_dir(&config).await?;
    // Learns whether the active key is past its seal limit (then sealing is refused).
    seal_limit::sync(
        opened.store.as_ref(),
        &opened.keyring,
        config.keys.seal_limits,
    )
    .await?;
    let report = server_keys::rewrap_all(
        opened.store.as_ref(),
        &opened.keyring,
        batch,
        Duration::from_millis(5),
        "cli",
    )
    .await;
    // Record what was sealed, whether or not the rewrap finished.
    let synced = seal_limit::sync(
        opened.store.as_ref(),
        &opened.keyring,
        config.keys.seal_limits,
    )
    .await;
    let report = report?;
    synced?;
    let counts = server_keys::sealed_counts(opened.store.as_ref()).await?;
    let remaining: u64 = counts
        .iter()
        .filter(|(id, _)| id.as_str() != opened.keyring.active_id())
        .map(|(_, n)| n)
        .sum();
    println!(
        "{}",
        json!({
            "active": opened.keyring.active_id(),
            "rewrapped": report.rewrapped,
            "skipped_changed": report.skipped,
            "remaining_under_old_keys": remaining,
        })
    );
    Ok(())
}

async fn retire(config: Config, key_id: &str) -> anyhow::Result<()> {
    let mut keyring = load_keyring(&config)?;
    if !keyring.has_key(key_id) {
        bail!("the keyring has no key {key_id:?}");
    }
    if keyring.active_id() == key_id {
        bail!("{key_id} is the active key; rotate to a new key first (`hookhaven keys rotate`)");
    }
    // Opening the store only, not the data dir: nothing must be created or sealed here.
    let store = open_store(&config.database_url, &config.postgres).await?;
    let counts = server_keys::sealed_counts(store.as_ref())
        .await
        .context("counting the values under each key")?;
    let in_use = counts.get(key_id).copied().unwrap_or(0);
    if in_use > 0 {
        bail!(
            "refusing to retire {key_id}: {in_use} value(s) are still sealed under it; run `hookhaven keys rewrap` (or wait for the servers' background job) and check `hookhaven keys status`"
        );
    }
    keyring.remove_key(key_id);
    save_keyring(&config, &keyring)?;
    eprintln!(
        "retired master key {key_id}; the keyring keeps {}",
        keyring.key_ids().join(", ")
    );
    Ok(())
}

async fn rotate_signing(config: Config) -> anyhow::Result<()> {
    let opened = open_data_dir(&config).await?;
    let set = server_keys::rotate_signing_if(
        opened.store.as_ref(),
        &opened.keyring,
        config.token_lifetime_secs,
        "cli",
        |_| true,
    )
    .await?
    .context("the rotation did not happen")?;
    seal_limit::sync(
        opened.store.as_ref(),
        &opened.keyring,
        config.keys.seal_limits,
    )
    .await?;
    println!(
        "{}",
        json!({
            "current": set.current.kid(),
            "next": set.next.as_ref().map(|k| k.kid().to_string()),
            "previous": set.previous.iter().map(|(kid, until)| json!({ "kid": kid, "published_until": until })).collect::<Vec<_>>(),
        })
    );
    eprintln!(
        "rotated the signing key; running servers pick it up within their reload interval (30 s by default)"
    );
    Ok(())
}
