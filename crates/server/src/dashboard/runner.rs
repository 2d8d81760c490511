//! The Runner tab: the trigger's sample payload, editable; Run shows the result or the
//! error, the captured (redacted) logs and the duration. It runs the saved script.

use std::fmt::Write;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Form;
use hookhaven_core::Hook;
use hookhaven_runtime::sample_payload;
use serde_json::Value;

use super::hooks::{hook_header, load, HookTab};
use super::html::{self, esc, Section, Tone};
use super::{error_text, render_status, FormData, SignedIn};
use crate::service::{self, Actor};
use crate::state::AppState;

fn runner_page(
    admin: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    hook: &Hook,
    payload: &str,
    outcome: &str,
    notices: &[(Tone, String)],
) -> Response {
    let body = format!(
        "{header}<div class=\"runner\"><form method=\"post\" action=\"/hooks/{id}/runner\" class=\"stack\">{csrf}\
<div class=\"field\"><label for=\"runner-payload\">Payload</label><p class=\"hint\" id=\"payload-hint\">The sample body of the <code>{trigger}</code> trigger; edit it as you like. The Runner runs the saved script with this hook's secrets.</p>\
<div class=\"code-editor\" data-editor data-language=\"json\"><textarea id=\"runner-payload\" name=\"payload\" rows=\"16\" spellcheck=\"false\" autocapitalize=\"off\" autocomplete=\"off\" wrap=\"off\" aria-describedby=\"payload-hint\">{payload}</textarea></div></div>\
<div class=\"actions-row\"><button type=\"submit\" class=\"primary with-icon\">{play}<span>Run</span></button></div></form>{outcome}</div>",
        header = hook_header(hook, HookTab::Runner),
        id = esc(hook.id.as_str()),
        csrf = html::csrf_field(admin.csrf()),
        trigger = esc(hook.trigger_id.as_str()),
        payload = esc(payload),
        play = html::icon_play(),
    );
    render_status(
        status,
        admin,
        headers,
        Section::Hooks,
        &format!("Runner · {}", hook.name.as_str()),
        notices,
        &body,
    )
}

/// `GET /hooks/{id}/runner`.
pub async fn page(
    State(state): State<AppState>,
    admin: SignedIn,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let hook = match load(&state, &id).await {
        Ok(h) => h,
        Err(r) => return r,
    };
    let payload =
        serde_json::to_string_pretty(&sample_payload(hook.trigger_id)).unwrap_or_default();
    runner_page(&admin, &headers, StatusCode::OK, &hook, &payload, "", &[])
}

/// Renders the Runner's answer: result or error, logs, duration.
fn outcome_html(answer: &Value) -> String {
    let mut out = String::from(
        "<section class=\"card outcome\" aria-labelledby=\"outcome-heading\" data-focus-on-load><h2 id=\"outcome-heading\" tabindex=\"-1\">",
    );
    let duration = answer["duration_ms"].as_f64().unwrap_or(0.0);
    if let Some(error) = answer.get("error") {
        let _ = write!(
            out,
            "Error</h2><p class=\"meta\"><span class=\"badge bad\">failed</span> in <span class=\"duration\">{duration:.1} ms</span></p><pre class=\"result error\" id=\"runner-error\">{}</pre>",
            esc(&serde_json::to_string_pretty(error).unwrap_or_default())
        );
    } else {
        let _ = write!(
            out,
            "Result</h2><p class=\"meta\"><span class=\"badge on\">succeeded</span> in <span class=\"duration\">{duration:.1} ms</span></p><pre class=\"result\" id=\"runner-result\">{}</pre>",
            esc(&serde_json::to_string_pretty(&answer["result"]).unwrap_or_default())
        );
    }
    out.push_str("<h3>Logs</h3>");
    match answer["logs"].as_array() {
        Some(lines) if !lines.is_empty() => {
            out.push_str("<pre class=\"logs\" id=\"runner-logs\">");
            for line in lines {
                out.push_str(&esc(line.as_str().unwrap_or_default()));
                out.push('\n');
            }
            out.push_str("</pre>");
            if answer["logs_truncated"].as_bool() == Some(true) {
                out.push_str("<p class=\"hint\">The logs were cut short.</p>");
            }
        }
        _ => out.push_str("<p class=\"hint\" id=\"runner-logs\">Nothing was logged.</p>"),
    }
    out.push_str("<p class=\"hint\">Secret values are shown as [REDACTED].</p></section>");
    out
}

/// `POST /hooks/{id}/runner`.
pub async fn run(
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
    let payload_text = form.get("payload").unwrap_or("").to_string();
    let payload: Value = if payload_text.trim().is_empty() {
        sample_payload(hook.trigger_id)
    } else {
        match serde_json::from_str(&payload_text) {
            Ok(v) => v,
            Err(e) => {
                return runner_page(
                    &admin,
                    &headers,
                    StatusCode::BAD_REQUEST,
                    &hook,
                    &payload_text,
                    "",
                    &[(
                        Tone::Error,
                        format!(
                            "The payload is not valid JSON (line {}, column {}).",
                            e.line(),
                            e.column()
                        ),
                    )],
                )
            }
        }
    };
    let actor = Actor {
        id: &admin.actor,
        request_id: None,
    };
    match service::run_hook(&state, actor, &hook.id, None, Some(payload)).await {
        Ok(answer) => runner_page(
            &admin,
            &headers,
            StatusCode::OK,
            &hook,
            &payload_text,
            &outcome_html(&answer),
            &[],
        ),
        Err(e) => runner_page(
            &admin,
            &headers,
            StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
            &hook,
            &payload_text,
            "",
            &[(Tone::Error, error_text(&e))],
        ),
    }
}
