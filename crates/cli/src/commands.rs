//! What each subcommand does.

use anyhow::Context;
use hookhaven_core::{AuditEvent, AuditFilter, Scope};
use hookhaven_server::bootstrap::{open_data_dir, operator_error};
use hookhaven_server::registry;
use hookhaven_store::GrantFilter;
use serde_json::json;

use crate::settings::{ServeArgs, StorageArgs};

fn init_logging(json: bool, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.resolve()?;
    init_logging(config.log_json, "info");
    hookhaven_server::run(config).await
}

pub async fn clients_create(
    storage: StorageArgs,
    name: &str,
    description: &str,
    scopes: &str,
) -> anyhow::Result<()> {
    init_logging(false, "warn");
    let scopes = Scope::parse_list(scopes).map_err(|unknown| {
        anyhow::anyhow!(
            "unknown scope {unknown:?}; known scopes: {}",
            Scope::join(&hookhaven_core::ALL_SCOPES)
        )
    })?;
    let config = storage.resolve()?;
    let opened = open_data_dir(&config).await?;
    let audience = config.audience();
    let created = registry::create_client(
        opened.store.as_ref(),
        &opened.secret_hasher,
        name,
        description,
        Some((&audience, scopes.clone())),
        AuditEvent::success("cli", "client.create", None),
    )
    .await
    .map_err(operator_error)?;
    let out = json!({
        "client_id": created.client.client_id,
        "client_secret": created.secret.as_str(),
        "scopes": scopes.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
    });
    println!("{out}");
    Ok(())
}

pub async fn clients_list(storage: StorageArgs) -> anyhow::Result<()> {
    init_logging(false, "warn");
    let config = storage.resolve()?;
    let opened = open_data_dir(&config).await?;
    let (clients, _) = opened
        .store
        .list_clients(None)
        .await
        .map_err(operator_error)?;
    let mut out = Vec::with_capacity(clients.len());
    for client in clients {
        let filter = GrantFilter {
            client_id: Some(client.client_id.clone()),
            audience: None,
        };
        let (grants, _) = opened
            .store
            .list_grants(&filter, None)
            .await
            .map_err(operator_error)?;
        let scopes: Vec<&str> = grants
            .iter()
            .flat_map(|g| g.scope.iter().map(|s| s.as_str()))
            .collect();
        out.push(json!({
            "client_id": client.client_id,
            "name": client.name,
            "description": client.description,
            "created_at": format_ms(client.created_at),
            "scopes": scopes,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}

pub async fn clients_delete(storage: StorageArgs, client_id: &str) -> anyhow::Result<()> {
    init_logging(false, "warn");
    let config = storage.resolve()?;
    let opened = open_data_dir(&config).await?;
    let event = AuditEvent::success("cli", "client.delete", None).target(client_id);
    opened
        .store
        .delete_client(client_id, &event)
        .await
        .map_err(operator_error)
        .with_context(|| format!("deleting client {client_id}"))?;
    println!("deleted client {client_id}");
    Ok(())
}

pub async fn audit_list(
    storage: StorageArgs,
    hook: Option<String>,
    actor: Option<String>,
    limit: u32,
) -> anyhow::Result<()> {
    init_logging(false, "warn");
    let config = storage.resolve()?;
    let opened = open_data_dir(&config).await?;
    let filter = AuditFilter {
        hook_id: hook,
        actor,
        before_seq: None,
        limit,
    };
    for stored in opened
        .store
        .list_audit(&filter)
        .await
        .map_err(operator_error)?
    {
        let e = &stored.event;
        println!(
            "{}",
            json!({
                "seq": stored.seq,
                "at": format_ms(e.at),
                "actor": e.actor,
                "action": e.action,
                "hook_id": e.hook_id,
                "target": e.target,
                "secret_names": e.secret_names,
                "outcome": e.outcome.as_str(),
                "detail": e.detail,
                "request_id": e.request_id,
            })
        );
    }
    Ok(())
}

fn format_ms(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}
