//! The served OpenAPI document against the server itself (issue 7 §4): schemathesis,
//! installed into `.tools/schemathesis` by `scripts/install-test-clients`, generates
//! requests from `/api/v2/openapi.json` with a valid admin token and checks that nothing
//! answers 5xx and every answer matches the document. A short, time-bounded run; the long
//! one is `scripts/schemathesis-long`. Skipped locally when schemathesis is missing,
//! failing in CI.

use std::path::PathBuf;
use std::process::Command;

use crate::support::{skip_or_fail, Api, Server};

fn schemathesis() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let bin = root.join(".tools/schemathesis/bin/schemathesis");
    bin.exists().then_some(bin)
}

#[tokio::test]
async fn schemathesis_finds_no_5xx_and_no_schema_violation() {
    let Some(bin) = schemathesis() else {
        skip_or_fail("schemathesis is not installed (run scripts/install-test-clients)");
        return;
    };
    let server = Server::start();
    let api = Api::new(&server).await;
    let (status, doc) = api.get("/api/v2/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    let url = server.url("/api/v2/openapi.json");
    let token = api.token.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(bin)
            .args(["run", &url, "-H"])
            .arg(format!("Authorization: Bearer {token}"))
            .args([
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
                "--max-examples",
                "5",
                "--max-time",
                "45",
                "--workers",
                "2",
                "--phases",
                "coverage,fuzzing",
                "--seed",
                "1",
            ])
            .env("NO_COLOR", "1")
            .output()
            .expect("run schemathesis")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "schemathesis failed ({}):\n{stdout}\n{stderr}\nserver log:\n{}",
        output.status,
        server
            .logs()
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
            .take(50)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(stdout.contains("passed"), "{stdout}");
}
