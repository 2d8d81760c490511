//! SQL for the `server_keys` table: server-wide keys (e.g. the JWT signing key), sealed
//! under the master key.

use hookhaven_core::{Error, Result, SealedSecret};
use sqlx::SqliteConnection;

use super::error::db_error;

pub(super) async fn get(conn: &mut SqliteConnection, name: &str) -> Result<Option<SealedSecret>> {
    let value: Option<String> = sqlx::query_scalar("SELECT value FROM server_keys WHERE name = ?")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    Ok(value.map(SealedSecret::from_envelope))
}

/// Inserts unless the name is taken, then reads back whichever key is stored: when two
/// instances race, both end up with the first one's key.
pub(super) async fn put_if_absent(
    conn: &mut SqliteConnection,
    name: &str,
    key: &SealedSecret,
    now: i64,
) -> Result<SealedSecret> {
    sqlx::query(
        "INSERT INTO server_keys (name, value, created_at) VALUES (?, ?, ?) \
         ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(key.envelope())
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    get(conn, name)
        .await?
        .ok_or_else(|| Error::internal("server key vanished right after it was stored"))
}

/// Every stored envelope, for finding the master keys in use.
pub(super) async fn envelopes(conn: &mut SqliteConnection) -> Result<Vec<SealedSecret>> {
    let values: Vec<String> = sqlx::query_scalar("SELECT value FROM server_keys")
        .fetch_all(conn)
        .await
        .map_err(db_error)?;
    Ok(values
        .into_iter()
        .map(SealedSecret::from_envelope)
        .collect())
}
