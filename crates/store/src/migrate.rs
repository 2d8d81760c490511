//! A small embedded migration runner. The migrations of each backend are an ordered list
//! compiled into the binary; the runner decides what to apply and each backend only knows
//! how to run one migration. Versions applied are recorded in `schema_migrations`.

use async_trait::async_trait;
use hookhaven_core::{Error, Result};

/// One schema change: applied once, in version order, in its own transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// The SQLite schema history. Append only: a released migration never changes.
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sql: include_str!("../migrations/sqlite/0001_init.sql"),
    },
    // Dashboard administrators and sessions.
    Migration {
        version: 2,
        name: "dashboard",
        sql: include_str!("../migrations/sqlite/0002_dashboard.sql"),
    },
    // Seal counts per master key (security row 5).
    Migration {
        version: 3,
        name: "key_seal_counts",
        sql: include_str!("../migrations/sqlite/0003_key_seal_counts.sql"),
    },
];

/// What a backend provides to the runner.
#[async_trait]
pub(crate) trait MigrationTarget: Send + Sync {
    /// Creates `schema_migrations(version INTEGER PRIMARY KEY, name TEXT, applied_at
    /// INTEGER)` if it does not exist.
    async fn prepare(&self) -> Result<()>;
    /// The versions recorded in `schema_migrations`.
    async fn applied_versions(&self) -> Result<Vec<i64>>;
    /// Runs the migration and records its row in one transaction. Returns `false`, having
    /// changed nothing, if another process recorded that version first.
    async fn apply(&self, migration: &Migration) -> Result<bool>;
}

/// Brings the schema up to date. Returns how many migrations this call applied.
pub(crate) async fn run(target: &dyn MigrationTarget, known: &[Migration]) -> Result<usize> {
    target.prepare().await?;
    let applied = target.applied_versions().await?;
    let mut count = 0;
    for migration in pending(known, &applied)? {
        if target.apply(migration).await? {
            tracing::info!(
                version = migration.version,
                name = migration.name,
                "applied database migration"
            );
            count += 1;
        }
    }
    Ok(count)
}

/// The migrations still to apply, in order. Refuses a database this binary does not
/// understand rather than run against a schema it was not written for.
pub(crate) fn pending<'a>(known: &'a [Migration], applied: &[i64]) -> Result<Vec<&'a Migration>> {
    if known.windows(2).any(|w| w[0].version >= w[1].version) {
        return Err(Error::internal(
            "embedded migrations are not in strictly increasing version order",
        ));
    }
    let latest_known = known.last().map_or(0, |m| m.version);
    if let Some(&newest) = applied.iter().max() {
        if newest > latest_known {
            return Err(Error::internal(format!(
                "the database schema is at version {newest}, newer than this binary supports \
                 (latest {latest_known}); run a newer hookhaven or restore a matching backup"
            )));
        }
    }
    if let Some(unknown) = applied
        .iter()
        .find(|v| !known.iter().any(|m| m.version == **v))
    {
        return Err(Error::internal(format!(
            "the database records schema migration {unknown}, which this binary does not know"
        )));
    }
    let newest_applied = applied.iter().copied().max().unwrap_or(0);
    let todo: Vec<&Migration> = known
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    // A gap would mean running an old migration on top of a newer schema.
    if let Some(gap) = todo.iter().find(|m| m.version < newest_applied) {
        return Err(Error::internal(format!(
            "schema migration {} is missing although {newest_applied} is applied",
            gap.version
        )));
    }
    Ok(todo)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIST: &[Migration] = &[
        Migration {
            version: 1,
            name: "a",
            sql: "",
        },
        Migration {
            version: 2,
            name: "b",
            sql: "",
        },
        Migration {
            version: 3,
            name: "c",
            sql: "",
        },
    ];

    fn versions(list: Vec<&Migration>) -> Vec<i64> {
        list.into_iter().map(|m| m.version).collect()
    }

    #[test]
    fn pending_are_the_unapplied_in_order() {
        assert_eq!(versions(pending(LIST, &[]).unwrap()), [1, 2, 3]);
        assert_eq!(versions(pending(LIST, &[1]).unwrap()), [2, 3]);
        assert!(pending(LIST, &[1, 2, 3]).unwrap().is_empty());
    }

    #[test]
    fn refuses_a_newer_database() {
        let err = pending(LIST, &[1, 2, 3, 4]).unwrap_err();
        assert!(
            matches!(&err, Error::Internal(d) if d.contains("newer")),
            "{err:?}"
        );
    }

    #[test]
    fn refuses_unknown_versions_and_gaps() {
        let list = &[LIST[0], LIST[2]];
        assert!(matches!(pending(list, &[2]), Err(Error::Internal(_))));
        assert!(matches!(pending(LIST, &[1, 3]), Err(Error::Internal(_))));
    }

    #[test]
    fn refuses_an_unordered_list() {
        let list = &[LIST[1], LIST[0]];
        assert!(matches!(pending(list, &[]), Err(Error::Internal(_))));
    }

    #[test]
    fn sqlite_list_is_valid() {
        assert_eq!(versions(pending(SQLITE, &[]).unwrap()).first(), Some(&1));
    }
}
