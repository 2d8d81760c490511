//! Turning sqlx errors into the domain catalogue. Constraint violations that mean
//! something to a caller are recognised by constraint name where the statement runs (only
//! that site knows which domain error applies); everything else goes through [`db_error`].
//!
//! Details never carry bound values. PostgreSQL's primary message names tables, columns
//! and constraints but not the row (that is in its DETAIL field, which is never used);
//! the exception is class 22 (data exception), whose messages can quote the input, so for
//! those only the SQLSTATE is kept.

use hookhaven_core::Error;
use sqlx::error::ErrorKind;

/// The start of the detail of an error that only a concurrent transaction caused (a
/// serialization failure, a deadlock, a lost race for the D2 index). The transaction was
/// rolled back, so the store runs it again; see `store::retrying`.
pub(super) const CONFLICT: &str = "concurrent transaction conflict";

/// Whether PostgreSQL's SQLSTATE means the database is unreachable, overloaded, shutting
/// down or too slow: worth a retry later, and a 503 now.
fn is_unavailable_code(code: &str) -> bool {
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources, e.g. too many connections
        || matches!(
            code,
            "57014" // query_canceled: statement_timeout
                | "57P01" // admin_shutdown
                | "57P02" // crash_shutdown
                | "57P03" // cannot_connect_now: starting up or in recovery
                | "57P05" // idle_session_timeout
                | "55P03" // lock_not_available: lock_timeout
                | "25006" // read_only_sql_transaction: a standby after failover
        )
}

/// Whether the SQLSTATE means a concurrent transaction got in the way.
fn is_conflict_code(code: &str) -> bool {
    matches!(
        code,
        "40001" // serialization_failure
            | "40P01" // deadlock_detected
    )
}

/// Maps any sqlx error: unreachable, slow or contended database → `Unavailable`, else
/// `Internal`.
pub(super) fn db_error(e: sqlx::Error) -> Error {
    match &e {
        sqlx::Error::PoolTimedOut => Error::Unavailable(
            "timed out waiting for a PostgreSQL connection: the database is unreachable or \
             every pooled connection is busy"
                .into(),
        ),
        sqlx::Error::PoolClosed => Error::Unavailable("the PostgreSQL pool is closed".into()),
        sqlx::Error::WorkerCrashed | sqlx::Error::Io(_) | sqlx::Error::Tls(_) => {
            Error::Unavailable(format!("PostgreSQL connection failed: {e}"))
        }
        // A connection that breaks mid-message shows up as a protocol error.
        sqlx::Error::Protocol(_) => Error::Unavailable(format!("PostgreSQL connection: {e}")),
        sqlx::Error::Database(db) => {
            let code = db.code().map(|c| c.into_owned()).unwrap_or_default();
            if is_conflict_code(&code) {
                Error::Unavailable(format!("{CONFLICT}: {} (SQLSTATE {code})", db.message()))
            } else if is_unavailable_code(&code) {
                Error::Unavailable(format!("PostgreSQL: {} (SQLSTATE {code})", db.message()))
            } else if code.starts_with("22") {
                Error::Internal(format!(
                    "PostgreSQL refused a value (SQLSTATE {code}{})",
                    db.constraint()
                        .map(|c| format!(", constraint {c}"))
                        .unwrap_or_default()
                ))
            } else {
                Error::Internal(format!("PostgreSQL: {} (SQLSTATE {code})", db.message()))
            }
        }
        _ => Error::Internal(e.to_string()),
    }
}

/// The constraint a UNIQUE or PRIMARY KEY violation names, e.g. `hooks_name_key`.
pub(super) fn unique_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::UniqueViolation => db.constraint(),
        _ => None,
    }
}

/// The constraint a FOREIGN KEY violation names, e.g. `client_grants_client_id_fkey`.
pub(super) fn foreign_key_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) if db.kind() == ErrorKind::ForeignKeyViolation => db.constraint(),
        _ => None,
    }
}

/// True for an error the store answers by running the transaction again.
pub(super) fn is_conflict(e: &Error) -> bool {
    matches!(e, Error::Unavailable(d) if d.starts_with(CONFLICT))
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
    fn classifies_sqlstates() {
        for code in [
            "08006", "08001", "53300", "57014", "57P01", "57P03", "55P03",
        ] {
            assert!(is_unavailable_code(code), "{code}");
        }
        for code in ["23505", "23503", "22P02", "42P01", "XX000", ""] {
            assert!(!is_unavailable_code(code), "{code}");
        }
        assert!(is_conflict_code("40001"));
        assert!(is_conflict_code("40P01"));
        assert!(!is_conflict_code("23505"));
    }

    #[test]
    fn pool_and_io_failures_are_unavailable() {
        assert!(matches!(
            db_error(sqlx::Error::PoolTimedOut),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            db_error(sqlx::Error::PoolClosed),
            Error::Unavailable(_)
        ));
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert!(matches!(
            db_error(sqlx::Error::Io(refused)),
            Error::Unavailable(_)
        ));
        assert!(matches!(
            db_error(sqlx::Error::RowNotFound),
            Error::Internal(_)
        ));
    }

    #[test]
    fn only_conflicts_are_retried() {
        assert!(is_conflict(&Error::Unavailable(format!("{CONFLICT}: x"))));
        assert!(!is_conflict(&Error::Unavailable("PostgreSQL: down".into())));
        assert!(!is_conflict(&Error::Internal(CONFLICT.into())));
    }

    #[test]
    fn bad_json_does_not_quote_the_input() {
        let e = serde_json::from_str::<Vec<i64>>("[\"canary-77\"]").unwrap_err();
        assert!(e.to_string().contains("canary-77"));
        let Error::Internal(detail) = bad_json("scope", &e) else {
            panic!("expected Internal")
        };
        assert!(!detail.contains("canary-77"), "{detail}");
    }
}
