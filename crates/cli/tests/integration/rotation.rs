//! Key rotation without downtime (issue 7, security-tests row 7): the master key rotated
//! and every value re-sealed under steady reads and writes, then the old key retired; the
//! signing key rotated with tokens from before still verifying and a token from the new
//! key verifying on a second instance that was not restarted.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{json, Value};

use crate::support::{run_keys, Api, Options, Server};

/// Reports, for every secret of the hook, whether it holds `v-<its name>`.
const CHECKING_SCRIPT: &str = r#"module.exports = function (client, scope, audience, context, cb) {
    var s = context.webtask.secrets; var bad = [];
    Object.keys(s).forEach(function (k) { if (s[k] !== 'v-' + k) { bad.push(k); } });
    cb(null, { scope: scope, 'https://example.com/bad': bad, 'https://example.com/n': Object.keys(s).length });
};"#;

fn status(server: &Server) -> Value {
    let (ok, out, err) = run_keys(server, &["status"]);
    assert!(ok, "keys status failed: {err}");
    serde_json::from_str(&out).expect("status json")
}

/// A request sender that can move into a task.
#[derive(Clone)]
struct Caller {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Caller {
    async fn send(&self, method: &str, path: &str, body: Option<String>) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        match req.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let text = response.text().await.unwrap_or_default();
                (
                    status,
                    serde_json::from_str(&text).unwrap_or(Value::String(text)),
                )
            }
            Err(e) => (0, Value::String(e.to_string())),
        }
    }

    /// Runs a hook with the checking script; `Err` describes anything but a clean run
    /// over `expect` secrets (any count when `None`).
    async fn check_hook(&self, id: &str, expect: Option<u64>) -> Result<(), String> {
        let (status, out) = self
            .send(
                "POST",
                &format!("/api/v2/hooks/{id}/run"),
                Some("{}".into()),
            )
            .await;
        if status != 200 {
            return Err(format!("run {id}: {status} {out}"));
        }
        let result = &out["result"];
        if result["https://example.com/bad"] != json!([]) {
            return Err(format!("run {id}: values changed: {out}"));
        }
        if let Some(n) = expect {
            if result["https://example.com/n"].as_f64() != Some(n as f64) {
                return Err(format!("run {id}: expected {n} secrets: {out}"));
            }
        }
        Ok(())
    }
}

async fn hook_with_secrets(api: &Api<'_>, name: &str, secrets: usize) -> String {
    let body = json!({"name": name, "script": CHECKING_SCRIPT, "triggerId": "credentials-exchange", "enabled": false});
    let (status, hook) = api.post("/api/v2/hooks", &body.to_string()).await;
    assert_eq!(status, 201, "{hook}");
    let id = hook["id"].as_str().unwrap().to_string();
    if secrets > 0 {
        let values: serde_json::Map<String, Value> = (0..secrets)
            .map(|i| (format!("S{i}"), json!(format!("v-S{i}"))))
            .collect();
        let (status, out) = api
            .post(
                &format!("/api/v2/hooks/{id}/secrets"),
                &Value::Object(values).to_string(),
            )
            .await;
        assert_eq!(status, 201, "{out}");
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn master_key_rotates_under_load_and_the_old_key_retires() {
    let server = Server::start_with(Options {
        args: [
            "--keyring-reload-secs",
            "1",
            "--rewrap-interval-secs",
            "1",
            "--rewrap-batch",
            "4",
            "--hook-timeout",
            "5",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    });
    let api = Api::new(&server).await;
    let readers_hooks = [
        hook_with_secrets(&api, "rotation-a", 10).await,
        hook_with_secrets(&api, "rotation-b", 10).await,
    ];
    let written = hook_with_secrets(&api, "rotation-w", 0).await;
    let before = status(&server);
    let old = before["master_key"]["active"].as_str().unwrap().to_string();
    assert!(
        before["master_key"]["sealed_values"][&old]
            .as_u64()
            .unwrap()
            >= 20
    );

    let caller = Caller {
        http: server.http(),
        base: server.url(""),
        token: api.token.clone(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let requests = Arc::new(AtomicU64::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for r in 0..2 {
        let (caller, stop, requests, failures) = (
            caller.clone(),
            stop.clone(),
            requests.clone(),
            failures.clone(),
        );
        let hooks = readers_hooks.clone();
        tasks.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let id = &hooks[r % 2];
                let mut outcome = caller.check_hook(id, Some(10)).await;
                if outcome.is_ok() {
                    let (status, out) = caller
                        .send("GET", &format!("/api/v2/hooks/{id}/secrets"), None)
                        .await;
                    if status != 200 || out.as_object().map(|o| o.len()) != Some(10) {
                        outcome = Err(format!("list secrets: {status} {out}"));
                    }
                    requests.fetch_add(1, Ordering::Relaxed);
                }
                requests.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = outcome {
                    failures.lock().unwrap().push(e);
                }
            }
        }));
    }
    for w in 0..2 {
        let (caller, stop, requests, failures) = (
            caller.clone(),
            stop.clone(),
            requests.clone(),
            failures.clone(),
        );
        let id = written.clone();
        tasks.push(tokio::spawn(async move {
            let path = format!("/api/v2/hooks/{id}/secrets");
            let mut i = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let name = format!("W{w}_{i}");
                let body = json!({ name.clone(): format!("v-{name}") }).to_string();
                let mut steps = vec![("POST", Some(body.clone())), ("PATCH", Some(body))];
                if i >= 3 {
                    steps.push((
                        "DELETE",
                        Some(json!([format!("W{w}_{}", i - 3)]).to_string()),
                    ));
                }
                for (method, body) in steps {
                    let (status, out) = caller.send(method, &path, body).await;
                    requests.fetch_add(1, Ordering::Relaxed);
                    if !(200..300).contains(&status) {
                        failures
                            .lock()
                            .unwrap()
                            .push(format!("{method} {name}: {status} {out}"));
                    }
                }
                requests.fetch_add(1, Ordering::Relaxed);
                if let Err(e) = caller.check_hook(&id, None).await {
                    failures.lock().unwrap().push(e);
                }
                i += 1;
            }
        }));
    }

    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (ok, _, err) = run_keys(&server, &["rotate"]);
    assert!(ok, "keys rotate failed: {err}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(server.data_dir.join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "the rewritten keyring stays private");
    }
    let (ok, _, err) = run_keys(&server, &["retire", &old]);
    assert!(!ok, "retiring a key still in use is refused");
    assert!(err.contains("still sealed under it"), "{err}");

    // The running server reloads the keyring and re-seals everything in the background.
    let deadline = Instant::now() + Duration::from_secs(30);
    let new = loop {
        let now = status(&server);
        let new = now["master_key"]["active"].as_str().unwrap().to_string();
        assert_ne!(new, old);
        let remaining = now["master_key"]["sealed_values"][&old].as_u64().unwrap();
        if remaining == 0 {
            assert!(now["master_key"]["sealed_values"][&new].as_u64().unwrap() >= 20);
            break new;
        }
        assert!(
            Instant::now() < deadline,
            "values still under {old}: {now}\n{}",
            server.logs()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    let failures = failures.lock().unwrap().clone();
    let total = requests.load(Ordering::Relaxed);
    eprintln!(
        "rotation under load: {total} requests, {} failed",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {total} failed: {failures:#?}",
        failures.len()
    );
    assert!(total > 20, "the load ran ({total} requests)");
    assert!(
        server
            .logs()
            .contains("re-sealed values under the active master key"),
        "{}",
        server.logs()
    );

    // Nothing is left under the old key, so it can go; the server keeps serving.
    let after = status(&server);
    assert_eq!(
        after["master_key"]["remaining_under_old_keys"], 0,
        "{after}"
    );
    let (ok, _, err) = run_keys(&server, &["retire", &old]);
    assert!(ok, "keys retire failed: {err}");
    let after = status(&server);
    assert_eq!(after["master_key"]["keys"], json!([new]));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for id in &readers_hooks {
        caller.check_hook(id, Some(10)).await.unwrap();
    }
    assert_eq!(
        server
            .stored_secret(&readers_hooks[0], "S3")
            .await
            .as_deref(),
        Some("v-S3")
    );
    // The admin API shows the same, and can start a re-seal pass.
    let (code, body) = api.get("/api/v2/keys/status").await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["master_key"]["active"], new.as_str());
    assert_eq!(
        body["master_key"]["keys"],
        json!([new]),
        "the server reloaded the keyring"
    );
    assert_eq!(body["master_key"]["remaining_under_old_keys"], 0);
    let (code, body) = api.post("/api/v2/keys/rewrap", "").await;
    assert_eq!(code, 202, "{body}");
    let (ok, _, err) = run_keys(&server, &["retire", &new]);
    assert!(!ok && err.contains("active key"), "{err}");
}

fn kid_of(token: &str) -> String {
    let header = token.split('.').next().unwrap();
    let header: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .unwrap(),
    )
    .unwrap();
    header["kid"].as_str().unwrap().to_string()
}

async fn hooks_status(server: &Server, token: &str) -> u16 {
    server
        .http()
        .get(server.url("/api/v2/hooks"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn published_kids(server: &Server) -> Vec<String> {
    let jwks: Value = server
        .http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_key_rotates_without_a_restart_and_old_tokens_keep_verifying() {
    let first = Server::start_with(Options {
        args: vec!["--signing-key-reload-secs".into(), "1".into()],
        domain: Some("rotation.hookhaven.test".into()),
        ..Default::default()
    });
    // A second instance on the same database, with the default 30-second reload.
    let second = first.start_peer();
    let before = status(&first);
    let k1 = before["signing_key"]["current"]
        .as_str()
        .unwrap()
        .to_string();
    let k2 = before["signing_key"]["next"].as_str().unwrap().to_string();
    assert_eq!(
        published_kids(&first).await.len(),
        2,
        "the next key is published before it signs"
    );
    assert!(published_kids(&second).await.contains(&k2));
    let old_token = first.admin_token().await;
    assert_eq!(kid_of(&old_token), k1);

    // Two rotations: the current key is then one the second instance has never seen.
    for _ in 0..2 {
        let (ok, out, err) = run_keys(&first, &["rotate-signing"]);
        assert!(ok, "rotate-signing failed: {err}");
        let _: Value = serde_json::from_str(&out).unwrap();
    }
    let after = status(&first);
    let k3 = after["signing_key"]["current"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(k3, k2);
    assert_eq!(
        after["signing_key"]["previous"].as_array().unwrap().len(),
        2
    );
    let lifetime = 86_400 + 600;
    let rotated_at = after["signing_key"]["rotated_at"].as_i64().unwrap();
    let until = after["signing_key"]["previous"][1]["published_until"]
        .as_i64()
        .unwrap();
    assert_eq!(
        until,
        rotated_at + lifetime,
        "published for a token lifetime"
    );

    // The first instance picks the new set up on its periodic reload and signs with k3.
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let new_token = first.admin_token().await;
    assert_eq!(kid_of(&new_token), k3, "{}", first.logs());
    let kids = published_kids(&first).await;
    assert!(
        kids.contains(&k1) && kids.contains(&k2) && kids.contains(&k3),
        "{kids:?}"
    );

    // The second instance verifies it at once: an unknown kid makes it re-read the set.
    assert_eq!(
        hooks_status(&second, &new_token).await,
        200,
        "{}",
        second.logs()
    );
    assert!(published_kids(&second).await.contains(&k3));
    // Tokens from before the rotations still verify on both.
    assert_eq!(hooks_status(&first, &old_token).await, 200);
    assert_eq!(hooks_status(&second, &old_token).await, 200);
    // A kid that is in no set is still refused, and does not break anything.
    let mut forged = first.claims(&[hookhaven_core::Scope::ReadHooks]);
    forged.exp += 10;
    let stranger = hookhaven_crypto::SigningKey::generate();
    let forged = hookhaven_crypto::sign_access_token(&stranger, &forged);
    assert_eq!(hooks_status(&second, &forged).await, 401);
    assert_eq!(hooks_status(&second, &new_token).await, 200);
}
