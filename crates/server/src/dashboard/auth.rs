//! Signing in to the Dashboard: administrator accounts (argon2id password hashes),
//! server-side sessions behind an HttpOnly, SameSite=Strict cookie (`Secure`, with the
//! `__Host-` prefix, under TLS), idle and absolute expiry, per-session CSRF tokens, and
//! login rate limits per account and per IP.
//!
//! The cookie holds 32 random bytes; the database holds only their SHA-256, so a copy of
//! the database does not hold a usable session. The CSRF token is a second random value
//! stored with the session and put into every form; a POST must send it back.

use std::net::SocketAddr;
use std::time::Duration;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Form};
use base64::Engine;
use hookhaven_core::{AuditEvent, Error};
use hookhaven_store::{Admin, AdminSession, Store};
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::html::{self, esc, Tone};
use super::{redirect, with_flash, DashboardState, FormData};
use crate::state::AppState;

/// A session unused for this long is over.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// A session is over this long after sign-in, however busy.
pub const ABSOLUTE_TIMEOUT: Duration = Duration::from_secs(12 * 60 * 60);
/// Activity is written back at most this often per session.
const TOUCH_EVERY_MS: i64 = 60_000;

pub const MIN_PASSWORD_CHARS: usize = 12;
const MAX_PASSWORD_BYTES: usize = 1024;
const LOGIN_CSRF_COOKIE: &str = "hh_login";
const FLASH_COOKIE: &str = "hh_flash";

// ---- accounts ----

/// Lower-cases and checks an email address (the account name).
pub fn normalize_email(raw: &str) -> Result<String, Error> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if valid {
        Ok(email)
    } else {
        Err(Error::payload("The email address is not valid"))
    }
}

/// Checks a new password: at least [`MIN_PASSWORD_CHARS`] characters, at most 1 KiB.
pub fn check_password_rules(password: &str) -> Result<(), Error> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(Error::payload(format!(
            "The password must be at least {MIN_PASSWORD_CHARS} characters long"
        )));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::payload(format!(
            "The password must be at most {MAX_PASSWORD_BYTES} bytes long"
        )));
    }
    Ok(())
}

/// An argon2id hash (PHC string) of `password` with a random salt.
pub fn hash_password(password: &str) -> Result<String, Error> {
    let mut salt = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| Error::internal(format!("salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::internal(format!("hashing a password: {e}")))
}

/// Whether `password` matches `stored`. With `None` (no such account) the same work is
/// done against a fixed hash, so timing does not tell which accounts exist.
pub fn verify_password(password: &str, stored: Option<&str>) -> bool {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let dummy =
        DUMMY.get_or_init(|| hash_password("no account has this password").unwrap_or_default());
    let hash = stored.unwrap_or(dummy);
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let ok = Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok();
    ok && stored.is_some()
}

/// Creates an administrator (the `hookhaven admins create` command).
pub async fn create_admin(
    store: &dyn Store,
    email: &str,
    password: &str,
    actor: &str,
) -> Result<Admin, Error> {
    let email = normalize_email(email)?;
    check_password_rules(password)?;
    let password = password.to_string();
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(Error::internal)??;
    let admin = Admin {
        id: format!("adm_{}", hookhaven_core::new_ulid().to_lowercase()),
        email,
        password_hash,
        created_at: hookhaven_core::now_ms(),
    };
    let event = AuditEvent::success(actor, "admin.create", None).target(&admin.email);
    store.create_admin(&admin, &event).await?;
    Ok(admin)
}

/// The audit actor of a Dashboard change.
pub fn actor_of(email: &str) -> String {
    format!("admin:{email}")
}

// ---- tokens and cookies ----

/// 32 random bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database keeps of a session cookie.
pub fn session_hash(cookie_value: &str) -> String {
    Sha256::digest(cookie_value.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub fn tokens_match(a: &str, b: &str) -> bool {
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// The value of a cookie in the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Strict, Path=/, and Secure under TLS.
/// `max_age = Some(0)` deletes the cookie; `None` makes a browser-session cookie.
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("hh_invalid=; Max-Age=0"))
}

/// A one-shot notice for the next page, in a short-lived cookie.
pub fn flash_cookie(tone: Tone, text: &str, secure: bool) -> HeaderValue {
    let mut payload = String::new();
    payload.push(tone.code());
    payload.push_str(text);
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload.as_bytes());
    set_cookie(FLASH_COOKIE, &value, secure, Some(60))
}

/// The notice a previous request left, if any; the caller clears the cookie.
pub fn take_flash(headers: &HeaderMap) -> Option<(Tone, String)> {
    let raw = cookie(headers, FLASH_COOKIE)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.as_bytes())
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let mut chars = text.chars();
    let tone = Tone::from_code(chars.next()?)?;
    Some((tone, chars.as_str().chars().take(500).collect()))
}

pub fn clear_flash(secure: bool) -> HeaderValue {
    set_cookie(FLASH_COOKIE, "", secure, Some(0))
}

// ---- the signed-in administrator ----

/// The administrator of a request, from a live session. A request without one is sent
/// to the sign-in page.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session: AdminSession,
    pub actor: String,
    pub secure: bool,
}

impl SignedIn {
    /// The CSRF check for a POST: the form's `_csrf` must be this session's token. The
    /// error is the 403 page itself, returned by the handler as it is.
    #[allow(clippy::result_large_err)]
    pub fn check_csrf(&self, form: &FormData) -> Result<(), Response> {
        let sent = form.get("_csrf").unwrap_or("");
        if tokens_match(sent, &self.session.csrf_token) {
            Ok(())
        } else {
            tracing::warn!(admin = %self.session.email, "dashboard form refused: missing or wrong CSRF token");
            Err(csrf_refused())
        }
    }

    pub fn csrf(&self) -> &str {
        &self.session.csrf_token
    }

    pub fn email(&self) -> &str {
        &self.session.email
    }
}

/// 403 for a form that did not carry its CSRF token.
pub fn csrf_refused() -> Response {
    let body = html::page(
        "Form refused",
        None,
        &html::notice(
            Tone::Error,
            "This form was refused: it did not carry a valid security token. It may have expired or come from another site.",
        ),
        "<h1>Form refused</h1><p><a href=\"/hooks\">Go back to the Dashboard</a> and try again.</p>",
    );
    (StatusCode::FORBIDDEN, super::html_headers(), body).into_response()
}

fn to_login() -> Response {
    redirect("/login")
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let dash = parts
            .extensions
            .get::<std::sync::Arc<DashboardState>>()
            .cloned()
            .ok_or_else(|| StatusCode::INTERNAL_SERVER_ERROR.into_response())?;
        let Some(value) = cookie(&parts.headers, dash.session_cookie()) else {
            return Err(to_login());
        };
        let id_hash = session_hash(&value);
        let session = match state.store.admin_session(&id_hash).await {
            Ok(Some(s)) => s,
            Ok(None) => return Err(to_login()),
            Err(e) => return Err(super::error_page(&e)),
        };
        let now = hookhaven_core::now_ms();
        let idle = now - session.last_seen_at > IDLE_TIMEOUT.as_millis() as i64;
        let old = now - session.created_at > ABSOLUTE_TIMEOUT.as_millis() as i64;
        if idle || old {
            let _ = state.store.delete_admin_session(&id_hash, None).await;
            let mut response = to_login();
            response.headers_mut().append(
                header::SET_COOKIE,
                flash_cookie(
                    Tone::Info,
                    "Your session expired. Please sign in again.",
                    dash.secure,
                ),
            );
            return Err(response);
        }
        if now - session.last_seen_at > TOUCH_EVERY_MS {
            if let Err(e) = state.store.touch_admin_session(&id_hash, now).await {
                tracing::warn!(error = %e.detail(), "could not record dashboard session activity");
            }
        }
        Ok(SignedIn {
            actor: actor_of(&session.email),
            session,
            secure: dash.secure,
        })
    }
}

/// The peer address, for the per-IP sign-in limit.
pub struct PeerIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PeerIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_default(),
        ))
    }
}

// ---- pages ----

fn login_page(token: &str, notices: &str, email: &str) -> String {
    let body = format!(
        "<div class=\"login\"><h1>Sign in</h1>\
<form method=\"post\" action=\"/login\" class=\"stack\">{csrf}\
<div class=\"field\"><label for=\"email\">Email</label><input id=\"email\" name=\"email\" type=\"email\" autocomplete=\"username\" required value=\"{email}\" autofocus></div>\
<div class=\"field\"><label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></div>\
<button type=\"submit\" class=\"primary\">Sign in</button></form>\
<p class=\"hint\">Administrators are created on the server with <code>hookhaven admins create --email you@example.com</code>.</p></div>",
        csrf = html::csrf_field(token),
        email = esc(email),
    );
    html::page("Sign in", None, notices, &body)
}

/// `GET /login`: the form, with a fresh login CSRF token in a cookie and in the form.
pub async fn login_form(
    Extension(dash): Extension<std::sync::Arc<DashboardState>>,
    headers: HeaderMap,
) -> Response {
    let token = random_token();
    let notices = take_flash(&headers)
        .map(|(tone, text)| html::notice(tone, &text))
        .unwrap_or_default();
    let mut response = (super::html_headers(), login_page(&token, &notices, "")).into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, &token, dash.secure, Some(3600)),
    );
    h.append(header::SET_COOKIE, clear_flash(dash.secure));
    response
}

/// Answers a failed sign-in: the form again, with a new token and a message.
fn login_failed(dash: &DashboardState, status: StatusCode, message: &str, email: &str) -> Response {
    let token = random_token();
    let mut response = (
        status,
        super::html_headers(),
        login_page(&token, &html::notice(Tone::Error, message), email),
    )
        .into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, &token, dash.secure, Some(3600)),
    );
    response
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    Extension(dash): Extension<std::sync::Arc<DashboardState>>,
    PeerIp(ip): PeerIp,
    headers: HeaderMap,
    Form(form): Form<FormData>,
) -> Response {
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !tokens_match(form.get("_csrf").unwrap_or(""), &expected) {
        return csrf_refused();
    }
    let raw_email = form.get("email").unwrap_or("");
    let password = form.get("password").unwrap_or("");
    let email = normalize_email(raw_email).unwrap_or_default();
    // Both limits are checked before any password work.
    let by_ip = dash.login_by_ip.check(&ip);
    let by_account = dash.login_by_account.check(&email);
    if !by_ip.allowed || !by_account.allowed {
        let wait = by_ip.retry_after.max(by_account.retry_after);
        tracing::warn!(%ip, "dashboard sign-in rate-limited");
        let mut response = login_failed(
            &dash,
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many sign-in attempts. Try again in {wait} seconds."),
            raw_email,
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return response;
    }
    let admin = match state.store.admin_by_email(&email).await {
        Ok(admin) => admin,
        Err(e) => return super::error_page(&e),
    };
    let stored = admin.as_ref().map(|a| a.password_hash.clone());
    let attempt = password.to_string();
    let ok = tokio::task::spawn_blocking(move || verify_password(&attempt, stored.as_deref()))
        .await
        .unwrap_or(false);
    let Some(admin) = admin.filter(|_| ok) else {
        // A failure is only audited for an account that exists: a mistyped "email" may be
        // a password, and the audit log must not collect those.
        if let Ok(Some(admin)) = state.store.admin_by_email(&email).await {
            let event = AuditEvent::success(&actor_of(&admin.email), "admin.login", None)
                .failed("invalid_credentials");
            let _ = state.store.record_audit(&event).await;
        }
        return login_failed(
            &dash,
            StatusCode::UNAUTHORIZED,
            "Wrong email or password.",
            raw_email,
        );
    };

    let now = hookhaven_core::now_ms();
    let _ = state
        .store
        .delete_expired_admin_sessions(
            now - IDLE_TIMEOUT.as_millis() as i64,
            now - ABSOLUTE_TIMEOUT.as_millis() as i64,
        )
        .await;
    let cookie_value = random_token();
    let session = AdminSession {
        id_hash: session_hash(&cookie_value),
        admin_id: admin.id.clone(),
        email: admin.email.clone(),
        csrf_token: random_token(),
        created_at: now,
        last_seen_at: now,
    };
    let event = AuditEvent::success(&actor_of(&admin.email), "admin.login", None);
    if let Err(e) = state.store.create_admin_session(&session, &event).await {
        return super::error_page(&e);
    }
    let mut response = redirect("/hooks");
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        set_cookie(dash.session_cookie(), &cookie_value, dash.secure, None),
    );
    h.append(
        header::SET_COOKIE,
        set_cookie(LOGIN_CSRF_COOKIE, "", dash.secure, Some(0)),
    );
    response
}

/// `POST /logout`.
pub async fn logout(
    State(state): State<AppState>,
    Extension(dash): Extension<std::sync::Arc<DashboardState>>,
    admin: SignedIn,
    Form(form): Form<FormData>,
) -> Response {
    if let Err(refused) = admin.check_csrf(&form) {
        return refused;
    }
    let event = AuditEvent::success(&admin.actor, "admin.logout", None);
    if let Err(e) = state
        .store
        .delete_admin_session(&admin.session.id_hash, Some(&event))
        .await
    {
        return super::error_page(&e);
    }
    let mut response = with_flash(
        redirect("/login"),
        Tone::Success,
        "You have signed out.",
        dash.secure,
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(dash.session_cookie(), "", dash.secure, Some(0)),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse battery staple").unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(!hash.contains("correct horse"));
        assert!(verify_password("correct horse battery staple", Some(&hash)));
        assert!(!verify_password("wrong horse battery staple", Some(&hash)));
        assert!(!verify_password("correct horse battery staple", None));
        assert!(!verify_password("x", Some("not a phc string")));
        // Salted: the same password hashes differently each time.
        assert_ne!(hash, hash_password("correct horse battery staple").unwrap());
    }

    #[test]
    fn password_rules_and_emails() {
        assert!(check_password_rules("short").is_err());
        assert!(check_password_rules(&"x".repeat(12)).is_ok());
        assert!(check_password_rules(&"x".repeat(2000)).is_err());
        assert_eq!(
            normalize_email(" Admin@Example.COM ").unwrap(),
            "admin@example.com"
        );
        for bad in ["", "no-at", "@x", "x@", "a b@c", "a@b\u{7}c"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn session_ids_are_stored_hashed() {
        let token = random_token();
        assert_eq!(token.len(), 43);
        let hash = session_hash(&token);
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&token));
        assert_ne!(random_token(), token);
    }

    #[test]
    fn csrf_tokens_compare_exactly() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abc", "abd"));
        assert!(!tokens_match("ab", "abc"));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn cookies_are_http_only_strict_and_secure_under_tls() {
        let plain = set_cookie("hh_session", "v", false, None);
        assert_eq!(plain, "hh_session=v; Path=/; HttpOnly; SameSite=Strict");
        let tls = set_cookie("__Host-hh_session", "v", true, Some(0));
        assert_eq!(
            tls,
            "__Host-hh_session=v; Path=/; HttpOnly; SameSite=Strict; Secure; Max-Age=0"
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; hh_session=xyz; b=2"),
        );
        assert_eq!(cookie(&headers, "hh_session").as_deref(), Some("xyz"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn flash_round_trips() {
        let value = flash_cookie(Tone::Success, "Saved secret <X>", false);
        let raw = value
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_str(&raw).unwrap());
        assert_eq!(
            take_flash(&headers),
            Some((Tone::Success, "Saved secret <X>".to_string()))
        );
    }
}
