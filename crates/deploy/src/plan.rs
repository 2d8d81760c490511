//! The import plan: what to create, update and delete, hook by hook and secret by secret.
//!
//! Rules (see docs/deploy.md for where they differ from a0deploy):
//! * Local hooks match remote ones by `id` first, then by exact name.
//! * A matched hook is updated only when a field differs, and only the fields that differ
//!   are sent. A remote hook missing from the files is deleted only with `allow_delete`.
//! * Secrets: the placeholder keeps the remote value (D1) or, for a new key, creates the
//!   secret without a value; a value updates or adds. When the files have no `secrets:`
//!   key the remote secrets are left alone; when they do, remote keys missing from it are
//!   deleted.

use std::collections::{BTreeMap, HashSet};

use hookhaven_core::{SecretValue, MAX_SECRETS_PER_HOOK};
use serde_json::{json, Map, Value};

use crate::formats::Problems;
use crate::model::{a0deploy_name, LocalHook, LocalSecret, RemoteHook};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookAction {
    Create,
    Update,
    Unchanged,
    Delete,
    /// On the server, not in the files, and deletes are not allowed.
    Retain,
}

impl HookAction {
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Create => "create",
            HookAction::Update => "update",
            HookAction::Unchanged => "unchanged",
            HookAction::Delete => "delete",
            HookAction::Retain => "not-deleted",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretPlan {
    /// False when the files have no `secrets:` key for this hook.
    pub managed: bool,
    /// New secrets; the placeholder creates one without a value.
    pub add: Vec<(String, LocalSecret)>,
    pub update: Vec<(String, SecretValue)>,
    /// Remote secrets whose file value is the placeholder.
    pub keep: Vec<String>,
    pub delete: Vec<String>,
    /// Remote secrets left alone because the files say nothing about secrets.
    pub untouched: Vec<String>,
}

impl SecretPlan {
    pub fn writes(&self) -> bool {
        !self.add.is_empty() || !self.update.is_empty() || !self.delete.is_empty()
    }

    /// Secrets this plan creates without a value.
    pub fn added_without_value(&self) -> impl Iterator<Item = &str> {
        self.add
            .iter()
            .filter(|(_, s)| *s == LocalSecret::Placeholder)
            .map(|(n, _)| n.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct HookPlan {
    pub name: String,
    /// The remote id (none yet for a create).
    pub id: Option<String>,
    pub trigger_id: String,
    pub action: HookAction,
    /// For an update, the fields that differ.
    pub changed: Vec<&'static str>,
    /// The request body: all fields for a create, the changed ones for an update.
    pub body: Map<String, Value>,
    pub secrets: SecretPlan,
}

#[derive(Debug, Clone, Default)]
pub struct Plan {
    pub hooks: Vec<HookPlan>,
    /// Things worth knowing that are not errors (e.g. D2 disabling a hook).
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub create: usize,
    pub update: usize,
    pub unchanged: usize,
    pub delete: usize,
    pub not_deleted: usize,
    pub secrets_add: usize,
    pub secrets_add_without_value: usize,
    pub secrets_update: usize,
    pub secrets_keep: usize,
    pub secrets_delete: usize,
    pub secrets_untouched: usize,
}

pub fn plan(
    local: &[LocalHook],
    remote: &[RemoteHook],
    allow_delete: bool,
) -> Result<Plan, Problems> {
    let mut problems = Vec::new();
    let mut matched: HashSet<&str> = HashSet::new();
    let mut pairs: Vec<(&LocalHook, Option<&RemoteHook>)> = Vec::new();
    // By id first (a0deploy's order), then by exact name among the rest.
    let mut by_id: Vec<Option<&RemoteHook>> = Vec::new();
    for l in local {
        let found =
            l.id.as_deref()
                .and_then(|id| remote.iter().find(|r| r.id == id));
        if let Some(r) = found {
            matched.insert(&r.id);
        }
        by_id.push(found);
    }
    for (l, found) in local.iter().zip(by_id) {
        let found = found.or_else(|| {
            let r = remote
                .iter()
                .find(|r| r.name == l.name && !matched.contains(r.id.as_str()))?;
            matched.insert(&r.id);
            Some(r)
        });
        pairs.push((l, found));
    }
    let deleted: HashSet<&str> = if allow_delete {
        remote
            .iter()
            .filter(|r| !matched.contains(r.id.as_str()))
            .map(|r| r.id.as_str())
            .collect()
    } else {
        HashSet::new()
    };

    let mut out = Plan::default();
    for (l, r) in pairs {
        match r {
            None => {
                let mut body = Map::new();
                body.insert("name".into(), l.name.clone().into());
                body.insert("script".into(), l.script.clone().into());
                body.insert("enabled".into(), l.enabled.into());
                body.insert("triggerId".into(), l.trigger_id.clone().into());
                body.insert("dependencies".into(), deps_json(&l.dependencies));
                let mut secrets = SecretPlan {
                    managed: l.secrets.is_some(),
                    ..SecretPlan::default()
                };
                if let Some(local_secrets) = &l.secrets {
                    secrets.add = local_secrets
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                }
                check_limit(&mut problems, l, secrets.add.len());
                out.hooks.push(HookPlan {
                    name: l.name.clone(),
                    id: None,
                    trigger_id: l.trigger_id.clone(),
                    action: HookAction::Create,
                    changed: Vec::new(),
                    body,
                    secrets,
                });
            }
            Some(r) => {
                if r.trigger_id != l.trigger_id {
                    problems.push(format!(
                        "{}: hook \"{}\" has triggerId {} in the files but {} on the server; the Management API cannot change a hook's trigger (give the hook another name, or delete it first)",
                        l.source, l.name, l.trigger_id, r.trigger_id
                    ));
                    continue;
                }
                let mut changed = Vec::new();
                let mut body = Map::new();
                if l.name != r.name {
                    if let Some(holder) = remote.iter().find(|o| o.id != r.id && o.name == l.name) {
                        if !deleted.contains(holder.id.as_str()) {
                            problems.push(format!(
                                "{}: renaming hook {} to \"{}\" clashes with the server's hook {} of that name",
                                l.source, r.id, l.name, holder.id
                            ));
                        }
                    }
                    changed.push("name");
                    body.insert("name".into(), l.name.clone().into());
                }
                if l.script != r.script {
                    changed.push("script");
                    body.insert("script".into(), l.script.clone().into());
                }
                if l.enabled != r.enabled {
                    changed.push("enabled");
                    body.insert("enabled".into(), l.enabled.into());
                }
                if l.dependencies != r.dependencies {
                    changed.push("dependencies");
                    body.insert("dependencies".into(), deps_json(&l.dependencies));
                }
                let secrets = secret_plan(l, r);
                let total = r.secret_names.len() + secrets.add.len() - secrets.delete.len();
                check_limit(&mut problems, l, total);
                out.hooks.push(HookPlan {
                    name: l.name.clone(),
                    id: Some(r.id.clone()),
                    trigger_id: l.trigger_id.clone(),
                    action: if changed.is_empty() {
                        HookAction::Unchanged
                    } else {
                        HookAction::Update
                    },
                    changed,
                    body,
                    secrets,
                });
            }
        }
    }
    for r in remote.iter().filter(|r| !matched.contains(r.id.as_str())) {
        out.hooks.push(HookPlan {
            name: r.name.clone(),
            id: Some(r.id.clone()),
            trigger_id: r.trigger_id.clone(),
            action: if allow_delete {
                HookAction::Delete
            } else {
                HookAction::Retain
            },
            changed: Vec::new(),
            body: Map::new(),
            secrets: SecretPlan {
                untouched: r.secret_names.clone(),
                ..SecretPlan::default()
            },
        });
    }
    if !problems.is_empty() {
        return Err(Problems(problems));
    }
    out.notes = side_effects(local, remote, &out);
    out.hooks
        .sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
    Ok(out)
}

fn deps_json(deps: &BTreeMap<String, String>) -> Value {
    Value::Object(
        deps.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn check_limit(problems: &mut Vec<String>, l: &LocalHook, total: usize) {
    if total > MAX_SECRETS_PER_HOOK {
        problems.push(format!(
            "{}: hook \"{}\" would have {total} secrets; at most {MAX_SECRETS_PER_HOOK} are allowed",
            l.source, l.name
        ));
    }
}

fn secret_plan(l: &LocalHook, r: &RemoteHook) -> SecretPlan {
    let Some(local) = &l.secrets else {
        return SecretPlan {
            managed: false,
            untouched: r.secret_names.clone(),
            ..SecretPlan::default()
        };
    };
    let mut plan = SecretPlan {
        managed: true,
        ..SecretPlan::default()
    };
    for (name, secret) in local {
        let exists = r.secret_names.iter().any(|n| n == name);
        match (exists, secret) {
            (false, s) => plan.add.push((name.clone(), s.clone())),
            (true, LocalSecret::Placeholder) => plan.keep.push(name.clone()),
            (true, LocalSecret::Value(v)) => plan.update.push((name.clone(), v.clone())),
        }
    }
    for name in &r.secret_names {
        if !local.contains_key(name) {
            plan.delete.push(name.clone());
        }
    }
    plan
}

/// What the server will do on its own: enabling a hook disables the one that was enabled
/// on its trigger (D2). Also warns where a0deploy would read a name differently.
fn side_effects(local: &[LocalHook], remote: &[RemoteHook], plan: &Plan) -> Vec<String> {
    let mut notes = Vec::new();
    for h in &plan.hooks {
        let enables = match h.action {
            HookAction::Create => h.body.get("enabled") == Some(&Value::Bool(true)),
            HookAction::Update => h.body.get("enabled") == Some(&Value::Bool(true)),
            _ => false,
        };
        if !enables {
            continue;
        }
        for r in remote
            .iter()
            .filter(|r| r.enabled && r.trigger_id == h.trigger_id && Some(&r.id) != h.id.as_ref())
        {
            let other = plan.hooks.iter().find(|p| p.id.as_ref() == Some(&r.id));
            let handled = other.is_some_and(|p| {
                p.action == HookAction::Delete || p.body.get("enabled") == Some(&Value::Bool(false))
            });
            if !handled {
                notes.push(format!(
                    "enabling \"{}\" disables \"{}\", the hook enabled on {} now (one enabled hook per trigger)",
                    h.name, r.name, h.trigger_id
                ));
            }
        }
    }
    for l in local {
        let a0 = a0deploy_name(&l.name);
        if a0 != l.name {
            notes.push(format!(
                "hook \"{}\": a0deploy would read this name as \"{a0}\" (it lower-cases names and turns spaces into -); hookhaven keeps it as written",
                l.name
            ));
        }
    }
    notes
}

impl Plan {
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for h in &self.hooks {
            match h.action {
                HookAction::Create => c.create += 1,
                HookAction::Update => c.update += 1,
                HookAction::Unchanged => c.unchanged += 1,
                HookAction::Delete => c.delete += 1,
                HookAction::Retain => c.not_deleted += 1,
            }
            if matches!(h.action, HookAction::Delete | HookAction::Retain) {
                continue;
            }
            c.secrets_add += h.secrets.add.len();
            c.secrets_add_without_value += h.secrets.added_without_value().count();
            c.secrets_update += h.secrets.update.len();
            c.secrets_keep += h.secrets.keep.len();
            c.secrets_delete += h.secrets.delete.len();
            c.secrets_untouched += h.secrets.untouched.len();
        }
        c
    }

    /// Whether applying would send any write.
    pub fn has_changes(&self) -> bool {
        self.hooks.iter().any(|h| {
            matches!(
                h.action,
                HookAction::Create | HookAction::Update | HookAction::Delete
            ) || h.secrets.writes()
        })
    }

    /// Names only, never values.
    pub fn to_json(&self) -> Value {
        let hooks: Vec<Value> = self
            .hooks
            .iter()
            .map(|h| {
                let s = &h.secrets;
                json!({
                    "name": h.name,
                    "id": h.id,
                    "triggerId": h.trigger_id,
                    "action": h.action.as_str(),
                    "changed": h.changed,
                    "secrets": {
                        "managed": s.managed,
                        "add": s.add.iter().filter(|(_, v)| *v != LocalSecret::Placeholder).map(|(n, _)| n).collect::<Vec<_>>(),
                        "add_without_value": s.added_without_value().collect::<Vec<_>>(),
                        "update": s.update.iter().map(|(n, _)| n).collect::<Vec<_>>(),
                        "keep": s.keep,
                        "delete": s.delete,
                        "untouched": s.untouched,
                    },
                })
            })
            .collect();
        let c = self.counts();
        json!({
            "hooks": hooks,
            "notes": self.notes,
            "counts": counts_json(&c),
        })
    }

    /// The plan for people: one line per hook, one per kind of secret change.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for h in &self.hooks {
            let (mark, what) = match h.action {
                HookAction::Create => ("+", format!("create     {} ({})", h.name, h.trigger_id)),
                HookAction::Update => ("~", format!("update     {}: {}", h.name, h.changed.join(", "))),
                HookAction::Unchanged => ("=", format!("unchanged  {}", h.name)),
                HookAction::Delete => ("-", format!("delete     {} (and its secrets)", h.name)),
                HookAction::Retain => (
                    "!",
                    format!("not deleted {} (on the server, not in the files; pass --allow-delete to delete it)", h.name),
                ),
            };
            out.push_str(&format!("  {mark} {what}\n"));
            let s = &h.secrets;
            let mut parts = Vec::new();
            let with_value: Vec<&str> = s
                .add
                .iter()
                .filter(|(_, v)| *v != LocalSecret::Placeholder)
                .map(|(n, _)| n.as_str())
                .collect();
            let without: Vec<&str> = s.added_without_value().collect();
            let update: Vec<&str> = s.update.iter().map(|(n, _)| n.as_str()).collect();
            for (label, names) in [
                ("add", with_value),
                ("add without a value", without),
                ("update", update),
                ("keep", s.keep.iter().map(String::as_str).collect()),
                ("delete", s.delete.iter().map(String::as_str).collect()),
            ] {
                if !names.is_empty() {
                    parts.push(format!("{label} {}", names.join(", ")));
                }
            }
            if matches!(h.action, HookAction::Update | HookAction::Unchanged)
                && !s.untouched.is_empty()
            {
                parts.push(format!(
                    "leave alone {} (no `secrets:` in the files)",
                    s.untouched.join(", ")
                ));
            }
            if !parts.is_empty() {
                out.push_str(&format!("      secrets: {}\n", parts.join("; ")));
            }
        }
        for note in &self.notes {
            out.push_str(&format!("  note: {note}\n"));
        }
        let c = self.counts();
        out.push_str(&format!(
            "Plan: {} to create, {} to update, {} unchanged, {} to delete, {} not deleted; secrets: {} to add ({} without a value), {} to update, {} kept, {} to delete\n",
            c.create, c.update, c.unchanged, c.delete, c.not_deleted,
            c.secrets_add, c.secrets_add_without_value, c.secrets_update, c.secrets_keep, c.secrets_delete
        ));
        out
    }
}

pub fn counts_json(c: &Counts) -> Value {
    json!({
        "hooks": {
            "create": c.create,
            "update": c.update,
            "unchanged": c.unchanged,
            "delete": c.delete,
            "not_deleted": c.not_deleted,
        },
        "secrets": {
            "add": c.secrets_add,
            "add_without_value": c.secrets_add_without_value,
            "update": c.secrets_update,
            "keep": c.secrets_keep,
            "delete": c.secrets_delete,
            "untouched": c.secrets_untouched,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(name: &str, secrets: Option<&[(&str, &str)]>) -> LocalHook {
        LocalHook {
            source: format!("{name}.json"),
            id: None,
            name: name.into(),
            script: "s".into(),
            trigger_id: "credentials-exchange".into(),
            enabled: false,
            dependencies: BTreeMap::new(),
            secrets: secrets.map(|pairs| {
                pairs
                    .iter()
                    .map(|(k, v)| {
                        (
                            k.to_string(),
                            LocalSecret::from_text(v.to_string()).unwrap(),
                        )
                    })
                    .collect()
            }),
        }
    }

    fn remote(id: &str, name: &str, secrets: &[&str]) -> RemoteHook {
        RemoteHook {
            id: id.into(),
            name: name.into(),
            script: "s".into(),
            trigger_id: "credentials-exchange".into(),
            enabled: false,
            dependencies: BTreeMap::new(),
            secret_names: secrets.iter().map(|s| s.to_string()).collect(),
        }
    }

    const P: &str = "_VALUE_NOT_SHOWN_";

    #[test]
    fn unchanged_files_plan_no_writes() {
        let l = [local("a", Some(&[("K", P), ("L", P)]))];
        let r = [remote("1", "a", &["K", "L"])];
        let p = plan(&l, &r, false).unwrap();
        assert!(!p.has_changes());
        assert_eq!(p.hooks[0].action, HookAction::Unchanged);
        assert_eq!(p.hooks[0].secrets.keep, vec!["K", "L"]);
    }

    #[test]
    fn secrets_add_update_keep_delete() {
        let l = [local(
            "a",
            Some(&[("KEEP", P), ("NEW", "v"), ("NEW_UNSET", P), ("CHANGE", "x")]),
        )];
        let r = [remote("1", "a", &["CHANGE", "GONE", "KEEP"])];
        let p = plan(&l, &r, false).unwrap();
        let s = &p.hooks[0].secrets;
        assert_eq!(s.keep, vec!["KEEP"]);
        assert_eq!(
            s.add.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            vec!["NEW", "NEW_UNSET"]
        );
        assert_eq!(
            s.added_without_value().collect::<Vec<_>>(),
            vec!["NEW_UNSET"]
        );
        assert_eq!(
            s.update.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
            vec!["CHANGE"]
        );
        assert_eq!(s.delete, vec!["GONE"]);
        assert_eq!(p.hooks[0].action, HookAction::Unchanged);
        assert!(p.has_changes());
        // The JSON form names secrets, never values.
        let text = p.to_json().to_string();
        assert!(text.contains("NEW_UNSET") && !text.contains("\"v\"") && !text.contains("\"x\""));
    }

    #[test]
    fn absent_secrets_key_leaves_remote_secrets_alone() {
        let p = plan(&[local("a", None)], &[remote("1", "a", &["K"])], false).unwrap();
        assert!(!p.has_changes());
        assert_eq!(p.hooks[0].secrets.untouched, vec!["K"]);
        // An empty map deletes them all.
        let p = plan(&[local("a", Some(&[]))], &[remote("1", "a", &["K"])], false).unwrap();
        assert_eq!(p.hooks[0].secrets.delete, vec!["K"]);
    }

    #[test]
    fn only_changed_fields_are_sent() {
        let mut l = local("a", None);
        l.script = "new".into();
        l.enabled = true;
        let p = plan(&[l], &[remote("1", "a", &[])], false).unwrap();
        assert_eq!(p.hooks[0].action, HookAction::Update);
        assert_eq!(p.hooks[0].changed, vec!["script", "enabled"]);
        assert_eq!(
            p.hooks[0].body,
            json!({"script": "new", "enabled": true})
                .as_object()
                .unwrap()
                .clone()
        );
    }

    #[test]
    fn deletes_need_allow_delete() {
        let r = [remote("1", "old", &["K"])];
        let p = plan(&[], &r, false).unwrap();
        assert_eq!(p.hooks[0].action, HookAction::Retain);
        assert!(!p.has_changes());
        let p = plan(&[], &r, true).unwrap();
        assert_eq!(p.hooks[0].action, HookAction::Delete);
        assert!(p.has_changes());
    }

    #[test]
    fn match_by_id_first_then_name() {
        let mut renamed = local("new-name", None);
        renamed.id = Some("1".into());
        let p = plan(&[renamed], &[remote("1", "old-name", &[])], false).unwrap();
        assert_eq!(p.hooks[0].action, HookAction::Update);
        assert_eq!(p.hooks[0].changed, vec!["name"]);
        // A rename onto another remote hook's name is refused unless that one is deleted.
        let mut clash = local("taken", None);
        clash.id = Some("1".into());
        let r = [remote("1", "old", &[]), remote("2", "taken", &[])];
        assert!(plan(&[clash.clone()], &r, false).is_err());
        assert!(plan(&[clash], &r, true).is_ok());
    }

    #[test]
    fn trigger_changes_and_secret_limits_are_refused() {
        let mut l = local("a", None);
        l.trigger_id = "pre-user-registration".into();
        let err = plan(&[l], &[remote("1", "a", &[])], false).unwrap_err();
        assert!(err.to_string().contains("cannot change a hook's trigger"));
        let many: Vec<(String, String)> = (0..21)
            .map(|i| (format!("K{i}"), "v".to_string()))
            .collect();
        let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let err = plan(&[local("a", Some(&refs))], &[], false).unwrap_err();
        assert!(err.to_string().contains("21 secrets"));
    }

    #[test]
    fn creates_carry_all_fields_and_secrets() {
        let p = plan(&[local("a", Some(&[("K", "v"), ("U", P)]))], &[], false).unwrap();
        let h = &p.hooks[0];
        assert_eq!(h.action, HookAction::Create);
        assert_eq!(
            Value::Object(h.body.clone()),
            json!({"name": "a", "script": "s", "enabled": false, "triggerId": "credentials-exchange", "dependencies": {}})
        );
        assert_eq!(h.secrets.add.len(), 2);
        assert_eq!(p.counts().secrets_add_without_value, 1);
    }

    #[test]
    fn enabling_notes_the_hook_it_disables() {
        let mut l = local("new", None);
        l.enabled = true;
        let mut r = remote("1", "current", &[]);
        r.enabled = true;
        let p = plan(&[l], &[r], false).unwrap();
        assert!(
            p.notes.iter().any(|n| n.contains("disables \"current\"")),
            "{:?}",
            p.notes
        );
    }
}
