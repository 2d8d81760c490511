//! Test support: starts the real `hookhaven` binary on a free port with a temporary data
//! dir, and talks to it over real HTTP.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hookhaven_core::Scope;
use hookhaven_crypto::{sign_access_token, AccessClaims, SigningKey};
use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_hookhaven");

/// True in CI, where a missing prerequisite must fail rather than skip.
pub fn in_ci() -> bool {
    std::env::var("CI")
        .map(|v| v == "true" || v == "1")
        .unwrap_or(false)
}

/// Skips (with a printed reason) on a developer machine; fails in CI.
pub fn skip_or_fail(reason: &str) {
    if in_ci() {
        panic!("prerequisite missing in CI: {reason}");
    }
    eprintln!("SKIPPED: {reason} (set CI=true to make this a failure)");
}

#[derive(Default, Clone)]
pub struct Options {
    pub tls_self_signed: bool,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// RUST_LOG for the server; defaults to `info`.
    pub log: Option<String>,
    /// Reuse this data dir instead of a fresh one.
    pub data_dir: Option<PathBuf>,
    /// Reuse this database instead of a fresh one (for restarts).
    pub database_url: Option<String>,
    /// `--domain` (the issuer and audience) instead of the listen address, e.g. one name
    /// shared by several instances.
    pub domain: Option<String>,
}

/// The PostgreSQL server the suite uses when `HOOKHAVEN_TEST_BACKEND=postgres`.
fn postgres_admin_url() -> String {
    std::env::var("HOOKHAVEN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_string())
}

/// True when this run of the suite targets PostgreSQL instead of SQLite.
pub fn on_postgres() -> bool {
    std::env::var("HOOKHAVEN_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

fn psql(url: &str, sql: &str) -> Result<(), String> {
    let out = Command::new("psql")
        .arg(url)
        .args(["-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .map_err(|e| format!("psql: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// A database created for one test and dropped when the test ends.
struct TestDatabase {
    name: String,
}

impl TestDatabase {
    fn create() -> Result<(TestDatabase, String), String> {
        let name = format!("hh_t_{}", hookhaven_core::new_ulid().to_lowercase());
        psql(&postgres_admin_url(), &format!("CREATE DATABASE {name}"))?;
        let admin = postgres_admin_url();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        Ok((
            TestDatabase { name: name.clone() },
            format!("{base}/{name}"),
        ))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = psql(
            &postgres_admin_url(),
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}

pub struct Server {
    child: Option<Child>,
    _database: Option<TestDatabase>,
    /// The database the server runs on (SQLite in the data dir, or a test database).
    pub database_url: String,
    _dir: Option<tempfile::TempDir>,
    pub data_dir: PathBuf,
    pub port: u16,
    pub domain: String,
    pub base: String,
    pub log_path: PathBuf,
    pub stdout_lines: Vec<String>,
    pub client_id: String,
    pub client_secret: String,
    pub tls_cert: Option<PathBuf>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Server {
    pub fn start() -> Server {
        Server::start_with(Options::default())
    }

    pub fn start_with(options: Options) -> Server {
        for attempt in 0..3 {
            match Server::try_start(&options) {
                Ok(server) => return server,
                Err(e) if attempt < 2 => eprintln!("server start failed, retrying: {e}"),
                Err(e) => panic!("server did not start: {e}"),
            }
        }
        unreachable!()
    }

    fn try_start(options: &Options) -> Result<Server, String> {
        let (dir, data_dir) = match &options.data_dir {
            Some(d) => (None, d.clone()),
            None => {
                let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
                let data = dir.path().join("data");
                (Some(dir), data)
            }
        };
        let (database, database_url) = match (&options.database_url, on_postgres()) {
            (Some(url), _) => (None, url.clone()),
            (None, true) => {
                let (db, url) = TestDatabase::create()?;
                (Some(db), url)
            }
            (None, false) => (
                None,
                format!("sqlite://{}", data_dir.join("hookhaven.db").display()),
            ),
        };
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let domain = options.domain.clone().unwrap_or_else(|| listen.clone());
        let log_dir = data_dir.parent().unwrap_or(Path::new("/tmp")).to_path_buf();
        let log_path = log_dir.join(format!("server-{port}.log"));
        let log_file = File::create(&log_path).map_err(|e| e.to_string())?;
        let mut command = Command::new(BIN);
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--listen")
            .arg(&listen)
            .arg("--domain")
            .arg(&domain)
            .arg("--database-url")
            .arg(&database_url)
            .args(&options.args)
            // The header read timeout also closes idle keep-alive connections. Tests that
            // block their runtime for long (a synchronous a0deploy run) leave a pooled
            // reqwest connection unpolled, so it cannot notice that close; give them a
            // long one unless the test sets its own (crates/cli/tests/integration/edge.rs).
            .args(
                (!options.args.iter().any(|a| a == "--header-read-timeout"))
                    .then_some(["--header-read-timeout", "600"])
                    .into_iter()
                    .flatten(),
            )
            .env_remove("HOOKHAVEN_MASTER_KEY")
            .env("RUST_LOG", options.log.as_deref().unwrap_or("info"))
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file));
        if options.tls_self_signed {
            command.arg("--tls-self-signed");
        }
        for (k, v) in &options.env {
            command.env(k, v);
        }
        let mut child = command.spawn().map_err(|e| e.to_string())?;
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut lines = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let ready = line.contains("hookhaven listening on");
                    lines.push(line);
                    if ready {
                        break;
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                        return Err(format!("server exited with {status}: {log}"));
                    }
                    if Instant::now() > deadline {
                        let _ = child.kill();
                        return Err("timed out waiting for the server".into());
                    }
                }
                Err(_) => {
                    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                    let _ = child.wait();
                    return Err(format!("server closed stdout: {log}"));
                }
            }
        }
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in rx {});
        let creds_path = data_dir.join("admin-credentials.json");
        let creds: Value = serde_json::from_str(
            &std::fs::read_to_string(&creds_path)
                .map_err(|e| format!("{}: {e}", creds_path.display()))?,
        )
        .map_err(|e| e.to_string())?;
        let scheme = if options.tls_self_signed {
            "https"
        } else {
            "http"
        };
        Ok(Server {
            child: Some(child),
            _database: database,
            database_url,
            _dir: dir,
            tls_cert: options
                .tls_self_signed
                .then(|| data_dir.join("tls").join("cert.pem")),
            data_dir,
            port,
            base: format!("{scheme}://{listen}"),
            domain,
            log_path,
            stdout_lines: lines,
            client_id: creds["client_id"].as_str().unwrap_or_default().to_string(),
            client_secret: creds["client_secret"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn audience(&self) -> String {
        format!("https://{}/api/v2/", self.domain)
    }

    pub fn http(&self) -> reqwest::Client {
        let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(cert) = &self.tls_cert {
            let pem = std::fs::read(cert).expect("cert");
            for cert in reqwest::Certificate::from_pem_bundle(&pem).expect("pem") {
                builder = builder.add_root_certificate(cert);
            }
        }
        builder.build().expect("http client")
    }

    /// An admin token with every scope, from the real token endpoint.
    pub async fn admin_token(&self) -> String {
        self.token_for(&self.client_id, &self.client_secret, None)
            .await
    }

    pub async fn token_for(&self, id: &str, secret: &str, scope: Option<&str>) -> String {
        let mut form = vec![
            ("grant_type", "client_credentials".to_string()),
            ("client_id", id.to_string()),
            ("client_secret", secret.to_string()),
            ("audience", self.audience()),
        ];
        if let Some(scope) = scope {
            form.push(("scope", scope.to_string()));
        }
        let response = self
            .http()
            .post(self.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .expect("token request");
        assert_eq!(response.status(), 200, "token request failed");
        let body: Value = response.json().await.expect("token json");
        body["access_token"]
            .as_str()
            .expect("access_token")
            .to_string()
    }

    /// The server's log so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The server's configuration as the offline commands see it: its data dir and
    /// database.
    pub fn config(&self) -> hookhaven_server::Config {
        let mut config = hookhaven_server::Config::for_data_dir(self.data_dir.clone());
        config.database_url = self.database_url.clone();
        config
    }

    /// Options that restart a server on this one's data dir and database.
    pub fn restart_options(&self) -> Options {
        Options {
            data_dir: Some(self.data_dir.clone()),
            database_url: Some(self.database_url.clone()),
            ..Default::default()
        }
    }

    /// The signing key, read from the data dir the way the server reads it, so tests can
    /// mint tokens with any claims (expired, wrong audience, single scopes).
    pub async fn signing_key(&self) -> SigningKey {
        hookhaven_server::open_data_dir(&self.config())
            .await
            .expect("open data dir")
            .signing_key
    }

    /// The plaintext stored for a secret, read from the data dir and database the way the
    /// server reads it; `None` for a secret stored without a value, or no such secret.
    pub async fn stored_secret(&self, hook_id: &str, name: &str) -> Option<String> {
        let opened = hookhaven_server::open_data_dir(&self.config())
            .await
            .expect("open the data dir");
        let hook = hookhaven_core::HookId::parse(hook_id).expect("hook id");
        let sealed = opened.store.sealed_secrets(&hook).await.expect("secrets");
        let (_, value) = sealed.into_iter().find(|(n, _)| n.as_str() == name)?;
        value.map(|v| {
            hookhaven_crypto::open_secret(&opened.keyring, hook_id, name, &v)
                .expect("decrypts")
                .expose()
                .to_string()
        })
    }

    pub fn claims(&self, scopes: &[Scope]) -> AccessClaims {
        let now = hookhaven_core::now_ms() / 1000;
        AccessClaims {
            iss: format!("https://{}/", self.domain),
            sub: format!("{}@clients", self.client_id),
            aud: vec![self.audience()],
            iat: now,
            exp: now + 3600,
            scope: Scope::join(scopes),
            azp: self.client_id.clone(),
            gty: "client-credentials".into(),
        }
    }

    pub async fn mint(&self, claims: &AccessClaims) -> String {
        sign_access_token(&self.signing_key().await, claims)
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().expect("wait for server")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Shorthand requests with a bearer token; returns status and parsed body (or Null).
pub struct Api<'a> {
    pub server: &'a Server,
    pub token: String,
    pub http: reqwest::Client,
}

impl<'a> Api<'a> {
    pub async fn new(server: &'a Server) -> Api<'a> {
        Api {
            token: server.admin_token().await,
            http: server.http(),
            server,
        }
    }

    pub async fn send(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(method, self.server.url(path))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = req.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value, headers)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (s, v, _) = self.send("GET", path, None).await;
        (s, v)
    }
    pub async fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let (s, v, _) = self.send("POST", path, Some(body)).await;
        (s, v)
    }
    pub async fn patch(&self, path: &str, body: &str) -> (u16, Value) {
        let (s, v, _) = self.send("PATCH", path, Some(body)).await;
        (s, v)
    }
    pub async fn delete(&self, path: &str, body: Option<&str>) -> (u16, Value) {
        let (s, v, _) = self.send("DELETE", path, body).await;
        (s, v)
    }

    /// Creates a hook and returns its id.
    pub async fn create_hook(&self, name: &str, trigger: &str, enabled: bool) -> String {
        let body = serde_json::json!({
            "name": name,
            "script": "module.exports = function (client, scope, audience, context, cb) { cb(null, {}); };",
            "triggerId": trigger,
            "enabled": enabled,
        });
        let (status, hook) = self.post("/api/v2/hooks", &body.to_string()).await;
        assert_eq!(status, 201, "{hook}");
        hook["id"].as_str().expect("id").to_string()
    }
}

/// Every audit event so far, oldest first, as `(action, hook id)`.
pub async fn audit_actions(server: &Server) -> Vec<(String, Option<String>)> {
    let opened = hookhaven_server::open_data_dir(&server.config())
        .await
        .expect("open data dir");
    let mut events = Vec::new();
    let mut before_seq = None;
    loop {
        let filter = hookhaven_core::AuditFilter {
            before_seq,
            limit: 500,
            ..Default::default()
        };
        let page = opened.store.list_audit(&filter).await.expect("audit");
        let Some(last) = page.last() else { break };
        before_seq = Some(last.seq);
        events.extend(
            page.into_iter()
                .map(|s| (s.seq, s.event.action, s.event.hook_id)),
        );
    }
    events.sort_by_key(|e| e.0);
    events.into_iter().map(|(_, a, h)| (a, h)).collect()
}

// ---- several instances, crashes, and databases of one's own (multi_instance.rs) ----

/// A PostgreSQL database of one's own, dropped at the end of the test, whatever backend
/// the suite runs on.
pub struct PgTestDatabase {
    _database: TestDatabase,
    pub url: String,
}

/// A fresh PostgreSQL database, or `None` after printing `SKIPPED` when the server is
/// unreachable and CI is not `true` (in CI an unreachable server fails the test).
pub fn postgres_database() -> Option<PgTestDatabase> {
    if let Err(problem) = psql(&postgres_admin_url(), "SELECT 1") {
        if std::env::var("CI").as_deref() == Ok("true") {
            panic!("PostgreSQL is unreachable and CI=true: {problem}");
        }
        eprintln!("SKIPPED: PostgreSQL is unreachable: {}", problem.trim());
        return None;
    }
    let (database, url) = TestDatabase::create().expect("create a test database");
    Some(PgTestDatabase {
        _database: database,
        url,
    })
}

impl Server {
    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// SIGKILL: the process dies at once, mid-request, with no shutdown of any kind.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("server running");
        child.kill().expect("SIGKILL");
        child.wait().expect("wait for the killed server");
    }

    /// A second instance on this one's database and domain, with a data dir of its own:
    /// the master keyring comes from `HOOKHAVEN_MASTER_KEY` (the text of this one's key
    /// file), so nothing but the database and the key is shared. The admin credentials
    /// file is copied over only because the harness reads the credentials from the data
    /// dir; the instance itself never reads it.
    pub fn start_peer(&self) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        std::fs::copy(
            self.data_dir.join("admin-credentials.json"),
            data_dir.join("admin-credentials.json"),
        )
        .expect("copy the admin credentials");
        let key = std::fs::read_to_string(self.data_dir.join("master.key")).expect("master key");
        let mut peer = Server::start_with(Options {
            data_dir: Some(data_dir),
            database_url: Some(self.database_url.clone()),
            domain: Some(self.domain.clone()),
            env: vec![("HOOKHAVEN_MASTER_KEY".into(), key)],
            ..Default::default()
        });
        assert!(
            !peer.data_dir.join("master.key").exists(),
            "the peer took its keyring from the environment"
        );
        peer._dir = Some(dir);
        peer
    }
}

/// Runs the `hookhaven` binary with these arguments; returns (success, stdout, stderr).
pub fn run_cli<I, S>(args: I, env: &[(&str, &str)]) -> (bool, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut command = Command::new(BIN);
    command.args(args).env_remove("HOOKHAVEN_MASTER_KEY");
    for (k, v) in env {
        command.env(k, v);
    }
    let out = command.output().expect("run hookhaven");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `hookhaven keys <args…>` on this server's data dir and database, as an operator
/// would next to a running server; returns (success, stdout, stderr).
pub fn run_keys(server: &Server, args: &[&str]) -> (bool, String, String) {
    let mut all: Vec<String> = vec!["keys".into()];
    all.extend(args.iter().map(|a| a.to_string()));
    all.push("--data-dir".into());
    all.push(server.data_dir.display().to_string());
    all.push("--database-url".into());
    all.push(server.database_url.clone());
    run_cli(all, &[])
}

// ---- secrets as hook code sees them (the Runner) ----

impl Api<'_> {
    /// What hook code sees as secret `name` of hook `hook_id`, asked through the Runner
    /// (`POST /api/v2/hooks/{id}/run`) without the value leaving the server: the code
    /// compares it with `expected` and answers with an error message — `MATCH`,
    /// `DIFFERENT` or `UNSET` — because every trigger returns errors (post-* triggers
    /// ignore results). Returns that word.
    pub async fn runner_sees(&self, hook_id: &str, name: &str, expected: &str) -> String {
        let script = format!(
            "module.exports = function () {{ var cb = arguments[arguments.length - 1]; \
             var v = arguments[arguments.length - 2].webtask.secrets[{name}]; \
             cb(new Error(v === undefined ? 'UNSET' : (v === {expected} ? 'MATCH' : 'DIFFERENT'))); }};",
            name = serde_json::to_string(name).expect("name"),
            expected = serde_json::to_string(expected).expect("value"),
        );
        let body = serde_json::json!({ "script": script });
        // A token minted with the signing key: an enabled credentials-exchange hook under
        // test may have trimmed the scopes of tokens from /oauth/token.
        let token = self
            .server
            .mint(&self.server.claims(&hookhaven_core::ALL_SCOPES))
            .await;
        let response = self
            .http
            .post(self.server.url(&format!("/api/v2/hooks/{hook_id}/run")))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("runner request");
        let status = response.status().as_u16();
        let out: Value = response.json().await.expect("runner json");
        assert_eq!(status, 200, "runner: {out}");
        out["error"]["message"]
            .as_str()
            .unwrap_or_else(|| panic!("the runner gave no error message: {out}"))
            .to_string()
    }
}
