//! `hookhaven hooks list|disable`, on the data dir directly. The way back in when an
//! enabled credentials-exchange hook refuses every token — including the admin's, so the
//! API that could disable it is out of reach.

use clap::Subcommand;
use hookhaven_core::{AuditEvent, HookFilter, HookId, HookPatch};
use hookhaven_server::bootstrap::{open_data_dir, operator_error};
use serde_json::json;

use crate::settings::StorageArgs;

#[derive(Subcommand)]
pub enum HooksCommand {
    /// List hooks (id, name, trigger, enabled) as JSON.
    List {
        #[command(flatten)]
        storage: StorageArgs,
    },
    /// Disable a hook, e.g. one that makes every token request fail.
    Disable {
        #[command(flatten)]
        storage: StorageArgs,
        hook_id: String,
    },
}

pub async fn run(command: HooksCommand) -> anyhow::Result<()> {
    match command {
        HooksCommand::List { storage } => {
            let opened = open_data_dir(&storage.resolve()?).await?;
            let (hooks, _) = opened
                .store
                .list_hooks(&HookFilter::default(), None)
                .await
                .map_err(operator_error)?;
            let out: Vec<_> = hooks
                .iter()
                .map(|h| {
                    json!({
                        "id": h.id.as_str(),
                        "name": h.name.as_str(),
                        "triggerId": h.trigger_id.as_str(),
                        "enabled": h.enabled,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        HooksCommand::Disable { storage, hook_id } => {
            let id = HookId::parse(&hook_id).map_err(operator_error)?;
            let opened = open_data_dir(&storage.resolve()?).await?;
            let patch = HookPatch {
                enabled: Some(false),
                ..HookPatch::default()
            };
            let event = AuditEvent::success("cli", "hook.update", None).hook(id.as_str());
            opened
                .store
                .update_hook(&id, &patch, &event)
                .await
                .map_err(|e| anyhow::anyhow!("hook {hook_id}: {}", e.detail()))?;
            println!("disabled hook {hook_id}");
        }
    }
    Ok(())
}
