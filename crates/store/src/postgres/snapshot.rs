//! Copying a whole database: counting, exporting and importing every table (see
//! [`crate::snapshot`]). Sealed values and HMACs are copied as stored.

use hookhaven_core::{
    Client, Error, Hook, HookId, HookName, Result, SealedSecret, SecretName, TriggerId,
};
use sqlx::PgConnection;

use super::error::{bad_json, db_error};
use super::{audit, clients, grants};
use crate::snapshot::{not_empty, AuditSource, HookRecord, SecretRecord, ServerKeyRecord};
use crate::{Admin, ClientCredentials, Snapshot, StoreCounts};

type Count = i64;

pub(super) async fn counts(conn: &mut PgConnection) -> Result<StoreCounts> {
    let (hooks, secrets, clients, grants, server_keys, admins, audit_events): (
        Count,
        Count,
        Count,
        Count,
        Count,
        Count,
        Count,
    ) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM hooks), (SELECT COUNT(*) FROM hook_secrets), \
         (SELECT COUNT(*) FROM clients), (SELECT COUNT(*) FROM client_grants), \
         (SELECT COUNT(*) FROM server_keys), (SELECT COUNT(*) FROM admins), \
         (SELECT COUNT(*) FROM audit_log)",
    )
    .fetch_one(conn)
    .await
    .map_err(db_error)?;
    let n = |c: Count| u64::try_from(c).unwrap_or(0);
    Ok(StoreCounts {
        hooks: n(hooks),
        secrets: n(secrets),
        clients: n(clients),
        grants: n(grants),
        server_keys: n(server_keys),
        admins: n(admins),
        audit_events: n(audit_events),
    })
}

type HookRow = (String, String, String, String, String, bool, i64, i64);

fn to_record(row: HookRow) -> Result<HookRecord> {
    let (id, name, script, dependencies, trigger_id, enabled, created_at, updated_at) = row;
    Ok(HookRecord {
        hook: Hook {
            id: HookId::from_stored(id),
            name: HookName::from_stored(name),
            script,
            dependencies: serde_json::from_str(&dependencies)
                .map_err(|e| bad_json("hook dependencies", &e))?,
            trigger_id: TriggerId::parse(&trigger_id)
                .ok_or_else(|| Error::internal("stored hook has an unknown trigger_id"))?,
            enabled,
        },
        created_at,
        updated_at,
    })
}

/// Every table but the audit log. Run inside one snapshot (REPEATABLE READ).
pub(super) async fn export(conn: &mut PgConnection) -> Result<Snapshot> {
    let hooks: Vec<HookRow> = sqlx::query_as(
        "SELECT id, name, script, dependencies, trigger_id, enabled, created_at, updated_at \
         FROM hooks ORDER BY id",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let hooks = hooks.into_iter().map(to_record).collect::<Result<_>>()?;

    let secrets: Vec<(String, String, Option<String>, i64, i64)> = sqlx::query_as(
        "SELECT hook_id, name, value, created_at, updated_at FROM hook_secrets ORDER BY seq",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let secrets = secrets
        .into_iter()
        .map(
            |(hook_id, name, value, created_at, updated_at)| SecretRecord {
                hook_id: HookId::from_stored(hook_id),
                name: SecretName::from_stored(name),
                value: value.map(SealedSecret::from_envelope),
                created_at,
                updated_at,
            },
        )
        .collect();

    let client_rows: Vec<(String, String, String, i64, Vec<u8>)> = sqlx::query_as(
        "SELECT client_id, name, description, created_at, secret_hmac FROM clients \
         ORDER BY seq",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(db_error)?;
    let client_records = client_rows
        .into_iter()
        .map(
            |(client_id, name, description, created_at, secret_hmac)| ClientCredentials {
                client: Client {
                    client_id,
                    name,
                    description,
                    created_at,
                },
                secret_hmac,
            },
        )
        .collect();

    let (grant_list, _) = grants::list_all(&mut *conn, &Default::default()).await?;

    let keys: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT name, value, created_at FROM server_keys ORDER BY name")
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
    let server_keys = keys
        .into_iter()
        .map(|(name, value, created_at)| ServerKeyRecord {
            name,
            value: SealedSecret::from_envelope(value),
            created_at,
        })
        .collect();

    let admin_rows: Vec<(String, String, String, i64)> =
        sqlx::query_as("SELECT id, email, password_hash, created_at FROM admins ORDER BY seq")
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?;
    let admins = admin_rows
        .into_iter()
        .map(|(id, email, password_hash, created_at)| Admin {
            id,
            email,
            password_hash,
            created_at,
        })
        .collect();

    Ok(Snapshot {
        hooks,
        secrets,
        clients: client_records,
        grants: grant_list,
        server_keys,
        admins,
    })
}

/// Writes a snapshot and the audit log into an empty database. Run inside one
/// transaction: the caller commits only if this succeeds. The tables are locked against
/// writers first, so an instance started on the same database meanwhile waits rather than
/// slip a row in between the emptiness check and the copy. Rows are inserted in the
/// snapshot's order, so creation order (`seq`) is kept; audit events keep their own `seq`,
/// and the sequence continues after the highest one.
pub(super) async fn import(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    audit_source: &mut dyn AuditSource,
) -> Result<()> {
    sqlx::query(
        "LOCK TABLE hooks, hook_secrets, clients, client_grants, server_keys, admins, \
         audit_log IN EXCLUSIVE MODE",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    let existing = counts(&mut *conn).await?;
    if !existing.is_empty() {
        return Err(not_empty(&existing));
    }
    for record in &snapshot.hooks {
        let hook = &record.hook;
        let dependencies = serde_json::to_string(&hook.dependencies)
            .map_err(|_| Error::internal("hook dependencies could not be encoded as JSON"))?;
        sqlx::query(
            "INSERT INTO hooks (id, name, script, dependencies, trigger_id, enabled, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(hook.id.as_str())
        .bind(hook.name.as_str())
        .bind(&hook.script)
        .bind(dependencies)
        .bind(hook.trigger_id.as_str())
        .bind(hook.enabled)
        .bind(record.created_at)
        .bind(record.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    for secret in &snapshot.secrets {
        sqlx::query(
            "INSERT INTO hook_secrets (hook_id, name, value, key_id, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(secret.hook_id.as_str())
        .bind(secret.name.as_str())
        .bind(secret.value.as_ref().map(SealedSecret::envelope))
        .bind(secret.value.as_ref().map(SealedSecret::key_id))
        .bind(secret.created_at)
        .bind(secret.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    for record in &snapshot.clients {
        clients::insert(&mut *conn, &record.client, &record.secret_hmac).await?;
    }
    for grant in &snapshot.grants {
        grants::insert(&mut *conn, grant).await?;
    }
    for key in &snapshot.server_keys {
        sqlx::query("INSERT INTO server_keys (name, value, created_at) VALUES ($1, $2, $3)")
            .bind(&key.name)
            .bind(key.value.envelope())
            .bind(key.created_at)
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    for admin in &snapshot.admins {
        sqlx::query(
            "INSERT INTO admins (id, email, password_hash, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(&admin.id)
        .bind(&admin.email)
        .bind(&admin.password_hash)
        .bind(admin.created_at)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
    }
    let mut last_seq = 0;
    loop {
        let page = audit_source.next_page().await?;
        if page.is_empty() {
            break;
        }
        for stored in &page {
            if stored.seq <= last_seq {
                return Err(Error::internal(
                    "the audit events to import are not in increasing seq order",
                ));
            }
            last_seq = stored.seq;
        }
        audit::insert_with_seq(&mut *conn, &page).await?;
    }
    // Inserting explicit values does not move the sequence: move it past them, so the
    // next event gets the next number.
    sqlx::query(
        "SELECT setval(pg_get_serial_sequence('audit_log', 'seq'), \
         (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_log), false)",
    )
    .execute(&mut *conn)
    .await
    .map_err(db_error)?;
    Ok(())
}
