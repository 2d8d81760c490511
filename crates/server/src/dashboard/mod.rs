//! The Dashboard: server-rendered pages at `/` for administrators who do not use the API.
//! Hooks list → pencil (Edit hook) → Hook editor → wrench (Hook settings) → Secrets →
//! pencil-and-paper (Edit secret) → change the name and/or value → Save.
//!
//! Pages call the same operations as the Management API ([`crate::service`]) with
//! `admin:<email>` as the audit actor, so there is one rule set and one audit trail. A
//! secret value is never put into a page, a cookie or browser storage: the panel shows
//! names only. Every response carries a Content-Security-Policy without inline script,
//! `X-Frame-Options: DENY` and `Cache-Control: no-store`; every form carries a CSRF
//! token; assets are compiled into the binary.

pub mod auth;
mod clients;
mod hooks;
pub mod html;
mod logs;
mod runner;
mod secrets;
mod starters;

use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use hookhaven_core::Error;
use serde::Deserialize;

use crate::config::TlsMode;
use crate::ratelimit::RateLimiter;
use crate::state::AppState;
use html::{Chrome, Section, Tone};

pub use auth::SignedIn;

/// The Content-Security-Policy of every Dashboard response: scripts and styles only from
/// this server's files (no inline script, no inline style), no framing, forms only to
/// this server.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Per-instance state of the Dashboard: the sign-in limiters and the cookie settings.
pub struct DashboardState {
    /// Sign-in attempts per client IP.
    pub login_by_ip: RateLimiter,
    /// Sign-in attempts per account (email).
    pub login_by_account: RateLimiter,
    /// Under TLS: `Secure` cookies with the `__Host-` prefix.
    pub secure: bool,
}

impl DashboardState {
    pub fn new(secure: bool) -> DashboardState {
        DashboardState {
            // 20 at once, then one every 6 s (10 a minute) per IP.
            login_by_ip: RateLimiter::new(20, 1.0 / 6.0),
            // 5 at once, then one a minute per account.
            login_by_account: RateLimiter::new(5, 1.0 / 60.0),
            secure,
        }
    }

    pub fn session_cookie(&self) -> &'static str {
        if self.secure {
            "__Host-hh_session"
        } else {
            "hh_session"
        }
    }
}

/// The Dashboard's routes, merged into the server's router.
pub fn routes(state: &AppState) -> Router<AppState> {
    let dash = Arc::new(DashboardState::new(state.config.tls != TlsMode::Off));
    Router::new()
        .route("/", get(home))
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/hooks", get(hooks::list).post(hooks::create))
        .route("/hooks/{id}", get(hooks::editor).post(hooks::save))
        .route("/hooks/{id}/enabled", post(hooks::set_enabled))
        .route(
            "/hooks/{id}/delete",
            get(hooks::confirm_delete).post(hooks::delete),
        )
        .route(
            "/hooks/{id}/secrets",
            get(secrets::panel).post(secrets::add),
        )
        .route("/hooks/{id}/secrets/edit", post(secrets::save))
        .route("/hooks/{id}/secrets/delete", post(secrets::delete))
        .route("/hooks/{id}/runner", get(runner::page).post(runner::run))
        .route("/clients", get(clients::list).post(clients::create))
        .route("/clients/{id}/rotate", post(clients::rotate))
        .route("/clients/{id}/delete", post(clients::delete))
        .route("/logs", get(logs::page))
        .route("/assets/{file}", get(asset))
        .layer(Extension(dash))
        .layer(middleware::from_fn(security_headers))
}

async fn home(headers: HeaderMap, Extension(dash): Extension<Arc<DashboardState>>) -> Response {
    if auth::cookie(&headers, dash.session_cookie()).is_some() {
        redirect("/hooks")
    } else {
        redirect("/login")
    }
}

static CSP_HEADER: HeaderName = HeaderName::from_static("content-security-policy");
static REFERRER_POLICY: HeaderName = HeaderName::from_static("referrer-policy");
static PERMISSIONS_POLICY: HeaderName = HeaderName::from_static("permissions-policy");
static CROSS_ORIGIN_OPENER_POLICY: HeaderName =
    HeaderName::from_static("cross-origin-opener-policy");

/// Headers on every Dashboard response, and a refusal of cross-site form posts before
/// any handler runs (browsers say `Sec-Fetch-Site: cross-site` for those).
async fn security_headers(request: Request, next: Next) -> Response {
    let cross_site_post = request.method() == axum::http::Method::POST
        && request
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v == "cross-site");
    let mut response = if cross_site_post {
        auth::csrf_refused()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.insert(CSP_HEADER.clone(), HeaderValue::from_static(CSP));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        REFERRER_POLICY.clone(),
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        PERMISSIONS_POLICY.clone(),
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    h.insert(
        CROSS_ORIGIN_OPENER_POLICY.clone(),
        HeaderValue::from_static("same-origin"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// The files the pages load, compiled into the binary.
async fn asset(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    let (body, content_type): (&'static [u8], &'static str) = match file.as_str() {
        "app.css" => (include_bytes!("assets/app.css"), "text/css; charset=utf-8"),
        "app.js" => (
            include_bytes!("assets/app.js"),
            "text/javascript; charset=utf-8",
        ),
        "editor.js" => (
            include_bytes!("assets/editor.js"),
            "text/javascript; charset=utf-8",
        ),
        "favicon.svg" => (include_bytes!("assets/favicon.svg"), "image/svg+xml"),
        _ => return (StatusCode::NOT_FOUND, "not found").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            // Revalidated each time: the files change with the binary.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// Form fields in order; repeated names (checkboxes) keep every value.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct FormData(pub Vec<(String, String)>);

impl FormData {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

pub(crate) fn html_headers() -> [(HeaderName, &'static str); 1] {
    [(header::CONTENT_TYPE, "text/html; charset=utf-8")]
}

/// 303 See Other: after a POST, the browser GETs the page.
pub(crate) fn redirect(to: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// Adds a one-shot notice for the next page.
pub(crate) fn with_flash(mut response: Response, tone: Tone, text: &str, secure: bool) -> Response {
    response
        .headers_mut()
        .append(header::SET_COOKIE, auth::flash_cookie(tone, text, secure));
    response
}

/// What a failed operation tells the administrator: the domain message, or a generic one
/// for server faults (whose detail goes to the log only).
pub(crate) fn error_text(e: &Error) -> String {
    match e {
        Error::Internal(_) | Error::Unavailable(_) | Error::CorruptSecret { .. } => {
            tracing::error!(error = %e.detail(), "dashboard operation failed");
            "Something went wrong on the server; the change was not made. See the server log."
                .into()
        }
        other => {
            // Validation messages keep Auth0's wording, without the API's wrapping.
            let m = other.message();
            match m.strip_prefix("Payload validation error: '") {
                Some(inner) => inner.trim_end_matches("'.").to_string(),
                None => m,
            }
        }
    }
}

/// An error page for a failure outside any form.
pub(crate) fn error_page(e: &Error) -> Response {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = html::page(
        "Error",
        None,
        &html::notice(Tone::Error, &error_text(e)),
        "<h1>Something went wrong</h1><p><a href=\"/hooks\">Back to the Hooks list</a></p>",
    );
    (status, html_headers(), body).into_response()
}

/// Renders a signed-in page, showing (and clearing) a pending notice plus `extra`.
pub(crate) fn render(
    admin: &SignedIn,
    headers: &HeaderMap,
    section: Section,
    title: &str,
    extra: &[(Tone, String)],
    body: &str,
) -> Response {
    render_status(StatusCode::OK, admin, headers, section, title, extra, body)
}

pub(crate) fn render_status(
    status: StatusCode,
    admin: &SignedIn,
    headers: &HeaderMap,
    section: Section,
    title: &str,
    extra: &[(Tone, String)],
    body: &str,
) -> Response {
    let flash = auth::take_flash(headers);
    let mut notices = String::new();
    if let Some((tone, text)) = &flash {
        notices.push_str(&html::notice(*tone, text));
    }
    for (tone, text) in extra {
        notices.push_str(&html::notice(*tone, text));
    }
    let chrome = Chrome {
        email: admin.email(),
        csrf: admin.csrf(),
        section,
    };
    let mut response = (
        status,
        html_headers(),
        html::page(title, Some(&chrome), &notices, body),
    )
        .into_response();
    if flash.is_some() {
        response
            .headers_mut()
            .append(header::SET_COOKIE, auth::clear_flash(admin.secure));
    }
    response
}
