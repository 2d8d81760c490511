//! Canary scan (security-tests rows 1 and 2): random secret values planted through the
//! API must not appear in the database files (WAL included), a backup, any log line at
//! TRACE level, any response body or the audit log, in any common encoding.

use base64::Engine;
use rand::RngCore;
use serde_json::json;

use crate::support::{Api, Options, Server};

fn canary() -> String {
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!(
        "canary-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// The forms a value could take if it leaked: raw, hex, base64 (both alphabets), and
/// URL-encoded.
fn encodings(value: &str) -> Vec<String> {
    let hex: String = value.bytes().map(|b| format!("{b:02x}")).collect();
    vec![
        value.to_string(),
        hex.clone(),
        hex.to_uppercase(),
        base64::engine::general_purpose::STANDARD.encode(value),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value),
        value.replace('-', "%2D"),
    ]
}

fn assert_absent(haystack: &[u8], needles: &[String], place: &str) {
    for needle in needles {
        let found = haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes());
        assert!(!found, "a canary ({needle}) leaked into {place}");
    }
}

#[tokio::test]
async fn planted_secrets_leak_nowhere() {
    let server = Server::start_with(Options {
        log: Some("trace".into()),
        ..Default::default()
    });
    let api = Api::new(&server).await;
    let values: Vec<String> = (0..6).map(|_| canary()).collect();
    let mut bodies: Vec<String> = Vec::new();
    let mut record = |status: u16, body: serde_json::Value| bodies.push(format!("{status} {body}"));

    let id = api
        .create_hook("canary-hook", "credentials-exchange", true)
        .await;
    let path = format!("/api/v2/hooks/{id}/secrets");
    let (s, b) = api
        .post(
            &path,
            &json!({"A": values[0], "B": values[1], "C": values[2]}).to_string(),
        )
        .await;
    assert_eq!(s, 201);
    record(s, b);
    let (s, b) = api.patch(&path, &json!({"A": values[3]}).to_string()).await;
    assert_eq!(s, 201);
    record(s, b);
    // Failures that carry a value: a duplicate name, a missing name, a bad type, a limit.
    for (method, body) in [
        ("POST", json!({"A": values[4]}).to_string()),
        ("PATCH", json!({"MISSING": values[4]}).to_string()),
        ("POST", format!(r#"{{"D": ["{}"]}}"#, values[5])),
        ("POST", format!(r#"{{"D": "{}", }}"#, values[5])),
        ("POST", format!(r#"{{ [ "D", "{}" ] }}"#, values[5])),
        (
            "POST",
            serde_json::Value::Object(
                (0..21)
                    .map(|i| (format!("K{i}"), json!(values[5])))
                    .collect(),
            )
            .to_string(),
        ),
    ] {
        let (s, b, _) = api.send(method, &path, Some(&body)).await;
        assert!((400..500).contains(&s), "{method} {body}: {s}");
        record(s, b);
    }
    let (s, b) = api.get(&path).await;
    record(s, b);
    let (s, b) = api.get("/api/v2/hooks?include_totals=true").await;
    record(s, b);
    let (s, b) = api.get(&format!("/api/v2/hooks/{id}")).await;
    record(s, b);
    let (s, b) = api.delete(&path, Some(r#"["C"]"#)).await;
    record(s, b);

    let needles: Vec<String> = values.iter().flat_map(|v| encodings(v)).collect();
    assert_absent(bodies.join("\n").as_bytes(), &needles, "a response body");

    // A backup made online (VACUUM INTO, or pg_dump), and the files themselves, WAL
    // and all.
    if crate::support::on_postgres() {
        let dump = std::process::Command::new("pg_dump")
            .arg(&server.database_url)
            .output()
            .expect("pg_dump");
        assert!(
            dump.status.success(),
            "{}",
            String::from_utf8_lossy(&dump.stderr)
        );
        assert!(String::from_utf8_lossy(&dump.stdout).contains("hook_secrets"));
        assert_absent(&dump.stdout, &needles, "the pg_dump output");
    } else {
        let store = hookhaven_store::SqliteStore::open(&server.database_url)
            .await
            .unwrap();
        let backup = server.data_dir.join("backup.db");
        store.backup_to(&backup).await.unwrap();
    }
    for entry in std::fs::read_dir(&server.data_dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            assert_absent(
                &std::fs::read(&path).unwrap(),
                &needles,
                &path.display().to_string(),
            );
        }
    }
    let audit = std::process::Command::new(crate::support::BIN)
        .args(["audit", "list", "--data-dir"])
        .arg(&server.data_dir)
        .arg("--database-url")
        .arg(&server.database_url)
        .output()
        .unwrap();
    assert!(audit.status.success());
    let audit_text = String::from_utf8_lossy(&audit.stdout);
    assert!(
        audit_text.contains("secrets.create"),
        "the audit log has the writes: {audit_text}"
    );
    assert_absent(&audit.stdout, &needles, "the audit log");
    assert_absent(&audit.stderr, &needles, "the audit command's output");

    let logs = server.logs();
    assert!(
        logs.contains("TRACE") || logs.contains("DEBUG"),
        "the server really logged at trace level"
    );
    assert_absent(logs.as_bytes(), &needles, "the server log");
    // The client secret stays out of the log and stdout too.
    assert_absent(
        logs.as_bytes(),
        std::slice::from_ref(&server.client_secret),
        "the server log",
    );
    assert_absent(
        server.stdout_lines.join("\n").as_bytes(),
        std::slice::from_ref(&server.client_secret),
        "the server's stdout",
    );
}
