//! Turning sqlx errors into the domain catalogue. Constraint violations that mean
//! something to a caller are recognised where the statement runs (only that site knows
//! which domain error applies); everything else goes through [`db_error`].
//!
//! Details keep sqlx's own text, which names tables and columns but never bound values;
//! nothing here formats a value.

use hookhaven_core::Error;
use sqlx::error::ErrorKind;

/// SQLite primary result codes that mean "try again later", not "broken".
const SQLITE_BUSY: i64 = 5;
const SQLITE_LOCKED: i64 = 6;
const SQLITE_CANTOPEN: i64 = 14;

/// Maps any sqlx error: unreachable or contended database → `Unavailable`, else `Internal`.
pub(super) fn db_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Io(_) => Error::Unavailable(e.to_string()),
        sqlx::Error::Database(db) if is_transient(db.code().as_deref()) => {
            Error::Unavailable(e.to_string())
        }
        _ => Error::Internal(e.to_string()),
    }
}

/// SQLite reports extended result codes; the primary code is the low byte.
fn is_transient(code: Option<&str>) -> bool {
    code.and_then(|c| c.parse::<i64>().ok())
        .map(|c| c & 0xff)
        .is_some_and(|c| matches!(c, SQLITE_BUSY | SQLITE_LOCKED | SQLITE_CANTOPEN))
}

/// For a UNIQUE or PRIMARY KEY violation, the columns SQLite names, e.g. `hooks.name` or
/// `client_grants.client_id, client_grants.audience`.
pub(super) fn unique_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => Some(
            db.message()
                .strip_prefix("UNIQUE constraint failed: ")
                .unwrap_or(""),
        ),
        _ => None,
    }
}

/// SQLite does not say which foreign key failed, so callers map this by context.
pub(super) fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation)
}

/// A stored JSON column that does not parse. serde_json's message can quote the input, so
/// only its position is kept.
pub(super) fn bad_json(what: &str, e: &serde_json::Error) -> Error {
    Error::Internal(format!(
        "stored {what} is not valid (line {} column {})",
        e.line(),
        e.column()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_and_locked_codes_are_transient() {
        assert!(is_transient(Some("5")));
        assert!(is_transient(Some("517"))); // SQLITE_BUSY_SNAPSHOT
        assert!(is_transient(Some("262"))); // SQLITE_LOCKED_SHAREDCACHE
        assert!(!is_transient(Some("2067"))); // SQLITE_CONSTRAINT_UNIQUE
        assert!(!is_transient(None));
    }

    #[test]
    fn pool_timeouts_are_unavailable() {
        assert!(matches!(
            db_error(sqlx::Error::PoolTimedOut),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            db_error(sqlx::Error::RowNotFound),
            Error::Internal(_)
        ));
    }

    #[test]
    fn bad_json_does_not_quote_the_input() {
        // serde_json's own message would be: invalid type: string "canary-77", ...
        let e = serde_json::from_str::<Vec<i64>>("[\"canary-77\"]").unwrap_err();
        assert!(e.to_string().contains("canary-77"));
        let Error::Internal(detail) = bad_json("scope", &e) else {
            panic!("expected Internal")
        };
        assert!(!detail.contains("canary-77"), "{detail}");
    }
}
