//! End-to-end tests of the hook runtime: contract, adapters, sandbox, network policy.

use std::time::{Duration, Instant};

use hookhaven_core::{SecretValue, TriggerId};
use hookhaven_runtime::{
    sample_payload, ErrorKind, HookRuntime, Invocation, NetworkPolicy, Outcome, RuntimeConfig,
    TriggerResult, TIMEOUT_MESSAGE,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const CCE: TriggerId = TriggerId::CredentialsExchange;
const PUR: TriggerId = TriggerId::PreUserRegistration;
const SPM: TriggerId = TriggerId::SendPhoneMessage;

fn config() -> RuntimeConfig {
    RuntimeConfig {
        workers: 2,
        wall_deadline: Duration::from_secs(5),
        cpu_deadline: Duration::from_millis(500),
        watchdog_grace: Duration::from_millis(300),
        background_grace: Duration::from_millis(500),
        memory_limit_bytes: 32 * 1024 * 1024,
        max_log_bytes: 4096,
        ..RuntimeConfig::default()
    }
}

fn runtime() -> HookRuntime {
    HookRuntime::new(config())
}

fn secret(s: &str) -> Option<SecretValue> {
    Some(SecretValue::new(s.to_string()).unwrap())
}

async fn run(rt: &HookRuntime, trigger: TriggerId, script: &str) -> Outcome {
    rt.invoke(Invocation::new(trigger, script, sample_payload(trigger)))
        .await
}

/// Runs a credentials-exchange hook and returns its claims (panics on error).
async fn claims(rt: &HookRuntime, script: &str) -> serde_json::Map<String, Value> {
    let out = run(rt, CCE, script).await;
    match out.result {
        Ok(TriggerResult::CredentialsExchange { claims, .. }) => claims,
        other => panic!("unexpected {other:?}; logs {:?}", out.logs),
    }
}

fn err(out: &Outcome) -> &hookhaven_runtime::HookError {
    match &out.result {
        Err(e) => e,
        Ok(r) => panic!("expected an error, got {r:?}; logs {:?}", out.logs),
    }
}

// ---------------------------------------------------------------- the contract

#[tokio::test]
async fn both_script_forms_run() {
    let rt = runtime();
    let module = r#"module.exports = function (client, scope, audience, context, cb) {
        cb(null, { scope: scope, 'https://example.com/client': client.name, 'https://example.com/aud': audience });
    };"#;
    let bare = r#"function (client, scope, audience, context, cb) {
        cb(null, { scope: scope, 'https://example.com/client': client.name });
    }"#;
    let named = "// a comment first\nfunction myHook(client, scope, audience, context, cb) { cb(null, {'https://e.com/n': 1}); }";
    let arrow_async = "module.exports = async (client, scope, audience, context, cb) => { await null; cb(null, {'https://e.com/a': 2}); };";
    for (script, key, want) in [
        (module, "https://example.com/client", json!("client-name")),
        (bare, "https://example.com/client", json!("client-name")),
        (named, "https://e.com/n", json!(1)),
        (arrow_async, "https://e.com/a", json!(2)),
    ] {
        let out = run(&rt, CCE, script).await;
        match out.result {
            Ok(TriggerResult::CredentialsExchange { scope, claims }) => {
                assert_eq!(claims.get(key), Some(&want), "{script}");
                if script == module {
                    assert_eq!(scope, Some(vec!["read:connections".to_string()]));
                    assert_eq!(
                        claims.get("https://example.com/aud"),
                        Some(&json!("https://my-tenant.auth0.com/api/v2/"))
                    );
                }
            }
            other => panic!("{script}: {other:?} {:?}", out.logs),
        }
    }
    // Compiled ahead of time gives the same result.
    let compiled = rt.compile(bare).unwrap();
    assert!(compiled.warnings().is_empty());
    let out = rt
        .invoke(Invocation::new(CCE, compiled, sample_payload(CCE)))
        .await;
    assert!(out.result.is_ok(), "{:?}", out.result);
}

#[tokio::test]
async fn first_callback_wins() {
    let rt = runtime();
    let c = claims(
        &rt,
        "module.exports = function (c, s, a, ctx, cb) { cb(null, {'https://e.com/x': 1}); cb(new Error('late')); cb(null, {'https://e.com/x': 2}); };",
    )
    .await;
    assert_eq!(c.get("https://e.com/x"), Some(&json!(1)));
    // Error first, success later: the error stands.
    let out = run(
        &rt,
        CCE,
        "module.exports = function (c, s, a, ctx, cb) { setTimeout(() => cb(null, {}), 1); cb(new Error('first')); };",
    )
    .await;
    assert_eq!(err(&out).message, "first");
}

#[tokio::test]
async fn rejected_promise_and_throw_are_errors() {
    let rt = runtime();
    let out = run(
        &rt,
        CCE,
        "module.exports = async function (c, s, a, ctx, cb) { await Promise.resolve(); throw new TypeError('boom'); };",
    )
    .await;
    let e = err(&out);
    assert_eq!(
        (e.kind.clone(), e.status, e.code),
        (ErrorKind::Server, 500, "server_error")
    );
    assert_eq!(e.message, "boom");
    assert_eq!(e.name.as_deref(), Some("TypeError"));

    let out = run(&rt, CCE, "module.exports = function (c, s, a, ctx, cb) { return Promise.reject(new Error('rejected')); };").await;
    assert_eq!(err(&out).message, "rejected");

    let out = run(&rt, CCE, "module.exports = function () { null.x; };").await;
    assert_eq!(err(&out).name.as_deref(), Some("TypeError"));

    let out = run(&rt, CCE, "module.exports = function (c, s, a, ctx, cb) { setTimeout(function () { throw new Error('in a timer'); }, 1); };").await;
    assert_eq!(err(&out).message, "in a timer");

    // Top-level code of the module form that throws.
    let out = run(
        &rt,
        CCE,
        "throw new Error('top level'); module.exports = function () {};",
    )
    .await;
    assert_eq!(err(&out).message, "top level");
}

#[tokio::test]
async fn no_callback_fails_fast() {
    let rt = HookRuntime::new(RuntimeConfig {
        wall_deadline: Duration::from_secs(20),
        ..config()
    });
    for script in [
        "module.exports = function (c, s, a, ctx, cb) { };",
        "module.exports = async function (c, s, a, ctx, cb) { await new Promise(r => setTimeout(r, 20)); return {}; };",
    ] {
        let begun = Instant::now();
        let out = run(&rt, CCE, script).await;
        assert_eq!(err(&out).kind, ErrorKind::NoCallback, "{script}");
        assert!(begun.elapsed() < Duration::from_secs(2));
    }
    // Not exporting a function at all.
    let out = run(&rt, CCE, "var x = 1;").await;
    assert_eq!(err(&out).kind, ErrorKind::Compile);
}

#[tokio::test]
async fn wall_clock_deadline() {
    let rt = HookRuntime::new(RuntimeConfig {
        wall_deadline: Duration::from_millis(300),
        ..config()
    });
    let out = run(
        &rt,
        CCE,
        "module.exports = function (c, s, a, ctx, cb) { setTimeout(() => cb(null, {}), 60000); };",
    )
    .await;
    let e = err(&out);
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(e.message, TIMEOUT_MESSAGE);
    assert!(out.duration < Duration::from_secs(2));
}

#[tokio::test]
async fn secrets_present_undefined_and_isolated() {
    let rt = runtime();
    let script = r#"module.exports = function (c, s, a, context, cb) {
        var sec = context.webtask.secrets;
        cb(null, {
            'https://e.com/keys': Object.keys(sec).sort(),
            'https://e.com/k': sec.API_KEY === undefined ? 'undefined' : sec.API_KEY,
            'https://e.com/unset': ('UNSET' in sec) && sec.UNSET === undefined,
            'https://e.com/meta': context.webtask.meta,
            'https://e.com/body': context.webtask.body.audience,
            'https://e.com/headers': context.webtask.headers,
            'https://e.com/query': context.webtask.query
        });
    };"#;
    let mut meta = serde_json::Map::new();
    meta.insert("name".into(), json!("my-hook"));
    let mut headers = serde_json::Map::new();
    headers.insert("x-test".into(), json!("1"));
    let out = rt
        .invoke(
            Invocation::new(CCE, script, sample_payload(CCE))
                .with_secrets(vec![
                    ("API_KEY".into(), secret("k-123")),
                    ("UNSET".into(), None),
                ])
                .with_meta(meta)
                .with_headers(headers),
        )
        .await;
    let Ok(TriggerResult::CredentialsExchange { claims, .. }) = out.result else {
        panic!("{:?}", out.result)
    };
    assert_eq!(claims["https://e.com/keys"], json!(["API_KEY", "UNSET"]));
    assert_eq!(claims["https://e.com/k"], json!("k-123"));
    assert_eq!(claims["https://e.com/unset"], json!(true));
    assert_eq!(claims["https://e.com/meta"], json!({"name": "my-hook"}));
    assert_eq!(
        claims["https://e.com/body"],
        json!("https://my-tenant.auth0.com/api/v2/")
    );
    assert_eq!(claims["https://e.com/headers"], json!({"x-test": "1"}));
    assert_eq!(claims["https://e.com/query"], json!({}));

    // The next invocation (another hook, no secrets) sees none of them.
    let c = claims_of(
        rt.invoke(Invocation::new(CCE, script, sample_payload(CCE)))
            .await,
    );
    assert_eq!(c["https://e.com/keys"], json!([]));
    assert_eq!(c["https://e.com/k"], json!("undefined"));
}

fn claims_of(out: Outcome) -> serde_json::Map<String, Value> {
    match out.result {
        Ok(TriggerResult::CredentialsExchange { claims, .. }) => claims,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn secrets_are_redacted_from_logs_and_errors() {
    let rt = runtime();
    let script = r#"module.exports = function (c, s, a, context, cb) {
        var k = context.webtask.secrets.API_KEY;
        console.log('the key is', k);
        console.log({ nested: { key: k } });
        console.error('%s!', k + '-suffix');
        cb(new Error('failed with key ' + k));
    };"#;
    let out = rt
        .invoke(
            Invocation::new(CCE, script, sample_payload(CCE))
                .with_secrets(vec![("API_KEY".into(), secret("s3cr3t-value"))]),
        )
        .await;
    let joined = out.logs.join("\n");
    assert!(!joined.contains("s3cr3t-value"), "{joined}");
    assert_eq!(out.logs[0], "the key is [REDACTED]");
    assert_eq!(out.logs[1], "{ nested: { key: '[REDACTED]' } }");
    assert_eq!(out.logs[2], "[REDACTED]-suffix!");
    let e = err(&out);
    assert_eq!(e.message, "failed with key [REDACTED]");
    assert!(!e.stack.clone().unwrap_or_default().contains("s3cr3t-value"));
}

#[tokio::test]
async fn console_output_is_capped() {
    let rt = runtime();
    let out = run(
        &rt,
        CCE,
        "module.exports = function (c, s, a, ctx, cb) { for (var i = 0; i < 1000; i++) console.log('line ' + i + ' ' + 'x'.repeat(40)); cb(null, {}); };",
    )
    .await;
    assert!(out.result.is_ok());
    assert!(out.logs_truncated);
    let total: usize = out.logs.iter().map(String::len).sum();
    assert!(total < 4096 + 200, "{total}");
}

// ---------------------------------------------------------------- the adapters

#[tokio::test]
async fn credentials_exchange_errors_and_filtering() {
    let rt = runtime();
    for (script, kind, status, code, message) in [
        (
            "cb(new InvalidScopeError('bad scope'))",
            ErrorKind::InvalidScope,
            400,
            "invalid_scope",
            "bad scope",
        ),
        (
            "cb(new InvalidRequestError('bad request'))",
            ErrorKind::InvalidRequest,
            400,
            "invalid_request",
            "bad request",
        ),
        (
            "cb(new ServerError('down'))",
            ErrorKind::Server,
            500,
            "server_error",
            "down",
        ),
        (
            "cb(new Error('plain'))",
            ErrorKind::Server,
            500,
            "server_error",
            "plain",
        ),
        (
            "cb('just a string')",
            ErrorKind::Server,
            500,
            "server_error",
            "just a string",
        ),
        (
            "cb(new InvalidScopeError('old_code', 'two arguments'))",
            ErrorKind::InvalidScope,
            400,
            "invalid_scope",
            "two arguments",
        ),
        (
            "class Mine extends InvalidRequestError {}; cb(new Mine('subclass'))",
            ErrorKind::InvalidRequest,
            400,
            "invalid_request",
            "subclass",
        ),
    ] {
        let out = run(
            &rt,
            CCE,
            &format!(
                "module.exports = function (client, scope, audience, context, cb) {{ {script}; }};"
            ),
        )
        .await;
        let e = err(&out);
        assert_eq!(
            (&e.kind, e.status, e.code, e.message.as_str()),
            (&kind, status, code, message),
            "{script}"
        );
    }
    let e = err(&run(
        &rt,
        CCE,
        "module.exports = function (c, s, a, ctx, cb) { cb(new InvalidScopeError('x')); };",
    )
    .await)
    .clone();
    assert_eq!(
        e.oauth_body(),
        json!({"error": "invalid_scope", "error_description": "x"})
    );
    assert_eq!(e.name.as_deref(), Some("InvalidScopeError"));

    let out = run(
        &rt,
        CCE,
        r#"module.exports = function (client, scope, audience, context, cb) {
            cb(null, {
                scope: scope.concat(['extra']),
                'https://example.com/ok': { nested: true },
                'http://example.org/also': 1,
                'https://my-tenant.auth0.com/no': 1,
                'https://webtask.io/no': 1,
                'https://x.webtask.run/no': 1,
                'not_namespaced': 1,
                'sub': 'override-attempt',
                'aud': 'override-attempt'
            });
        };"#,
    )
    .await;
    let Ok(TriggerResult::CredentialsExchange { scope, claims }) = out.result else {
        panic!()
    };
    assert_eq!(scope, Some(vec!["read:connections".into(), "extra".into()]));
    assert_eq!(
        Value::Object(claims),
        json!({"https://example.com/ok": {"nested": true}, "http://example.org/also": 1})
    );
    // No scope in the result.
    let out = run(
        &rt,
        CCE,
        "module.exports = function (c, s, a, ctx, cb) { cb(null, {'https://e.com/x': 1}); };",
    )
    .await;
    assert!(matches!(
        out.result,
        Ok(TriggerResult::CredentialsExchange { scope: None, .. })
    ));
    // Other triggers do not declare the credentials-exchange classes.
    let out = run(
        &rt,
        SPM,
        "module.exports = function (r, t, ctx, cb) { cb(null, { t: typeof InvalidScopeError }); };",
    )
    .await;
    assert_eq!(
        out.result.unwrap(),
        TriggerResult::SendPhoneMessage(json!({"t": "undefined"}))
    );
}

#[tokio::test]
async fn invalid_payload_is_rejected_with_auth0_messages() {
    let rt = runtime();
    let script = "module.exports = function (c, s, a, ctx, cb) { cb(null, {}); };";
    let out = rt
        .invoke(Invocation::new(
            CCE,
            script,
            json!({"client": {}, "scope": "read", "audience": "x"}),
        ))
        .await;
    let e = err(&out);
    assert_eq!((e.kind.clone(), e.status), (ErrorKind::InvalidPayload, 400));
    assert_eq!(
        e.message,
        "Body .scope received by extensibility point is neither empty nor an array"
    );
    let out = rt
        .invoke(Invocation::new(
            PUR,
            script,
            json!({"user": {}, "context": {}}),
        ))
        .await;
    assert_eq!(
        err(&out).message,
        "Body.context.connection received by extensibility point is not an object"
    );
}

#[tokio::test]
async fn pre_user_registration_adapter() {
    let rt = runtime();
    let out = run(
        &rt,
        PUR,
        r#"module.exports = function (user, context, cb) {
            var response = {};
            response.user = user;                       // the starter code returns the whole user
            response.user.user_metadata = { hobby: user.user_metadata.hobby, lang: context.requestLanguage };
            response.user.app_metadata = { plan: 'gold', connection: context.connection.name };
            response.user.email = 'changed@example.com'; // ignored
            cb(null, response);
        };"#,
    )
    .await;
    assert_eq!(
        out.result.unwrap(),
        TriggerResult::PreUserRegistration {
            user_metadata: Some(
                json!({"hobby": "surfing", "lang": "en-us"})
                    .as_object()
                    .unwrap()
                    .clone()
            ),
            app_metadata: Some(
                json!({"plan": "gold", "connection": "Username-Password-Authentication"})
                    .as_object()
                    .unwrap()
                    .clone()
            ),
        }
    );
    // cb() with nothing: no metadata.
    let out = run(
        &rt,
        PUR,
        "module.exports = function (user, context, cb) { cb(); };",
    )
    .await;
    assert_eq!(
        out.result.unwrap(),
        TriggerResult::PreUserRegistration {
            user_metadata: None,
            app_metadata: None
        }
    );
    // Deny with a user-facing message.
    let out = run(
        &rt,
        PUR,
        "module.exports = function (user, context, cb) { cb(new PreUserRegistrationError('Denied user registration in Pre User Registration Hook', 'You are not allowed to register.')); };",
    )
    .await;
    let e = err(&out);
    assert_eq!(e.status, 400);
    assert_eq!(
        e.message,
        "Denied user registration in Pre User Registration Hook"
    );
    assert_eq!(e.user_message(), Some("You are not allowed to register."));
    // Metadata key rules.
    let out = run(&rt, PUR, "module.exports = function (user, context, cb) { cb(null, { user: { app_metadata: { 'a.b': 1 } } }); };").await;
    assert_eq!(err(&out).kind, ErrorKind::InvalidResult);
    let out = run(&rt, PUR, "module.exports = function (user, context, cb) { cb(null, { user: { user_metadata: { '$set': 1 } } }); };").await;
    assert_eq!(err(&out).kind, ErrorKind::InvalidResult);
    // A plain error is a server error.
    let out = run(
        &rt,
        PUR,
        "module.exports = function (user, context, cb) { cb(new Error('nope')); };",
    )
    .await;
    assert_eq!(
        (err(&out).kind.clone(), err(&out).status),
        (ErrorKind::Server, 500)
    );
}

#[tokio::test]
async fn background_triggers_run_after_the_callback() {
    let rt = runtime();
    for trigger in [
        TriggerId::PostUserRegistration,
        TriggerId::PostChangePassword,
    ] {
        let handle = rt.spawn_background(Invocation::new(
            trigger,
            r#"module.exports = function (user, context, cb) {
                setTimeout(function () { console.log('after cb for ' + user.email); }, 20);
                cb(null, { ignored: true });
            };"#,
            sample_payload(trigger),
        ));
        let out = handle.await.unwrap();
        assert_eq!(out.result, Ok(TriggerResult::Background));
        assert_eq!(out.logs, vec!["after cb for user1@foo.com".to_string()]);
    }
    let out = rt
        .spawn_background(Invocation::new(
            TriggerId::PostChangePassword,
            "module.exports = function (user, context, cb) { cb(new Error('webhook failed')); };",
            sample_payload(TriggerId::PostChangePassword),
        ))
        .await
        .unwrap();
    assert_eq!(err(&out).message, "webhook failed");
}

#[tokio::test]
async fn send_phone_message_adapter() {
    let rt = runtime();
    let out = run(
        &rt,
        SPM,
        "module.exports = function (recipient, text, context, cb) { cb(null, { MessageID: 'm-1', to: recipient, code: context.code, type: context.message_type }); };",
    )
    .await;
    assert_eq!(
        out.result.unwrap(),
        TriggerResult::SendPhoneMessage(
            json!({"MessageID": "m-1", "to": "+1 555 123 4567", "code": "123456", "type": "sms"})
        )
    );
    let out = run(&rt, SPM, "module.exports = function (recipient, text, context, cb) { cb(new Error('sms failed')); };").await;
    assert_eq!(
        (err(&out).status, err(&out).message.as_str()),
        (500, "sms failed")
    );
}

// ---------------------------------------------------------------- compile step

#[tokio::test]
async fn compile_errors_carry_line_and_column() {
    let rt = runtime();
    let e = rt
        .compile("module.exports = function (user, context, cb) {\n  var x = 1;\n  var y = ;\n};")
        .unwrap_err();
    assert_eq!((e.line, e.column), (3, 11), "{e}");
    assert!(e.message.starts_with("SyntaxError"), "{e}");
    assert!(e.to_string().contains("line 3, column 11"));

    let e = rt
        .compile("function (user, context, cb) {\n  cb(null, {}\n}")
        .unwrap_err();
    assert_eq!(e.line, 3, "{e}");

    let e = rt.compile("var a = 'é'; var b = )").unwrap_err();
    assert_eq!((e.line, e.column), (1, 22), "{e}");

    // An unclosed function points at the end of the script.
    let e = rt
        .compile("module.exports = function () {\n  if (x) {")
        .unwrap_err();
    assert_eq!(e.line, 2, "{e}");

    // A compile error at run time (source not compiled ahead).
    let out = run(&rt, CCE, "module.exports = function ( {").await;
    let err = err(&out);
    assert_eq!(err.kind, ErrorKind::Compile);
    assert!(err
        .message
        .starts_with("Unable to compile the extensibility code as javascript"));
}

#[tokio::test]
async fn unsupported_requires_warn_at_save_and_fail_at_run() {
    let rt = runtime();
    let script = "const axios = require('axios@0.27.2');\nconst _ = require('lodash');\nmodule.exports = function (c, s, a, ctx, cb) { cb(null, {}); };";
    let compiled = rt.compile(script).unwrap();
    assert_eq!(compiled.warnings().len(), 1);
    let w = &compiled.warnings()[0];
    assert_eq!((w.line, w.column), (2, 11));
    assert!(w.message.contains("Cannot find module 'lodash'"));
    let out = rt
        .invoke(Invocation::new(CCE, compiled, sample_payload(CCE)))
        .await;
    assert_eq!(err(&out).message, "Cannot find module 'lodash'");
}

// ---------------------------------------------------------------- the sandbox

#[tokio::test]
async fn infinite_loop_is_stopped_and_the_pool_keeps_working() {
    let rt = runtime();
    let out = run(
        &rt,
        CCE,
        "module.exports = function (c, s, a, ctx, cb) { while (true) {} };",
    )
    .await;
    assert_eq!(err(&out).kind, ErrorKind::CpuTimeLimit);
    // A loop that catches the interruption still cannot continue.
    let out = run(&rt, CCE, "module.exports = function (c, s, a, ctx, cb) { for (;;) { try { while (true) {} } catch (e) {} } };").await;
    assert_eq!(err(&out).kind, ErrorKind::CpuTimeLimit);
    assert!(claims(
        &rt,
        "module.exports = function (c, s, a, ctx, cb) { cb(null, {}); };"
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn memory_bomb_is_contained() {
    let rt = runtime();
    let out = run(
        &rt,
        CCE,
        "module.exports = function (c, s, a, ctx, cb) { var a = []; while (true) a.push('x'.repeat(4096) + a.length); };",
    )
    .await;
    assert_eq!(err(&out).kind, ErrorKind::MemoryLimit, "{:?}", out.result);
    let out = run(
        &rt,
        CCE,
        "module.exports = function (c, s, a, ctx, cb) { 'x'.repeat(2 ** 28); };",
    )
    .await;
    assert_eq!(err(&out).kind, ErrorKind::MemoryLimit);
    assert!(claims(
        &rt,
        "module.exports = function (c, s, a, ctx, cb) { cb(null, {}); };"
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn deep_recursion_is_contained() {
    let rt = runtime();
    let out = run(&rt, CCE, "module.exports = function (c, s, a, ctx, cb) { function f(n) { return f(n + 1) + 1; } f(0); };").await;
    assert_eq!(err(&out).kind, ErrorKind::StackOverflow, "{:?}", out.result);
    // Caught by the hook: it can report it.
    let out = run(&rt, CCE, "module.exports = function (c, s, a, ctx, cb) { function f() { f(); } try { f(); } catch (e) { cb(null, {'https://e.com/e': e.message}); } };").await;
    assert!(out.result.is_ok());
}

#[tokio::test]
async fn watchdog_replaces_a_worker_stuck_in_a_builtin() {
    let rt = HookRuntime::new(RuntimeConfig {
        workers: 1,
        wall_deadline: Duration::from_millis(300),
        cpu_deadline: Duration::from_millis(300),
        watchdog_grace: Duration::from_millis(300),
        memory_limit_bytes: 16 * 1024 * 1024,
        ..config()
    });
    let begun = Instant::now();
    let out = run(&rt, CCE, "module.exports = function (c, s, a, ctx, cb) { var s = new Array(1e9) + ''; cb(null, {}); };").await;
    let e = err(&out);
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert_eq!(e.message, TIMEOUT_MESSAGE);
    assert!(
        begun.elapsed() < Duration::from_secs(3),
        "{:?}",
        begun.elapsed()
    );
    let stats = rt.stats();
    assert_eq!(stats.replaced, 1);
    // The single configured worker is stuck, yet the replacement serves the next call.
    assert!(claims(
        &rt,
        "module.exports = function (c, s, a, ctx, cb) { cb(null, {}); };"
    )
    .await
    .is_empty());
}

#[tokio::test]
async fn no_state_leaks_between_invocations() {
    let rt = HookRuntime::new(RuntimeConfig {
        workers: 1,
        ..config()
    });
    let first = r#"module.exports = function (c, s, a, ctx, cb) {
        globalThis.leaked = 'x'; global.other = 1; Object.prototype.polluted = 'yes';
        Array.prototype.push = function () { return 'hijacked'; };
        JSON.stringify = function () { return 'hijacked'; };
        Buffer.prototype.toString = function () { return 'hijacked'; };
        cb(null, {});
        // Work left behind after the callback must not run in, or reach, the next call.
        Promise.resolve().then(function () { globalThis.late = 1; });
        setTimeout(function () { globalThis.later = 1; }, 0);
    };"#;
    assert!(run(&rt, CCE, first).await.result.is_ok());
    let c = claims(
        &rt,
        r#"module.exports = function (c, s, a, ctx, cb) {
            var arr = []; arr.push(1);
            cb(null, { 'https://e.com/r': [typeof leaked, typeof other, ({}).polluted === undefined, arr.length, JSON.stringify({a: 1}),
                typeof late, typeof later, Buffer.from('ok').toString()] });
        };"#,
    )
    .await;
    assert_eq!(
        c["https://e.com/r"],
        json!([
            "undefined",
            "undefined",
            true,
            1,
            "{\"a\":1}",
            "undefined",
            "undefined",
            "ok"
        ])
    );
}

#[tokio::test]
async fn host_is_unreachable() {
    let rt = runtime();
    for module in [
        "fs",
        "child_process",
        "net",
        "os",
        "process",
        "http",
        "lodash",
    ] {
        let out = run(&rt, CCE, &format!("module.exports = function (c, s, a, ctx, cb) {{ require('{module}'); cb(null, {{}}); }};")).await;
        assert_eq!(err(&out).message, format!("Cannot find module '{module}'"));
    }
    let c = claims(
        &rt,
        r#"module.exports = function (c, s, a, ctx, cb) {
            var r = {
                env: Object.keys(process.env).length,
                std: typeof std, os: typeof os, scriptArgs: typeof scriptArgs, load: typeof load,
                Deno: typeof Deno, Bun: typeof Bun
            };
            import('os').then(function () { r.imported = true; }, function (e) { r.imported = false; })
              .then(function () {
                try { ctx.webtask.storage.get(function (e) { r.storage = e.message; cb(null, { 'https://e.com/r': r }); }); }
                catch (e) { cb(e); }
              });
        };"#,
    )
    .await;
    assert_eq!(
        c["https://e.com/r"],
        json!({"env": 0, "std": "undefined", "os": "undefined", "scriptArgs": "undefined", "load": "undefined",
               "Deno": "undefined", "Bun": "undefined", "imported": false,
               "storage": "Webtask storage is not supported by Hookhaven"})
    );
    // fetch with no allow-list configured reaches nothing.
    let out = run(&rt, CCE, "module.exports = async function (c, s, a, ctx, cb) { try { await fetch('https://example.com/'); cb(null, {}); } catch (e) { cb(e); } };").await;
    assert!(
        err(&out).message.contains("not on the outbound allow-list"),
        "{:?}",
        out.result
    );
}

// ---------------------------------------------------------------- built-ins

#[tokio::test]
async fn builtin_globals_and_modules() {
    let rt = runtime();
    let c = claims(
        &rt,
        r#"module.exports = function (c, s, a, ctx, cb) {
            var crypto = require('crypto');
            var nodeCrypto = require('node:crypto');
            var u = new URL('https://user:pw@example.com:8443/a/b?x=1&y=two#frag');
            u.searchParams.append('z', 'a b');
            var sp = new URLSearchParams({ q: 'a&b', n: '1' });
            var buf = Buffer.from('hello wörld');
            var r = {
                sha256: crypto.createHash('sha256').update('abc').digest('hex'),
                sha1: crypto.createHash('sha1').update('abc').digest('base64'),
                md5: crypto.createHash('md5').update(Buffer.from('abc')).digest('hex'),
                hmac: crypto.createHmac('sha256', 'key').update('The quick brown fox jumps over the lazy dog').digest('hex'),
                same: nodeCrypto === crypto,
                uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
                globalUuid: typeof globalThis.crypto.randomUUID(),
                random: crypto.randomBytes(8).length,
                host: u.host, port: u.port, path: u.pathname, search: u.search, hash: u.hash, origin: u.origin,
                x: u.searchParams.get('x'),
                sp: sp.toString(),
                relative: new URL('../c?d=1', 'https://example.com/a/b').href,
                badUrl: (function () { try { new URL('not a url'); return 'parsed'; } catch (e) { return e.name + ': ' + e.message; } })(),
                b64: buf.toString('base64'), hex: Buffer.from('ff00', 'hex').toString('hex'),
                roundTrip: Buffer.from(buf.toString('base64'), 'base64').toString('utf8'),
                b64url: Buffer.from([251, 255]).toString('base64url'),
                len: buf.length, isBuffer: Buffer.isBuffer(buf), concat: Buffer.concat([Buffer.from('a'), Buffer.from('b')]).toString(),
                json: JSON.stringify(Buffer.from('hi')),
                atob: atob('aGVsbG8='), btoa: btoa('hello'),
                te: Array.from(new TextEncoder().encode('é')),
                td: new TextDecoder().decode(new Uint8Array([0xe2, 0x82, 0xac])),
                tsafe: crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ab')),
                unsupported: (function () { try { crypto.createHash('whirlpool'); } catch (e) { return e.message; } })(),
                timers: [typeof setTimeout, typeof setInterval, typeof clearTimeout, typeof setImmediate, typeof queueMicrotask],
                globals: [typeof fetch, typeof Headers, typeof Response, typeof AbortController, typeof global, typeof require]
            };
            var ticks = 0;
            var iv = setInterval(function () {
                ticks++;
                if (ticks === 3) { clearInterval(iv); r.ticks = ticks; cb(null, { 'https://e.com/r': r }); }
            }, 1);
        };"#,
    )
    .await;
    assert_eq!(
        c["https://e.com/r"],
        json!({
            "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
            "sha1": "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=",
            "md5": "900150983cd24fb0d6963f7d28e17f72",
            "hmac": "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8",
            "same": true,
            "uuid": true,
            "globalUuid": "string",
            "random": 8,
            "host": "example.com:8443", "port": "8443", "path": "/a/b", "search": "?x=1&y=two&z=a+b",
            "hash": "#frag", "origin": "https://example.com:8443",
            "x": "1",
            "sp": "q=a%26b&n=1",
            "relative": "https://example.com/c?d=1",
            "badUrl": "TypeError: Invalid URL",
            "b64": "aGVsbG8gd8O2cmxk", "hex": "ff00",
            "roundTrip": "hello wörld",
            "b64url": "-_8",
            "len": 12, "isBuffer": true, "concat": "ab",
            "json": "{\"type\":\"Buffer\",\"data\":[104,105]}",
            "atob": "hello", "btoa": "aGVsbG8=",
            "te": [195, 169],
            "td": "€",
            "tsafe": true,
            "unsupported": "Digest method not supported",
            "timers": ["function", "function", "function", "function", "function"],
            "globals": ["function", "function", "function", "function", "object", "function"],
            "ticks": 3
        })
    );
}

// ---------------------------------------------------------------- outbound HTTP

/// A tiny HTTP/1.1 server on 127.0.0.1 for the fetch tests.
async fn stub_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let head_end = loop {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let mut lines = head.split("\r\n");
                let request_line = lines.next().unwrap_or("");
                let mut parts = request_line.split(' ');
                let method = parts.next().unwrap_or("").to_string();
                let path = parts.next().unwrap_or("").to_string();
                let mut headers = serde_json::Map::new();
                let mut length = 0usize;
                for line in lines.filter(|l| !l.is_empty()) {
                    if let Some((k, v)) = line.split_once(':') {
                        let k = k.trim().to_ascii_lowercase();
                        if k == "content-length" {
                            length = v.trim().parse().unwrap_or(0);
                        }
                        headers.insert(k, json!(v.trim()));
                    }
                }
                while buf.len() < head_end + length {
                    let Ok(n) = sock.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
                let (status, extra, content) = match path.as_str() {
                    "/json" => (
                        "200 OK",
                        String::new(),
                        json!({"hello": "world"}).to_string(),
                    ),
                    "/echo" => (
                        "200 OK",
                        String::new(),
                        json!({"method": method, "path": path, "body": body, "headers": headers})
                            .to_string(),
                    ),
                    "/redirect-same" => (
                        "302 Found",
                        "Location: /json\r\n".to_string(),
                        String::new(),
                    ),
                    "/redirect-localhost" => (
                        "302 Found",
                        format!("Location: http://localhost:{port}/json\r\n"),
                        String::new(),
                    ),
                    "/redirect-metadata" => (
                        "302 Found",
                        "Location: http://169.254.169.254/latest/meta-data/\r\n".to_string(),
                        String::new(),
                    ),
                    "/redirect-elsewhere" => (
                        "302 Found",
                        "Location: https://not-allowed.example/\r\n".to_string(),
                        String::new(),
                    ),
                    "/big" => ("200 OK", String::new(), "x".repeat(50_000)),
                    "/missing" => (
                        "404 Not Found",
                        String::new(),
                        json!({"error": "nope"}).to_string(),
                    ),
                    "/slow" => {
                        tokio::time::sleep(Duration::from_secs(10)).await;
                        ("200 OK", String::new(), String::new())
                    }
                    _ => ("404 Not Found", String::new(), String::new()),
                };
                let response = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n{content}",
                    content.len()
                );
                let _ = sock.write_all(response.as_bytes()).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    port
}

fn net_runtime(max_subrequests: u32) -> HookRuntime {
    HookRuntime::new(RuntimeConfig {
        network: NetworkPolicy {
            allowed_hosts: vec![
                "127.0.0.1".into(),
                "127.0.0.2".into(),
                "localhost".into(),
                "169.254.169.254".into(),
            ],
            http_allowed_hosts: vec![
                "127.0.0.1".into(),
                "127.0.0.2".into(),
                "localhost".into(),
                "169.254.169.254".into(),
            ],
            allow_private_hosts: vec!["127.0.0.1".into()],
            max_subrequests,
            max_response_bytes: 10_000,
            request_timeout: Duration::from_millis(500),
            ..NetworkPolicy::default()
        },
        ..config()
    })
}

/// Runs `body` (an async function body with `base` in scope) and returns what it resolves to,
/// or the error message it rejects with as `{"error": message}`.
async fn fetch_script(rt: &HookRuntime, port: u16, body: &str) -> Value {
    let script = format!(
        "module.exports = function (c, s, a, ctx, cb) {{ var base = 'http://127.0.0.1:{port}'; (async function () {{ {body} }})().then(function (r) {{ cb(null, {{ 'https://e.com/r': r }}); }}, function (e) {{ cb(null, {{ 'https://e.com/r': {{ error: e.message }} }}); }}); }};"
    );
    let out = run(rt, CCE, &script).await;
    claims_of(out)["https://e.com/r"].clone()
}

#[tokio::test]
async fn fetch_reaches_an_allowed_host() {
    let port = stub_server().await;
    let rt = net_runtime(10);
    let r = fetch_script(&rt, port, "var res = await fetch(base + '/json'); return { status: res.status, ok: res.ok, type: res.headers.get('content-type'), body: await res.json() };").await;
    assert_eq!(
        r,
        json!({"status": 200, "ok": true, "type": "application/json", "body": {"hello": "world"}})
    );

    let r = fetch_script(&rt, port, "var res = await fetch(base + '/echo', { method: 'POST', headers: { 'X-Api-Key': 'k', 'Content-Type': 'application/json' }, body: JSON.stringify({ a: 1 }) }); return await res.json();").await;
    assert_eq!(r["method"], json!("POST"));
    assert_eq!(r["body"], json!("{\"a\":1}"));
    assert_eq!(r["headers"]["x-api-key"], json!("k"));
    assert!(r["headers"]["user-agent"]
        .as_str()
        .unwrap()
        .starts_with("Hookhaven-Hooks/"));

    // Redirect on the same allowed host.
    let r = fetch_script(&rt, port, "var res = await fetch(base + '/redirect-same'); return { redirected: res.redirected, body: await res.json() };").await;
    assert_eq!(r, json!({"redirected": true, "body": {"hello": "world"}}));

    // The shims.
    let r = fetch_script(&rt, port, "var axios = require('axios@0.27.2'); var res = await axios.post(base + '/echo', { a: 1 }, { headers: { 'x-b': '2' } }); return { status: res.status, data: res.data.body, ct: res.data.headers['content-type'] };").await;
    assert_eq!(
        r,
        json!({"status": 200, "data": "{\"a\":1}", "ct": "application/json"})
    );
    let r = fetch_script(&rt, port, "var axios = require('axios'); try { await axios.get(base + '/missing'); return 'no error'; } catch (e) { return { message: e.message, status: e.response.status, data: e.response.data }; }").await;
    assert_eq!(
        r,
        json!({"message": "Request failed with status code 404", "status": 404, "data": {"error": "nope"}})
    );
    let r = fetch_script(&rt, port, "var request = require('request'); return await new Promise(function (resolve, reject) { request.post({ url: base + '/echo', json: { q: 'x' } }, function (err, res, body) { if (err) return reject(err); resolve({ status: res.statusCode, body: body.body }); }); });").await;
    assert_eq!(r, json!({"status": 200, "body": "{\"q\":\"x\"}"}));
    let r = fetch_script(&rt, port, "var f = require('node-fetch'); var res = await f(base + '/json'); return (await res.json()).hello;").await;
    assert_eq!(r, json!("world"));
}

#[tokio::test]
async fn fetch_blocks_addresses_hosts_and_schemes() {
    let port = stub_server().await;
    let rt = net_runtime(10);
    let cases = [
        // Allowed host, but a loopback address not exempted.
        (
            format!("fetch('http://127.0.0.2:{port}/json')"),
            "address 127.0.0.2 of host '127.0.0.2' is not allowed",
        ),
        // A name that resolves to loopback.
        (
            format!("fetch('http://localhost:{port}/json')"),
            "of host 'localhost' is not allowed (loopback address)",
        ),
        // Cloud metadata.
        (
            "fetch('http://169.254.169.254/latest/meta-data/')".to_string(),
            "is not allowed (link-local or metadata address)",
        ),
        // Not on the allow-list.
        (
            "fetch('https://example.com/')".to_string(),
            "host 'example.com' is not on the outbound allow-list",
        ),
        // http where only https is allowed.
        (
            "fetch('http://example.com/')".to_string(),
            "plain http is not allowed for host 'example.com'",
        ),
        (
            "fetch('file:///etc/passwd')".to_string(),
            "the 'file' scheme is not allowed",
        ),
    ];
    for (call, want) in cases {
        let r = fetch_script(&rt, port, &format!("await {call}; return 'reached';")).await;
        let message = r["error"].as_str().unwrap_or_default().to_string();
        assert!(message.contains(want), "{call}: {r}");
        assert!(message.starts_with("fetch failed: "), "{message}");
    }
}

#[tokio::test]
async fn fetch_rechecks_every_redirect_hop() {
    let port = stub_server().await;
    let rt = net_runtime(10);
    for (path, want) in [
        (
            "/redirect-localhost",
            "of host 'localhost' is not allowed (loopback address)",
        ),
        ("/redirect-metadata", "link-local or metadata address"),
        (
            "/redirect-elsewhere",
            "host 'not-allowed.example' is not on the outbound allow-list",
        ),
    ] {
        let r = fetch_script(
            &rt,
            port,
            &format!("await fetch(base + '{path}'); return 'followed';"),
        )
        .await;
        assert!(
            r["error"].as_str().unwrap_or_default().contains(want),
            "{path}: {r}"
        );
    }
    // redirect: 'manual' hands the 302 to the hook instead.
    let r = fetch_script(&rt, port, "var res = await fetch(base + '/redirect-metadata', { redirect: 'manual' }); return [res.status, res.headers.get('location')];").await;
    assert_eq!(r, json!([302, "http://169.254.169.254/latest/meta-data/"]));
}

#[tokio::test]
async fn fetch_budgets() {
    let port = stub_server().await;
    let rt = net_runtime(2);
    let r = fetch_script(&rt, port, "await fetch(base + '/json'); await fetch(base + '/json'); try { await fetch(base + '/json'); return 'third allowed'; } catch (e) { return e.message; }").await;
    assert_eq!(
        r,
        json!("fetch failed: too many outbound requests (limit 2 per invocation)")
    );
    let rt = net_runtime(10);
    let r = fetch_script(&rt, port, "await fetch(base + '/big'); return 'read';").await;
    assert_eq!(
        r["error"],
        json!("fetch failed: the response body exceeds 10000 bytes")
    );
    let r = fetch_script(
        &rt,
        port,
        "await fetch(base + '/echo', { method: 'POST', body: 'x'.repeat(300000) }); return 'sent';",
    )
    .await;
    assert_eq!(
        r["error"],
        json!("fetch failed: the request body exceeds 262144 bytes")
    );
    let begun = Instant::now();
    let r = fetch_script(&rt, port, "await fetch(base + '/slow'); return 'waited';").await;
    assert_eq!(
        r["error"],
        json!("fetch failed: the request timed out after 500 ms")
    );
    assert!(begun.elapsed() < Duration::from_secs(3));
    // AbortController cancels a request in flight.
    let r = fetch_script(&rt, port, "var ac = new AbortController(); setTimeout(function () { ac.abort(); }, 20); try { await fetch(base + '/slow', { signal: ac.signal }); return 'done'; } catch (e) { return e.name; }").await;
    assert_eq!(r, json!("AbortError"));
}

#[tokio::test]
async fn a_full_queue_answers_busy_at_once() {
    let rt = HookRuntime::new(RuntimeConfig {
        workers: 1,
        max_queue: 1,
        queue_timeout: Duration::from_millis(200),
        ..config()
    });
    let slow = "module.exports = function (c, s, a, ctx, cb) { setTimeout(function () { cb(null, {}); }, 400); };";
    let running = rt.invoke(Invocation::new(CCE, slow, sample_payload(CCE)));
    let queued = async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        rt.invoke(Invocation::new(CCE, slow, sample_payload(CCE)))
            .await
    };
    let rejected = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let begun = Instant::now();
        let out = rt
            .invoke(Invocation::new(CCE, slow, sample_payload(CCE)))
            .await;
        (out, begun.elapsed())
    };
    let (running, queued, (rejected, waited)) = tokio::join!(running, queued, rejected);
    assert!(running.result.is_ok());
    // The queued call waited longer than queue_timeout for the single worker.
    assert_eq!(
        (err(&queued).kind.clone(), err(&queued).status),
        (ErrorKind::Busy, 503)
    );
    assert_eq!(err(&rejected).kind, ErrorKind::Busy);
    // At once: well before the 200 ms a queued call may wait.
    assert!(waited < Duration::from_millis(150), "{waited:?}");
    // Afterwards the pool serves again, once the calls still running have drained (on a
    // loaded machine the slow ones can outlast the queue timeout of the next call).
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(claims(
        &rt,
        "module.exports = function (c, s, a, ctx, cb) { cb(null, {}); };"
    )
    .await
    .is_empty());
}

/// The worked example in docs/hooks.md, run as written.
#[tokio::test]
async fn docs_worked_example_runs_as_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/hooks.md"))
        .unwrap();
    let section = &doc[doc.find("## Worked example").unwrap()..];
    let start = section.find("```js\n").unwrap() + "```js\n".len();
    let script = &section[start..start + section[start..].find("```").unwrap()];
    let rt = runtime();
    let compiled = rt.compile(script).unwrap();
    assert!(compiled.warnings().is_empty());
    let secrets = vec![(
        "PARTNER_SIGNING_KEY".to_string(),
        secret("partner-k3y-2024"),
    )];
    let out = rt
        .invoke(
            Invocation::new(CCE, compiled.clone(), sample_payload(CCE))
                .with_secrets(secrets.clone()),
        )
        .await;
    assert_eq!(out.logs, vec!["signed a token for client-name".to_string()]);
    let Ok(TriggerResult::CredentialsExchange { scope, claims }) = out.result else {
        panic!("{:?}", out.result)
    };
    assert_eq!(scope, Some(vec!["read:connections".to_string()]));
    assert_eq!(
        Value::Object(claims),
        json!({
            "https://partner.example.com/sig": "d57bbc8164e0dcb921f0083399a41bcb938ff32db4eb44c93c19a9884cddd37c",
            "https://partner.example.com/plan": "full"
        })
    );
    let mut suspended = sample_payload(CCE);
    suspended["client"]["metadata"]["suspended"] = json!("true");
    let out = rt
        .invoke(Invocation::new(CCE, compiled.clone(), suspended).with_secrets(secrets))
        .await;
    assert_eq!(
        err(&out).oauth_body(),
        json!({"error": "invalid_request", "error_description": "This client is suspended"})
    );
    let out = rt
        .invoke(Invocation::new(CCE, compiled, sample_payload(CCE)))
        .await;
    assert_eq!(
        (err(&out).status, err(&out).message.as_str()),
        (500, "The PARTNER_SIGNING_KEY secret is not set")
    );
}

#[test]
fn runtime_and_invoke_future_are_send() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    let rt = HookRuntime::new(RuntimeConfig {
        workers: 1,
        ..config()
    });
    send_sync(&rt);
    send(rt.invoke(Invocation::new(CCE, "function () {}", sample_payload(CCE))));
    send(rt.clone());
}
