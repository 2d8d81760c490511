//! Defences at the edge (issue 7 §5): body and header size limits, the header read
//! timeout against slow-loris, the connection cap, per-IP limits on the token endpoint,
//! security headers; and audit completeness (§6): refused requests are recorded, capped,
//! without credentials, and a change whose audit record cannot be written fails.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use hookhaven_core::AuditFilter;
use serde_json::Value;

use crate::support::{on_postgres, Api, Options, Server};

fn start(args: &[&str]) -> Server {
    Server::start_with(Options {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    })
}

/// Sends raw bytes on a fresh connection and reads the answer until the server closes
/// the connection or `timeout` passes.
fn raw_exchange(server: &Server, request: &[u8], timeout: Duration) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
    stream.set_read_timeout(Some(timeout)).unwrap();
    let _ = stream.write_all(request);
    let mut out = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The body of a raw HTTP/1.1 answer, parsed as JSON.
fn raw_body(answer: &str) -> Value {
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or(Value::Null)
}

/// A well-behaved client is still served.
async fn still_serving(api: &Api<'_>) {
    let (status, body) = api.get("/api/v2/hooks").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn oversize_bodies_are_refused_with_413_and_others_served() {
    let server = start(&["--max-body-bytes", "4096"]);
    let api = Api::new(&server).await;
    let big = format!(
        r#"{{"name":"big","script":"{}","triggerId":"credentials-exchange"}}"#,
        "x".repeat(8000)
    );
    // Declared length over the limit.
    let (status, body) = api.post("/api/v2/hooks", &big).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["statusCode"], 413);
    assert_eq!(
        body["message"],
        "Payload content length greater than maximum allowed"
    );
    // A chunked body with no declared length is cut off by the body limit.
    let chunk = format!("{:x}\r\n{big}\r\n0\r\n\r\n", big.len());
    let request = format!(
        "POST /api/v2/hooks HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n{chunk}",
        api.token
    );
    let answer = raw_exchange(&server, request.as_bytes(), Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert_eq!(raw_body(&answer)["statusCode"], 413, "{answer}");
    // The same on the token endpoint.
    let response = server
        .http()
        .post(server.url("/oauth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "grant_type=client_credentials&x={}",
            "y".repeat(8000)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // A body under the limit still works.
    let id = api
        .create_hook("small", "credentials-exchange", false)
        .await;
    assert!(!id.is_empty());
    still_serving(&api).await;
}

#[tokio::test]
async fn oversize_headers_are_refused_with_431_and_others_served() {
    let server = start(&["--max-header-bytes", "4096"]);
    let api = Api::new(&server).await;
    // Over the configured limit: the 431 envelope.
    let response = server
        .http()
        .get(server.url("/api/v2/hooks"))
        .bearer_auth(&api.token)
        .header("x-padding", "p".repeat(6000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 431);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["statusCode"], 431);
    assert_eq!(body["errorCode"], "headers_too_large");
    // Far past it (hyper's read buffer): refused before the router, connection closed.
    let request = format!(
        "GET /api/v2/hooks HTTP/1.1\r\nhost: x\r\nx-padding: {}\r\n\r\n",
        "p".repeat(256 * 1024)
    );
    let answer = raw_exchange(&server, request.as_bytes(), Duration::from_secs(10));
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    still_serving(&api).await;
}

#[tokio::test]
async fn a_slow_loris_connection_is_closed_and_others_served() {
    let server = start(&["--header-read-timeout", "1"]);
    let api = Api::new(&server).await;
    let port = server.port;
    // One byte every 250 ms: the head would take ~10 s, the server allows 1 s.
    let loris = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let started = Instant::now();
        let head = b"GET /api/v2/hooks HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaa\r\n\r\n";
        for byte in head {
            if stream.write_all(&[*byte]).is_err() {
                return (started.elapsed(), true);
            }
            let mut buf = [0u8; 64];
            match stream.read(&mut buf) {
                Ok(0) => return (started.elapsed(), true),
                Ok(_) => return (started.elapsed(), false),
                Err(_) => {}
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        (started.elapsed(), false)
    });
    // Meanwhile a well-behaved client is served.
    for _ in 0..5 {
        still_serving(&api).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (elapsed, closed) = tokio::task::spawn_blocking(move || loris.join().unwrap())
        .await
        .unwrap();
    assert!(closed, "the slow connection was not closed");
    assert!(
        elapsed < Duration::from_secs(5),
        "closed only after {elapsed:?}"
    );
    still_serving(&api).await;
}

#[tokio::test]
async fn a_connection_flood_past_the_cap_gets_503_and_others_served() {
    let server = start(&["--max-connections", "8"]);
    let api = Api::new(&server).await;
    // The well-behaved client holds one pooled keep-alive connection.
    still_serving(&api).await;
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..30 {
        let mut stream = TcpStream::connect(("127.0.0.1", server.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        loop {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let answer = String::from_utf8_lossy(&buf).into_owned();
        if answer.is_empty() {
            held.push(stream);
        } else {
            assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
            let body = raw_body(&answer);
            assert_eq!(body["statusCode"], 503, "{answer}");
            assert_eq!(body["errorCode"], "too_many_connections");
            refused += 1;
        }
    }
    assert!(held.len() <= 7, "{} connections held", held.len());
    assert!(refused >= 23, "{refused} refused");
    // The client's pooled connection keeps being served.
    for _ in 0..3 {
        still_serving(&api).await;
    }
    // Once the flood goes away, new connections are served again.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = raw_exchange(
            &server,
            b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            Duration::from_secs(5),
        );
        if !answer.starts_with("HTTP/1.1 503") {
            assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
            break;
        }
        assert!(Instant::now() < deadline, "still refusing after the flood");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn security_headers_are_on_every_response() {
    let server = start(&[]);
    let api = Api::new(&server).await;
    let http = server.http();
    let paths = [
        ("/api/v2/hooks", true),
        ("/api/v2/nope", true),
        ("/api/v2/hooks", false),
        ("/.well-known/jwks.json", false),
    ];
    for (path, with_token) in paths {
        let mut request = http.get(server.url(path));
        if with_token {
            request = request.bearer_auth(&api.token);
        }
        let response = request.send().await.unwrap();
        let h = response.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        assert!(h.contains_key("cache-control"), "{path}");
        assert!(!h.contains_key("strict-transport-security"), "{path}");
        if path.starts_with("/api/") {
            assert_eq!(h["cache-control"], "no-store", "{path}");
        }
    }
    let token = server
        .http()
        .post(server.url("/oauth/token"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(token.headers()["cache-control"], "no-store");

    // Under TLS, HSTS as well.
    let tls = Server::start_with(Options {
        tls_self_signed: true,
        ..Default::default()
    });
    let response = tls
        .http()
        .get(tls.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["strict-transport-security"]
        .to_str()
        .unwrap()
        .starts_with("max-age="));
    assert_eq!(response.headers()["x-frame-options"], "DENY");
}

async fn audit_events(server: &Server) -> Vec<hookhaven_store::StoredAuditEvent> {
    let opened = hookhaven_server::open_data_dir(&server.config())
        .await
        .expect("open the data dir");
    opened
        .store
        .list_audit(&AuditFilter {
            limit: 1000,
            ..Default::default()
        })
        .await
        .expect("audit")
}

#[tokio::test]
async fn the_token_endpoint_is_limited_per_ip_before_any_secret_work_and_failures_are_audited() {
    let server = start(&[
        "--rate-limit-ip-burst",
        "6",
        "--rate-limit-ip-per-second",
        "0.05",
    ]);
    let http = server.http();
    let wrong_secret = "definitely-wrong-secret-4f2a9c";
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let response = http
            .post(server.url("/oauth/token"))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", server.client_id.as_str()),
                ("client_secret", wrong_secret),
                ("audience", server.audience().as_str()),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    // Six wrong-secret answers, then the per-IP bucket is empty: 429 without the
    // client lookup or the secret comparison (the edge answers first).
    assert_eq!(&statuses[..6], &[401; 6], "{statuses:?}");
    assert!(statuses[6..].iter().all(|s| *s == 429), "{statuses:?}");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let events = audit_events(&server).await;
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e.event.action == "token.failed")
        .collect();
    assert_eq!(failed.len(), 6, "{failed:?}");
    for e in &failed {
        assert_eq!(e.event.actor, server.client_id);
        let detail = e.event.detail.as_deref().unwrap_or("");
        assert!(detail.contains("ip=127.0.0.1"), "{detail}");
        assert!(
            detail.contains("access_denied") || detail.contains("invalid_client"),
            "{detail}"
        );
    }
    let everything = format!("{events:?}");
    assert!(
        !everything.contains(wrong_secret),
        "a secret reached the audit log"
    );
}

#[tokio::test]
async fn authorisation_failures_are_audited_capped_and_without_tokens() {
    let server = start(&[]);
    let api = Api::new(&server).await;
    let http = server.http();
    let forged = format!("{}x", api.token);
    for _ in 0..60 {
        let response = http
            .get(server.url("/api/v2/hooks"))
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    // A token without the scope: 403, audited with the caller's client id.
    let narrow = server
        .mint(&server.claims(&[hookhaven_core::Scope::ReadHooks]))
        .await;
    let response = http
        .delete(server.url("/api/v2/hooks/01ARZ3NDEKTSV4RRFFQ69G5FAV"))
        .bearer_auth(&narrow)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    tokio::time::sleep(Duration::from_millis(500)).await;

    let events = audit_events(&server).await;
    let unauthorized: Vec<_> = events
        .iter()
        .filter(|e| e.event.action == "api.unauthorized")
        .collect();
    assert_eq!(
        unauthorized.len(),
        hookhaven_server::security_audit::PER_KEY_PER_MINUTE as usize,
        "a flood is capped"
    );
    assert_eq!(unauthorized[0].event.actor, "anonymous");
    assert_eq!(
        unauthorized[0].event.target.as_deref(),
        Some("GET /api/v2/hooks")
    );
    let forbidden: Vec<_> = events
        .iter()
        .filter(|e| e.event.action == "api.forbidden")
        .collect();
    assert_eq!(forbidden.len(), 1);
    assert_eq!(forbidden[0].event.actor, server.client_id);
    assert!(forbidden[0]
        .event
        .detail
        .as_deref()
        .unwrap_or("")
        .contains("insufficient_scope"));
    let everything = format!("{events:?}");
    assert!(
        !everything.contains(&api.token),
        "a token reached the audit log"
    );
    assert!(
        !everything.contains(&narrow),
        "a token reached the audit log"
    );
    assert!(!everything.contains(&server.client_secret));
}

#[tokio::test]
async fn a_change_whose_audit_record_cannot_be_written_fails_and_is_rolled_back() {
    if on_postgres() {
        eprintln!("SKIPPED: installs a SQLite trigger; the PostgreSQL store shares the transaction code path");
        return;
    }
    let server = start(&[]);
    let api = Api::new(&server).await;
    let db = server
        .database_url
        .strip_prefix("sqlite://")
        .expect("a SQLite database")
        .to_string();
    // The audit insert of a hook creation now fails inside the transaction.
    let status = std::process::Command::new("sqlite3")
        .arg(&db)
        .arg(
            "CREATE TRIGGER refuse_hook_audit BEFORE INSERT ON audit_log \
             WHEN NEW.action = 'hook.create' AND NEW.outcome = 'success' \
             BEGIN SELECT RAISE(ABORT, 'audit log unavailable'); END;",
        )
        .status();
    match status {
        Ok(s) if s.success() => {}
        other => {
            crate::support::skip_or_fail(&format!(
                "sqlite3 could not install the trigger: {other:?}"
            ));
            return;
        }
    }
    let body = serde_json::json!({
        "name": "unaudited",
        "script": "module.exports = function (client, scope, audience, context, cb) { cb(null, {}); };",
        "triggerId": "credentials-exchange",
    });
    let (status, response) = api.post("/api/v2/hooks", &body.to_string()).await;
    assert!(status >= 500, "{status} {response}");
    assert_eq!(response["statusCode"], status);
    let (status, hooks) = api.get("/api/v2/hooks").await;
    assert_eq!(status, 200);
    assert_eq!(
        hooks,
        serde_json::json!([]),
        "the change was not rolled back"
    );

    // With the audit log writable again, the same change goes through.
    std::process::Command::new("sqlite3")
        .arg(&db)
        .arg("DROP TRIGGER refuse_hook_audit;")
        .status()
        .unwrap();
    let (status, response) = api.post("/api/v2/hooks", &body.to_string()).await;
    assert_eq!(status, 201, "{response}");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_cleanly_for_pooling_clients() {
    // The header read timeout also ends idle keep-alive connections. A client that pools
    // connections must see a clean close (over TLS: a close_notify) and open a new one,
    // not fail its next request on the dead connection.
    for tls in [false, true] {
        let server = Server::start_with(Options {
            tls_self_signed: tls,
            args: vec!["--header-read-timeout".into(), "1".into()],
            ..Default::default()
        });
        let api = Api::new(&server).await;
        for _ in 0..3 {
            still_serving(&api).await;
            tokio::time::sleep(Duration::from_millis(2500)).await;
        }
    }
}

#[tokio::test]
async fn a_request_past_the_request_timeout_gets_503_and_others_are_served() {
    // One hook worker and runs of 0.9 s each: four at once queue up, so the later ones
    // pass the 2 s request timeout while waiting for the worker.
    let server = start(&[
        "--hook-workers",
        "1",
        "--hook-timeout",
        "1",
        "--request-timeout",
        "2",
    ]);
    let api = Api::new(&server).await;
    let id = api.create_hook("slow", "credentials-exchange", false).await;
    let slow = r#"{"script":"module.exports = function (c, s, a, ctx, cb) { var end = Date.now() + 900; while (Date.now() < end) {} cb(null, {}); };"}"#;
    let path = format!("/api/v2/hooks/{id}/run");
    let (a, b, c, d) = tokio::join!(
        api.post(&path, slow),
        api.post(&path, slow),
        api.post(&path, slow),
        api.post(&path, slow)
    );
    let answers = [a, b, c, d];
    let timed_out: Vec<_> = answers.iter().filter(|(s, _)| *s == 503).collect();
    assert!(
        answers.iter().any(|(s, _)| *s == 200),
        "the first run fits: {answers:?}"
    );
    assert!(!timed_out.is_empty(), "{answers:?}");
    for (_, body) in &timed_out {
        assert_eq!(body["errorCode"], "request_timeout", "{body}");
        assert_eq!(
            body["message"],
            "The request did not complete within 2 seconds"
        );
        assert_eq!(body["statusCode"], 503);
    }
    assert!(
        answers.iter().all(|(s, _)| *s == 200 || *s == 503),
        "{answers:?}"
    );
    still_serving(&api).await;
}
