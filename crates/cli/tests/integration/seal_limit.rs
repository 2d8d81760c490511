//! The seal limit per master key (security-tests row 5): every seal is counted, the
//! counts add up in the database, past the warning limit the server logs that the key
//! should be rotated, at the hard limit it refuses new values with a 503 envelope, and
//! after `hookhaven keys rotate` writes succeed again under the new key. The limits are
//! tiny here (a hidden test-only setting); the real ones are 2^30 and 2^31.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{run_keys, Api, Options, Server};

fn status(server: &Server) -> Value {
    let (ok, out, err) = run_keys(server, &["status"]);
    assert!(ok, "keys status failed: {err}");
    serde_json::from_str(&out).expect("status json")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_past_its_seal_limit_is_refused_until_rotated() {
    let server = Server::start_with(Options {
        args: [
            "--test-seal-limits",
            "6,24",
            "--test-seal-count-flush-secs",
            "1",
            "--keyring-reload-secs",
            "1",
        ]
        .map(String::from)
        .to_vec(),
        ..Default::default()
    });
    let api = Api::new(&server).await;
    let hook = api
        .create_hook("seal-limit", "credentials-exchange", false)
        .await;
    let path = format!("/api/v2/hooks/{hook}/secrets");
    let (code, out) = api.post(&path, r#"{"K":"v-0"}"#).await;
    assert_eq!(code, 201, "{out}");
    let old = status(&server)["master_key"]["active"]
        .as_str()
        .unwrap()
        .to_string();

    // Keep updating one secret until the server refuses; each update is one seal.
    let started = Instant::now();
    let mut accepted = 1u32;
    let refusal = loop {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no refusal after {accepted} seals"
        );
        let body = json!({ "K": format!("v-{accepted}") }).to_string();
        let (code, out) = api.patch(&path, &body).await;
        match code {
            200..=299 => accepted += 1,
            503 => break out,
            _ => panic!("unexpected {code}: {out}"),
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    assert!(accepted >= 2, "refused too early ({accepted} accepted)");
    assert_eq!(refusal["statusCode"], 503, "{refusal}");
    assert_eq!(refusal["error"], "Service Unavailable", "{refusal}");
    let message = refusal["message"].as_str().unwrap();
    assert!(
        message.contains("encryption limit") && message.contains("hookhaven keys rotate"),
        "{message}"
    );
    assert!(
        !message.contains(&old),
        "the key id stays in the log: {message}"
    );
    let logs = server.logs();
    assert!(
        logs.contains("nearing its encryption limit"),
        "no warning logged:\n{logs}"
    );
    assert!(logs.contains("has reached its encryption limit"), "{logs}");
    // New values are refused, on add too; reading is not affected.
    let (code, out) = api.post(&path, r#"{"OTHER":"x"}"#).await;
    assert_eq!(code, 503, "{out}");
    let (code, out) = api.get(&path).await;
    assert_eq!(code, 200, "{out}");
    assert_eq!(out, json!({ "K": "_VALUE_NOT_SHOWN_" }));

    let before = status(&server);
    let seals = before["master_key"]["seals"][&old].as_u64().unwrap();
    assert!(seals >= 24, "{before}");

    // Rotate: once the server has reloaded the keyring, writes succeed again.
    let (ok, _, err) = run_keys(&server, &["rotate"]);
    assert!(ok, "keys rotate failed: {err}");
    let started = Instant::now();
    loop {
        let (code, out) = api.patch(&path, r#"{"K":"after"}"#).await;
        if (200..300).contains(&code) {
            break;
        }
        assert_eq!(code, 503, "{out}");
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "still refused after rotating"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = status(&server);
    let new = after["master_key"]["active"].as_str().unwrap().to_string();
    assert_ne!(new, old);
    assert_eq!(
        server.stored_secret(&hook, "K").await.as_deref(),
        Some("after")
    );
    // The new key's seals are counted too (within a flush or two).
    let started = Instant::now();
    while status(&server)["master_key"]["seals"][&new]
        .as_u64()
        .unwrap_or(0)
        == 0
    {
        assert!(started.elapsed() < Duration::from_secs(10), "{after}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}
