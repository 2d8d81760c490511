//! The Dashboard over plain HTTP (the real-browser walk is tests/dashboard_browser.rs):
//! sign-in, sessions and their expiry, sign-out, CSRF, the sign-in rate limits, the
//! security headers, the canary, the `admins` command, and the two API extensions it
//! relies on: the atomic secret rename and client secret rotation.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::{Command, Stdio};

use hookhaven_store::AdminSession;
use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use serde_json::{json, Value};

use crate::support::{Api, Options, Server, BIN};

const EMAIL: &str = "ops@example.com";
const PASSWORD: &str = "a good long password";

fn admins(server: &Server, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    let mut child = Command::new(BIN)
        .arg("admins")
        .args(args)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .args(["--database-url", &server.database_url])
        .env_remove("HOOKHAVEN_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hookhaven admins");
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        writeln!(input, "{text}").unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn create_admin(server: &Server) {
    let out = admins(server, &["create", "--email", EMAIL], Some(PASSWORD));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A browser stand-in: keeps cookies, never follows redirects.
struct Browser<'a> {
    server: &'a Server,
    http: reqwest::Client,
    cookies: BTreeMap<String, String>,
}

struct Page {
    status: u16,
    headers: HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The value of the first hidden `_csrf` field.
    fn csrf(&self) -> String {
        let marker = "name=\"_csrf\" value=\"";
        let start = self.body.find(marker).expect("a CSRF field") + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        self.body[start..end].to_string()
    }

    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
}

impl<'a> Browser<'a> {
    fn new(server: &'a Server) -> Browser<'a> {
        let mut builder = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
        if let Some(cert) = &server.tls_cert {
            let pem = std::fs::read(cert).unwrap();
            for cert in reqwest::Certificate::from_pem_bundle(&pem).unwrap() {
                builder = builder.add_root_certificate(cert);
            }
        }
        Browser {
            server,
            http: builder.build().unwrap(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, response: reqwest::Response) -> Page {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for set in headers.get_all(SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, attrs) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attrs.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        Page {
            status,
            headers,
            body: response.text().await.unwrap(),
        }
    }

    async fn get(&mut self, path: &str) -> Page {
        let response = self
            .http
            .get(self.server.url(path))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        let response = self
            .http
            .post(self.server.url(path))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(response).await
    }

    async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        let form = self.get("/login").await;
        let csrf = form.csrf();
        self.post(
            "/login",
            &[("_csrf", &csrf), ("email", email), ("password", password)],
        )
        .await
    }

    /// Signs in and returns a page's CSRF token.
    async fn signed_in(&mut self) -> String {
        let page = self.sign_in(EMAIL, PASSWORD).await;
        assert_eq!(
            (page.status, page.location()),
            (303, "/hooks"),
            "{}",
            page.body
        );
        self.get("/hooks").await.csrf()
    }
}

#[tokio::test]
async fn every_page_has_the_security_headers() {
    let server = Server::start();
    create_admin(&server);
    let mut b = Browser::new(&server);
    let csrf = b.signed_in().await;
    let api = Api::new(&server).await;
    let hook = api
        .create_hook("Headers", "credentials-exchange", false)
        .await;
    for path in [
        "/login".to_string(),
        "/hooks".into(),
        format!("/hooks/{hook}"),
        format!("/hooks/{hook}/secrets"),
        format!("/hooks/{hook}/runner"),
        "/clients".into(),
        "/logs".into(),
        "/assets/app.js".into(),
        "/assets/editor.js".into(),
        "/assets/app.css".into(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        let csp = page.headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(
            !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
            "{csp}"
        );
        assert_eq!(page.headers["x-frame-options"], "DENY", "{path}");
        assert_eq!(page.headers["x-content-type-options"], "nosniff", "{path}");
        if path.starts_with("/assets/") {
            continue;
        }
        assert_eq!(page.headers["cache-control"], "no-store", "{path}");
        // No inline script, no inline style, no handler attributes: every script is a file.
        let lower = page.body.to_ascii_lowercase();
        assert_eq!(
            lower.matches("<script").count(),
            lower.matches("<script src=\"/assets/").count(),
            "{path}"
        );
        assert!(
            !lower.contains(" style=") && !lower.contains("<style"),
            "{path}"
        );
        assert!(
            !lower.contains(" onclick=") && !lower.contains(" onload="),
            "{path}"
        );
        assert!(!lower.contains("javascript:"), "{path}");
        // Every form carries the CSRF token (the filter form on /logs is a GET).
        let posts = lower.matches("method=\"post\"").count();
        assert_eq!(posts, lower.matches("name=\"_csrf\"").count(), "{path}");
    }
    let _ = csrf;
    // Cookies: HttpOnly and SameSite=Strict; not Secure over plain http.
    let page = b.get("/login").await;
    for cookie in page.set_cookies() {
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
            "{cookie}"
        );
        assert!(!cookie.contains("Secure"), "{cookie}");
    }
}

#[tokio::test]
async fn under_tls_cookies_are_secure_and_host_prefixed() {
    let server = Server::start_with(Options {
        tls_self_signed: true,
        ..Options::default()
    });
    create_admin(&server);
    let mut b = Browser::new(&server);
    let page = b.sign_in(EMAIL, PASSWORD).await;
    assert_eq!(page.status, 303);
    let session = page
        .set_cookies()
        .into_iter()
        .find(|c| c.starts_with("__Host-hh_session="))
        .expect("a __Host- session cookie");
    assert!(
        session.contains("Secure") && session.contains("HttpOnly"),
        "{session}"
    );
    assert!(
        session.contains("SameSite=Strict") && session.contains("Path=/"),
        "{session}"
    );
    assert_eq!(b.get("/hooks").await.status, 200);
}

#[tokio::test]
async fn sign_in_sign_out_and_sessions() {
    let server = Server::start();
    create_admin(&server);
    let mut b = Browser::new(&server);

    // Nothing is open without a session.
    for path in [
        "/",
        "/hooks",
        "/clients",
        "/logs",
        "/hooks/01ZZZZZZZZZZZZZZZZZZZZZZZZ",
    ] {
        let page = b.get(path).await;
        assert_eq!((page.status, page.location()), (303, "/login"), "{path}");
    }

    // A wrong password, an unknown account.
    let page = b.sign_in(EMAIL, "not the password").await;
    assert_eq!(page.status, 401);
    assert!(page.body.contains("Wrong email or password."));
    let page = b.sign_in("nobody@example.com", PASSWORD).await;
    assert_eq!(page.status, 401);
    assert!(!b.cookies.contains_key("hh_session"));

    // The email is case-insensitive.
    let page = b.sign_in("OPS@Example.COM", PASSWORD).await;
    assert_eq!((page.status, page.location()), (303, "/hooks"));
    let cookie = b.cookies["hh_session"].clone();
    let hooks = b.get("/hooks").await;
    assert_eq!(hooks.status, 200);
    assert!(hooks.body.contains(EMAIL));
    // The database holds a hash of the cookie, never the cookie itself.
    let opened = hookhaven_server::open_data_dir(&server.config())
        .await
        .unwrap();
    let hash = hookhaven_server::dashboard::auth::session_hash(&cookie);
    assert!(opened.store.admin_session(&hash).await.unwrap().is_some());
    assert!(opened.store.admin_session(&cookie).await.unwrap().is_none());

    // Sign-out needs the CSRF token, then ends the session on the server.
    let csrf = hooks.csrf();
    assert_eq!(b.post("/logout", &[]).await.status, 403);
    assert_eq!(b.get("/hooks").await.status, 200);
    let page = b.post("/logout", &[("_csrf", &csrf)]).await;
    assert_eq!((page.status, page.location()), (303, "/login"));
    assert!(!b.cookies.contains_key("hh_session"));
    assert!(opened.store.admin_session(&hash).await.unwrap().is_none());
    // The old cookie no longer opens anything.
    b.cookies.insert("hh_session".into(), cookie);
    assert_eq!(b.get("/hooks").await.location(), "/login");

    let actions: Vec<String> = crate::support::audit_actions(&server)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    assert!(actions.contains(&"admin.login".to_string()));
    assert!(actions.contains(&"admin.logout".to_string()));
}

#[tokio::test]
async fn idle_and_old_sessions_expire() {
    let server = Server::start();
    create_admin(&server);
    let opened = hookhaven_server::open_data_dir(&server.config())
        .await
        .unwrap();
    let admin = opened.store.admin_by_email(EMAIL).await.unwrap().unwrap();
    let now = hookhaven_core::now_ms();
    let idle = hookhaven_server::dashboard::auth::IDLE_TIMEOUT.as_millis() as i64;
    let absolute = hookhaven_server::dashboard::auth::ABSOLUTE_TIMEOUT.as_millis() as i64;
    let cases = [
        ("fresh", now - 5_000, now - 5_000, true),
        ("idle", now - idle - 60_000, now - idle - 60_000, false),
        ("old but busy", now - absolute - 60_000, now - 1_000, false),
    ];
    for (label, created_at, last_seen_at, live) in cases {
        let cookie = format!("cookie-{label}").replace(' ', "-");
        let session = AdminSession {
            id_hash: hookhaven_server::dashboard::auth::session_hash(&cookie),
            admin_id: admin.id.clone(),
            email: String::new(),
            csrf_token: "t".into(),
            created_at,
            last_seen_at,
        };
        let event = hookhaven_core::AuditEvent::success("test", "admin.login", None);
        opened
            .store
            .create_admin_session(&session, &event)
            .await
            .unwrap();
        let mut b = Browser::new(&server);
        b.cookies.insert("hh_session".into(), cookie);
        let page = b.get("/hooks").await;
        if live {
            assert_eq!(page.status, 200, "{label}");
        } else {
            assert_eq!((page.status, page.location()), (303, "/login"), "{label}");
            assert!(
                opened
                    .store
                    .admin_session(&session.id_hash)
                    .await
                    .unwrap()
                    .is_none(),
                "{label}: an expired session is deleted"
            );
            let login = b.get("/login").await;
            assert!(login.body.contains("Your session expired"), "{label}");
        }
    }
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused_and_change_nothing() {
    let server = Server::start();
    create_admin(&server);
    let api = Api::new(&server).await;
    let hook = api
        .create_hook("Guarded", "credentials-exchange", false)
        .await;
    let mut b = Browser::new(&server);
    let csrf = b.signed_in().await;
    let path = format!("/hooks/{hook}/secrets");

    let page = b.post(&path, &[("name", "NO_TOKEN"), ("value", "v")]).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("Form refused"));
    let page = b
        .post(
            &path,
            &[("_csrf", "forged"), ("name", "BAD_TOKEN"), ("value", "v")],
        )
        .await;
    assert_eq!(page.status, 403);
    // A cross-site post is refused before any handler, token or not.
    let response = b
        .http
        .post(server.url(&path))
        .header(COOKIE, b.cookie_header())
        .header("sec-fetch-site", "cross-site")
        .form(&[
            ("_csrf", csrf.as_str()),
            ("name", "CROSS_SITE"),
            ("value", "v"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    for form_path in [
        format!("/hooks/{hook}/delete"),
        format!("/hooks/{hook}/enabled"),
        format!("/hooks/{hook}"),
        "/hooks".to_string(),
        "/clients".to_string(),
    ] {
        assert_eq!(
            b.post(&form_path, &[("name", "x")]).await.status,
            403,
            "{form_path}"
        );
    }
    let (_, secrets) = api.get(&format!("/api/v2/hooks/{hook}/secrets")).await;
    assert_eq!(secrets, json!({}));
    let (status, _) = api.get(&format!("/api/v2/hooks/{hook}")).await;
    assert_eq!(status, 200, "the hook was not deleted");

    // With the token the same form works.
    let page = b
        .post(
            &path,
            &[("_csrf", &csrf), ("name", "WITH_TOKEN"), ("value", "v")],
        )
        .await;
    assert_eq!((page.status, page.location()), (303, path.as_str()));
    let (_, secrets) = api.get(&format!("/api/v2/hooks/{hook}/secrets")).await;
    assert_eq!(secrets, json!({"WITH_TOKEN": "_VALUE_NOT_SHOWN_"}));

    // The sign-in form has its own token, bound to a cookie.
    let mut fresh = Browser::new(&server);
    let page = fresh
        .post("/login", &[("email", EMAIL), ("password", PASSWORD)])
        .await;
    assert_eq!(page.status, 403);
}

#[tokio::test]
async fn sign_in_is_rate_limited_per_account_and_per_ip() {
    let server = Server::start();
    create_admin(&server);
    let mut b = Browser::new(&server);
    for _ in 0..5 {
        assert_eq!(b.sign_in(EMAIL, "wrong password!").await.status, 401);
    }
    // The account's bucket is empty: even the right password waits.
    let page = b.sign_in(EMAIL, PASSWORD).await;
    assert_eq!(page.status, 429);
    assert!(page.body.contains("Too many sign-in attempts"));
    assert!(page.headers.contains_key("retry-after"));
    // Other accounts from this IP have their own buckets, until the IP's is empty
    // (20 attempts; 6 spent above). The IP's bucket refills one attempt every 6 s, so
    // on a slow machine a few more may pass: count them against the time taken.
    let started = std::time::Instant::now();
    let mut accepted = 0u64;
    let mut limited = false;
    for i in 0..60 {
        let page = b
            .sign_in(&format!("other{i}@example.com"), "whatever it is")
            .await;
        if page.status == 429 {
            limited = true;
            break;
        }
        assert_eq!(page.status, 401, "attempt {i}");
        accepted += 1;
    }
    assert!(limited, "the IP's bucket ran out");
    let refills = started.elapsed().as_secs() / 6 + 1;
    assert!(
        (14..=14 + refills).contains(&accepted),
        "{accepted} attempts passed with {refills} refills"
    );
}

#[tokio::test]
async fn a_secret_value_is_never_in_a_page() {
    const CANARY: &str = "canary-7d1e0b9a-dashboard";
    let server = Server::start();
    create_admin(&server);
    let api = Api::new(&server).await;
    let script = "module.exports = function (client, scope, audience, context, cb) { console.log('v=' + context.webtask.secrets.KEY); cb(null, { 'https://example.com/v': context.webtask.secrets.KEY }); };";
    let (status, hook) = api
        .post(
            "/api/v2/hooks",
            &json!({"name": "Canary", "script": script, "triggerId": "credentials-exchange"})
                .to_string(),
        )
        .await;
    assert_eq!(status, 201);
    let hook = hook["id"].as_str().unwrap().to_string();
    let (status, _) = api
        .post(
            &format!("/api/v2/hooks/{hook}/secrets"),
            &json!({"KEY": CANARY, "EMPTY": "_VALUE_NOT_SHOWN_"}).to_string(),
        )
        .await;
    assert_eq!(status, 201);

    let mut b = Browser::new(&server);
    let csrf = b.signed_in().await;
    let mut pages = Vec::new();
    for path in [
        "/hooks".to_string(),
        format!("/hooks/{hook}"),
        format!("/hooks/{hook}/secrets"),
        format!("/hooks/{hook}/secrets?edit=KEY"),
        format!("/hooks/{hook}/secrets?delete=KEY"),
        format!("/hooks/{hook}/runner"),
        format!("/hooks/{hook}/delete"),
        "/clients".into(),
        "/logs".into(),
        format!("/logs?hook={hook}"),
        "/assets/app.js".into(),
        "/assets/editor.js".into(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, 200, "{path}");
        pages.push((path, page));
    }
    // The Runner's answer, which runs the hook with its secrets.
    let run = b
        .post(
            &format!("/hooks/{hook}/runner"),
            &[("_csrf", &csrf), ("payload", "")],
        )
        .await;
    assert_eq!(run.status, 200);
    assert!(run.body.contains("v=[REDACTED]"), "{}", run.body);
    pages.push(("runner answer".into(), run));
    // A failed add and a failed rename do not send the typed value back.
    let add = b
        .post(
            &format!("/hooks/{hook}/secrets"),
            &[("_csrf", &csrf), ("name", "KEY"), ("value", CANARY)],
        )
        .await;
    assert_eq!(add.status, 409);
    pages.push(("failed add".into(), add));
    let rename = b
        .post(
            &format!("/hooks/{hook}/secrets/edit"),
            &[
                ("_csrf", &csrf),
                ("original", "EMPTY"),
                ("name", "KEY"),
                ("value", CANARY),
            ],
        )
        .await;
    assert_eq!(rename.status, 409);
    pages.push(("failed rename".into(), rename));
    for (path, page) in &pages {
        assert!(!page.body.contains(CANARY), "{path} shows the secret value");
        for cookie in page.set_cookies() {
            assert!(!cookie.contains(CANARY), "{path} sets it in a cookie");
        }
    }
    let panel = &pages[2].1.body;
    assert!(panel.contains("aria-label=\"hidden\"") && panel.contains("not set"));
    assert!(panel.contains("2</strong> of 20 secrets"));
    for name in ["Edit secret", "Delete secret"] {
        assert!(panel.contains(&format!("aria-label=\"{name}\"")), "{name}");
    }
    let hooks = &pages[0].1.body;
    assert!(hooks.contains("aria-label=\"Edit hook\""));
    let editor = &pages[1].1.body;
    assert!(editor.contains("aria-label=\"Hook settings\"") && editor.contains(">Secrets</a>"));
}

#[tokio::test]
async fn the_admins_command() {
    let server = Server::start();
    let short = admins(&server, &["create", "--email", EMAIL], Some("short"));
    assert!(!short.status.success());
    assert!(String::from_utf8_lossy(&short.stderr).contains("at least 12 characters"));
    let none = admins(&server, &["create", "--email", EMAIL], None);
    assert!(!none.status.success());
    let bad = admins(
        &server,
        &["create", "--email", "not-an-email"],
        Some(PASSWORD),
    );
    assert!(!bad.status.success());
    create_admin(&server);
    let again = admins(
        &server,
        &["create", "--email", "OPS@example.com"],
        Some(PASSWORD),
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    let list = admins(&server, &["list"], None);
    assert!(list.status.success());
    let listed: Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed[0]["email"], EMAIL);
    let text = String::from_utf8_lossy(&list.stdout);
    assert!(
        !text.contains("argon2") && !text.contains(PASSWORD),
        "{text}"
    );

    // A signed-in administrator who is deleted is signed out at once.
    let mut b = Browser::new(&server);
    b.signed_in().await;
    let gone = admins(&server, &["delete", "--email", EMAIL], None);
    assert!(
        gone.status.success(),
        "{}",
        String::from_utf8_lossy(&gone.stderr)
    );
    assert_eq!(b.get("/hooks").await.location(), "/login");
    let missing = admins(&server, &["delete", "--email", EMAIL], None);
    assert!(!missing.status.success());
}

#[tokio::test]
async fn renaming_a_secret_through_the_extension_endpoint() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let hook = api
        .create_hook("Renames", "credentials-exchange", false)
        .await;
    let (status, _) = api
        .post(
            &format!("/api/v2/hooks/{hook}/secrets"),
            &json!({"A": "value-a", "B": "value-b", "UNSET": "_VALUE_NOT_SHOWN_"}).to_string(),
        )
        .await;
    assert_eq!(status, 201);
    let path = |name: &str| format!("/api/v2/hooks/{hook}/secrets/{name}");

    // Rename only: the value moves with it, sealed again under the new name.
    let (status, body) = api.patch(&path("A"), r#"{"name":"A2"}"#).await;
    assert_eq!(
        (status, &body),
        (200, &json!({"name": "A2", "value": "_VALUE_NOT_SHOWN_"}))
    );
    assert_eq!(
        server.stored_secret(&hook, "A2").await.as_deref(),
        Some("value-a")
    );

    // Rename and new value at once; the placeholder means "keep" (D1).
    let (status, _) = api
        .patch(&path("A2"), r#"{"name":"A3","value":"value-a3"}"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        server.stored_secret(&hook, "A3").await.as_deref(),
        Some("value-a3")
    );
    let (status, _) = api
        .patch(&path("A3"), r#"{"value":"_VALUE_NOT_SHOWN_"}"#)
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        server.stored_secret(&hook, "A3").await.as_deref(),
        Some("value-a3")
    );
    // A value only.
    let (status, _) = api.patch(&path("B"), r#"{"value":"value-b2"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(
        server.stored_secret(&hook, "B").await.as_deref(),
        Some("value-b2")
    );
    // An unset secret stays unset when renamed.
    let (status, _) = api.patch(&path("UNSET"), r#"{"name":"STILL_UNSET"}"#).await;
    assert_eq!(status, 200);
    assert_eq!(server.stored_secret(&hook, "STILL_UNSET").await, None);

    // Onto an existing name: 409, and nothing changed, neither name nor value.
    let (status, body) = api
        .patch(&path("A3"), r#"{"name":"B","value":"must-not-land"}"#)
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["errorCode"], "SecretExists");
    let (_, secrets) = api.get(&format!("/api/v2/hooks/{hook}/secrets")).await;
    assert_eq!(
        secrets,
        json!({"A3": "_VALUE_NOT_SHOWN_", "B": "_VALUE_NOT_SHOWN_", "STILL_UNSET": "_VALUE_NOT_SHOWN_"})
    );
    assert_eq!(
        server.stored_secret(&hook, "A3").await.as_deref(),
        Some("value-a3")
    );
    assert_eq!(
        server.stored_secret(&hook, "B").await.as_deref(),
        Some("value-b2")
    );

    // Unknown secret, unknown hook, bad bodies.
    let (status, body) = api.patch(&path("NOPE"), r#"{"name":"X"}"#).await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (404, json!("HookSecretDoesNotExist"))
    );
    let (status, _) = api
        .patch(
            "/api/v2/hooks/01ZZZZZZZZZZZZZZZZZZZZZZZZ/secrets/A3",
            r#"{"name":"X"}"#,
        )
        .await;
    assert_eq!(status, 404);
    for bad in [
        r#"{}"#,
        r#"{"name":""}"#,
        r#"{"value":1}"#,
        r#"{"other":"x"}"#,
        "[]",
    ] {
        let (status, body) = api.patch(&path("A3"), bad).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["errorCode"], "invalid_body", "{bad}");
    }
    // The value of a refused body is not echoed.
    let (_, body) = api.patch(&path("A3"), r#"{"value":["secret-ish"]}"#).await;
    assert!(!body.to_string().contains("secret-ish"), "{body}");

    // Audited with both names, never a value.
    let events = crate::support::audit_actions(&server).await;
    assert!(events
        .iter()
        .any(|(a, h)| a == "secrets.rename" && h.as_deref() == Some(hook.as_str())));
}

#[tokio::test]
async fn rotating_a_client_secret() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let (status, created) = api.post("/api/v2/clients", r#"{"name":"rotating"}"#).await;
    assert_eq!(status, 201);
    let id = created["client_id"].as_str().unwrap().to_string();
    let old = created["client_secret"].as_str().unwrap().to_string();
    let (status, grant) = api
        .post(
            "/api/v2/client-grants",
            &json!({"client_id": id, "audience": server.audience(), "scope": ["read:hooks"]})
                .to_string(),
        )
        .await;
    assert_eq!(status, 201, "{grant}");
    server.token_for(&id, &old, None).await;

    let (status, rotated) = api
        .post(&format!("/api/v2/clients/{id}/rotate-secret"), "")
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_eq!(rotated["client_id"], id.as_str());
    let new = rotated["client_secret"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert!(new.len() >= 43);
    server.token_for(&id, &new, None).await;
    let response = server
        .http()
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", id.as_str()),
            ("client_secret", old.as_str()),
            ("audience", server.audience().as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "the old secret stops working");
    // Reads never show it again.
    let (_, read) = api.get(&format!("/api/v2/clients/{id}")).await;
    assert!(read.get("client_secret").is_none());
    let (status, _) = api.post("/api/v2/clients/nobody/rotate-secret", "").await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn the_log_pages_and_filters() {
    let server = Server::start();
    create_admin(&server);
    let api = Api::new(&server).await;
    let busy = api.create_hook("Busy", "credentials-exchange", false).await;
    let quiet = api.create_hook("Quiet", "send-phone-message", false).await;
    for i in 0..60 {
        let (status, _) = api
            .post(
                &format!("/api/v2/hooks/{busy}/secrets"),
                &json!({ format!("K{i}"): "v" }).to_string(),
            )
            .await;
        // Past 20 the adds fail; failures are audited too.
        assert!(status == 201 || status == 400, "{status}");
    }
    let mut b = Browser::new(&server);
    b.signed_in().await;

    let first = b.get(&format!("/logs?hook={busy}")).await;
    assert_eq!(first.status, 200);
    let rows = |body: &str| body.matches("<tr><td class=\"nowrap\">").count();
    assert_eq!(rows(&first.body), 50);
    assert!(!first.body.contains(&format!("/logs?hook={quiet}")));
    let marker = "before=";
    let at = first.body.find(marker).expect("a link to older events") + marker.len();
    let before: String = first.body[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let second = b.get(&format!("/logs?hook={busy}&before={before}")).await;
    // 61 events about Busy: its creation and 60 adds (20 succeeded, 40 failed).
    assert_eq!(rows(&second.body), 11);
    assert!(!second.body.contains("Older events"));
    assert!(second.body.contains("Newest"));
    assert!(second.body.contains("hook.create"));
    assert!(first.body.contains("TooManySecrets") || first.body.contains("invalid_body"));

    let admin_actor = "admin:ops@example.com";
    let by_admin = b.get(&format!("/logs?actor={admin_actor}")).await;
    assert_eq!(rows(&by_admin.body), 1, "only the sign-in");
    assert!(by_admin.body.contains("admin.login"));
    let by_client = b.get(&format!("/logs?actor={}", server.client_id)).await;
    assert_eq!(rows(&by_client.body), 50);
}
