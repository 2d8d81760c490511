//! `hookhaven export` and `hookhaven import`: hooks and their secrets in auth0-deploy-cli's
//! file formats, against a running server over its Management API.
//!
//! * [`formats`] reads and writes `tenant.yaml` + `hooks/*.js` and `hooks/<name>.json` + `.js`.
//! * [`keywords`] does a0deploy's `##KEY##` / `@@KEY@@` replacement.
//! * [`plan`] works out what an import changes; [`client`] talks to the server.
//!
//! Secret values only ever travel from the files to the server; an export writes the
//! placeholder for every secret.

pub mod client;
pub mod formats;
pub mod keywords;
pub mod model;
pub mod plan;
pub mod progress;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Context;
use reqwest::Method;
use serde_json::{json, Value};

pub use client::{Api, ApiError, Connection};
pub use formats::{Format, Loaded, Problems};
pub use keywords::Mappings;
pub use plan::{HookAction, Plan};
pub use progress::{Mode, Progress};

use crate::model::{a0deploy_accepts_name, LocalSecret};
use crate::plan::HookPlan;

// ---------------------------------------------------------------------------------------
// Export

#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub output: PathBuf,
    pub format: Format,
    pub export_ids: bool,
}

#[derive(Debug, Default)]
pub struct ExportReport {
    pub hooks: usize,
    pub secrets: usize,
    pub written: Vec<PathBuf>,
    pub unchanged: Vec<PathBuf>,
    pub removed: Vec<PathBuf>,
    pub warnings: Vec<String>,
    pub requests: u64,
    pub retries: u64,
}

impl ExportReport {
    pub fn to_json(&self, opts: &ExportOptions) -> Value {
        let paths = |v: &[PathBuf]| {
            v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
        };
        json!({
            "ok": true,
            "command": "export",
            "format": opts.format.as_str(),
            "output": opts.output.display().to_string(),
            "hooks": self.hooks,
            "secrets": self.secrets,
            "written": paths(&self.written),
            "unchanged": paths(&self.unchanged),
            "removed": paths(&self.removed),
            "warnings": self.warnings,
            "requests": self.requests,
            "retries": self.retries,
        })
    }

    pub fn to_text(&self, opts: &ExportOptions) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out.push_str(&format!(
            "Exported {} hook{} and {} secret name{} ({} format) to {}: {} file{} written, {} unchanged, {} removed. Secret values are written as _VALUE_NOT_SHOWN_.\n",
            self.hooks,
            plural(self.hooks),
            self.secrets,
            plural(self.secrets),
            opts.format.as_str(),
            opts.output.display(),
            self.written.len(),
            plural(self.written.len()),
            self.unchanged.len(),
            self.removed.len()
        ));
        out
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Reads every hook and writes the files. Files whose bytes would not change are left
/// untouched; hook files (`hooks/*.js`, and `hooks/*.json` in directory format) of hooks
/// that no longer exist are removed, so the folder mirrors the server.
pub async fn export(
    api: &Api,
    opts: &ExportOptions,
    progress: &Progress,
) -> anyhow::Result<ExportReport> {
    let hooks = api.fetch_hooks(progress).await?;
    let mut report = ExportReport {
        hooks: hooks.len(),
        secrets: hooks.iter().map(|h| h.secret_names.len()).sum(),
        ..ExportReport::default()
    };
    for h in &hooks {
        if !a0deploy_accepts_name(&h.name) {
            report.warnings.push(format!(
                "hook \"{}\": a0deploy's schema refuses this name (it needs 3+ characters: letters, digits, spaces and -), so only hookhaven can import it",
                h.name
            ));
        }
    }
    let files = formats::render(opts.format, &hooks, opts.export_ids);
    write_files(&opts.output, opts.format, &files, &mut report)?;
    report.requests = api.stats.requests.load(Ordering::Relaxed);
    report.retries = api.stats.retries.load(Ordering::Relaxed);
    Ok(report)
}

fn write_files(
    out: &Path,
    format: Format,
    files: &[formats::OutFile],
    report: &mut ExportReport,
) -> anyhow::Result<()> {
    let hooks_dir = out.join(formats::HOOKS_DIR);
    std::fs::create_dir_all(&hooks_dir)
        .with_context(|| format!("creating {}", hooks_dir.display()))?;
    // Scripts first, the file that points at them last.
    let mut ordered: Vec<&formats::OutFile> = files.iter().collect();
    ordered.sort_by_key(|f| {
        (
            f.path.extension().and_then(|e| e.to_str()) != Some("js"),
            f.path.clone(),
        )
    });
    for file in ordered {
        let path = out.join(&file.path);
        if std::fs::read(&path).ok().as_deref() == Some(file.bytes.as_slice()) {
            report.unchanged.push(file.path.clone());
            continue;
        }
        let tmp = path.with_file_name(format!(
            ".{}.hookhaven-tmp",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("file")
        ));
        std::fs::write(&tmp, &file.bytes).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        report.written.push(file.path.clone());
    }
    let stale_exts: &[&str] = match format {
        Format::Yaml => &["js"],
        Format::Directory => &["js", "json"],
    };
    let mut stale = Vec::new();
    for entry in
        std::fs::read_dir(&hooks_dir).with_context(|| format!("reading {}", hooks_dir.display()))?
    {
        let path = entry?.path();
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let rel = Path::new(formats::HOOKS_DIR).join(path.file_name().unwrap_or_default());
        if path.is_file() && stale_exts.contains(&ext) && !files.iter().any(|f| f.path == rel) {
            stale.push((path, rel));
        }
    }
    stale.sort();
    for (path, rel) in stale {
        std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        report.removed.push(rel);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Import

#[derive(Debug, Clone)]
pub struct ImportOptions {
    pub allow_delete: bool,
    pub dry_run: bool,
}

/// A secret that exists without a value after the import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unset {
    pub hook: String,
    pub secret: String,
}

#[derive(Debug)]
pub struct ImportReport {
    /// The server's base URL.
    pub server: String,
    pub format: Format,
    pub plan: Plan,
    pub dry_run: bool,
    /// One line per request that changed something, in the order they finished.
    pub applied: Vec<String>,
    /// What failed; non-empty means the import failed part way.
    pub failed: Vec<String>,
    pub unset: Vec<Unset>,
    pub warnings: Vec<String>,
    pub requests: u64,
    pub retries: u64,
}

impl ImportReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty()
    }

    pub fn to_json(&self) -> Value {
        json!({
            "ok": self.ok(),
            "command": "import",
            "server": self.server,
            "format": self.format.as_str(),
            "dry_run": self.dry_run,
            "plan": self.plan.to_json(),
            "applied": self.applied,
            "failed": self.failed,
            "secrets_without_value": self.unset.iter().map(|u| json!({"hook": u.hook, "secret": u.secret})).collect::<Vec<_>>(),
            "warnings": self.warnings,
            "requests": self.requests,
            "retries": self.retries,
        })
    }

    /// The warnings and the plan, printed before anything is applied.
    pub fn plan_text(&self) -> String {
        let mut out = String::new();
        for w in &self.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out.push_str(&format!("Plan for {}:\n", self.server));
        out.push_str(&self.plan.to_text());
        out
    }

    /// The outcome: the summary and the secrets that still need a value.
    pub fn result_text(&self) -> String {
        let mut out = String::new();
        if self.dry_run {
            out.push_str("Dry run: nothing was changed.\n");
            return out;
        }
        if !self.failed.is_empty() {
            out.push_str(&format!(
                "Import FAILED after {} change(s):\n",
                self.applied.len()
            ));
            for f in &self.failed {
                out.push_str(&format!("  failed: {f}\n"));
            }
        } else if self.applied.is_empty() {
            out.push_str("Nothing to change: the server already matches the files.\n");
        } else {
            let c = self.plan.counts();
            out.push_str(&format!(
                "Import done: {} created, {} updated, {} deleted, {} unchanged; secrets: {} added, {} updated, {} deleted, {} kept ({} requests changed the server).\n",
                c.create, c.update, c.delete, c.unchanged,
                c.secrets_add, c.secrets_update, c.secrets_delete, c.secrets_keep,
                self.applied.len()
            ));
        }
        if !self.unset.is_empty() {
            out.push_str("These secrets exist without a value; fill them in (Dashboard, or PATCH /api/v2/hooks/{id}/secrets):\n");
            for u in &self.unset {
                out.push_str(&format!("  {} / {}\n", u.hook, u.secret));
            }
        }
        out
    }

    pub fn to_text(&self) -> String {
        self.plan_text() + &self.result_text()
    }
}

/// Reads and checks the files (no network). Every problem is reported at once.
pub fn load_files(
    input: &Path,
    base_path: Option<&Path>,
    mappings: &Mappings,
) -> Result<Loaded, Problems> {
    formats::load(input, base_path, mappings)
}

/// Reads the server and plans the import (no change yet).
pub async fn plan_import(
    api: &Api,
    loaded: Loaded,
    opts: &ImportOptions,
    progress: &Progress,
) -> anyhow::Result<ImportReport> {
    let mut warnings = loaded.warnings;
    let remote = api.fetch_hooks(progress).await?;
    let plan = match &loaded.hooks {
        Some(local) => plan::plan(local, &remote, opts.allow_delete)?,
        None => {
            warnings.push(
                "the files hold no `hooks`, so nothing on the server is managed or changed".into(),
            );
            Plan::default()
        }
    };
    Ok(ImportReport {
        server: api.endpoint.base.clone(),
        format: loaded.format,
        plan,
        dry_run: opts.dry_run,
        applied: Vec::new(),
        failed: Vec::new(),
        unset: Vec::new(),
        warnings,
        requests: api.stats.requests.load(Ordering::Relaxed),
        retries: api.stats.retries.load(Ordering::Relaxed),
    })
}

/// Applies a plan made by [`plan_import`] (nothing for a dry run), then lists the secrets
/// it left without a value.
pub async fn apply_import(
    api: &Api,
    report: &mut ImportReport,
    progress: &Progress,
) -> anyhow::Result<()> {
    if !report.dry_run && report.plan.has_changes() {
        check_scopes(api, &report.plan)?;
        apply(api, report, progress).await;
    }
    if !report.dry_run && report.failed.is_empty() {
        report.unset = match secrets_without_value(api, progress).await {
            Ok(unset) => unset,
            // A server without Hookhaven's `secret-status` extension (Auth0 itself): only
            // the secrets this import created without a value are known.
            Err(e) => {
                report.warnings.push(format!(
                    "could not list every secret without a value ({e:#}); listing the ones this import created"
                ));
                report
                    .plan
                    .hooks
                    .iter()
                    .flat_map(|h| {
                        h.secrets.added_without_value().map(|name| Unset {
                            hook: h.name.clone(),
                            secret: name.to_string(),
                        })
                    })
                    .collect()
            }
        };
    }
    report.requests = api.stats.requests.load(Ordering::Relaxed);
    report.retries = api.stats.retries.load(Ordering::Relaxed);
    Ok(())
}

/// Every secret on the server that exists without a value, from Hookhaven's read-only
/// `GET /api/v2/hooks/{id}/secret-status` extension (the Auth0 read shows the placeholder
/// for every secret, set or not).
async fn secrets_without_value(api: &Api, progress: &Progress) -> anyhow::Result<Vec<Unset>> {
    let mut unset = Vec::new();
    for hook in api.fetch_hooks(progress).await? {
        let status = api
            .call(
                Method::GET,
                &format!("/api/v2/hooks/{}/secret-status", hook.id),
                None,
            )
            .await?;
        let Value::Object(secrets) = status else {
            anyhow::bail!("secret-status did not return an object");
        };
        for (name, state) in secrets {
            if state["set"] == Value::Bool(false) {
                unset.push(Unset {
                    hook: hook.name.clone(),
                    secret: name,
                });
            }
        }
    }
    Ok(unset)
}

/// Plans, then (unless it is a dry run) applies.
pub async fn import(
    api: &Api,
    loaded: Loaded,
    opts: &ImportOptions,
    progress: &Progress,
) -> anyhow::Result<ImportReport> {
    let mut report = plan_import(api, loaded, opts, progress).await?;
    apply_import(api, &mut report, progress).await?;
    Ok(report)
}

/// Refuses, before any change, a plan the token's scopes cannot carry out.
fn check_scopes(api: &Api, plan: &Plan) -> anyhow::Result<()> {
    let Some(scopes) = api.token_scopes() else {
        return Ok(());
    };
    let has = |s: &str| scopes.contains(s);
    let mut missing = Vec::new();
    let creates = plan.hooks.iter().any(|h| h.action == HookAction::Create);
    let writes = plan.hooks.iter().any(|h| {
        h.action == HookAction::Update || !h.secrets.add.is_empty() || !h.secrets.update.is_empty()
    });
    let deletes = plan
        .hooks
        .iter()
        .any(|h| h.action == HookAction::Delete || !h.secrets.delete.is_empty());
    if creates && !has("create:hooks") {
        missing.push("create:hooks (to create hooks)");
    }
    if writes && !has("create:hooks") && !has("update:hooks") {
        missing.push("update:hooks (to update hooks and secrets)");
    }
    if deletes && !has("delete:hooks") {
        missing.push("delete:hooks (to delete hooks or secrets)");
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "the token lacks scopes this import needs: {}; nothing was changed",
            missing.join(", ")
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Step {
    DeleteHook,
    UpdateHook,
    CreateHook,
    Secrets,
}

/// Deletes, then updates, then creates (so renames and deletes free names first), then
/// the secrets of every hook (delete, update, add: deleting first keeps the count under
/// the limit). A failed phase stops the ones after it.
async fn apply(api: &Api, report: &mut ImportReport, progress: &Progress) {
    let hooks: Vec<HookPlan> = report.plan.hooks.clone();
    let pick =
        |f: &dyn Fn(&HookPlan) -> bool| hooks.iter().filter(|h| f(h)).cloned().collect::<Vec<_>>();
    let phases: [(Step, &str, Vec<HookPlan>); 4] = [
        (
            Step::DeleteHook,
            "deleting hooks",
            pick(&|h| h.action == HookAction::Delete),
        ),
        (
            Step::UpdateHook,
            "updating hooks",
            pick(&|h| h.action == HookAction::Update),
        ),
        (
            Step::CreateHook,
            "creating hooks",
            pick(&|h| h.action == HookAction::Create),
        ),
        (Step::Secrets, "writing secrets", Vec::new()),
    ];
    let mut created: Vec<(String, String)> = Vec::new();
    for (step, label, work) in phases {
        let work = match step {
            Step::Secrets => hooks
                .iter()
                .filter(|h| h.action != HookAction::Delete && h.secrets.writes())
                .map(|h| {
                    let mut h = h.clone();
                    if h.id.is_none() {
                        h.id = created
                            .iter()
                            .find(|(n, _)| *n == h.name)
                            .map(|(_, id)| id.clone());
                    }
                    h
                })
                .collect(),
            _ => work,
        };
        if work.is_empty() {
            continue;
        }
        progress.phase(label, work.len());
        let mut set = tokio::task::JoinSet::new();
        for h in work {
            let api = api.clone();
            set.spawn(async move {
                let mut done = Vec::new();
                let result = apply_one(&api, step, &h, &mut done).await;
                (h.name.clone(), done, result)
            });
        }
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok((name, done, result)) => {
                    for line in done {
                        progress.line(&line.0);
                        report.applied.push(line.0);
                        if let Some(id) = line.1 {
                            created.push((name.clone(), id));
                        }
                    }
                    if let Err(e) = result {
                        let text = format!("hook \"{name}\": {e:#}");
                        progress.line(&format!("FAILED {text}"));
                        report.failed.push(text);
                    }
                }
                Err(e) => report.failed.push(format!("a request task failed: {e}")),
            }
            progress.tick();
        }
        progress.finish();
        if !report.failed.is_empty() {
            return;
        }
    }
}

/// Carries out one hook's part of a phase, recording each request that changed something
/// (and, for a create, the new id).
async fn apply_one(
    api: &Api,
    step: Step,
    h: &HookPlan,
    done: &mut Vec<(String, Option<String>)>,
) -> anyhow::Result<()> {
    let id = h.id.clone().unwrap_or_default();
    match step {
        Step::DeleteHook => {
            api.call(Method::DELETE, &format!("/api/v2/hooks/{id}"), None)
                .await?;
            done.push((format!("deleted hook {} ({id})", h.name), None));
        }
        Step::UpdateHook => {
            api.call(
                Method::PATCH,
                &format!("/api/v2/hooks/{id}"),
                Some(&Value::Object(h.body.clone())),
            )
            .await?;
            done.push((
                format!("updated hook {}: {}", h.name, h.changed.join(", ")),
                None,
            ));
        }
        Step::CreateHook => {
            let created = api
                .call(
                    Method::POST,
                    "/api/v2/hooks",
                    Some(&Value::Object(h.body.clone())),
                )
                .await?;
            let new_id = created["id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("POST /api/v2/hooks returned no id"))?
                .to_string();
            done.push((format!("created hook {} ({new_id})", h.name), Some(new_id)));
        }
        Step::Secrets => {
            if id.is_empty() {
                anyhow::bail!("the hook was not created, so its secrets were not written");
            }
            let path = format!("/api/v2/hooks/{id}/secrets");
            let s = &h.secrets;
            if !s.delete.is_empty() {
                api.call(Method::DELETE, &path, Some(&json!(s.delete)))
                    .await?;
                done.push((
                    format!("deleted secrets of {}: {}", h.name, s.delete.join(", ")),
                    None,
                ));
            }
            if !s.update.is_empty() {
                let body: serde_json::Map<String, Value> = s
                    .update
                    .iter()
                    .map(|(n, v)| (n.clone(), Value::String(v.expose().to_string())))
                    .collect();
                api.call(Method::PATCH, &path, Some(&Value::Object(body)))
                    .await?;
                let names: Vec<&str> = s.update.iter().map(|(n, _)| n.as_str()).collect();
                done.push((
                    format!("updated secrets of {}: {}", h.name, names.join(", ")),
                    None,
                ));
            }
            if !s.add.is_empty() {
                let body: serde_json::Map<String, Value> = s
                    .add
                    .iter()
                    .map(|(n, v)| (n.clone(), Value::String(v.wire().to_string())))
                    .collect();
                api.call(Method::POST, &path, Some(&Value::Object(body)))
                    .await?;
                let names: Vec<String> = s
                    .add
                    .iter()
                    .map(|(n, v)| match v {
                        LocalSecret::Placeholder => format!("{n} (without a value)"),
                        LocalSecret::Value(_) => n.clone(),
                    })
                    .collect();
                done.push((
                    format!("added secrets to {}: {}", h.name, names.join(", ")),
                    None,
                ));
            }
        }
    }
    Ok(())
}
