//! The Hooks list (create, enable/disable, delete) and the Hook editor.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use hookhaven_core::hook::ALL_TRIGGERS;
use hookhaven_core::{Error, Hook, HookFilter, HookId, HookName, HookPatch, TriggerId};

use super::html::{self, esc, Section, Tone};
use super::{
    error_page, error_text, redirect, render, render_status, with_flash, FormData, SignedIn,
};
use crate::service::{self, Actor};
use crate::state::AppState;

fn actor(admin: &SignedIn) -> Actor<'_> {
    Actor {
        id: &admin.actor,
        request_id: None,
    }
}

/// Which tab of a hook's pages is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum HookTab {
    Code,
    Secrets,
    Runner,
    Delete,
}

/// The header of every page about one hook: breadcrumb, name, trigger, state, the wrench
/// menu (Hook settings) and the tabs.
pub(super) fn hook_header(hook: &Hook, tab: HookTab) -> String {
    let id = esc(hook.id.as_str());
    let name = esc(hook.name.as_str());
    let state = if hook.enabled {
        "<span class=\"badge on\">Enabled</span>"
    } else {
        "<span class=\"badge off\">Disabled</span>"
    };
    let current = |t: HookTab| {
        if t == tab {
            " aria-current=\"page\""
        } else {
            ""
        }
    };
    format!(
        "<nav class=\"crumbs\" aria-label=\"Breadcrumb\"><ol><li><a href=\"/hooks\">Hooks</a></li><li><span aria-current=\"location\">{name}</span></li></ol></nav>\
<div class=\"hook-head\"><div><h1>{name}</h1><p class=\"meta\"><span class=\"badge trigger\">{trigger}</span> {state}</p></div>\
<div class=\"menu\" data-menu><button type=\"button\" class=\"icon-button\" aria-label=\"Hook settings\" title=\"Hook settings\" aria-expanded=\"false\" aria-controls=\"hook-menu\" data-menu-button>{wrench}</button>\
<ul class=\"menu-list\" id=\"hook-menu\"><li><a href=\"/hooks/{id}/secrets\"{sec}>Secrets</a></li><li><a href=\"/hooks/{id}/runner\">Runner</a></li><li><a href=\"/hooks/{id}/delete\" class=\"danger-link\">Delete hook</a></li></ul></div></div>\
<nav class=\"tabs\" aria-label=\"Hook\"><ul><li><a href=\"/hooks/{id}\"{code}>Code</a></li><li><a href=\"/hooks/{id}/secrets\"{sec}>Secrets</a></li><li><a href=\"/hooks/{id}/runner\"{run}>Runner</a></li></ul></nav>",
        trigger = esc(hook.trigger_id.as_str()),
        wrench = html::icon_wrench(),
        code = current(HookTab::Code),
        sec = current(HookTab::Secrets),
        run = current(HookTab::Runner),
    )
}

/// Loads a hook named in a path, or answers with a not-found page.
pub(super) async fn load(state: &AppState, raw_id: &str) -> Result<Hook, Response> {
    let id = HookId::parse(raw_id).map_err(|_| not_found())?;
    match state.store.get_hook(&id).await {
        Ok(hook) => Ok(hook),
        Err(Error::HookNotFound) => Err(not_found()),
        Err(e) => Err(error_page(&e)),
    }
}

fn not_found() -> Response {
    error_page(&Error::HookNotFound)
}

fn trigger_options(selected: TriggerId) -> String {
    let mut out = String::new();
    for t in ALL_TRIGGERS {
        let sel = if t == selected { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{0}\"{sel}>{0}</option>", t.as_str());
    }
    out
}

/// `GET /hooks`.
pub async fn list(State(state): State<AppState>, admin: SignedIn, headers: HeaderMap) -> Response {
    list_page(&state, &admin, &headers, StatusCode::OK, &[], None).await
}

/// What the create form held when it failed, to show it again.
struct CreateForm<'a> {
    name: &'a str,
    trigger: TriggerId,
    script: &'a str,
}

async fn list_page(
    state: &AppState,
    admin: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    notices: &[(Tone, String)],
    form: Option<CreateForm<'_>>,
) -> Response {
    let hooks = match state.store.list_hooks(&HookFilter::default(), None).await {
        Ok((hooks, _)) => hooks,
        Err(e) => return error_page(&e),
    };
    let csrf = html::csrf_field(admin.csrf());
    let mut body = String::from(
        "<div class=\"page-head\"><h1>Hooks</h1><p class=\"lede\">Code that runs at the five extensibility points. One hook per trigger can be enabled.</p></div>",
    );
    if hooks.is_empty() {
        body.push_str("<p class=\"empty\">No hooks yet. Create the first one below.</p>");
    } else {
        body.push_str("<div class=\"table-wrap\"><table class=\"list\"><caption class=\"sr-only\">Hooks</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Trigger</th><th scope=\"col\">State</th><th scope=\"col\"><span class=\"sr-only\">Actions</span></th></tr></thead><tbody>");
        for hook in &hooks {
            let id = esc(hook.id.as_str());
            let name = esc(hook.name.as_str());
            let (badge, toggle_value, toggle_label) = if hook.enabled {
                (
                    "<span class=\"badge on\">Enabled</span>",
                    "false",
                    "Disable",
                )
            } else {
                (
                    "<span class=\"badge off\">Disabled</span>",
                    "true",
                    "Enable",
                )
            };
            let _ = write!(
                body,
                "<tr><td><a class=\"strong\" href=\"/hooks/{id}\" id=\"hook-name-{id}\">{name}</a></td><td><code>{trigger}</code></td>\
<td class=\"state\">{badge}<form method=\"post\" action=\"/hooks/{id}/enabled\" class=\"inline\">{csrf}<input type=\"hidden\" name=\"enabled\" value=\"{toggle_value}\"><button type=\"submit\" class=\"small secondary\" aria-describedby=\"hook-name-{id}\">{toggle_label}</button></form></td>\
<td class=\"actions\"><a class=\"icon-button\" href=\"/hooks/{id}\" aria-label=\"Edit hook\" title=\"Edit hook\" aria-describedby=\"hook-name-{id}\">{pencil}</a>\
<a class=\"icon-button danger\" href=\"/hooks/{id}/delete\" aria-label=\"Delete hook\" title=\"Delete hook\" aria-describedby=\"hook-name-{id}\">{trash}</a></td></tr>",
                trigger = esc(hook.trigger_id.as_str()),
                pencil = html::icon_pencil(),
                trash = html::icon_trash(),
            );
        }
        body.push_str("</tbody></table></div>");
    }

    let form = form.unwrap_or(CreateForm {
        name: "",
        trigger: TriggerId::CredentialsExchange,
        script: "",
    });
    let script = if super::starters::is_untouched(form.script) {
        super::starters::starter(form.trigger)
    } else {
        form.script
    };
    let mut templates = String::new();
    for t in ALL_TRIGGERS {
        let _ = write!(
            templates,
            "<template id=\"starter-{}\">{}</template>",
            t.as_str(),
            esc(super::starters::starter(t))
        );
    }
    let _ = write!(
        body,
        "<section class=\"card\" aria-labelledby=\"create-heading\"><h2 id=\"create-heading\">Create hook</h2>\
<form method=\"post\" action=\"/hooks\" class=\"stack\">{csrf}\
<div class=\"row\"><div class=\"field\"><label for=\"new-name\">Name</label><input id=\"new-name\" name=\"name\" required maxlength=\"128\" value=\"{name}\" aria-describedby=\"new-name-hint\"><p class=\"hint\" id=\"new-name-hint\">Letters, digits, spaces and hyphens.</p></div>\
<div class=\"field\"><label for=\"new-trigger\">Trigger</label><select id=\"new-trigger\" name=\"triggerId\" data-starter-select=\"new-script\">{options}</select></div></div>\
<div class=\"field\"><label for=\"new-script\">Starter script</label><div class=\"code-editor\" data-editor><textarea id=\"new-script\" name=\"script\" rows=\"12\" spellcheck=\"false\" autocapitalize=\"off\" autocomplete=\"off\" wrap=\"off\" aria-describedby=\"new-script-hint\">{script}</textarea></div><p class=\"hint\" id=\"new-script-hint\">Each trigger has its own starter. New hooks start disabled.</p></div>\
{templates}<div><button type=\"submit\" class=\"primary\">Create hook</button></div></form></section>",
        name = esc(form.name),
        options = trigger_options(form.trigger),
        script = esc(script),
    );
    render_status(
        status,
        admin,
        headers,
        Section::Hooks,
        "Hooks",
        notices,
        &body,
    )
}

/// `POST /hooks`: creates a disabled hook and opens it in the editor.
pub async fn create(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(refused) = admin.check_csrf(&form) {
        return refused;
    }
    let name = form.get("name").unwrap_or("").trim();
    let Some(trigger) = form.get("triggerId").and_then(TriggerId::parse) else {
        return list_page(
            &state,
            &admin,
            &headers,
            StatusCode::BAD_REQUEST,
            &[(Tone::Error, "Choose a trigger.".into())],
            None,
        )
        .await;
    };
    let raw_script = form.get("script").unwrap_or("");
    let script = if super::starters::is_untouched(raw_script) {
        super::starters::starter(trigger).to_string()
    } else {
        raw_script.replace("\r\n", "\n")
    };
    match service::create_hook(&state, actor(&admin), name, trigger, script.clone(), false).await {
        Ok((hook, _)) => with_flash(
            redirect(&format!("/hooks/{}", hook.id)),
            Tone::Success,
            &format!(
                "Created hook {}. It is disabled until you enable it in the Hooks list.",
                hook.name.as_str()
            ),
            admin.secure,
        ),
        Err(e) => {
            list_page(
                &state,
                &admin,
                &headers,
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                &[(Tone::Error, error_text(&e))],
                Some(CreateForm {
                    name,
                    trigger,
                    script: &script,
                }),
            )
            .await
        }
    }
}

/// `POST /hooks/{id}/enabled`: enables or disables; says so when enabling turned another
/// hook off (D2).
pub async fn set_enabled(
    State(state): State<AppState>,
    admin: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(refused) = admin.check_csrf(&form) {
        return refused;
    }
    let hook = match load(&state, &id).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let enabled = form.get("enabled") == Some("true");
    let patch = HookPatch {
        enabled: Some(enabled),
        ..HookPatch::default()
    };
    let back = redirect("/hooks");
    match service::update_hook(&state, actor(&admin), &hook.id, patch).await {
        Ok((hook, disabled)) => {
            let mut text = if enabled {
                format!("Enabled hook {}.", hook.name.as_str())
            } else {
                format!("Disabled hook {}.", hook.name.as_str())
            };
            if let Some(other) = disabled {
                let other_name = state
                    .store
                    .get_hook(&other)
                    .await
                    .map(|h| h.name.as_str().to_string())
                    .unwrap_or_else(|_| other.to_string());
                text.push_str(&format!(
                    " Hook {other_name} was disabled: only one hook per trigger ({}) can be enabled.",
                    hook.trigger_id.as_str()
                ));
            }
            with_flash(back, Tone::Success, &text, admin.secure)
        }
        Err(e) => with_flash(back, Tone::Error, &error_text(&e), admin.secure),
    }
}

/// `GET /hooks/{id}/delete`: asks for confirmation.
pub async fn confirm_delete(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let hook = match load(&state, &id).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let body = format!(
        "{header}<section class=\"card confirm\" aria-labelledby=\"confirm-heading\"><h2 id=\"confirm-heading\">Delete hook {name}?</h2>\
<p>The hook, its script and its secrets are deleted. This cannot be undone.</p>\
<form method=\"post\" action=\"/hooks/{id}/delete\" class=\"actions-row\">{csrf}<button type=\"submit\" class=\"danger\">Delete hook</button><a class=\"button secondary\" href=\"/hooks\">Cancel</a></form></section>",
        header = hook_header(&hook, HookTab::Delete),
        name = esc(hook.name.as_str()),
        id = esc(hook.id.as_str()),
        csrf = html::csrf_field(admin.csrf()),
    );
    render(
        &admin,
        &headers,
        Section::Hooks,
        &format!("Delete {}", hook.name.as_str()),
        &[],
        &body,
    )
}

/// `POST /hooks/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    admin: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(refused) = admin.check_csrf(&form) {
        return refused;
    }
    let hook = match load(&state, &id).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    match service::delete_hook(&state, actor(&admin), &hook.id).await {
        Ok(()) => with_flash(
            redirect("/hooks"),
            Tone::Success,
            &format!("Deleted hook {}.", hook.name.as_str()),
            admin.secure,
        ),
        Err(e) => with_flash(
            redirect("/hooks"),
            Tone::Error,
            &error_text(&e),
            admin.secure,
        ),
    }
}

/// A compile error to show under the editor, with its position.
struct ScriptError {
    line: u32,
    column: u32,
    message: String,
}

fn editor_page(
    admin: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    hook: &Hook,
    fields: (&str, &str, &str),
    error: Option<ScriptError>,
    notices: &[(Tone, String)],
) -> Response {
    let (name, script, deps) = fields;
    let id = esc(hook.id.as_str());
    let (error_html, described, error_attrs) = match &error {
        Some(e) => (
            format!(
                "<p class=\"field-error\" id=\"script-error\" role=\"alert\">Line {}, column {}: {}</p>",
                e.line,
                e.column,
                esc(&e.message)
            ),
            " aria-describedby=\"script-error\" aria-invalid=\"true\"",
            format!(" data-error-line=\"{}\"", e.line),
        ),
        None => (String::new(), "", String::new()),
    };
    let body = format!(
        "{header}<form method=\"post\" action=\"/hooks/{id}\" class=\"stack editor-form\">{csrf}\
<div class=\"field\"><label for=\"hook-name\">Name</label><input id=\"hook-name\" name=\"name\" required maxlength=\"128\" value=\"{name}\"></div>\
<div class=\"field\"><label for=\"hook-script\">Script</label><div class=\"code-editor tall\" data-editor{error_attrs}><textarea id=\"hook-script\" name=\"script\" rows=\"24\" spellcheck=\"false\" autocapitalize=\"off\" autocomplete=\"off\" wrap=\"off\"{described}>{script}</textarea></div>{error_html}\
<p class=\"hint\">Tab moves to the next field; indent with spaces. Read secrets as <code>context.webtask.secrets.NAME</code>.</p></div>\
<div class=\"field\"><label for=\"hook-deps\">Dependencies</label><textarea id=\"hook-deps\" name=\"dependencies\" rows=\"3\" class=\"mono\" spellcheck=\"false\" aria-describedby=\"deps-hint\">{deps}</textarea><p class=\"hint\" id=\"deps-hint\">A JSON object of npm package names to versions, e.g. <code>{{\"lodash\": \"4.17.21\"}}</code>. Stored and returned as on Auth0; <code>require</code> resolves built-in modules only.</p></div>\
<div class=\"actions-row\"><button type=\"submit\" class=\"primary\">Save</button></div></form>",
        header = hook_header(hook, HookTab::Code),
        csrf = html::csrf_field(admin.csrf()),
        name = esc(name),
        script = esc(script),
        deps = esc(deps),
    );
    render_status(
        status,
        admin,
        headers,
        Section::Hooks,
        hook.name.as_str(),
        notices,
        &body,
    )
}

fn deps_json(deps: &BTreeMap<String, String>) -> String {
    if deps.is_empty() {
        "{}".into()
    } else {
        serde_json::to_string_pretty(deps).unwrap_or_else(|_| "{}".into())
    }
}

/// `GET /hooks/{id}`: the Hook editor.
pub async fn editor(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let hook = match load(&state, &id).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let deps = deps_json(&hook.dependencies);
    editor_page(
        &admin,
        &headers,
        StatusCode::OK,
        &hook,
        (hook.name.as_str(), &hook.script, &deps),
        None,
        &[],
    )
}

/// Compiles a script off the async workers, for the editor's error with its position.
async fn compile(state: &AppState, script: &str) -> Result<(), ScriptError> {
    let runtime = state.executor.runtime().clone();
    let source = script.to_string();
    match tokio::task::spawn_blocking(move || runtime.compile(&source)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(ScriptError {
            line: e.line,
            column: e.column,
            message: e.message,
        }),
        Err(_) => Err(ScriptError {
            line: 1,
            column: 1,
            message: "the script could not be compiled".into(),
        }),
    }
}

/// `POST /hooks/{id}`: saves name, script and dependencies.
pub async fn save(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(refused) = admin.check_csrf(&form) {
        return refused;
    }
    let hook = match load(&state, &id).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let name = form.get("name").unwrap_or("").trim().to_string();
    let script = form.get("script").unwrap_or("").replace("\r\n", "\n");
    let deps_raw = form.get("dependencies").unwrap_or("").trim().to_string();
    let fail = |status: StatusCode, error: Option<ScriptError>, message: Option<String>| {
        let notices: Vec<(Tone, String)> = message.into_iter().map(|m| (Tone::Error, m)).collect();
        editor_page(
            &admin,
            &headers,
            status,
            &hook,
            (&name, &script, &deps_raw),
            error,
            &notices,
        )
    };

    let dependencies: BTreeMap<String, String> =
        if deps_raw.is_empty() {
            BTreeMap::new()
        } else {
            match serde_json::from_str(&deps_raw) {
                Ok(d) => d,
                Err(_) => return fail(
                    StatusCode::BAD_REQUEST,
                    None,
                    Some(
                        "Dependencies must be a JSON object of package names to version strings."
                            .into(),
                    ),
                ),
            }
        };
    let parsed_name = match HookName::parse(&name) {
        Ok(n) => n,
        Err(e) => return fail(StatusCode::BAD_REQUEST, None, Some(error_text(&e))),
    };
    if script.trim().is_empty() {
        return fail(
            StatusCode::BAD_REQUEST,
            None,
            Some("The script must not be empty.".into()),
        );
    }
    if let Err(e) = compile(&state, &script).await {
        return fail(
            StatusCode::BAD_REQUEST,
            Some(e),
            Some("The script does not compile; nothing was saved.".into()),
        );
    }
    let patch = HookPatch {
        name: Some(parsed_name),
        script: Some(script.clone()),
        dependencies: Some(dependencies),
        enabled: None,
    };
    match service::update_hook(&state, actor(&admin), &hook.id, patch).await {
        Ok((saved, _)) => with_flash(
            redirect(&format!("/hooks/{}", saved.id)),
            Tone::Success,
            &format!("Saved hook {}.", saved.name.as_str()),
            admin.secure,
        ),
        Err(e) => fail(
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            None,
            Some(error_text(&e)),
        ),
    }
}
