//! The Dashboard in a real browser: Debian's Chromium, driven by playwright-core
//! (tests/browser/dashboard.mjs, installed into .tools/browser by
//! scripts/install-test-clients). This test prepares a server and its data through the
//! API and the `admins` command, lets the script walk the pages (the documented secrets
//! flow, adding and deleting secrets, creating and enabling hooks, the Runner, clients,
//! sign-in and sign-out, a form without its CSRF token, keyboard-only navigation, axe-core
//! on every main page), then checks the outcome through the Management API.
//!
//! Without Chromium, Node.js or the installed driver it prints SKIPPED, and fails in CI.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{skip_or_fail, Api, Server, BIN};

const EMAIL: &str = "Admin@Example.com";
const PASSWORD: &str = "a long browser test password";
const CANARY_A: &str = "canary-9f3c7e1d-api-key";
const CANARY_B: &str = "canary-51b0aa42-other";
const NEW_VALUE: &str = "rotated-4e7d-value";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn chromium() -> PathBuf {
    std::env::var_os("HH_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// What the browser test needs, or why it cannot run.
fn prerequisites() -> Result<PathBuf, String> {
    if !chromium().exists() {
        return Err(format!(
            "{} is missing (bash scripts/install-test-clients installs Debian's chromium)",
            chromium().display()
        ));
    }
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok {
        return Err("node is missing".into());
    }
    let modules = repo_root().join(".tools/browser/node_modules");
    if !modules.join("playwright-core").is_dir() || !modules.join("axe-core").is_dir() {
        return Err(format!(
            "{} has no playwright-core/axe-core (run bash scripts/install-test-clients)",
            modules.display()
        ));
    }
    Ok(modules)
}

pub fn create_admin(server: &Server, email: &str, password: &str) {
    let mut child = Command::new(BIN)
        .args(["admins", "create", "--data-dir"])
        .arg(&server.data_dir)
        .args(["--database-url", &server.database_url, "--email", email])
        .env_remove("HOOKHAVEN_MASTER_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hookhaven admins create");
    writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "admins create: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const CLAIMS_SCRIPT: &str = r#"module.exports = function (client, scope, audience, context, cb) {
  var secrets = context.webtask.secrets;
  console.log('token is ' + secrets.API_TOKEN);
  cb(null, { 'https://example.com/has_token': typeof secrets.API_TOKEN === 'string' });
};
"#;

async fn hook_with(
    api: &Api<'_>,
    name: &str,
    trigger: &str,
    enabled: bool,
    script: &str,
) -> String {
    let body = json!({"name": name, "script": script, "triggerId": trigger, "enabled": enabled});
    let (status, hook) = api.post("/api/v2/hooks", &body.to_string()).await;
    assert_eq!(status, 201, "{hook}");
    hook["id"].as_str().unwrap().to_string()
}

fn run_script(
    modules: &std::path::Path,
    server: &Server,
    shots: &std::path::Path,
    result: &std::path::Path,
) -> (bool, String) {
    let mut child = Command::new("node")
        .arg(repo_root().join("tests/browser/dashboard.mjs"))
        .env("HH_BASE", &server.base)
        .env("HH_EMAIL", EMAIL)
        .env("HH_PASSWORD", PASSWORD)
        .env("HH_CANARY", "canary-")
        .env("HH_NEW_VALUE", NEW_VALUE)
        .env("HH_SCREENSHOTS", shots)
        .env("HH_RESULT", result)
        .env("HH_NODE_MODULES", modules)
        .env("HH_CHROMIUM", chromium())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start node");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || std::io::read_to_string(stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = format!(
        "{}{}",
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default()
    );
    (status.is_some_and(|s| s.success()), output)
}

#[tokio::test]
async fn the_dashboard_in_a_real_browser() {
    let modules = match prerequisites() {
        Ok(m) => m,
        Err(reason) => return skip_or_fail(&reason),
    };
    let server = Server::start();
    let api = Api::new(&server).await;
    create_admin(&server, EMAIL, PASSWORD);

    // The hooks the script works on.
    let claims = hook_with(&api, "Claims", "credentials-exchange", true, CLAIMS_SCRIPT).await;
    let (status, body) = api
        .post(
            &format!("/api/v2/hooks/{claims}/secrets"),
            &json!({"API_KEY": CANARY_A, "OTHER": CANARY_B, "UNSET": "_VALUE_NOT_SHOWN_"})
                .to_string(),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let claims_v2 = api
        .create_hook("Claims v2", "credentials-exchange", false)
        .await;
    let full = api.create_hook("Full", "post-change-password", false).await;
    let twenty: serde_json::Map<String, Value> = (1..=20)
        .map(|i| {
            (
                format!("S{i:02}"),
                Value::String(format!("canary-full-{i}")),
            )
        })
        .collect();
    let (status, body) = api
        .post(
            &format!("/api/v2/hooks/{full}/secrets"),
            &Value::Object(twenty).to_string(),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let shots = std::env::var_os("HOOKHAVEN_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/dashboard-screenshots"));
    let result_path = server
        .data_dir
        .parent()
        .unwrap()
        .join("browser-result.json");
    let (ok, output) = run_script(&modules, &server, &shots, &result_path);
    println!("{output}");
    let result: Value = std::fs::read_to_string(&result_path)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    assert!(
        ok && result["ok"] == true,
        "the browser run failed at {:?}: {}\n{output}\nserver log:\n{}",
        result["failed_step"],
        result["error"],
        server.logs()
    );
    println!("screenshots in {}", shots.display());

    // The documented flow: the new name is there, the old one is gone…
    let (_, secrets) = api.get(&format!("/api/v2/hooks/{claims}/secrets")).await;
    assert_eq!(
        secrets,
        json!({"API_TOKEN": "_VALUE_NOT_SHOWN_", "OTHER": "_VALUE_NOT_SHOWN_", "UNSET": "_VALUE_NOT_SHOWN_"}),
        "after the browser run"
    );
    // …and the hook sees the new value under the new name (and nothing under the old).
    let check = format!(
        "module.exports = function (client, scope, audience, context, cb) {{ var s = context.webtask.secrets; cb(null, {{ 'https://example.com/new': s.API_TOKEN === {NEW_VALUE:?}, 'https://example.com/old': s.API_KEY === undefined }}); }};"
    );
    let (status, run) = api
        .post(
            &format!("/api/v2/hooks/{claims}/run"),
            &json!({ "script": check }).to_string(),
        )
        .await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(
        run["result"],
        json!({"https://example.com/new": true, "https://example.com/old": true}),
        "{run}"
    );
    assert_eq!(
        server.stored_secret(&claims, "API_TOKEN").await.as_deref(),
        Some(NEW_VALUE)
    );
    assert_eq!(
        server.stored_secret(&claims, "OTHER").await.as_deref(),
        Some(CANARY_B)
    );

    // Enabling Claims v2 disabled Claims (D2).
    let (_, hook) = api.get(&format!("/api/v2/hooks/{claims_v2}")).await;
    assert_eq!(hook["enabled"], true);
    let (_, hook) = api.get(&format!("/api/v2/hooks/{claims}")).await;
    assert_eq!(hook["enabled"], false);

    // The hook created in the browser, unchanged by the save that did not compile.
    let (_, hooks) = api
        .get("/api/v2/hooks?triggerId=pre-user-registration")
        .await;
    let gate = hooks
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "Signup Gate")
        .expect("the hook created in the browser");
    assert_eq!(gate["enabled"], false);
    assert!(gate["script"]
        .as_str()
        .unwrap()
        .contains("PreUserRegistrationError"));

    // The keyboard-only rename.
    assert_eq!(
        server.stored_secret(&full, "S01_RENAMED").await.as_deref(),
        Some("keyboard-value")
    );
    let (_, secrets) = api.get(&format!("/api/v2/hooks/{full}/secrets")).await;
    assert_eq!(secrets.as_object().unwrap().len(), 20);

    // The client made in the browser exists, with the scopes ticked.
    let client_id = result["client"]["client_id"].as_str().unwrap();
    let (status, _) = api.get(&format!("/api/v2/clients/{client_id}")).await;
    assert_eq!(status, 200);
    let (_, grants) = api
        .get(&format!("/api/v2/client-grants?client_id={client_id}"))
        .await;
    assert_eq!(
        grants[0]["scope"],
        json!(["read:hooks", "update:hooks"]),
        "{grants}"
    );

    // Every change was audited with the administrator as the actor.
    let actions: Vec<String> = support::audit_actions(&server)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect();
    for expected in [
        "admin.login",
        "secrets.rename",
        "secrets.create",
        "secrets.delete",
        "hook.run",
        "hook.create",
        "hook.update",
        "client.create",
        "client.rotate_secret",
        "admin.logout",
    ] {
        assert!(
            actions.iter().any(|a| a == expected),
            "no {expected} in {actions:?}"
        );
    }
    let opened = hookhaven_server::open_data_dir(&server.config())
        .await
        .unwrap();
    let by_admin = opened
        .store
        .list_audit(&hookhaven_core::AuditFilter {
            actor: Some("admin:admin@example.com".into()),
            limit: 500,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(by_admin.iter().any(|e| e.event.action == "secrets.rename"));
}
