//! The real Auth0 clients against a real server: auth0-python 4.13.0 and 6.8.0 and
//! node-auth0 4.37.1 and 7.1.0, installed into `./.tools` by `scripts/install-test-clients`.
//! Each test starts a fresh server, runs one script from `tests/clients/` as a subprocess
//! (the script asserts every step with the client's own API), and then checks that none of
//! the secret values the script planted shows up in the server log, the data dir or the
//! script's output. A missing client or runtime skips locally and fails in CI.

mod support;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rand::distributions::{Alphanumeric, DistString};
use support::{skip_or_fail, Options, Server};

/// How long one client script may run before it is killed.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repo root")
}

/// Where a client lives and how to run it.
enum Runtime {
    /// A venv under `.tools` and the auth0-python requirement its stamp must name.
    Python {
        venv: &'static str,
        spec: &'static str,
    },
    /// A package alias installed under `.tools/node/node_modules`.
    Node { package: &'static str },
}

struct Client {
    /// Short name, also used in hook names and secret values.
    name: &'static str,
    runtime: Runtime,
    /// Path of the script, relative to the repo root.
    script: &'static str,
    tls: bool,
}

/// The program and arguments that run the client's script, or why they can't.
fn command_for(client: &Client, root: &Path) -> Result<(PathBuf, Vec<PathBuf>), String> {
    let script = root.join(client.script);
    if !script.is_file() {
        return Err(format!("{} is missing", script.display()));
    }
    let hint = "run `bash scripts/install-test-clients`";
    match &client.runtime {
        Runtime::Python { venv, spec } => {
            let dir = root.join(".tools").join(venv);
            let python = dir.join("bin").join("python");
            let stamp = std::fs::read_to_string(dir.join(".hh-stamp")).unwrap_or_default();
            if !python.exists() || !stamp.starts_with(&format!("{spec} ")) {
                return Err(format!(
                    "{spec} is not installed in {} ({hint})",
                    dir.display()
                ));
            }
            Ok((python, vec![script]))
        }
        Runtime::Node { package } => {
            let runs = Command::new("node")
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !runs {
                return Err("`node` is not on PATH".into());
            }
            let manifest = root
                .join(".tools/node/node_modules")
                .join(package)
                .join("package.json");
            if !manifest.is_file() {
                return Err(format!("{} is missing ({hint})", manifest.display()));
            }
            Ok((PathBuf::from("node"), vec![script]))
        }
    }
}

/// Output of a finished script.
struct Outcome {
    success: bool,
    status: String,
    stdout: String,
    stderr: String,
}

fn run_script(program: &Path, args: &[PathBuf], envs: &[(String, String)], root: &Path) -> Outcome {
    let mut command = Command::new(program);
    command
        .args(args)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // Nothing from the developer's shell may redirect or re-trust the clients.
    for var in [
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "CURL_CA_BUNDLE",
        "NODE_EXTRA_CA_CERTS",
        "NODE_OPTIONS",
        "NODE_PATH",
        "NODE_TLS_REJECT_UNAUTHORIZED",
        "PYTHONPATH",
        "PYTHONHOME",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
    ] {
        command.env_remove(var);
    }
    command
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1");
    for (k, v) in envs {
        command.env(k, v);
    }
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    let mut out = child.stdout.take().expect("piped stdout");
    let mut err = child.stderr.take().expect("piped stderr");
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
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    let (success, status) = loop {
        match child.try_wait().expect("wait for the client script") {
            Some(status) => break (status.success(), status.to_string()),
            None if Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                break (false, format!("killed after {}s", SCRIPT_TIMEOUT.as_secs()));
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    Outcome {
        success,
        status,
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path);
            }
        }
    }
    found
}

async fn run_client(client: Client) {
    let root = repo_root();
    let (program, args) = match command_for(&client, &root) {
        Ok(found) => found,
        Err(reason) => {
            skip_or_fail(&format!("real client {}: {reason}", client.name));
            return;
        }
    };
    // Debug logging, so the leak check below also covers what the server logs at debug.
    let server = Server::start_with(Options {
        tls_self_signed: client.tls,
        log: Some("debug".into()),
        ..Options::default()
    });
    let token = server.admin_token().await;
    // Distinct, random values: if one turns up anywhere below, it leaked.
    let secrets: Vec<String> = (1..=3)
        .map(|n| {
            let tail = Alphanumeric.sample_string(&mut rand::thread_rng(), 24);
            format!("hh-planted-{}-{n}-{tail}", client.name)
        })
        .collect();
    let mut envs: Vec<(String, String)> = vec![
        ("HH_DOMAIN".into(), server.domain.clone()),
        ("HH_BASE".into(), server.base.clone()),
        ("HH_TOKEN".into(), token),
        ("HH_CLIENT_ID".into(), server.client_id.clone()),
        ("HH_CLIENT_SECRET".into(), server.client_secret.clone()),
        ("HH_AUDIENCE".into(), server.audience()),
        ("HH_PREFIX".into(), "hh".into()),
        (
            "HH_NODE_DIR".into(),
            root.join(".tools/node").display().to_string(),
        ),
    ];
    for (i, value) in secrets.iter().enumerate() {
        envs.push((format!("HH_SECRET_{}", i + 1), value.clone()));
    }
    if let Some(cert) = &server.tls_cert {
        let cert = cert.display().to_string();
        envs.push(("NODE_EXTRA_CA_CERTS".into(), cert.clone()));
        envs.push(("REQUESTS_CA_BUNDLE".into(), cert.clone()));
        envs.push(("SSL_CERT_FILE".into(), cert));
    }

    let outcome = run_script(&program, &args, &envs, &root);
    println!(
        "--- {} ({} {}) against {}: {}",
        client.name,
        program.display(),
        client.script,
        server.base,
        outcome.status
    );
    println!("{}", outcome.stdout);
    if !outcome.stderr.is_empty() {
        println!("--- stderr\n{}", outcome.stderr);
    }
    let logs = server.logs();
    println!("--- server log: {} lines at debug", logs.lines().count());
    if !outcome.success {
        let tail: Vec<&str> = logs.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        panic!(
            "real client {} failed ({}).\n--- stdout\n{}\n--- stderr\n{}\n--- server log (tail)\n{}",
            client.name,
            outcome.status,
            outcome.stdout,
            outcome.stderr,
            tail.join("\n")
        );
    }
    assert!(
        outcome.stdout.lines().any(|l| l.trim() == "PASS"),
        "{} exited 0 without printing PASS",
        client.name
    );

    let stdout_lines = server.stdout_lines.join("\n");
    for (what, text) in [
        ("the server log", &logs),
        ("the client's stdout", &outcome.stdout),
        ("the client's stderr", &outcome.stderr),
    ] {
        assert!(
            !text.contains(server.client_secret.as_str()),
            "the admin client secret leaked into {what}"
        );
    }
    for (i, value) in secrets.iter().enumerate() {
        let n = i + 1;
        assert!(
            !logs.contains(value.as_str()),
            "HH_SECRET_{n} leaked into the server log"
        );
        assert!(
            !stdout_lines.contains(value.as_str()),
            "HH_SECRET_{n} leaked into the server's stdout"
        );
        assert!(
            !outcome.stdout.contains(value.as_str()),
            "HH_SECRET_{n} leaked into the client's stdout"
        );
        assert!(
            !outcome.stderr.contains(value.as_str()),
            "HH_SECRET_{n} leaked into the client's stderr"
        );
        let files = files_containing(&server.data_dir, value.as_bytes());
        assert!(
            files.is_empty(),
            "HH_SECRET_{n} is stored in plaintext in {files:?}"
        );
    }
}

#[tokio::test]
async fn auth0_python_4_over_http() {
    run_client(Client {
        name: "py4",
        runtime: Runtime::Python {
            venv: "py4",
            spec: "auth0-python==4.13.0",
        },
        script: "tests/clients/python/auth0_python_v4.py",
        tls: false,
    })
    .await;
}

#[tokio::test]
async fn auth0_python_6_over_http() {
    run_client(Client {
        name: "py6",
        runtime: Runtime::Python {
            venv: "py6",
            spec: "auth0-python==6.8.0",
        },
        script: "tests/clients/python/auth0_python_v6.py",
        tls: false,
    })
    .await;
}

#[tokio::test]
async fn node_auth0_4_over_http() {
    run_client(Client {
        name: "node4",
        runtime: Runtime::Node {
            package: "auth0-v4",
        },
        script: "tests/clients/node/auth0_node_v4.js",
        tls: false,
    })
    .await;
}

#[tokio::test]
async fn node_auth0_7_over_https() {
    run_client(Client {
        name: "node7",
        runtime: Runtime::Node {
            package: "auth0-v7",
        },
        script: "tests/clients/node/auth0_node_v7.js",
        tls: true,
    })
    .await;
}
