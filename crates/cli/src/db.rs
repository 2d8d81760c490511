//! `hookhaven db migrate` (copy a whole database to another, empty one, on any pair of
//! backends, and verify the copy) and `hookhaven db backup` (an online SQLite backup).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use hookhaven_crypto::{open_secret, open_server_key, MasterKeyring};
use hookhaven_server::bootstrap::operator_error;
use hookhaven_server::Config;
use hookhaven_store::snapshot::AuditSource;
use hookhaven_store::{
    PgOptions, PgStore, Snapshot, SqliteStore, Store, StoreAuditPages, StoreCounts,
};
use zeroize::Zeroizing;

use crate::settings::StorageArgs;

#[derive(Subcommand)]
pub enum DbCommand {
    /// Copy every hook, secret, client, grant, server key, administrator and audit event
    /// into another, empty database (any pair of backends), then verify the copy.
    Migrate(MigrateArgs),
    /// Write a consistent copy of a SQLite database to a file while it is in use.
    Backup(BackupArgs),
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The database to copy, e.g. sqlite://data/hookhaven.db [default: --database-url,
    /// or the data dir's SQLite database].
    #[arg(long, value_name = "URL")]
    from: Option<String>,
    /// The new, empty database to copy into, e.g. postgres://hookhaven@db/hookhaven.
    #[arg(long, value_name = "URL")]
    to: String,
    /// Audit events read and written per page.
    #[arg(long, default_value_t = 1000, hide = true)]
    audit_page_size: u32,
}

#[derive(Args)]
pub struct BackupArgs {
    #[command(flatten)]
    storage: StorageArgs,
    /// The file to write; it must not exist.
    #[arg(long, value_name = "FILE")]
    to: PathBuf,
}

pub async fn run(command: DbCommand) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match command {
        DbCommand::Migrate(args) => migrate(args).await,
        DbCommand::Backup(args) => backup(args).await,
    }
}

/// A store opened by URL, kept concrete so it can be closed cleanly (SQLite checkpoints
/// its WAL on close).
enum Opened {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Opened {
    fn store(&self) -> Arc<dyn Store> {
        match self {
            Opened::Sqlite(s) => Arc::new(s.clone()),
            Opened::Postgres(s) => Arc::new(s.clone()),
        }
    }

    async fn close(self) {
        match self {
            Opened::Sqlite(s) => s.close().await,
            Opened::Postgres(s) => s.close().await,
        }
    }
}

fn is_sqlite(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|s| s.eq_ignore_ascii_case("sqlite:"))
}

fn is_postgres(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The file a `sqlite://` URL names, if it names one.
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url.get(7..)?.strip_prefix("//")?;
    (!rest.is_empty()).then(|| PathBuf::from(rest))
}

/// Opens a store by URL. `role` ("source", "target") goes into messages; a PostgreSQL URL
/// is never echoed, since it may hold a password.
async fn open(url: &str, pg: &PgOptions, role: &str) -> anyhow::Result<Opened> {
    if is_sqlite(url) {
        let store = SqliteStore::open(url).await.map_err(|e| {
            anyhow::anyhow!("cannot open the {role} database {url}: {}", e.detail())
        })?;
        Ok(Opened::Sqlite(store))
    } else if is_postgres(url) {
        let store = PgStore::open(url, pg.clone())
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the {role} database: {}", e.detail()))?;
        Ok(Opened::Postgres(store))
    } else {
        bail!(
            "unsupported {role} database URL; expected sqlite://PATH or postgres://USER@HOST/DATABASE"
        )
    }
}

/// The master keyring, from HOOKHAVEN_MASTER_KEY or the key file. Never creates one: a
/// new keyring could open nothing in the database.
fn load_keyring(config: &Config) -> anyhow::Result<MasterKeyring> {
    if let Some(text) = &config.master_key {
        return MasterKeyring::parse(text)
            .map_err(|e| anyhow::anyhow!("HOOKHAVEN_MASTER_KEY is not a valid keyring: {e}"));
    }
    let path = &config.master_key_file;
    if !path.exists() {
        bail!(
            "no master keyring at {}; give the keyring the database was sealed with (--master-key-file, --data-dir or HOOKHAVEN_MASTER_KEY)",
            path.display()
        );
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("reading master key file {}", path.display()))?,
    );
    MasterKeyring::parse(&text).map_err(|e| {
        anyhow::anyhow!(
            "master key file {} is not a valid keyring: {e}",
            path.display()
        )
    })
}

/// Opens every sealed value of a snapshot with the keyring, and drops the plaintext at
/// once. Returns how many secrets (with a value) and server keys opened.
fn check_decrypts(snapshot: &Snapshot, keyring: &MasterKeyring) -> anyhow::Result<(usize, usize)> {
    let mut secrets = 0;
    for secret in &snapshot.secrets {
        let Some(sealed) = &secret.value else {
            continue;
        };
        open_secret(
            keyring,
            secret.hook_id.as_str(),
            secret.name.as_str(),
            sealed,
        )
        .map_err(|e| {
            anyhow::anyhow!(
                "secret {} of hook {} does not open with the master keyring: {e}",
                secret.name.as_str(),
                secret.hook_id.as_str()
            )
        })?;
        secrets += 1;
    }
    for key in &snapshot.server_keys {
        open_server_key(keyring, &key.name, &key.value).map_err(|e| {
            anyhow::anyhow!(
                "server key {:?} does not open with the master keyring: {e}",
                key.name
            )
        })?;
    }
    Ok((secrets, snapshot.server_keys.len()))
}

/// Compares the whole audit logs of two stores, page by page. Returns how many events
/// each holds.
async fn compare_audit(source: &dyn Store, target: &dyn Store, page: u32) -> anyhow::Result<u64> {
    let mut left = StoreAuditPages::new(source, page);
    let mut right = StoreAuditPages::new(target, page);
    let mut compared = 0u64;
    loop {
        let a = left.next_page().await.map_err(operator_error)?;
        let b = right.next_page().await.map_err(operator_error)?;
        if a != b {
            let seq = a
                .iter()
                .zip(&b)
                .find(|(x, y)| x != y)
                .map(|(x, _)| x.seq)
                .or_else(|| a.get(b.len()).or(b.get(a.len())).map(|e| e.seq));
            bail!(
                "the audit logs differ from event seq {}",
                seq.map_or_else(|| "?".into(), |s| s.to_string())
            );
        }
        if a.is_empty() {
            return Ok(compared);
        }
        compared += a.len() as u64;
    }
}

async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let config = args.storage.resolve()?;
    let from = args.from.clone().unwrap_or(config.database_url.clone());
    let to = args.to.clone();
    if from == to {
        bail!("--from and --to name the same database");
    }
    if is_sqlite(&from) {
        match sqlite_path(&from) {
            Some(path) if path.exists() => {}
            Some(path) => bail!("the source database {} does not exist", path.display()),
            None => bail!("the source must be a SQLite file (sqlite://PATH) or PostgreSQL"),
        }
    }
    if is_sqlite(&to) && sqlite_path(&to).is_none() {
        bail!("the target must be a SQLite file (sqlite://PATH) or PostgreSQL");
    }
    let keyring = load_keyring(&config)?;

    let source = open(&from, &config.postgres, "source").await?;
    let target = open(&to, &config.postgres, "target").await?;
    let outcome = copy_and_verify(
        &*source.store(),
        &*target.store(),
        &keyring,
        args.audit_page_size,
    )
    .await;
    source.close().await;
    target.close().await;
    let report = outcome?;
    println!("{report}");
    Ok(())
}

async fn copy_and_verify(
    source: &dyn Store,
    target: &dyn Store,
    keyring: &MasterKeyring,
    page: u32,
) -> anyhow::Result<String> {
    let existing = target.counts().await.map_err(operator_error)?;
    if !existing.is_empty() {
        bail!(
            "the target database is not empty ({}); db migrate copies into a new, empty database only (an instance that has started on it has already written keys and an admin client)",
            existing.describe()
        );
    }
    let before = source.counts().await.map_err(operator_error)?;
    let snapshot = source.export_snapshot().await.map_err(operator_error)?;
    // Before writing anything: a value that does not open here would not open on the
    // target either (the copy is byte for byte).
    check_decrypts(&snapshot, keyring).context("checking the source before copying")?;

    target
        .import_snapshot(&snapshot, &mut StoreAuditPages::new(source, page))
        .await
        .map_err(operator_error)
        .context("copying into the target (nothing was written)")?;
    // The master keys' seal counts go along, so the seal limit (security row 5) still
    // counts every value sealed under a key.
    let seal_counts = source.add_seal_counts(&[]).await.map_err(operator_error)?;
    target
        .add_seal_counts(&seal_counts)
        .await
        .map_err(operator_error)
        .context("copying the master keys' seal counts")?;

    let verified = verify(source, target, keyring, &snapshot, before, page).await;
    match verified {
        Ok(summary) => Ok(summary),
        Err(e) => Err(e.context(
            "the copy was written but does not match the source: drop the target database (or \
             use a new one), make sure no instance writes to the source, and run db migrate again",
        )),
    }
}

async fn verify(
    source: &dyn Store,
    target: &dyn Store,
    keyring: &MasterKeyring,
    snapshot: &Snapshot,
    before: StoreCounts,
    page: u32,
) -> anyhow::Result<String> {
    let after = source.counts().await.map_err(operator_error)?;
    if after != before {
        bail!(
            "the source changed during the copy (before: {}; after: {})",
            before.describe(),
            after.describe()
        );
    }
    let copied = target.counts().await.map_err(operator_error)?;
    if copied != before {
        bail!(
            "the counts differ (source: {}; target: {})",
            before.describe(),
            copied.describe()
        );
    }
    let reread = target.export_snapshot().await.map_err(operator_error)?;
    if &reread != snapshot {
        bail!("the rows read back from the target differ from the source's");
    }
    let events = compare_audit(source, target, page).await?;
    let (secrets, keys) = check_decrypts(&reread, keyring).context("checking the target")?;
    Ok(format!(
        "copied {}\nverified: the counts match; every row and all {events} audit events read back \
         identical; {secrets} secret values and {keys} server keys decrypt on the target with the \
         master keyring\nDashboard sessions are not copied: administrators sign in again.",
        copied.describe()
    ))
}

async fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let config = args.storage.resolve()?;
    let url = &config.database_url;
    if is_postgres(url) {
        bail!(
            "hookhaven db backup copies SQLite databases only. Back up PostgreSQL with its own \
             tools, e.g. `pg_dump --format=custom --file=hookhaven.dump \"$DATABASE_URL\"` \
             (restore with pg_restore into an empty database), or the continuous archiving \
             your PostgreSQL service provides. Keep the master keyring backed up separately: \
             the dump holds sealed values only."
        );
    }
    let Some(source) = sqlite_path(url).filter(|_| is_sqlite(url)) else {
        bail!("db backup needs a SQLite file database (sqlite://PATH)");
    };
    if !source.exists() {
        bail!("the database {} does not exist", source.display());
    }
    let to = &args.to;
    create_private_empty_file(to)?;
    let store = SqliteStore::open(url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database {url}: {}", e.detail()))?;
    let written = store.backup_to(to).await;
    store.close().await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(to);
        return Err(operator_error(e)).context("writing the backup");
    }
    let counts = SqliteStore::inspect_backup(to)
        .await
        .map_err(operator_error)
        .with_context(|| format!("checking the backup {}", to.display()))?;
    println!(
        "backed up {} to {} (integrity check ok; {})\nThe backup holds sealed values only: keep the master keyring ({}) backed up separately.",
        source.display(),
        to.display(),
        counts.describe(),
        keyring_location(&config)
    );
    Ok(())
}

fn keyring_location(config: &Config) -> String {
    if config.master_key.is_some() {
        "HOOKHAVEN_MASTER_KEY".to_string()
    } else {
        config.master_key_file.display().to_string()
    }
}

/// Creates the backup file empty and readable by its owner only (it will hold sealed
/// secrets and client-secret HMACs); `VACUUM INTO` fills an empty file. Refuses a file
/// that exists.
fn create_private_empty_file(path: &Path) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            bail!("{} exists; db backup writes a new file", path.display())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_told_apart() {
        assert!(is_sqlite("sqlite://data/hh.db"));
        assert!(is_sqlite("SQLITE://x.db"));
        assert!(!is_sqlite("postgres://u@h/d"));
        assert!(is_postgres("postgresql://u@h/d"));
        assert_eq!(
            sqlite_path("sqlite:///abs/hh.db"),
            Some(PathBuf::from("/abs/hh.db"))
        );
        assert_eq!(sqlite_path("sqlite://"), None);
        assert_eq!(sqlite_path("sqlite::memory:"), None);
    }
}
