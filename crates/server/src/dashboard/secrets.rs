//! The Secrets panel: names only, never a value. Add, edit (rename and/or new value,
//! atomically), delete with confirmation, and the 20-secret limit.

use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use hookhaven_core::{Error, Hook, SecretName, SecretValue, MAX_SECRETS_PER_HOOK};
use hookhaven_store::SecretEntry;
use serde::Deserialize;

use super::hooks::{hook_header, load, HookTab};
use super::html::{self, esc, url_component, Section, Tone};
use super::{error_page, error_text, redirect, render_status, with_flash, FormData, SignedIn};
use crate::service::{self, Actor};
use crate::state::AppState;

/// `?edit=NAME` opens a row's edit form; `?delete=NAME` asks to confirm a deletion.
#[derive(Debug, Default, Deserialize)]
pub struct PanelQuery {
    edit: Option<String>,
    delete: Option<String>,
}

/// A form that failed, shown again: which row, the name typed, the message. The value
/// typed is never sent back.
struct Failed {
    original: Option<String>,
    name: String,
    message: String,
}

fn secrets_url(hook: &Hook) -> String {
    format!("/hooks/{}/secrets", hook.id)
}

#[allow(clippy::too_many_arguments)]
fn panel_page(
    admin: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    hook: &Hook,
    secrets: &[SecretEntry],
    editing: Option<&str>,
    deleting: Option<&str>,
    failed: Option<Failed>,
) -> Response {
    let id = esc(hook.id.as_str());
    let csrf = html::csrf_field(admin.csrf());
    let count = secrets.len();
    let full = count >= MAX_SECRETS_PER_HOOK;
    let mut body = hook_header(hook, HookTab::Secrets);
    let _ = write!(
        body,
        "<section aria-labelledby=\"secrets-heading\"><div class=\"section-head\"><h2 id=\"secrets-heading\">Secrets</h2>\
<p class=\"limit{full_class}\" id=\"secret-limit\"><strong>{count}</strong> of {max} secrets<span class=\"bar\" aria-hidden=\"true\"><span class=\"fill w{pct}\"></span></span></p></div>\
<p class=\"hint\">Values are write-only: once saved they are never shown again, here or in the API. Hook code reads them as <code>context.webtask.secrets.NAME</code>.</p>",
        full_class = if full { " full" } else { "" },
        max = MAX_SECRETS_PER_HOOK,
        pct = (count * 20 / MAX_SECRETS_PER_HOOK) * 5,
    );
    let (edit_failed, add_failed) = match failed {
        Some(f) if f.original.is_some() => (Some(f), None),
        Some(f) => (None, Some(f)),
        None => (None, None),
    };
    let editing = edit_failed
        .as_ref()
        .and_then(|f| f.original.as_deref())
        .or(editing);

    if secrets.is_empty() {
        body.push_str("<p class=\"empty\">This hook has no secrets yet.</p>");
    } else {
        body.push_str("<div class=\"table-wrap\"><table class=\"list secrets\" aria-labelledby=\"secrets-heading\"><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Value</th><th scope=\"col\"><span class=\"sr-only\">Actions</span></th></tr></thead><tbody>");
        for (i, secret) in secrets.iter().enumerate() {
            let name = secret.name.as_str();
            let value_cell = if secret.is_set {
                "<span class=\"masked\" role=\"img\" aria-label=\"hidden\">••••••••</span>"
            } else {
                "<span class=\"badge warn\">not set</span>"
            };
            if editing == Some(name) {
                let (typed, message) = match &edit_failed {
                    Some(f) => (f.name.as_str(), Some(f.message.as_str())),
                    None => (name, None),
                };
                let error = message
                    .map(|m| {
                        format!(
                            "<p class=\"field-error\" id=\"edit-error\" role=\"alert\">{}</p>",
                            esc(m)
                        )
                    })
                    .unwrap_or_default();
                let invalid = if message.is_some() {
                    " aria-invalid=\"true\" aria-describedby=\"edit-error\""
                } else {
                    ""
                };
                let _ = write!(
                    body,
                    "<tr class=\"editing\"><td colspan=\"3\"><form method=\"post\" action=\"/hooks/{id}/secrets/edit\" class=\"edit-secret\" id=\"edit-secret\">{csrf}\
<input type=\"hidden\" name=\"original\" value=\"{orig}\"><h3 class=\"sr-only\">Edit secret {orig}</h3>\
<div class=\"field\"><label for=\"edit-secret-name\">Name</label><input id=\"edit-secret-name\" name=\"name\" required maxlength=\"255\" value=\"{typed}\" autofocus{invalid}></div>\
<div class=\"field\"><label for=\"edit-secret-value\">New value</label><input id=\"edit-secret-value\" name=\"value\" type=\"password\" autocomplete=\"new-password\" placeholder=\"Leave empty to keep the current value\" aria-describedby=\"edit-value-hint\"><p class=\"hint\" id=\"edit-value-hint\">Leave empty to keep the current value. Name and value are saved together.</p></div>\
{error}<div class=\"actions-row\"><button type=\"submit\" class=\"primary\">Save</button><a class=\"button secondary\" href=\"/hooks/{id}/secrets\">Cancel</a></div></form></td></tr>",
                    orig = esc(name),
                    typed = esc(typed),
                );
                continue;
            }
            let _ = write!(
                body,
                "<tr><td><span class=\"secret-name\">{key}<code id=\"secret-name-{i}\">{name}</code></span></td>\
<td><span class=\"value-cell\">{value_cell}<a class=\"icon-button\" href=\"/hooks/{id}/secrets?edit={q}\" aria-label=\"Edit secret\" title=\"Edit secret\" aria-describedby=\"secret-name-{i}\">{pencil}</a></span></td>\
<td class=\"actions\"><a class=\"icon-button danger\" href=\"/hooks/{id}/secrets?delete={q}\" aria-label=\"Delete secret\" title=\"Delete secret\" aria-describedby=\"secret-name-{i}\">{trash}</a></td></tr>",
                key = html::icon_key(),
                name = esc(name),
                q = url_component(name),
                pencil = html::icon_pencil_paper(),
                trash = html::icon_trash(),
            );
            if deleting == Some(name) {
                let _ = write!(
                    body,
                    "<tr class=\"confirm-row\"><td colspan=\"3\"><form method=\"post\" action=\"/hooks/{id}/secrets/delete\" id=\"confirm-delete\" class=\"confirm\" aria-labelledby=\"confirm-delete-text\">{csrf}\
<input type=\"hidden\" name=\"name\" value=\"{name}\"><p id=\"confirm-delete-text\">Delete secret <code>{name}</code>? Hook code that reads it will get <code>undefined</code>.</p>\
<div class=\"actions-row\"><button type=\"submit\" class=\"danger\" autofocus>Delete secret</button><a class=\"button secondary\" href=\"/hooks/{id}/secrets\">Cancel</a></div></form></td></tr>",
                    name = esc(name),
                );
            }
        }
        body.push_str("</tbody></table></div>");
    }

    let add_error = add_failed
        .as_ref()
        .map(|f| {
            format!(
                "<p class=\"field-error\" id=\"add-error\" role=\"alert\">{}</p>",
                esc(&f.message)
            )
        })
        .unwrap_or_default();
    let add_name = add_failed.as_ref().map(|f| f.name.as_str()).unwrap_or("");
    if full {
        let _ = write!(
            body,
            "<div class=\"card\"><h3>Add secret</h3><p class=\"notice-inline\" id=\"limit-reached\">This hook has {MAX_SECRETS_PER_HOOK} secrets, the most a hook can have. Delete one to add another.</p></div>"
        );
    } else {
        let _ = write!(
            body,
            "<form method=\"post\" action=\"/hooks/{id}/secrets\" class=\"card stack\" aria-labelledby=\"add-heading\">{csrf}<h3 id=\"add-heading\">Add secret</h3>\
<div class=\"row\"><div class=\"field\"><label for=\"add-secret-name\">Name</label><input id=\"add-secret-name\" name=\"name\" required maxlength=\"255\" value=\"{add_name}\" autocomplete=\"off\"></div>\
<div class=\"field\"><label for=\"add-secret-value\">Value</label><input id=\"add-secret-value\" name=\"value\" type=\"password\" autocomplete=\"new-password\"></div></div>\
{add_error}<div><button type=\"submit\" class=\"primary\">Add secret</button></div></form>",
            add_name = esc(add_name),
        );
    }
    body.push_str("</section>");
    render_status(
        status,
        admin,
        headers,
        Section::Hooks,
        &format!("Secrets of {}", hook.name.as_str()),
        &[],
        &body,
    )
}

async fn show(
    state: &AppState,
    admin: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    hook: &Hook,
    query: &PanelQuery,
    failed: Option<Failed>,
) -> Response {
    let secrets = match state.store.list_secrets(&hook.id).await {
        Ok(s) => s,
        Err(e) => return error_page(&e),
    };
    panel_page(
        admin,
        headers,
        status,
        hook,
        &secrets,
        query.edit.as_deref(),
        query.delete.as_deref(),
        failed,
    )
}

/// `GET /hooks/{id}/secrets`.
pub async fn panel(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(query): Query<PanelQuery>,
) -> Response {
    let hook = match load(&state, &id).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    show(
        &state,
        &admin,
        &headers,
        StatusCode::OK,
        &hook,
        &query,
        None,
    )
    .await
}

fn actor(admin: &SignedIn) -> Actor<'_> {
    Actor {
        id: &admin.actor,
        request_id: None,
    }
}

fn status_of(e: &Error) -> StatusCode {
    StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST)
}

/// `POST /hooks/{id}/secrets`: adds one secret.
pub async fn add(
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
    let raw_name = form.get("name").unwrap_or("").trim();
    let result = async {
        let name = SecretName::parse(raw_name)?;
        let value = SecretValue::new(form.get("value").unwrap_or("").to_string())?;
        service::add_secret(&state, actor(&admin), &hook.id, &name, &value).await?;
        Ok::<_, Error>(name)
    }
    .await;
    match result {
        Ok(name) => with_flash(
            redirect(&secrets_url(&hook)),
            Tone::Success,
            &format!("Added secret {}.", name.as_str()),
            admin.secure,
        ),
        Err(e) => {
            let failed = Failed {
                original: None,
                name: raw_name.to_string(),
                message: error_text(&e),
            };
            show(
                &state,
                &admin,
                &headers,
                status_of(&e),
                &hook,
                &PanelQuery::default(),
                Some(failed),
            )
            .await
        }
    }
}

/// `POST /hooks/{id}/secrets/edit`: the pencil-and-paper form's Save. A new name and a
/// new value are applied together, in one transaction; an empty value keeps the current
/// one.
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
    let original = form.get("original").unwrap_or("").to_string();
    let raw_name = form.get("name").unwrap_or("").trim().to_string();
    let raw_value = form.get("value").unwrap_or("");
    let result = async {
        let from = SecretName::parse(&original)?;
        let to = SecretName::parse(&raw_name)?;
        let value = if raw_value.is_empty() {
            None
        } else {
            Some(SecretValue::new(raw_value.to_string())?)
        };
        service::rename_secret(&state, actor(&admin), &hook.id, &from, &to, value.as_ref()).await?;
        Ok::<_, Error>((from, to, value.is_some()))
    }
    .await;
    match result {
        Ok((from, to, new_value)) => {
            let text = match (from == to, new_value) {
                (true, true) => format!("Saved a new value for secret {}.", to.as_str()),
                (true, false) => format!("Secret {} is unchanged.", to.as_str()),
                (false, true) => format!(
                    "Renamed secret {} to {} and saved its new value.",
                    from.as_str(),
                    to.as_str()
                ),
                (false, false) => format!(
                    "Renamed secret {} to {}; its value is kept.",
                    from.as_str(),
                    to.as_str()
                ),
            };
            with_flash(
                redirect(&secrets_url(&hook)),
                Tone::Success,
                &text,
                admin.secure,
            )
        }
        Err(Error::SecretNotFound(_)) => with_flash(
            redirect(&secrets_url(&hook)),
            Tone::Error,
            &format!("Secret {original} no longer exists."),
            admin.secure,
        ),
        Err(e) => {
            let failed = Failed {
                original: Some(original),
                name: raw_name,
                message: format!("{} Nothing was changed.", error_text(&e)),
            };
            show(
                &state,
                &admin,
                &headers,
                status_of(&e),
                &hook,
                &PanelQuery::default(),
                Some(failed),
            )
            .await
        }
    }
}

/// `POST /hooks/{id}/secrets/delete`: after the confirmation.
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
    let back = redirect(&secrets_url(&hook));
    let name = match SecretName::parse(form.get("name").unwrap_or("")) {
        Ok(n) => n,
        Err(e) => return with_flash(back, Tone::Error, &error_text(&e), admin.secure),
    };
    match service::delete_secret(&state, actor(&admin), &hook.id, &name).await {
        Ok(()) => with_flash(
            back,
            Tone::Success,
            &format!("Deleted secret {}.", name.as_str()),
            admin.secure,
        ),
        Err(e) => with_flash(back, Tone::Error, &error_text(&e), admin.secure),
    }
}
