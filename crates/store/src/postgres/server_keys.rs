//! SQL for the `server_keys` table: server-wide keys (e.g. the JWT signing key), sealed
//! under the master key.

use hookhaven_core::{Error, Result, SealedSecret};
use sqlx::PgConnection;

use super::error::db_error;

pub(super) async fn get(conn: &mut PgConnection, name: &str) -> Result<Option<SealedSecret>> {
    let value: Option<String> = sqlx::query_scalar("SELECT value FROM server_keys WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(db_error)?;
    Ok(value.map(SealedSecret::from_envelope))
}

/// Inserts unless the name is taken, then reads back whichever key is stored. When two
/// instances race, the second insert waits for the first to commit and does nothing, and
/// its next statement (a new snapshot) reads the first one's key.
pub(super) async fn put_if_absent(
    conn: &mut PgConnection,
    name: &str,
    key: &SealedSecret,
    now: i64,
) -> Result<SealedSecret> {
    sqlx::query(
        "INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3) \
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
pub(super) async fn envelopes(conn: &mut PgConnection) -> Result<Vec<SealedSecret>> {
    let values: Vec<String> = sqlx::query_scalar("SELECT value FROM server_keys")
        .fetch_all(conn)
        .await
        .map_err(db_error)?;
    Ok(values
        .into_iter()
        .map(SealedSecret::from_envelope)
        .collect())
}
