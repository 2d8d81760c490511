//! SQL for the `admins` and `admin_sessions` tables (the Dashboard's sign-in).

use hookhaven_core::{Error, Result};
use sqlx::SqliteConnection;

use super::error::{db_error, unique_violation};
use crate::{Admin, AdminSession};

type AdminRow = (String, String, String, i64);

fn to_admin((id, email, password_hash, created_at): AdminRow) -> Admin {
    Admin {
        id,
        email,
        password_hash,
        created_at,
    }
}

pub(super) async fn insert(conn: &mut SqliteConnection, admin: &Admin) -> Result<()> {
    sqlx::query("INSERT INTO admins (id, email, password_hash, created_at) VALUES (?, ?, ?, ?)")
        .bind(&admin.id)
        .bind(&admin.email)
        .bind(&admin.password_hash)
        .bind(admin.created_at)
        .execute(conn)
        .await
        .map_err(|e| {
            if unique_violation(&e) == Some("admins.email") {
                Error::AdminExists
            } else {
                db_error(e)
            }
        })?;
    Ok(())
}

pub(super) async fn by_email(conn: &mut SqliteConnection, email: &str) -> Result<Option<Admin>> {
    let row: Option<AdminRow> =
        sqlx::query_as("SELECT id, email, password_hash, created_at FROM admins WHERE email = ?")
            .bind(email)
            .fetch_optional(conn)
            .await
            .map_err(db_error)?;
    Ok(row.map(to_admin))
}

pub(super) async fn list(conn: &mut SqliteConnection) -> Result<Vec<Admin>> {
    let rows: Vec<AdminRow> =
        sqlx::query_as("SELECT id, email, password_hash, created_at FROM admins ORDER BY seq")
            .fetch_all(conn)
            .await
            .map_err(db_error)?;
    Ok(rows.into_iter().map(to_admin).collect())
}

/// Deletes an administrator; their sessions go with it (`ON DELETE CASCADE`).
pub(super) async fn delete(conn: &mut SqliteConnection, email: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM admins WHERE email = ?")
        .bind(email)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}

pub(super) async fn insert_session(
    conn: &mut SqliteConnection,
    session: &AdminSession,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO admin_sessions (id_hash, admin_id, csrf_token, created_at, last_seen_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&session.id_hash)
    .bind(&session.admin_id)
    .bind(&session.csrf_token)
    .bind(session.created_at)
    .bind(session.last_seen_at)
    .execute(conn)
    .await
    .map_err(|e| {
        if super::error::is_foreign_key_violation(&e) {
            Error::AdminNotFound
        } else {
            db_error(e)
        }
    })?;
    Ok(())
}

pub(super) async fn session(
    conn: &mut SqliteConnection,
    id_hash: &str,
) -> Result<Option<AdminSession>> {
    let row: Option<(String, String, String, String, i64, i64)> = sqlx::query_as(
        "SELECT s.id_hash, s.admin_id, a.email, s.csrf_token, s.created_at, s.last_seen_at \
         FROM admin_sessions s JOIN admins a ON a.id = s.admin_id WHERE s.id_hash = ?",
    )
    .bind(id_hash)
    .fetch_optional(conn)
    .await
    .map_err(db_error)?;
    Ok(row.map(
        |(id_hash, admin_id, email, csrf_token, created_at, last_seen_at)| AdminSession {
            id_hash,
            admin_id,
            email,
            csrf_token,
            created_at,
            last_seen_at,
        },
    ))
}

pub(super) async fn touch_session(
    conn: &mut SqliteConnection,
    id_hash: &str,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE admin_sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?",
    )
    .bind(at)
    .bind(id_hash)
    .bind(at)
    .execute(conn)
    .await
    .map_err(db_error)?;
    Ok(())
}

pub(super) async fn delete_session(conn: &mut SqliteConnection, id_hash: &str) -> Result<()> {
    sqlx::query("DELETE FROM admin_sessions WHERE id_hash = ?")
        .bind(id_hash)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(())
}

pub(super) async fn delete_expired_sessions(
    conn: &mut SqliteConnection,
    idle_before: i64,
    created_before: i64,
) -> Result<u64> {
    let done = sqlx::query("DELETE FROM admin_sessions WHERE last_seen_at < ? OR created_at < ?")
        .bind(idle_before)
        .bind(created_before)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected())
}
