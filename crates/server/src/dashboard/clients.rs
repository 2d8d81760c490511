//! Machine-to-machine applications: list, create with scope checkboxes (the secret shown
//! exactly once, with a copy button), rotate the secret, delete.

use std::collections::HashMap;
use std::fmt::Write;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use hookhaven_core::{Client, Error, Scope, ALL_SCOPES};
use hookhaven_store::GrantFilter;
use serde::Deserialize;

use super::html::{self, esc, url_component, Section, Tone};
use super::{error_page, error_text, redirect, render_status, with_flash, FormData, SignedIn};
use crate::service::{self, Actor};
use crate::state::AppState;

/// `?confirm=rotate|delete&client=ID` asks before a rotation or a deletion.
#[derive(Debug, Default, Deserialize)]
pub struct ClientsQuery {
    confirm: Option<String>,
    client: Option<String>,
}

/// A secret to show once, right after it was made.
struct Revealed<'a> {
    client: &'a Client,
    secret: &'a str,
    rotated: bool,
}

fn scope_help(scope: Scope) -> &'static str {
    match scope {
        Scope::ReadHooks => "read hooks and secret names",
        Scope::CreateHooks => "create hooks and secrets",
        Scope::UpdateHooks => "change hooks and secrets, use the Runner",
        Scope::DeleteHooks => "delete hooks and secrets",
        Scope::ReadClients => "list applications",
        Scope::CreateClients => "create applications",
        Scope::DeleteClients => "delete applications",
        Scope::ReadClientGrants => "read client grants",
        Scope::CreateClientGrants => "create client grants",
        Scope::DeleteClientGrants => "delete client grants",
        Scope::ExecuteHooks => "invoke a trigger's enabled hook",
        Scope::UpdateClientKeys => "rotate client secrets",
        Scope::UpdateKeys => "see master-key status, re-seal values",
    }
}

#[allow(clippy::too_many_arguments)]
async fn clients_page(
    state: &AppState,
    admin: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    query: &ClientsQuery,
    revealed: Option<Revealed<'_>>,
    notices: &[(Tone, String)],
    form_name: &str,
) -> Response {
    let clients = match state.store.list_clients(None).await {
        Ok((c, _)) => c,
        Err(e) => return error_page(&e),
    };
    let grants = match state.store.list_grants(&GrantFilter::default(), None).await {
        Ok((g, _)) => g,
        Err(e) => return error_page(&e),
    };
    let mut scopes_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for grant in &grants {
        scopes_of
            .entry(grant.client_id.as_str())
            .or_default()
            .extend(grant.scope.iter().map(|s| s.as_str()));
    }
    let csrf = html::csrf_field(admin.csrf());
    let mut body = String::from(
        "<div class=\"page-head\"><h1>Machine-to-machine applications</h1><p class=\"lede\">Clients that get Management API tokens from <code>/oauth/token</code> with the client-credentials grant.</p></div>",
    );

    if let Some(r) = revealed {
        let _ = write!(
            body,
            "<section class=\"card reveal\" aria-labelledby=\"reveal-heading\" data-focus-on-load><h2 id=\"reveal-heading\" tabindex=\"-1\">{what} {name}</h2>\
<p><strong>Copy the client secret now.</strong> It is shown only this once; Hookhaven keeps only a hash of it.</p>\
<dl class=\"kv\"><dt>Client ID</dt><dd><code id=\"new-client-id\">{id}</code></dd></dl>\
<div class=\"field\"><label for=\"new-client-secret\">Client secret</label><div class=\"copy-row\"><input id=\"new-client-secret\" readonly value=\"{secret}\" class=\"mono\" autocomplete=\"off\" spellcheck=\"false\">\
<button type=\"button\" class=\"secondary with-icon\" data-copy=\"new-client-secret\">{copy}<span>Copy</span></button></div><p class=\"hint\" role=\"status\" data-copy-status></p></div></section>",
            what = if r.rotated { "New secret for" } else { "Created" },
            name = esc(&r.client.name),
            id = esc(&r.client.client_id),
            secret = esc(r.secret),
            copy = html::icon_copy(),
        );
    }

    if clients.is_empty() {
        body.push_str("<p class=\"empty\">No applications.</p>");
    } else {
        body.push_str("<div class=\"table-wrap\"><table class=\"list\"><caption class=\"sr-only\">Applications</caption><thead><tr><th scope=\"col\">Name</th><th scope=\"col\">Client ID</th><th scope=\"col\">Scopes</th><th scope=\"col\">Created</th><th scope=\"col\"><span class=\"sr-only\">Actions</span></th></tr></thead><tbody>");
        for (i, client) in clients.iter().enumerate() {
            let id = esc(&client.client_id);
            let q = url_component(&client.client_id);
            let scopes = scopes_of
                .get(client.client_id.as_str())
                .map(|s| {
                    s.iter()
                        .map(|x| format!("<code>{}</code>", esc(x)))
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "<span class=\"hint\">none</span>".into());
            let _ = write!(
                body,
                "<tr><td><span class=\"strong\" id=\"client-name-{i}\">{name}</span></td><td><code>{id}</code></td><td class=\"scopes\">{scopes}</td><td class=\"nowrap\">{created}</td>\
<td class=\"actions\"><a class=\"icon-button\" href=\"/clients?confirm=rotate&amp;client={q}\" aria-label=\"Rotate secret\" title=\"Rotate secret\" aria-describedby=\"client-name-{i}\">{rotate}</a>\
<a class=\"icon-button danger\" href=\"/clients?confirm=delete&amp;client={q}\" aria-label=\"Delete application\" title=\"Delete application\" aria-describedby=\"client-name-{i}\">{trash}</a></td></tr>",
                name = esc(&client.name),
                created = esc(&html::datetime(client.created_at)),
                rotate = html::icon_rotate(),
                trash = html::icon_trash(),
            );
            if query.client.as_deref() == Some(client.client_id.as_str()) {
                let (action, question, button, class) = match query.confirm.as_deref() {
                    Some("rotate") => {
                        ("rotate", "Rotate the secret of", "Rotate secret", "primary")
                    }
                    Some("delete") => ("delete", "Delete", "Delete application", "danger"),
                    _ => continue,
                };
                let consequence = if action == "rotate" {
                    "The current secret stops working at once; tokens already issued stay valid until they expire."
                } else {
                    "It can no longer get tokens; tokens already issued stay valid until they expire."
                };
                let _ = write!(
                    body,
                    "<tr class=\"confirm-row\"><td colspan=\"5\"><form method=\"post\" action=\"/clients/{q}/{action}\" id=\"confirm\" class=\"confirm\" aria-labelledby=\"confirm-text\">{csrf}\
<p id=\"confirm-text\">{question} <strong>{name}</strong>? {consequence}</p><div class=\"actions-row\"><button type=\"submit\" class=\"{class}\" autofocus>{button}</button><a class=\"button secondary\" href=\"/clients\">Cancel</a></div></form></td></tr>",
                    name = esc(&client.name),
                );
            }
        }
        body.push_str("</tbody></table></div>");
    }

    let mut boxes = String::new();
    for scope in ALL_SCOPES {
        let s = scope.as_str();
        let slug = s.replace(':', "-");
        let _ = write!(
            boxes,
            "<li><input type=\"checkbox\" id=\"scope-{slug}\" name=\"scope\" value=\"{s}\"><label for=\"scope-{slug}\"><code>{s}</code> <span class=\"hint\">{help}</span></label></li>",
            help = esc(scope_help(scope)),
        );
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/clients\" class=\"card stack\" aria-labelledby=\"create-client-heading\">{csrf}<h2 id=\"create-client-heading\">Create application</h2>\
<div class=\"field\"><label for=\"client-name\">Name</label><input id=\"client-name\" name=\"name\" required maxlength=\"255\" value=\"{form_name}\"></div>\
<fieldset><legend>Scopes on the Management API</legend><ul class=\"checks\">{boxes}</ul></fieldset>\
<div><button type=\"submit\" class=\"primary\">Create application</button></div></form>",
        form_name = esc(form_name),
    );
    render_status(
        status,
        admin,
        headers,
        Section::Clients,
        "Applications",
        notices,
        &body,
    )
}

/// `GET /clients`.
pub async fn list(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Query(query): Query<ClientsQuery>,
) -> Response {
    clients_page(
        &state,
        &admin,
        &headers,
        StatusCode::OK,
        &query,
        None,
        &[],
        "",
    )
    .await
}

fn actor(admin: &SignedIn) -> Actor<'_> {
    Actor {
        id: &admin.actor,
        request_id: None,
    }
}

/// `POST /clients`: creates the client and shows its secret, once. The answer is this
/// page itself (not a redirect), so the secret is never stored to be shown later.
pub async fn create(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(refused) = admin.check_csrf(&form) {
        return refused;
    }
    let name = form.get("name").unwrap_or("").trim().to_string();
    let scopes: Vec<Scope> = form.all("scope").filter_map(Scope::parse).collect();
    match service::create_client(&state, actor(&admin), &name, "", scopes).await {
        Ok(created) => {
            let revealed = Revealed {
                client: &created.client,
                secret: created.secret.as_str(),
                rotated: false,
            };
            clients_page(
                &state,
                &admin,
                &headers,
                StatusCode::OK,
                &ClientsQuery::default(),
                Some(revealed),
                &[],
                "",
            )
            .await
        }
        Err(e) => {
            clients_page(
                &state,
                &admin,
                &headers,
                StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                &ClientsQuery::default(),
                None,
                &[(Tone::Error, error_text(&e))],
                &name,
            )
            .await
        }
    }
}

/// `POST /clients/{id}/rotate`: a new secret, shown once.
pub async fn rotate(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(refused) = admin.check_csrf(&form) {
        return refused;
    }
    let result = async {
        let client = state.store.get_client(&id).await?;
        let secret = service::rotate_client_secret(&state, actor(&admin), &id).await?;
        Ok::<_, Error>((client, secret))
    }
    .await;
    match result {
        Ok((client, secret)) => {
            let revealed = Revealed {
                client: &client,
                secret: secret.as_str(),
                rotated: true,
            };
            clients_page(
                &state,
                &admin,
                &headers,
                StatusCode::OK,
                &ClientsQuery::default(),
                Some(revealed),
                &[],
                "",
            )
            .await
        }
        Err(e) => with_flash(
            redirect("/clients"),
            Tone::Error,
            &error_text(&e),
            admin.secure,
        ),
    }
}

/// `POST /clients/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    admin: SignedIn,
    Path(id): Path<String>,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(refused) = admin.check_csrf(&form) {
        return refused;
    }
    let name = state
        .store
        .get_client(&id)
        .await
        .map(|c| c.name)
        .unwrap_or_else(|_| id.clone());
    match service::delete_client(&state, actor(&admin), &id).await {
        Ok(()) => with_flash(
            redirect("/clients"),
            Tone::Success,
            &format!("Deleted application {name}."),
            admin.secure,
        ),
        Err(e) => with_flash(
            redirect("/clients"),
            Tone::Error,
            &error_text(&e),
            admin.secure,
        ),
    }
}
