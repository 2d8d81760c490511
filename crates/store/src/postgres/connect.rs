//! Parsing the database URL, applying [`PgOptions`], and reaching the server at start with
//! retries. Messages name the server (host, port, database, user) but never echo the URL,
//! which may carry a password.

use std::str::FromStr;
use std::time::Duration;

use hookhaven_core::{Error, Result};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool};

use super::error::db_error;
use super::PgOptions;

const EXPECTED: &str = "expected postgres://user[:password]@host[:port]/database";

/// The longest wait between two attempts to reach the server at start.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Accepts `postgres://` and `postgresql://` URLs with sqlx's parameters (`sslmode`,
/// `options`, ...), and adds the statement timeout of `options`.
pub(super) fn parse_url(url: &str, options: &PgOptions) -> Result<PgConnectOptions> {
    let scheme = url.split_once("://").map(|(s, _)| s);
    if !matches!(scheme, Some(s) if s.eq_ignore_ascii_case("postgres") || s.eq_ignore_ascii_case("postgresql"))
    {
        return Err(Error::internal(format!(
            "not a PostgreSQL database URL; {EXPECTED}"
        )));
    }
    // sqlx's messages describe the part that is wrong without quoting the URL.
    let mut connect = PgConnectOptions::from_str(url)
        .map_err(|e| Error::internal(format!("invalid PostgreSQL URL ({e}); {EXPECTED}")))?;
    // A statement_timeout the URL sets itself (`?options=-c statement_timeout=5s`) wins.
    let in_url = connect
        .get_options()
        .is_some_and(|o| o.contains("statement_timeout"));
    if let (Some(timeout), false) = (options.statement_timeout, in_url) {
        // Sent in the startup packet, so it holds on every pooled connection from the start.
        connect = connect.options([("statement_timeout", format!("{}ms", timeout.as_millis()))]);
    }
    Ok(connect.application_name("hookhaven"))
}

/// The server a set of options points at, for messages: never the password.
pub(super) fn describe(connect: &PgConnectOptions) -> String {
    let place = match connect.get_socket() {
        Some(socket) => socket.display().to_string(),
        None => format!("{}:{}", connect.get_host(), connect.get_port()),
    };
    format!(
        "{place}/{} as {}",
        connect.get_database().unwrap_or(""),
        connect.get_username()
    )
}

/// Whether a failure to connect may go away by itself: the server is down, starting, or
/// out of connections. A wrong password or database name will not, so it is reported at
/// once.
fn worth_retrying(e: &Error) -> bool {
    matches!(e, Error::Unavailable(_))
}

/// Opens one connection, retrying with exponential backoff while the server cannot be
/// reached, and logging each retry. Each attempt is bounded by `options.acquire_timeout`.
pub(super) async fn first_connection(
    connect: &PgConnectOptions,
    options: &PgOptions,
) -> Result<PgConnection> {
    let server = describe(connect);
    let attempts = options.connect_retry.retries.saturating_add(1);
    let mut delay = options.connect_retry.backoff;
    let mut attempt = 1;
    loop {
        let outcome = tokio::time::timeout(options.acquire_timeout, connect.connect()).await;
        let error = match outcome {
            Ok(Ok(conn)) => {
                if attempt > 1 {
                    tracing::info!(server = %server, attempt, "connected to PostgreSQL");
                }
                return Ok(conn);
            }
            Ok(Err(e)) => db_error(e),
            Err(_) => Error::Unavailable(format!(
                "no answer within {} ms",
                options.acquire_timeout.as_millis()
            )),
        };
        let cause = error.detail();
        if !worth_retrying(&error) {
            return Err(Error::Internal(format!(
                "cannot connect to PostgreSQL at {server}: {cause}"
            )));
        }
        if attempt >= attempts {
            return Err(Error::Unavailable(format!(
                "cannot connect to PostgreSQL at {server} after {attempt} attempt{}: {cause}",
                if attempt == 1 { "" } else { "s" }
            )));
        }
        tracing::warn!(
            server = %server,
            attempt,
            of = attempts,
            retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            error = %cause,
            "PostgreSQL is not reachable yet; retrying"
        );
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(MAX_BACKOFF);
        attempt += 1;
    }
}

/// The pool requests run on. Lazy: the server was reached just before, and connections
/// lost later are reopened on demand.
pub(super) fn pool(connect: PgConnectOptions, options: &PgOptions) -> PgPool {
    PgPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.acquire_timeout)
        .connect_lazy_with(connect)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(url: &str) -> String {
        match parse_url(url, &PgOptions::default()) {
            Err(Error::Internal(d)) => d,
            other => panic!("{url}: expected Internal, got {other:?}"),
        }
    }

    #[test]
    fn accepts_both_schemes_and_adds_the_statement_timeout() {
        let options = PgOptions {
            statement_timeout: Some(Duration::from_millis(1500)),
            ..PgOptions::default()
        };
        for url in [
            "postgres://hh:pw@db.internal:6543/hookhaven",
            "postgresql://hh:pw@db.internal:6543/hookhaven",
        ] {
            let connect = parse_url(url, &options).unwrap();
            assert_eq!(describe(&connect), "db.internal:6543/hookhaven as hh");
            assert_eq!(connect.get_options(), Some("-c statement_timeout=1500ms"));
        }
        let none = PgOptions {
            statement_timeout: None,
            ..PgOptions::default()
        };
        let connect = parse_url("postgres://hh@localhost/x", &none).unwrap();
        assert!(connect
            .get_options()
            .is_none_or(|o| !o.contains("statement_timeout")));
        let own = "postgres://hh@localhost/x?options=-c%20statement_timeout%3D5s";
        let connect = parse_url(own, &options).unwrap();
        assert_eq!(connect.get_options(), Some("-c statement_timeout=5s"));
    }

    #[test]
    fn rejects_other_urls_without_echoing_them() {
        let d = problem("mysql://admin:hunter2@db/hookhaven");
        assert!(d.contains("not a PostgreSQL"), "{d}");
        assert!(!d.contains("hunter2"), "{d}");
        let d = problem("postgres://admin:hunter2@db:notaport/hookhaven");
        assert!(d.contains("invalid PostgreSQL URL"), "{d}");
        assert!(!d.contains("hunter2"), "{d}");
    }

    #[test]
    fn description_never_holds_the_password() {
        let connect = parse_url("postgres://u:hunter2@h/d", &PgOptions::default()).unwrap();
        assert!(!describe(&connect).contains("hunter2"));
    }
}
