//! SQL for the `client_grants` table. Scopes are stored as a JSON array of scope strings.

use hookhaven_core::{ClientGrant, Error, Page, Result};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::error::{bad_json, db_error, foreign_key_violation, unique_violation};
use super::paging;
use crate::GrantFilter;

type GrantRow = (String, String, String, String);

fn to_grant((id, client_id, audience, scope): GrantRow) -> Result<ClientGrant> {
    Ok(ClientGrant {
        id,
        client_id,
        audience,
        scope: serde_json::from_str(&scope).map_err(|e| bad_json("grant scope", &e))?,
    })
}

/// `ClientNotFound` for an unknown client, `GrantExists` for a second grant of the same
/// client and audience.
pub(super) async fn insert(conn: &mut PgConnection, grant: &ClientGrant) -> Result<()> {
    let scope = serde_json::to_string(&grant.scope)
        .map_err(|_| Error::internal("grant scope could not be encoded as JSON"))?;
    sqlx::query(
        "INSERT INTO client_grants (id, client_id, audience, scope) VALUES ($1, $2, $3, $4)",
    )
    .bind(&grant.id)
    .bind(&grant.client_id)
    .bind(&grant.audience)
    .bind(scope)
    .execute(conn)
    .await
    .map_err(|e| {
        if foreign_key_violation(&e) == Some("client_grants_client_id_fkey") {
            Error::ClientNotFound
        } else if unique_violation(&e) == Some("client_grants_client_id_audience_key") {
            Error::GrantExists
        } else {
            db_error(e)
        }
    })?;
    Ok(())
}

fn push_filter<'a>(query: &mut QueryBuilder<'a, Postgres>, filter: &'a GrantFilter) {
    query.push(" WHERE TRUE");
    if let Some(client_id) = &filter.client_id {
        query
            .push(" AND client_id = ")
            .push_bind(client_id.as_str());
    }
    if let Some(audience) = &filter.audience {
        query.push(" AND audience = ").push_bind(audience.as_str());
    }
}

/// One page in creation order, and the number of all matches; `conn` should be in a read
/// transaction, so that the two statements see one snapshot.
pub(super) async fn list(
    conn: &mut PgConnection,
    filter: &GrantFilter,
    page: Page,
) -> Result<(Vec<ClientGrant>, u64)> {
    let mut count = QueryBuilder::new("SELECT COUNT(*) FROM client_grants");
    push_filter(&mut count, filter);
    let total: i64 = count
        .build_query_scalar()
        .fetch_one(&mut *conn)
        .await
        .map_err(db_error)?;
    let grants = select(conn, filter, Some(page)).await?;
    Ok((grants, paging::total(total)))
}

/// Every matching grant, in one statement (its own snapshot): the token endpoint's read.
pub(super) async fn list_all(
    conn: &mut PgConnection,
    filter: &GrantFilter,
) -> Result<(Vec<ClientGrant>, u64)> {
    let grants = select(conn, filter, None).await?;
    let total = u64::try_from(grants.len()).unwrap_or(u64::MAX);
    Ok((grants, total))
}

async fn select(
    conn: &mut PgConnection,
    filter: &GrantFilter,
    page: Option<Page>,
) -> Result<Vec<ClientGrant>> {
    let (limit, offset) = paging::limit_offset(page);
    let mut select = QueryBuilder::new("SELECT id, client_id, audience, scope FROM client_grants");
    push_filter(&mut select, filter);
    select
        .push(" ORDER BY seq LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let rows: Vec<GrantRow> = select
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(db_error)?;
    rows.into_iter().map(to_grant).collect()
}

/// False if there was no grant with that id.
pub(super) async fn delete(conn: &mut PgConnection, id: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM client_grants WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await
        .map_err(db_error)?;
    Ok(done.rows_affected() > 0)
}
