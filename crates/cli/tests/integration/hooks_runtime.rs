//! Hooks running inside the server: save-time compilation, the credentials-exchange hook
//! in `/oauth/token`, the trigger endpoint, and the Runner — through real HTTP.

use base64::Engine;
use serde_json::{json, Value};

use crate::support::{Api, Options, Server};

fn fast_hooks() -> Options {
    Options {
        args: vec!["--hook-timeout".into(), "3".into()],
        ..Default::default()
    }
}

async fn hook_with(
    api: &Api<'_>,
    name: &str,
    trigger: &str,
    script: &str,
    enabled: bool,
) -> String {
    let body = json!({"name": name, "script": script, "triggerId": trigger, "enabled": enabled});
    let (status, hook) = api.post("/api/v2/hooks", &body.to_string()).await;
    assert_eq!(status, 201, "{hook}");
    hook["id"].as_str().unwrap().to_string()
}

fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap()
}

async fn token_response(server: &Server, scope: Option<&str>) -> (u16, Value) {
    let mut form = vec![
        ("grant_type", "client_credentials".to_string()),
        ("client_id", server.client_id.clone()),
        ("client_secret", server.client_secret.clone()),
        ("audience", server.audience()),
    ];
    if let Some(scope) = scope {
        form.push(("scope", scope.to_string()));
    }
    let response = server
        .http()
        .post(server.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_credentials_exchange_hook_reads_a_secret_and_adds_a_claim() {
    let server = Server::start_with(fast_hooks());
    let api = Api::new(&server).await;
    let script = r#"module.exports = function (client, scope, audience, context, cb) {
        var token = { scope: scope.filter(function (s) { return s !== 'delete:hooks'; }) };
        token['https://example.com/plan'] = context.webtask.secrets.PLAN;
        token['https://example.com/client'] = client.name;
        token['not-namespaced'] = 'dropped';
        token['https://example.com/extra-scope'] = audience;
        token.scope.push('execute:anything');
        cb(null, token);
    };"#;
    let id = hook_with(&api, "m2m-claims", "credentials-exchange", script, true).await;
    api.post(&format!("/api/v2/hooks/{id}/secrets"), r#"{"PLAN":"gold"}"#)
        .await;
    let (status, body) = token_response(&server, None).await;
    assert_eq!(status, 200, "{body}");
    let claims = claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["https://example.com/plan"], "gold");
    assert_eq!(claims["https://example.com/client"], "Hookhaven admin");
    assert_eq!(claims["https://example.com/extra-scope"], server.audience());
    assert!(claims.get("not-namespaced").is_none());
    let scopes: Vec<&str> = claims["scope"].as_str().unwrap().split(' ').collect();
    assert!(!scopes.contains(&"delete:hooks"), "the hook removed it");
    assert!(scopes.contains(&"read:hooks"));
    assert!(
        !scopes.contains(&"execute:anything"),
        "a hook cannot add ungranted scopes"
    );
    assert_eq!(body["scope"], claims["scope"]);
    // The token still works: the hook kept read:hooks.
    let response = server
        .http()
        .get(server.url("/api/v2/hooks"))
        .bearer_auth(body["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn credentials_exchange_errors_become_token_errors() {
    let server = Server::start_with(fast_hooks());
    let api = Api::new(&server).await;
    let id = hook_with(
        &api,
        "refuser",
        "credentials-exchange",
        "module.exports = function (client, scope, audience, context, cb) { cb(new InvalidScopeError('no scopes for you')); };",
        true,
    )
    .await;
    let (status, body) = token_response(&server, None).await;
    assert_eq!(
        (status, body.clone()),
        (
            400,
            json!({"error": "invalid_scope", "error_description": "no scopes for you"})
        )
    );
    for (script, status, code) in [
        ("cb(new InvalidRequestError('bad'))", 400, "invalid_request"),
        ("cb(new ServerError('down'))", 500, "server_error"),
        ("cb(new Error('plain'))", 500, "server_error"),
        ("throw new Error('thrown')", 500, "server_error"),
    ] {
        let script = format!(
            "module.exports = function (client, scope, audience, context, cb) {{ {script}; }};"
        );
        let (s, _) = api
            .patch(
                &format!("/api/v2/hooks/{id}"),
                &json!({"script": script}).to_string(),
            )
            .await;
        assert_eq!(s, 200);
        let (got, body) = token_response(&server, None).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(code)),
            "{script}"
        );
    }
    // Offline, without any token, the operator can still list and disable the hook.
    let cli = |args: &[&str]| {
        std::process::Command::new(crate::support::BIN)
            .args(args)
            .arg("--data-dir")
            .arg(&server.data_dir)
            .arg("--database-url")
            .arg(&server.database_url)
            .output()
            .unwrap()
    };
    let listed = cli(&["hooks", "list"]);
    assert!(listed.status.success());
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["enabled"], true);
    assert!(cli(&["hooks", "disable", &id]).status.success());
    assert_eq!(
        token_response(&server, None).await.0,
        200,
        "tokens flow again"
    );
    let (s, _) = api
        .patch(&format!("/api/v2/hooks/{id}"), r#"{"enabled":true}"#)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        token_response(&server, None).await.0,
        500,
        "the last failing script is back"
    );
    let missing = cli(&["hooks", "disable", "01ZZZZZZZZZZZZZZZZZZZZZZZZ"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("does not exist"));
    // Disabling the hook restores plain tokens (with the admin token from before).
    let (s, _) = api
        .patch(&format!("/api/v2/hooks/{id}"), r#"{"enabled":false}"#)
        .await;
    assert_eq!(s, 200);
    assert_eq!(token_response(&server, None).await.0, 200);
}

#[tokio::test]
async fn a_script_that_does_not_compile_is_refused_at_save_with_line_and_column() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let body = json!({"name": "broken", "script": "module.exports = function (user, context, cb) {\n  cb(null, user\n};", "triggerId": "pre-user-registration"});
    let (status, err) = api.post("/api/v2/hooks", &body.to_string()).await;
    assert_eq!(status, 400);
    assert_eq!(err["errorCode"], "invalid_body");
    let message = err["message"].as_str().unwrap();
    assert!(
        message.contains("line 3") && message.contains("column"),
        "{message}"
    );
    let id = hook_with(
        &api,
        "fine",
        "pre-user-registration",
        "module.exports = function (u, c, cb) { cb(null, {}); };",
        false,
    )
    .await;
    let (status, _) = api
        .patch(&format!("/api/v2/hooks/{id}"), r#"{"script":"function ("}"#)
        .await;
    assert_eq!(status, 400);
    let (_, hook) = api.get(&format!("/api/v2/hooks/{id}")).await;
    assert!(
        hook["script"].as_str().unwrap().contains("cb(null, {})"),
        "unchanged"
    );
    // An unsupported module is a warning, not a refusal.
    let (status, _) = api
        .patch(&format!("/api/v2/hooks/{id}"), &json!({"script": "const _ = require('lodash'); module.exports = function (u, c, cb) { cb(null, {}); };"}).to_string())
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_trigger_endpoint_runs_each_kind_of_hook() {
    let server = Server::start_with(fast_hooks());
    let api = Api::new(&server).await;
    let invoke = |trigger: &str, body: Value| {
        let url = server.url(&format!("/api/v2/triggers/{trigger}/invoke"));
        let req = api.http.post(url).bearer_auth(&api.token).json(&body);
        async move {
            let response = req.send().await.unwrap();
            (
                response.status().as_u16(),
                response.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let (status, body) = invoke("pre-user-registration", json!({"user": {"email": "a@b.c"}})).await;
    assert_eq!(
        (status, body["errorCode"].as_str()),
        (404, Some("NoEnabledHook"))
    );
    let (status, _) = invoke("not-a-trigger", json!({})).await;
    assert_eq!(status, 400);

    let pur = r#"module.exports = function (user, context, cb) {
        if (user.email.endsWith('@blocked.example')) {
            return cb(new PreUserRegistrationError('denied by policy', 'Sign-ups from this domain are closed'));
        }
        cb(null, { user: { user_metadata: { tier: context.webtask.secrets.TIER }, app_metadata: { checked: true }, email: 'ignored' } });
    };"#;
    let id = hook_with(&api, "signup-check", "pre-user-registration", pur, true).await;
    api.post(&format!("/api/v2/hooks/{id}/secrets"), r#"{"TIER":"free"}"#)
        .await;
    let payload = json!({"user": {"email": "new@ok.example", "tenant": "t", "username": "n"}, "context": {"connection": {"id": "con_1", "name": "db", "tenant": "t"}}});
    let (status, body) = invoke("pre-user-registration", payload.clone()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"user": {"user_metadata": {"tier": "free"}, "app_metadata": {"checked": true}}})
    );
    let mut blocked = payload.clone();
    blocked["user"]["email"] = json!("x@blocked.example");
    let (status, body) = invoke("pre-user-registration", blocked).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["message"], "Sign-ups from this domain are closed");

    let sms = r#"module.exports = function (recipient, text, context, cb) { cb(null, { sent_to: recipient, length: text.length }); };"#;
    hook_with(&api, "sms", "send-phone-message", sms, true).await;
    let (status, body) = invoke(
        "send-phone-message",
        json!({"recipient": "+15555550100", "text": "code 123", "context": {"message_type": "sms", "action": "enrollment", "language": "en", "code": "123", "ip": "127.0.0.1", "user_agent": "x", "client_id": "c", "name": "n", "client_metadata": {}, "user": {}}}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({"sent_to": "+15555550100", "length": 8}));

    for trigger in ["post-user-registration", "post-change-password"] {
        let script =
            "module.exports = function (user, context, cb) { cb(new Error('ignored failure')); };";
        hook_with(&api, &format!("bg-{trigger}"), trigger, script, true).await;
        let (status, body) = invoke(
            trigger,
            json!({"user": {"id": "u1", "email": "a@b.c"}, "context": {}}),
        )
        .await;
        assert_eq!(status, 202, "{trigger}: {body}");
    }
}

#[tokio::test]
async fn the_runner_shows_result_logs_and_time_and_redacts_secrets() {
    let server = Server::start_with(Options {
        log: Some("debug".into()),
        ..fast_hooks()
    });
    let api = Api::new(&server).await;
    let canary = format!("canary-{}", hookhaven_core::new_ulid());
    let script = r#"module.exports = function (client, scope, audience, context, cb) {
        console.log('the key is', context.webtask.secrets.KEY);
        cb(null, { scope: scope, 'https://example.com/leak': context.webtask.secrets.KEY });
    };"#;
    let id = hook_with(&api, "runner-hook", "credentials-exchange", script, false).await;
    api.post(
        &format!("/api/v2/hooks/{id}/secrets"),
        &json!({"KEY": canary}).to_string(),
    )
    .await;
    let (status, out) = api.post(&format!("/api/v2/hooks/{id}/run"), "{}").await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(
        out["result"]["scope"],
        json!(["read:connections"]),
        "the sample payload"
    );
    assert_eq!(out["result"]["https://example.com/leak"], "[REDACTED]");
    assert_eq!(out["logs"][0], "the key is [REDACTED]");
    assert!(out["duration_ms"].as_f64().unwrap() >= 0.0);
    assert!(!out.to_string().contains(&canary));

    // Unsaved code and a custom payload; errors come back as `error`.
    let body = json!({"script": "module.exports = function (c, s, a, ctx, cb) { cb(new InvalidScopeError('nope ' + ctx.webtask.secrets.KEY)); };", "payload": {"audience": "x", "client": {"id": "c", "name": "n", "tenant": "t", "metadata": {}}, "scope": []}});
    let (status, out) = api
        .post(&format!("/api/v2/hooks/{id}/run"), &body.to_string())
        .await;
    assert_eq!(status, 200);
    assert_eq!(out["error"]["name"], "InvalidScopeError");
    assert_eq!(out["error"]["status"], 400);
    assert_eq!(out["error"]["message"], "nope [REDACTED]");
    let (_, hook) = api.get(&format!("/api/v2/hooks/{id}")).await;
    assert!(
        hook["script"].as_str().unwrap().contains("console.log"),
        "the saved script is unchanged"
    );

    // A hook sees its own secrets only.
    let other = hook_with(&api, "other-hook", "credentials-exchange", "module.exports = function (c, s, a, ctx, cb) { cb(null, {'https://x.example/keys': Object.keys(ctx.webtask.secrets).join(',')}); };", false).await;
    api.post(&format!("/api/v2/hooks/{other}/secrets"), r#"{"MINE":"m"}"#)
        .await;
    let (_, out) = api.post(&format!("/api/v2/hooks/{other}/run"), "").await;
    assert_eq!(out["result"]["https://x.example/keys"], "MINE");

    let (status, err) = api
        .post(
            &format!("/api/v2/hooks/{id}/run"),
            r#"{"script":"function ("}"#,
        )
        .await;
    assert_eq!(
        (status, err["errorCode"].as_str()),
        (400, Some("invalid_body"))
    );
    let (status, _) = api
        .post("/api/v2/hooks/01ZZZZZZZZZZZZZZZZZZZZZZZZ/run", "{}")
        .await;
    assert_eq!(status, 404);

    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(
        !server.logs().contains(&canary),
        "the server log never holds the value"
    );
    let audit = std::process::Command::new(crate::support::BIN)
        .args(["audit", "list", "--hook", &id, "--data-dir"])
        .arg(&server.data_dir)
        .arg("--database-url")
        .arg(&server.database_url)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&audit.stdout).contains("hook.run"));
}

#[tokio::test]
async fn runaway_hooks_are_contained_while_the_server_keeps_serving() {
    let server = Server::start_with(fast_hooks());
    let api = Api::new(&server).await;
    let id = hook_with(
        &api,
        "sandbox",
        "send-phone-message",
        "module.exports = function (r, t, c, cb) { cb(null, {}); };",
        false,
    )
    .await;
    let run = |script: &str| {
        // No payload: the trigger's sample payload is used.
        let body = json!({ "script": script });
        let path = format!("/api/v2/hooks/{id}/run");
        let api = &api;
        async move { api.post(&path, &body.to_string()).await }
    };
    let healthy = "module.exports = function (r, t, c, cb) { cb(null, { ok: true }); };";
    for (name, script, kind) in [
        ("busy loop", "module.exports = function (r, t, c, cb) { while (true) {} };", ""),
        ("memory bomb", "module.exports = function (r, t, c, cb) { var a = []; while (true) { a.push(new Array(100000).fill('x')); } };", ""),
        ("stuck builtin (watchdog)", "module.exports = function (r, t, c, cb) { cb(null, { s: (new Array(1e9) + '').length }); };", ""),
        ("deep recursion", "module.exports = function (r, t, c, cb) { function f(n) { return f(n + 1) + 1; } cb(null, f(0)); };", ""),
        ("host access", "module.exports = function (r, t, c, cb) { var fs = require('fs'); cb(null, fs.readFileSync('/etc/passwd')); };", "Cannot find module"),
        ("process env", "module.exports = function (r, t, c, cb) { cb(null, { env: JSON.stringify(typeof process === 'undefined' ? {} : process.env) }); };", ""),
        ("blocked fetch", "module.exports = async function (r, t, c, cb) { try { await fetch('http://169.254.169.254/latest/meta-data/'); cb(null, {reached: true}); } catch (e) { cb(e); } };", ""),
        ("leaky global", "module.exports = function (r, t, c, cb) { globalThis.leak = 'x'; cb(null, {}); };", ""),
    ] {
        let (status, out) = run(script).await;
        assert_eq!(status, 200, "{name}: {out}");
        if name == "process env" {
            assert!(!out.to_string().contains("PATH"), "{name}: {out}");
        } else if name != "leaky global" {
            assert!(out.get("error").is_some(), "{name} must fail: {out}");
            assert!(out["error"]["message"].as_str().unwrap().contains(kind), "{name}: {out}");
        }
        let (status, out) = run(healthy).await;
        assert_eq!((status, out["result"].clone()), (200, json!({"ok": true})), "after {name}: {out}");
        let (status, _) = api.get("/api/v2/hooks").await;
        assert_eq!(status, 200, "the API still answers after {name}");
    }
    let (_, out) = run("module.exports = function (r, t, c, cb) { cb(null, { leaked: typeof globalThis.leak }); };").await;
    assert_eq!(
        out["result"],
        json!({"leaked": "undefined"}),
        "no state between calls"
    );
}
