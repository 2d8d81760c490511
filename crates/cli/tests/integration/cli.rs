//! The offline commands: `clients create/list/delete` and `audit list`, on a data dir.

use std::process::Command;

use serde_json::Value;

use crate::support::{Server, BIN};

fn run(args: &[&str], server: &Server) -> (bool, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--data-dir")
        .arg(&server.data_dir)
        .arg("--database-url")
        .arg(&server.database_url)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn clients_create_bootstraps_a_scoped_client_that_can_fetch_a_token() {
    let server = Server::start();
    let (ok, stdout, stderr) = run(
        &[
            "clients",
            "create",
            "--name",
            "ci deployer",
            "--scopes",
            "read:hooks update:hooks",
        ],
        &server,
    );
    assert!(ok, "{stderr}");
    let created: Value = serde_json::from_str(stdout.trim()).expect("one JSON object on stdout");
    let id = created["client_id"].as_str().unwrap();
    let secret = created["client_secret"].as_str().unwrap();
    assert_eq!(
        created["scopes"],
        serde_json::json!(["read:hooks", "update:hooks"])
    );
    assert!(secret.len() >= 43, "at least 256 bits");
    assert!(!stderr.contains(secret));

    let token = server.token_for(id, secret, None).await;
    let http = server.http();
    let list = http
        .get(server.url("/api/v2/hooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let create = http
        .post(server.url("/api/v2/hooks"))
        .bearer_auth(&token)
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(create.status(), 403, "create:hooks was not granted");

    let (ok, listed, _) = run(&["clients", "list"], &server);
    assert!(ok);
    assert!(listed.contains(id) && listed.contains("ci deployer"));
    assert!(!listed.contains(secret), "list never shows a secret");
    assert!(!listed.contains(&server.client_secret));

    let (ok, _, _) = run(&["clients", "delete", id], &server);
    assert!(ok);
    let (ok, _, stderr) = run(&["clients", "delete", id], &server);
    assert!(
        !ok && stderr.contains(id),
        "deleting twice says which client is missing: {stderr}"
    );
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", secret),
    ];
    let response = http
        .post(server.url("/oauth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401, "a deleted client gets no new token");

    let (ok, _, stderr) = run(
        &[
            "clients",
            "create",
            "--name",
            "x",
            "--scopes",
            "read:hooks write:all",
        ],
        &server,
    );
    assert!(!ok && stderr.contains("write:all"));

    let (ok, audit, _) = run(&["audit", "list", "--actor", "cli"], &server);
    assert!(ok);
    let events: Vec<Value> = audit
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 2, "{audit}");
    assert_eq!(events[0]["action"], "client.delete", "newest first");
    assert_eq!(events[1]["action"], "client.create");
}

#[tokio::test]
async fn audit_records_changes_with_names_actor_outcome_and_request_id() {
    let server = Server::start();
    let api = crate::support::Api::new(&server).await;
    let id = api
        .create_hook("audited", "credentials-exchange", false)
        .await;
    let (_, _, headers) = api
        .send(
            "POST",
            &format!("/api/v2/hooks/{id}/secrets"),
            Some(r#"{"API_KEY":"v1","OTHER":"v2"}"#),
        )
        .await;
    let request_id = headers["x-request-id"].to_str().unwrap().to_string();
    api.post(
        &format!("/api/v2/hooks/{id}/secrets"),
        r#"{"API_KEY":"again"}"#,
    )
    .await;
    let (ok, out, _) = run(&["audit", "list", "--hook", &id], &server);
    assert!(ok);
    let events: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<(&str, &str)> = events
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["outcome"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            ("secrets.create", "failure"),
            ("secrets.create", "success"),
            ("hook.create", "success")
        ]
    );
    assert_eq!(
        events[1]["secret_names"],
        serde_json::json!(["API_KEY", "OTHER"])
    );
    assert_eq!(events[1]["actor"], server.client_id.as_str());
    assert_eq!(events[1]["request_id"], request_id.as_str());
    assert_eq!(events[0]["detail"], "SecretExists");
    assert!(!out.contains("v1") && !out.contains("again"));
}
