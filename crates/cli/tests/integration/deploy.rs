//! Deploy: `hookhaven export` / `hookhaven import` and the real auth0-deploy-cli 8.44.0
//! (`a0deploy`, installed into `.tools/node` by `scripts/install-test-clients`) against a real
//! server over https. A missing a0deploy skips locally and fails in CI.
//!
//! Secret values are checked the way hook code sees them: through the Runner
//! (`Api::runner_sees`), with the comparison done inside the hook so that no value leaves
//! the server. A few checks that a secret holds *no* value read the store directly.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hookhaven_core::Scope;
use rand::distributions::{Alphanumeric, DistString};
use serde_json::{json, Value};

use crate::support::{audit_actions, skip_or_fail, Api, Options, Server, BIN};

const PLACEHOLDER: &str = "_VALUE_NOT_SHOWN_";
/// a0deploy validates its input for tens of seconds on a small machine.
const A0_TIMEOUT: Duration = Duration::from_secs(600);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// The pinned a0deploy, or why it can't run.
fn a0deploy() -> Result<PathBuf, String> {
    let bin = repo_root().join(".tools/node/node_modules/.bin/a0deploy");
    let manifest = repo_root().join(".tools/node/node_modules/auth0-deploy-cli/package.json");
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !node {
        return Err("`node` is not on PATH".into());
    }
    let version = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|t| serde_json::from_str::<Value>(&t).ok())
        .and_then(|v| v["version"].as_str().map(str::to_string));
    match version.as_deref() {
        Some("8.44.0") if bin.exists() => Ok(bin),
        Some(v) => Err(format!("auth0-deploy-cli {v} is installed, 8.44.0 is pinned (run `bash scripts/install-test-clients`)")),
        None => Err(format!("{} is missing (run `bash scripts/install-test-clients`)", bin.display())),
    }
}

/// Returns a0deploy, or skips (locally) / fails (in CI).
fn a0deploy_or_skip() -> Option<PathBuf> {
    match a0deploy() {
        Ok(bin) => Some(bin),
        Err(reason) => {
            skip_or_fail(&reason);
            None
        }
    }
}

struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect_ok(self, what: &str) -> Run {
        assert!(
            self.ok,
            "{what} failed:\nstdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

fn run(mut command: Command, timeout: Duration) -> Run {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out_reader = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = out.read_to_string(&mut buf);
        buf
    });
    let err_reader = std::thread::spawn(move || {
        let mut buf = String::new();
        let _ = err.read_to_string(&mut buf);
        buf
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stdout = out_reader.join().unwrap_or_default();
    let mut stderr = err_reader.join().unwrap_or_default();
    if status.is_none() {
        stderr.push_str(&format!("\n(killed after {timeout:?})"));
    }
    Run {
        ok: status.is_some_and(|s| s.success()),
        stdout,
        stderr,
    }
}

/// The environment both tools get: nothing from the developer's shell but PATH and HOME.
fn base_env(command: &mut Command, server: &Server) {
    command.env_clear();
    for var in ["PATH", "HOME"] {
        if let Some(v) = std::env::var_os(var) {
            command.env(var, v);
        }
    }
    command
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("AUTH0_DOMAIN", &server.domain)
        .env("AUTH0_CLIENT_ID", &server.client_id)
        .env("AUTH0_CLIENT_SECRET", &server.client_secret);
}

/// `a0deploy ARGS` over https with the server's certificate trusted and hooks only.
fn a0(bin: &Path, server: &Server, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(bin);
    base_env(&mut command, server);
    command
        .env("AUTH0_INCLUDED_ONLY", r#"["hooks"]"#)
        .env(
            "NODE_EXTRA_CA_CERTS",
            server.tls_cert.as_ref().expect("https server"),
        )
        .args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    run(command, A0_TIMEOUT)
}

/// `hookhaven ARGS` with the same settings a0deploy gets.
fn hh(server: &Server, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut command = Command::new(BIN);
    base_env(&mut command, server);
    if let Some(cert) = &server.tls_cert {
        command.env("NODE_EXTRA_CA_CERTS", cert);
    }
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    run(command, Duration::from_secs(120))
}

fn https() -> Server {
    Server::start_with(Options {
        tls_self_signed: true,
        ..Options::default()
    })
}

fn random_value(tag: &str) -> String {
    format!(
        "{tag}-{}",
        Alphanumeric.sample_string(&mut rand::thread_rng(), 24)
    )
}

/// A hook seeded through the API, with the values of its secrets.
struct Seeded {
    id: String,
    name: String,
    secrets: BTreeMap<String, String>,
}

/// Three hooks: one enabled with odd dependency versions and three secrets, one with one
/// secret, one with none. Secrets are created in name order.
async fn seed(api: &Api<'_>) -> Vec<Seeded> {
    let specs = [
        (
            "cce-hook",
            "credentials-exchange",
            true,
            json!({"lodash": "4.17.21", "@scope/pkg": "1.0"}),
            vec!["API_KEY", "B_KEY", "C_KEY"],
        ),
        (
            "pre-reg",
            "pre-user-registration",
            false,
            json!({}),
            vec!["ONLY"],
        ),
        (
            "post-change",
            "post-change-password",
            false,
            json!({}),
            vec![],
        ),
    ];
    let mut out = Vec::new();
    for (name, trigger, enabled, deps, secrets) in specs {
        let body = json!({
            "name": name,
            // The enabled credentials-exchange hook runs inside every /oauth/token call,
            // the deploy tools' own included: it must answer, and keep the scopes (a
            // result without `scope` resets them, as on Auth0).
            "script": format!("module.exports = function (client, scope, audience, context, cb) {{\n  // {name}: it's \"quoted\" and ##not_a_keyword here\n  cb(null, {{ scope: scope }});\n}};\n"),
            "triggerId": trigger,
            "enabled": enabled,
            "dependencies": deps,
        });
        let (status, hook) = api.post("/api/v2/hooks", &body.to_string()).await;
        assert_eq!(status, 201, "{hook}");
        let id = hook["id"].as_str().unwrap().to_string();
        let values: BTreeMap<String, String> = secrets
            .iter()
            .map(|s| (s.to_string(), random_value(&format!("{name}-{s}"))))
            .collect();
        if !values.is_empty() {
            let (status, body) = api
                .post(
                    &format!("/api/v2/hooks/{id}/secrets"),
                    &json!(values).to_string(),
                )
                .await;
            assert_eq!(status, 201, "{body}");
        }
        out.push(Seeded {
            id,
            name: name.to_string(),
            secrets: values,
        });
    }
    out
}

/// Every seeded secret still holds its value, as hook code sees it in the Runner.
async fn assert_values(server: &Server, seeded: &[Seeded]) {
    let api = Api::new(server).await;
    for hook in seeded {
        for (name, value) in &hook.secrets {
            assert_eq!(
                api.runner_sees(&hook.id, name, value).await,
                "MATCH",
                "secret {name} of {} changed",
                hook.name
            );
        }
    }
}

/// Every seeded secret still holds its value, and no hook was recreated or deleted.
async fn assert_unchanged(server: &Server, api: &Api<'_>, seeded: &[Seeded]) {
    let (_, list) = api.get("/api/v2/hooks").await;
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    for hook in seeded {
        assert!(
            ids.contains(&hook.id.as_str()),
            "hook {} was recreated or deleted: {list}",
            hook.name
        );
        let (_, names) = api.get(&format!("/api/v2/hooks/{}/secrets", hook.id)).await;
        let names: Vec<&String> = names.as_object().unwrap().keys().collect();
        assert_eq!(
            names,
            hook.secrets.keys().collect::<Vec<_>>(),
            "{}",
            hook.name
        );
    }
    assert_values(server, seeded).await;
    let writes: Vec<_> = audit_actions(server)
        .await
        .into_iter()
        .filter(|(a, _)| a == "hook.create" || a == "hook.delete" || a.starts_with("secrets."))
        .collect();
    let seeded_writes = seeded.len() + seeded.iter().filter(|h| !h.secrets.is_empty()).count();
    assert_eq!(writes.len(), seeded_writes, "unexpected writes: {writes:?}");
}

fn files_under(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().display().to_string();
                out.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

fn no_values_in(files: &BTreeMap<String, Vec<u8>>, seeded: &[Seeded]) {
    for (path, bytes) in files {
        let text = String::from_utf8_lossy(bytes);
        for hook in seeded {
            for value in hook.secrets.values() {
                assert!(
                    !text.contains(value.as_str()),
                    "a secret value is in {path}"
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The real a0deploy

#[tokio::test]
async fn a0deploy_yaml_round_trip_keeps_every_secret() {
    let Some(bin) = a0deploy_or_skip() else {
        return;
    };
    let server = https();
    let api = Api::new(&server).await;
    let seeded = seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("yaml");
    a0(
        &bin,
        &server,
        &[
            "export",
            "--format",
            "yaml",
            "--output_folder",
            out.to_str().unwrap(),
        ],
        &[],
    )
    .expect_ok("a0deploy export (yaml)");
    let files = files_under(&out);
    no_values_in(&files, &seeded);
    let tenant = String::from_utf8(files["tenant.yaml"].clone()).unwrap();
    assert!(
        tenant.contains(&format!("API_KEY: {PLACEHOLDER}")),
        "{tenant}"
    );
    assert!(
        !tenant.contains("id:"),
        "ids are only exported when asked: {tenant}"
    );
    a0(
        &bin,
        &server,
        &[
            "import",
            "--input_file",
            out.join("tenant.yaml").to_str().unwrap(),
        ],
        &[],
    )
    .expect_ok("a0deploy import (yaml)");
    assert_unchanged(&server, &api, &seeded).await;
}

#[tokio::test]
async fn a0deploy_directory_round_trip_and_dry_run_keep_every_secret() {
    let Some(bin) = a0deploy_or_skip() else {
        return;
    };
    let server = https();
    let api = Api::new(&server).await;
    let seeded = seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("dir");
    a0(
        &bin,
        &server,
        &[
            "export",
            "--format",
            "directory",
            "--output_folder",
            out.to_str().unwrap(),
        ],
        &[],
    )
    .expect_ok("a0deploy export (directory)");
    let files = files_under(&out);
    no_values_in(&files, &seeded);
    assert!(
        files.contains_key("hooks/cce-hook.json") && files.contains_key("hooks/cce-hook.js"),
        "{:?}",
        files.keys()
    );
    let before = audit_actions(&server).await.len();
    a0(
        &bin,
        &server,
        &["import", "--input_file", out.to_str().unwrap(), "--dry-run"],
        &[],
    )
    .expect_ok("a0deploy import --dry-run (directory)");
    assert_eq!(
        audit_actions(&server).await.len(),
        before,
        "a dry run changed something"
    );
    a0(
        &bin,
        &server,
        &["import", "--input_file", out.to_str().unwrap()],
        &[],
    )
    .expect_ok("a0deploy import (directory)");
    assert_unchanged(&server, &api, &seeded).await;
}

#[tokio::test]
async fn hookhaven_and_a0deploy_export_the_same_bytes() {
    let Some(bin) = a0deploy_or_skip() else {
        return;
    };
    let server = https();
    let api = Api::new(&server).await;
    let seeded = seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    for format in ["yaml", "directory"] {
        let theirs = dir.path().join(format!("a0-{format}"));
        let ours = dir.path().join(format!("hh-{format}"));
        a0(
            &bin,
            &server,
            &[
                "export",
                "--format",
                format,
                "--output_folder",
                theirs.to_str().unwrap(),
            ],
            &[],
        )
        .expect_ok("a0deploy export");
        hh(
            &server,
            &[
                "export",
                "--format",
                format,
                "--output_folder",
                ours.to_str().unwrap(),
            ],
            &[],
        )
        .expect_ok("hookhaven export");
        let (a, b) = (files_under(&theirs), files_under(&ours));
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            b.keys().collect::<Vec<_>>(),
            "{format}: file lists differ"
        );
        for (path, bytes) in &a {
            assert_eq!(
                String::from_utf8_lossy(bytes),
                String::from_utf8_lossy(&b[path]),
                "{format}: {path} differs"
            );
        }
        no_values_in(&b, &seeded);
    }
}

/// hookhaven's YAML imported by a0deploy, with a hand-added hook whose secrets come from
/// the environment through `##KEY##` and `@@KEY@@`.
#[tokio::test]
async fn a0deploy_imports_hookhaven_yaml_and_replaces_keywords() {
    let Some(bin) = a0deploy_or_skip() else {
        return;
    };
    let server = https();
    let api = Api::new(&server).await;
    let seeded = seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("yaml");
    hh(
        &server,
        &["export", "-f", "yaml", "-o", out.to_str().unwrap()],
        &[],
    )
    .expect_ok("hookhaven export");
    let tenant = out.join("tenant.yaml");
    let mut text = std::fs::read_to_string(&tenant).unwrap();
    text.push_str(
        "  - name: from-env\n    script: ./hooks/from-env.js\n    enabled: false\n    triggerId: send-phone-message\n    secrets:\n      API_KEY: '##HOOK_API_KEY##'\n      OTHER: '@@OTHER_KEY@@'\n",
    );
    std::fs::write(&tenant, text).unwrap();
    std::fs::write(
        out.join("hooks/from-env.js"),
        "module.exports = function (r, c, cb) { cb(null, {url: '##SMS_URL##'}); };\n",
    )
    .unwrap();
    let (api_key, other) = (random_value("api"), random_value("other"));
    a0(
        &bin,
        &server,
        &["import", "--input_file", tenant.to_str().unwrap()],
        &[
            ("HOOK_API_KEY", &api_key),
            ("OTHER_KEY", &other),
            ("SMS_URL", "https://sms.example"),
        ],
    )
    .expect_ok("a0deploy import of hookhaven's yaml");
    let (_, list) = api.get("/api/v2/hooks").await;
    let new = list
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "from-env")
        .expect("created");
    let id = new["id"].as_str().unwrap();
    assert!(
        new["script"]
            .as_str()
            .unwrap()
            .contains("https://sms.example"),
        "{new}"
    );
    assert_eq!(
        Api::new(&server)
            .await
            .runner_sees(id, "API_KEY", &api_key)
            .await,
        "MATCH"
    );
    assert_eq!(
        Api::new(&server)
            .await
            .runner_sees(id, "OTHER", &other)
            .await,
        "MATCH"
    );
    // The old hooks kept every secret value, and only the seeding wrote their secrets.
    assert_values(&server, &seeded).await;
    let writes = audit_actions(&server)
        .await
        .into_iter()
        .filter(|(a, h)| {
            (a.starts_with("secrets.") || a == "hook.delete") && h.as_deref() != Some(id)
        })
        .count();
    assert_eq!(writes, 2, "only the seeding wrote secrets of the old hooks");
}

/// a0deploy's exports, both formats, imported by hookhaven: nothing to change, nothing written.
#[tokio::test]
async fn hookhaven_imports_a0deploy_exports_without_writing() {
    let Some(bin) = a0deploy_or_skip() else {
        return;
    };
    let server = https();
    let api = Api::new(&server).await;
    let seeded = seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    for (format, input) in [("yaml", "tenant.yaml"), ("directory", "")] {
        let out = dir.path().join(format);
        a0(
            &bin,
            &server,
            &[
                "export",
                "--format",
                format,
                "--output_folder",
                out.to_str().unwrap(),
            ],
            &[],
        )
        .expect_ok("a0deploy export");
        let before = audit_actions(&server).await.len();
        let run = hh(
            &server,
            &[
                "import",
                "--input_file",
                out.join(input).to_str().unwrap(),
                "--json",
            ],
            &[],
        )
        .expect_ok("hookhaven import");
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(
            report["plan"]["counts"]["hooks"]["unchanged"], 3,
            "{report}"
        );
        assert_eq!(report["applied"], json!([]), "{report}");
        assert_eq!(
            audit_actions(&server).await.len(),
            before,
            "{format}: the import wrote something"
        );
    }
    assert_unchanged(&server, &api, &seeded).await;
}

// ---------------------------------------------------------------------------------------
// hookhaven import / export

#[tokio::test]
async fn hand_written_yaml_takes_secrets_from_the_environment() {
    let server = https();
    let api = Api::new(&server).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
    let tenant = dir.path().join("tenant.yaml");
    std::fs::write(
        &tenant,
        "hooks:\n  - name: m2m-claims\n    triggerId: credentials-exchange\n    enabled: true\n    script: ./hooks/m2m.js\n    dependencies: @@DEPS@@\n    secrets:\n      API_KEY: \"##HOOK_API_KEY##\"\n      SIGNING: '##SIGNING##'\n      LATER: _VALUE_NOT_SHOWN_\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("hooks/m2m.js"),
        "module.exports = function (c, s, a, ctx, cb) { cb(null, {}); }; // ##REGION##\n",
    )
    .unwrap();
    let (api_key, signing) = (random_value("api"), random_value("sig"));
    let run = hh(
        &server,
        &["import", "-i", tenant.to_str().unwrap()],
        &[
            ("HOOK_API_KEY", &api_key),
            ("SIGNING", &signing),
            ("REGION", "eu"),
            (
                "AUTH0_KEYWORD_REPLACE_MAPPINGS",
                r#"{"DEPS": {"axios": "1.6.0"}}"#,
            ),
        ],
    )
    .expect_ok("hookhaven import");
    assert!(
        run.stdout.contains("+ create     m2m-claims"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("exist without a value") && run.stdout.contains("m2m-claims / LATER"),
        "{}",
        run.stdout
    );
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(&api_key) && !text.contains(&signing),
            "a value was printed"
        );
    }
    let (_, list) = api.get("/api/v2/hooks").await;
    let hook = &list[0];
    let id = hook["id"].as_str().unwrap();
    assert_eq!(hook["dependencies"], json!({"axios": "1.6.0"}));
    assert!(hook["script"].as_str().unwrap().ends_with("// eu\n"));
    assert_eq!(
        Api::new(&server)
            .await
            .runner_sees(id, "API_KEY", &api_key)
            .await,
        "MATCH"
    );
    assert_eq!(
        Api::new(&server)
            .await
            .runner_sees(id, "SIGNING", &signing)
            .await,
        "MATCH"
    );
    assert_eq!(
        Api::new(&server).await.runner_sees(id, "LATER", "").await,
        "UNSET",
        "created without a value (D1): hook code sees undefined"
    );
    let (_, names) = api.get(&format!("/api/v2/hooks/{id}/secrets")).await;
    assert_eq!(
        names,
        json!({"API_KEY": PLACEHOLDER, "SIGNING": PLACEHOLDER, "LATER": PLACEHOLDER})
    );
}

#[tokio::test]
async fn reimport_of_unchanged_files_writes_nothing() {
    let server = https();
    let api = Api::new(&server).await;
    let seeded = seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    for (format, input) in [("yaml", "tenant.yaml"), ("directory", "")] {
        let out = dir.path().join(format);
        hh(
            &server,
            &["export", "-f", format, "-o", out.to_str().unwrap()],
            &[],
        )
        .expect_ok("export");
        let first = files_under(&out);
        no_values_in(&first, &seeded);
        // Same state, same bytes; the second export rewrites nothing.
        let again = hh(
            &server,
            &[
                "export",
                "-f",
                format,
                "-o",
                out.to_str().unwrap(),
                "--json",
            ],
            &[],
        )
        .expect_ok("export");
        let report: Value = serde_json::from_str(&again.stdout).unwrap();
        assert_eq!(report["written"], json!([]), "{report}");
        assert_eq!(files_under(&out), first);
        let before = audit_actions(&server).await;
        let run = hh(
            &server,
            &["import", "-i", out.join(input).to_str().unwrap()],
            &[],
        )
        .expect_ok("import");
        assert!(run.stdout.contains("Nothing to change"), "{}", run.stdout);
        assert_eq!(
            audit_actions(&server).await,
            before,
            "{format}: a re-import wrote something"
        );
    }
    assert_unchanged(&server, &api, &seeded).await;
}

#[tokio::test]
async fn export_ids_only_when_asked_and_stale_files_go() {
    let server = https();
    let api = Api::new(&server).await;
    let seeded = seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    hh(
        &server,
        &["export", "-f", "directory", "-o", out.to_str().unwrap()],
        &[],
    )
    .expect_ok("export");
    assert!(
        !String::from_utf8_lossy(&files_under(&out)["hooks/cce-hook.json"]).contains(&seeded[0].id)
    );
    hh(
        &server,
        &["export", "-f", "directory", "-o", out.to_str().unwrap()],
        &[("AUTH0_EXPORT_IDENTIFIERS", "true")],
    )
    .expect_ok("export with ids");
    assert!(
        String::from_utf8_lossy(&files_under(&out)["hooks/cce-hook.json"]).contains(&seeded[0].id)
    );
    api.delete(&format!("/api/v2/hooks/{}", seeded[2].id), None)
        .await;
    let run = hh(
        &server,
        &[
            "export",
            "-f",
            "directory",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ],
        &[],
    )
    .expect_ok("export");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        report["removed"],
        json!(["hooks/post-change.js", "hooks/post-change.json"]),
        "{report}"
    );
}

#[tokio::test]
async fn plan_dry_run_and_secret_rules() {
    let server = https();
    let api = Api::new(&server).await;
    let seeded = seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    hh(
        &server,
        &["export", "-f", "directory", "-o", out.to_str().unwrap()],
        &[],
    )
    .expect_ok("export");
    // cce-hook: keep API_KEY, delete B_KEY and C_KEY, add NEW, add UNSET without a value,
    // disable it. pre-reg: no `secrets:` key, so ONLY is left alone.
    let cce = out.join("hooks/cce-hook.json");
    let mut hook: Value = serde_json::from_str(&std::fs::read_to_string(&cce).unwrap()).unwrap();
    hook["secrets"] = json!({"API_KEY": PLACEHOLDER, "NEW": "##NEW_VALUE##", "UNSET": PLACEHOLDER});
    hook["enabled"] = json!(false);
    std::fs::write(&cce, hook.to_string()).unwrap();
    let pre = out.join("hooks/pre-reg.json");
    let mut hook: Value = serde_json::from_str(&std::fs::read_to_string(&pre).unwrap()).unwrap();
    hook.as_object_mut().unwrap().remove("secrets");
    std::fs::write(&pre, hook.to_string()).unwrap();
    std::fs::remove_file(out.join("hooks/post-change.json")).unwrap();
    let new_value = random_value("new");
    let env = [("NEW_VALUE", new_value.as_str())];

    let before = audit_actions(&server).await;
    let run = hh(
        &server,
        &["import", "-i", out.to_str().unwrap(), "--dry-run", "--json"],
        &env,
    )
    .expect_ok("dry run");
    assert_eq!(
        audit_actions(&server).await,
        before,
        "a dry run wrote something"
    );
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    let plan = &report["plan"]["hooks"];
    let find = |name: &str| {
        plan.as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .unwrap()
            .clone()
    };
    let cce_plan = find("cce-hook");
    assert_eq!(cce_plan["action"], "update");
    assert_eq!(cce_plan["changed"], json!(["enabled"]));
    assert_eq!(
        cce_plan["secrets"],
        json!({"managed": true, "add": ["NEW"], "add_without_value": ["UNSET"], "update": [], "keep": ["API_KEY"], "delete": ["B_KEY", "C_KEY"], "untouched": []})
    );
    assert_eq!(find("pre-reg")["secrets"]["untouched"], json!(["ONLY"]));
    assert_eq!(find("post-change")["action"], "not-deleted");
    assert!(!run.stdout.contains(&new_value));

    let run = hh(&server, &["import", "-i", out.to_str().unwrap()], &env).expect_ok("import");
    assert!(run.stdout.contains("cce-hook / UNSET"), "{}", run.stdout);
    let cce_id = &seeded[0].id;
    assert_eq!(
        api.runner_sees(cce_id, "API_KEY", &seeded[0].secrets["API_KEY"])
            .await,
        "MATCH"
    );
    assert_eq!(api.runner_sees(cce_id, "NEW", &new_value).await, "MATCH");
    assert_eq!(api.runner_sees(cce_id, "UNSET", "").await, "UNSET");
    let (_, names) = api.get(&format!("/api/v2/hooks/{cce_id}/secrets")).await;
    assert_eq!(names.as_object().unwrap().len(), 3, "{names}");
    assert_eq!(
        api.runner_sees(&seeded[1].id, "ONLY", &seeded[1].secrets["ONLY"])
            .await,
        "MATCH"
    );
    let (status, _) = api.get(&format!("/api/v2/hooks/{}", seeded[2].id)).await;
    assert_eq!(status, 200, "deleted without --allow-delete");
    let (_, cce) = api.get(&format!("/api/v2/hooks/{cce_id}")).await;
    assert_eq!(cce["enabled"], false);

    // A secret without a value that no import made (here: added through the API) is
    // listed too, from the server's secret-status extension.
    let (status, _) = api
        .post(
            &format!("/api/v2/hooks/{}/secrets", seeded[1].id),
            &json!({ "LEFT_EMPTY": PLACEHOLDER }).to_string(),
        )
        .await;
    assert_eq!(status, 201);
    // With AUTH0_ALLOW_DELETE=true the hook that is not in the files goes.
    let run = hh(
        &server,
        &["import", "-i", out.to_str().unwrap()],
        &[env[0], ("AUTH0_ALLOW_DELETE", "true")],
    )
    .expect_ok("import");
    assert!(
        run.stdout.contains("pre-reg / LEFT_EMPTY") && run.stdout.contains("cce-hook / UNSET"),
        "{}",
        run.stdout
    );
    let (status, _) = api.get(&format!("/api/v2/hooks/{}", seeded[2].id)).await;
    assert_eq!(status, 404);
    // Hook creates and deletes in the audit log: the seeding and this one delete only.
    let hook_events: Vec<_> = audit_actions(&server)
        .await
        .into_iter()
        .filter(|(a, _)| a == "hook.create" || a == "hook.delete")
        .collect();
    assert_eq!(hook_events.len(), 4, "{hook_events:?}");
}

#[tokio::test]
async fn bad_input_stops_before_any_change() {
    let server = https();
    let api = Api::new(&server).await;
    seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("hooks")).unwrap();
    std::fs::write(
        dir.path().join("hooks/h.js"),
        "module.exports = function () {};\n",
    )
    .unwrap();
    let tenant = dir.path().join("tenant.yaml");
    let hook = |trigger: &str, secret: &str| {
        format!("hooks:\n  - name: new-hook\n    triggerId: {trigger}\n    script: ./hooks/h.js\n    secrets:\n      K: '{secret}'\n")
    };
    let before = audit_actions(&server).await;
    let cases = [
        (
            hook("credentials-exchange", "##NOT_SET_ANYWHERE##"),
            vec!["##NOT_SET_ANYWHERE##", "tenant.yaml line 6"],
        ),
        (
            "hooks:\n  - name: [oops\n".to_string(),
            vec!["is not valid YAML"],
        ),
        (
            hook("credentials-xchange", "v"),
            vec!["triggerId \"credentials-xchange\" is not one of"],
        ),
    ];
    for (text, needles) in cases {
        std::fs::write(&tenant, &text).unwrap();
        for json_flag in [false, true] {
            let mut args = vec!["import", "-i", tenant.to_str().unwrap()];
            if json_flag {
                args.push("--json");
            }
            let run = hh(&server, &args, &[]);
            assert!(!run.ok, "{text} was accepted");
            let all = format!("{}{}", run.stdout, run.stderr);
            for needle in &needles {
                assert!(all.contains(needle), "{needle} not in {all}");
            }
            assert!(all.contains("nothing was changed"), "{all}");
            if json_flag {
                let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
                assert_eq!(report["ok"], false);
            }
        }
    }
    assert_eq!(audit_actions(&server).await, before);
}

#[tokio::test]
async fn auth_failures_are_clear_failures() {
    let server = https();
    let api = Api::new(&server).await;
    seed(&api).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let out_s = out.to_str().unwrap();
    // A wrong client secret.
    let run = hh(
        &server,
        &["export", "-f", "yaml", "-o", out_s],
        &[("AUTH0_CLIENT_SECRET", "wrong")],
    );
    assert!(!run.ok);
    assert!(
        run.stderr.contains("401") && run.stderr.contains("AUTH0_CLIENT_SECRET"),
        "{}",
        run.stderr
    );
    // A token without read:hooks: a0deploy exits 0 on this 403, hookhaven fails.
    let token = server.mint(&server.claims(&[Scope::ReadClients])).await;
    let run = hh(
        &server,
        &["export", "-f", "yaml", "-o", out_s],
        &[("AUTH0_ACCESS_TOKEN", &token)],
    );
    assert!(!run.ok);
    assert!(
        run.stderr.contains("403") && run.stderr.contains("read:hooks"),
        "{}",
        run.stderr
    );
    assert!(!out.join("tenant.yaml").exists());
    // A garbage token.
    let run = hh(
        &server,
        &["export", "-f", "yaml", "-o", out_s, "--json"],
        &[("AUTH0_ACCESS_TOKEN", "not-a-token")],
    );
    assert!(!run.ok);
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert!(
        report["error"].as_str().unwrap().contains("401"),
        "{report}"
    );
    // Read-only: the plan needs writes, so the import stops before any change.
    hh(&server, &["export", "-f", "yaml", "-o", out_s], &[]).expect_ok("export");
    let tenant = out.join("tenant.yaml");
    let text = std::fs::read_to_string(&tenant)
        .unwrap()
        .replace("enabled: true", "enabled: false");
    std::fs::write(&tenant, text).unwrap();
    // Refused requests are audited in the background (security_audit.rs): wait for the
    // garbage token's record, so that it does not land after the snapshot below.
    let mut before = audit_actions(&server).await;
    let waited = std::time::Instant::now();
    while !before
        .iter()
        .any(|(action, _)| action == "api.unauthorized")
    {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(10),
            "the refused request was never audited: {before:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        before = audit_actions(&server).await;
    }
    let token = server.mint(&server.claims(&[Scope::ReadHooks])).await;
    let run = hh(
        &server,
        &["import", "-i", tenant.to_str().unwrap()],
        &[("AUTH0_ACCESS_TOKEN", &token)],
    );
    assert!(!run.ok);
    assert!(
        run.stderr.contains("lacks scopes") && run.stderr.contains("update:hooks"),
        "{}",
        run.stderr
    );
    assert_eq!(audit_actions(&server).await, before);
}

#[tokio::test]
async fn rate_limits_are_retried_and_plain_http_works_on_localhost() {
    let server = Server::start_with(Options {
        args: vec![
            "--rate-limit-burst".into(),
            "4".into(),
            "--rate-limit-per-second".into(),
            "20".into(),
        ],
        ..Options::default()
    });
    let api = Api::new(&server).await;
    for i in 0..12 {
        api.create_hook(&format!("hook-{i:02}"), "send-phone-message", false)
            .await;
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("o");
    let domain = format!("http://{}", server.domain);
    let run = hh(
        &server,
        &[
            "export",
            "-f",
            "directory",
            "-o",
            out.to_str().unwrap(),
            "--json",
            "--concurrency",
            "8",
        ],
        &[("AUTH0_DOMAIN", &domain)],
    )
    .expect_ok("export over plain http");
    let report: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(report["hooks"], 12);
    assert!(
        report["retries"].as_u64().unwrap() > 0,
        "expected 429s to be retried: {report}"
    );
    // A bare host means https, which this server does not speak: a clear failure.
    let run = hh(
        &server,
        &["export", "-f", "yaml", "-o", out.to_str().unwrap()],
        &[],
    );
    assert!(
        !run.ok && run.stderr.contains("cannot reach https://"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn hundred_hooks_with_five_secrets_round_trip() {
    let server = https();
    let api = Api::new(&server).await;
    let mut values = Vec::new();
    for i in 0..100 {
        let id = api
            .create_hook(&format!("bulk-{i:03}"), "post-user-registration", false)
            .await;
        let secrets: BTreeMap<String, String> = (0..5)
            .map(|k| (format!("S{k}"), random_value("bulk")))
            .collect();
        let (status, _) = api
            .post(
                &format!("/api/v2/hooks/{id}/secrets"),
                &json!(secrets).to_string(),
            )
            .await;
        assert_eq!(status, 201);
        values.push((id, secrets));
    }
    let dir = tempfile::tempdir().unwrap();
    for (format, input) in [("yaml", "tenant.yaml"), ("directory", "")] {
        let out = dir.path().join(format);
        let run = hh(
            &server,
            &[
                "export",
                "-f",
                format,
                "-o",
                out.to_str().unwrap(),
                "--json",
            ],
            &[],
        )
        .expect_ok("export");
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(
            (report["hooks"].as_u64(), report["secrets"].as_u64()),
            (Some(100), Some(500))
        );
        let before = audit_actions(&server).await.len();
        let run = hh(
            &server,
            &["import", "-i", out.join(input).to_str().unwrap(), "--json"],
            &[],
        )
        .expect_ok("import");
        let report: Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["plan"]["counts"]["hooks"]["unchanged"], 100);
        assert_eq!(report["plan"]["counts"]["secrets"]["keep"], 500);
        assert_eq!(audit_actions(&server).await.len(), before);
    }
    for (id, secrets) in values.iter().step_by(17) {
        for (name, value) in secrets {
            assert_eq!(api.runner_sees(id, name, value).await, "MATCH");
        }
    }
}
