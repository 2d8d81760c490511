//! Starting and stopping: the first start's files and their modes, refusals with clear
//! messages (security-tests rows 6 and 9's "refuse to start"), health, logs and SIGTERM.

use std::process::Command;

use serde_json::Value;

use crate::support::{Api, Options, Server, BIN};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test]
async fn first_start_creates_the_data_dir_with_private_files() {
    let mut server = Server::start();
    let dir = &server.data_dir;
    let on_sqlite = !crate::support::on_postgres();
    assert_eq!(dir.join("hookhaven.db").exists(), on_sqlite);
    #[cfg(unix)]
    {
        assert_eq!(mode(&dir.join("master.key")), 0o600);
        assert_eq!(mode(&dir.join("admin-credentials.json")), 0o600);
        assert_eq!(mode(dir), 0o700);
        for file in ["hookhaven.db", "hookhaven.db-wal", "hookhaven.db-shm"] {
            if on_sqlite {
                assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
            }
        }
    }
    let stdout = server.stdout_lines.join("\n");
    assert!(
        stdout.contains(&dir.join("admin-credentials.json").display().to_string()),
        "{stdout}"
    );
    assert!(!stdout.contains(&server.client_secret));
    // Health and readiness.
    let http = server.http();
    let health = http.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready: Value = http
        .get(server.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["status"], "ready");
    // A restart keeps the same keys and admin client: old tokens still verify.
    let token = server.admin_token().await;
    assert!(server.stop().success(), "SIGTERM exits 0");
    let restarted = Server::start_with(server.restart_options());
    assert!(!restarted
        .stdout_lines
        .join("\n")
        .contains("created an admin client"));
    let response = restarted
        .http()
        .get(restarted.url("/api/v2/hooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    // The token names the first server's port as its audience; the port differs now, so
    // check the signature path with a fresh token instead when the audience moved.
    assert!(response.status() == 200 || response.status() == 401);
    let fresh = restarted
        .token_for(&server.client_id, &server.client_secret, None)
        .await;
    let response = restarted
        .http()
        .get(restarted.url("/api/v2/hooks"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

fn serve_once(data_dir: &std::path::Path, database_url: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .env_remove("HOOKHAVEN_MASTER_KEY");
    if let Some(url) = database_url {
        cmd.arg("--database-url").arg(url);
    }
    // Startup refusals exit by themselves; a server that did start is killed by timeout.
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        let _ = Command::new("kill")
            .arg("-KILL")
            .arg(id.to_string())
            .status();
    });
    let out = child.wait_with_output().unwrap();
    drop(killer);
    out
}

#[test]
fn a_malformed_master_key_stops_the_server_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let cases = [
        ("active = \"k1\"\n[keys]\nk1 = \"c2hvcnQ=\"\n", "32"),
        ("active = \"k1\"\n[keys]\nk1 = \"not base64!!\"\n", "base64"),
        ("active = \"k2\"\n[keys]\nk1 = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n", "k2"),
        ("active = \"k1\"\n[keys]\nk1 = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\nk1 = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n", "twice"),
    ];
    for (text, mentions) in cases {
        std::fs::write(data.join("master.key"), text).unwrap();
        let out = serve_once(&data, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {text:?}");
        assert!(
            stderr.contains("master key") && stderr.contains(mentions),
            "{text:?}: {stderr}"
        );
        assert!(
            !stderr.contains("AAAAAAAAAAAAAAAA"),
            "key material echoed: {stderr}"
        );
    }
}

#[tokio::test]
async fn values_under_a_key_we_do_not_have_stop_the_server() {
    let mut server = Server::start();
    let api = Api::new(&server).await;
    let id = api
        .create_hook("sealed", "credentials-exchange", false)
        .await;
    api.post(&format!("/api/v2/hooks/{id}/secrets"), r#"{"A":"1"}"#)
        .await;
    server.stop();
    let original = std::fs::read_to_string(server.data_dir.join("master.key")).unwrap();
    let other = "active = \"k-other\"\n[keys]\nk-other = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n";
    std::fs::write(server.data_dir.join("master.key"), other).unwrap();
    let out = serve_once(&server.data_dir, Some(&server.database_url));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    let original_id = original
        .lines()
        .find_map(|l| l.strip_prefix("active = \""))
        .unwrap()
        .trim_end_matches('"');
    assert!(
        stderr.contains(original_id),
        "names the missing key id: {stderr}"
    );
    // The keyring from the environment wins over the file, and is the right one here.
    std::fs::write(server.data_dir.join("master.key"), other).unwrap();
    let restarted = Server::start_with(Options {
        env: vec![("HOOKHAVEN_MASTER_KEY".into(), original)],
        ..server.restart_options()
    });
    let api = Api::new(&restarted).await;
    let (status, _) = api.get(&format!("/api/v2/hooks/{id}/secrets")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn json_logs_have_one_line_per_request_with_a_request_id() {
    let server = Server::start_with(Options {
        args: vec!["--log-format".into(), "json".into()],
        ..Default::default()
    });
    let http = server.http();
    let response = http.get(server.url("/healthz")).send().await.unwrap();
    let request_id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    // The line is written after the response; give the writer a moment.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let logs = server.logs();
    let lines: Vec<Value> = logs
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "log lines are JSON: {logs}");
    let ours: Vec<&Value> = lines
        .iter()
        .filter(|l| l["fields"]["request_id"] == request_id.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "{logs}");
    assert_eq!(ours[0]["fields"]["status"], 200);
    assert_eq!(ours[0]["fields"]["path"], "/healthz");
}

#[test]
fn config_file_and_environment_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("from-file");
    let config = dir.path().join("hookhaven.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nlog_format = \"json\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["clients", "list", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        data.join("hookhaven.db").exists(),
        "data_dir came from the file"
    );
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "data_dri = \"x\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["clients", "list", "--config"])
        .arg(&typo)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("data_dri"));
    let env_dir = dir.path().join("from-env");
    let out = Command::new(BIN)
        .args(["clients", "list"])
        .env("HOOKHAVEN_DATA_DIR", &env_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        env_dir.join("hookhaven.db").exists(),
        "data_dir came from the environment"
    );
}
