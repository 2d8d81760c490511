//! The audit log, newest first, filterable by hook and actor, a page at a time.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use hookhaven_core::{AuditFilter, HookFilter, Outcome};
use serde::Deserialize;

use super::html::{self, esc, url_component, Section};
use super::{error_page, render, SignedIn};
use crate::state::AppState;

/// Events per page.
pub const PAGE_SIZE: u32 = 50;

#[derive(Debug, Default, Deserialize)]
pub struct LogsQuery {
    hook: Option<String>,
    actor: Option<String>,
    /// Show events older than this sequence number.
    before: Option<i64>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// `GET /logs`.
pub async fn page(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Query(query): Query<LogsQuery>,
) -> Response {
    let hook_filter = non_empty(&query.hook);
    let actor_filter = non_empty(&query.actor);
    let filter = AuditFilter {
        hook_id: hook_filter.clone(),
        actor: actor_filter.clone(),
        before_seq: query.before,
        limit: PAGE_SIZE + 1,
    };
    let mut events = match state.store.list_audit(&filter).await {
        Ok(e) => e,
        Err(e) => return error_page(&e),
    };
    let more = events.len() > PAGE_SIZE as usize;
    events.truncate(PAGE_SIZE as usize);
    let hooks = match state.store.list_hooks(&HookFilter::default(), None).await {
        Ok((h, _)) => h,
        Err(e) => return error_page(&e),
    };
    let hook_names: HashMap<&str, &str> = hooks
        .iter()
        .map(|h| (h.id.as_str(), h.name.as_str()))
        .collect();

    // Suggestions for the actor field: applications and administrators.
    let mut actors = BTreeSet::new();
    if let Ok((clients, _)) = state.store.list_clients(None).await {
        actors.extend(clients.into_iter().map(|c| c.client_id));
    }
    if let Ok(admins) = state.store.list_admins().await {
        actors.extend(admins.into_iter().map(|a| super::auth::actor_of(&a.email)));
    }
    actors.extend(["cli".to_string(), "bootstrap".to_string()]);

    let mut options = String::from("<option value=\"\">All hooks</option>");
    let mut known_selected = hook_filter.is_none();
    for hook in &hooks {
        let selected = hook_filter.as_deref() == Some(hook.id.as_str());
        known_selected |= selected;
        let _ = write!(
            options,
            "<option value=\"{}\"{}>{}</option>",
            esc(hook.id.as_str()),
            if selected { " selected" } else { "" },
            esc(hook.name.as_str())
        );
    }
    if let (false, Some(id)) = (known_selected, &hook_filter) {
        // A deleted hook's trail is still in the log.
        let _ = write!(
            options,
            "<option value=\"{0}\" selected>{0} (deleted)</option>",
            esc(id)
        );
    }
    let mut datalist = String::new();
    for a in &actors {
        let _ = write!(datalist, "<option value=\"{}\"></option>", esc(a));
    }

    let mut body = format!(
        "<div class=\"page-head\"><h1>Logs</h1><p class=\"lede\">Every change, sign-in and Runner use, newest first. Secret names are recorded, never values.</p></div>\
<form method=\"get\" action=\"/logs\" class=\"card filters\" role=\"search\" aria-label=\"Filter the log\">\
<div class=\"field\"><label for=\"filter-hook\">Hook</label><select id=\"filter-hook\" name=\"hook\">{options}</select></div>\
<div class=\"field\"><label for=\"filter-actor\">Actor</label><input id=\"filter-actor\" name=\"actor\" list=\"actors\" value=\"{actor}\" autocomplete=\"off\" placeholder=\"client id or admin:email\"><datalist id=\"actors\">{datalist}</datalist></div>\
<div class=\"filter-buttons\"><button type=\"submit\" class=\"primary\">Filter</button><a class=\"button secondary\" href=\"/logs\">Clear</a></div></form>",
        actor = esc(actor_filter.as_deref().unwrap_or("")),
    );

    if events.is_empty() {
        body.push_str("<p class=\"empty\">No events match.</p>");
    } else {
        body.push_str("<div class=\"table-wrap\"><table class=\"list log\"><caption class=\"sr-only\">Audit events</caption><thead><tr><th scope=\"col\">Time</th><th scope=\"col\">Actor</th><th scope=\"col\">Action</th><th scope=\"col\">Hook</th><th scope=\"col\">Target</th><th scope=\"col\">Secrets</th><th scope=\"col\">Outcome</th></tr></thead><tbody>");
        for stored in &events {
            let e = &stored.event;
            let hook = match &e.hook_id {
                Some(id) => {
                    let label = hook_names.get(id.as_str()).copied().unwrap_or(id.as_str());
                    format!(
                        "<a href=\"/logs?hook={}\">{}</a>",
                        url_component(id),
                        esc(label)
                    )
                }
                None => String::new(),
            };
            let outcome = match e.outcome {
                Outcome::Success => "<span class=\"badge on\">success</span>".to_string(),
                Outcome::Failure => format!(
                    "<span class=\"badge bad\">failure</span> <span class=\"hint\">{}</span>",
                    esc(e.detail.as_deref().unwrap_or(""))
                ),
            };
            let _ = write!(
                body,
                "<tr><td class=\"nowrap\">{at}</td><td><a href=\"/logs?actor={actor_q}\">{actor}</a></td><td><code>{action}</code></td><td>{hook}</td><td>{target}</td><td>{secrets}</td><td>{outcome}</td></tr>",
                at = esc(&html::datetime(e.at)),
                actor_q = url_component(&e.actor),
                actor = esc(&e.actor),
                action = esc(&e.action),
                target = esc(e.target.as_deref().unwrap_or("")),
                secrets = e
                    .secret_names
                    .iter()
                    .map(|n| format!("<code>{}</code>", esc(n)))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
        body.push_str("</tbody></table></div>");
    }

    let mut keep = String::new();
    if let Some(h) = &hook_filter {
        let _ = write!(keep, "hook={}&amp;", url_component(h));
    }
    if let Some(a) = &actor_filter {
        let _ = write!(keep, "actor={}&amp;", url_component(a));
    }
    body.push_str("<nav class=\"pager\" aria-label=\"Pages of the log\">");
    if query.before.is_some() {
        let _ = write!(
            body,
            "<a class=\"button secondary\" href=\"/logs?{}\">Newest</a>",
            keep.trim_end_matches("&amp;")
        );
    }
    if let (true, Some(last)) = (more, events.last()) {
        let _ = write!(
            body,
            "<a class=\"button secondary\" href=\"/logs?{keep}before={}\" rel=\"next\">Older events</a>",
            last.seq
        );
    }
    body.push_str("</nav>");
    render(&admin, &headers, Section::Logs, "Logs", &[], &body)
}
