//! Several instances on one PostgreSQL database, crash consistency under `kill -9`, and
//! moving from SQLite to PostgreSQL with `hookhaven db migrate` (issue 6).
//!
//! The two-instance and migration tests always use PostgreSQL (127.0.0.1:5432, a
//! database of their own); they print SKIPPED when it is unreachable outside CI. The crash
//! test runs on the suite's backend: SQLite by default, PostgreSQL with
//! `HOOKHAVEN_TEST_BACKEND=postgres`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookhaven_core::HookFilter;
use hookhaven_crypto::{open_secret, open_server_key, MasterKeyring};
use rand::Rng;
use serde_json::{json, Value};

use crate::support::{
    on_postgres, postgres_database, run_cli, Api, Options, PgTestDatabase, Server,
};

/// The one name every instance behind the load balancer answers to: the issuer and the
/// audience of every token.
const SHARED_DOMAIN: &str = "hookhaven.internal";

/// A hook whose result proves which secret values it ran with, without showing them (the
/// Runner redacts values): a SHA-256 of each, and a version marker of the script itself.
fn proving_script(version: &str) -> String {
    format!(
        "module.exports = function (client, scope, audience, context, cb) {{
           const crypto = require('crypto');
           const out = {{ 'https://proof.example/version': '{version}' }};
           for (const name of Object.keys(context.webtask.secrets)) {{
             out['https://proof.example/' + name] =
               crypto.createHash('sha256').update(String(context.webtask.secrets[name])).digest('hex');
           }}
           cb(null, out);
         }};"
    )
}

fn sha256_hex(value: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, value.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a proving hook saw, from a Runner answer: secret name → SHA-256, and "version".
fn proof(run: &Value) -> BTreeMap<String, String> {
    run["result"]
        .as_object()
        .unwrap_or_else(|| panic!("a result: {run}"))
        .iter()
        .filter_map(|(k, v)| {
            let name = k.strip_prefix("https://proof.example/")?;
            Some((name.to_string(), v.as_str()?.to_string()))
        })
        .collect()
}

/// An instance as a plain HTTP endpoint with a token, cheap to clone into tasks.
#[derive(Clone)]
struct Endpoint {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Endpoint {
    async fn of(server: &Server) -> Endpoint {
        Endpoint {
            base: server.base.clone(),
            token: server.admin_token().await,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// Status and body, or `None` when no answer came (connection refused or cut).
    async fn try_send(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Option<(u16, Value)> {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.ok()?;
        let status = response.status().as_u16();
        let text = response.text().await.ok()?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.try_send(method, path, body)
            .await
            .unwrap_or_else(|| panic!("no answer from {} to {method} {path}", self.base))
    }

    async fn run(&self, hook: &str) -> BTreeMap<String, String> {
        let (status, out) = self
            .send(
                "POST",
                &format!("/api/v2/hooks/{hook}/run"),
                Some(json!({})),
            )
            .await;
        assert_eq!(status, 200, "{out}");
        proof(&out)
    }

    async fn secret_names(&self, hook: &str) -> Vec<String> {
        let (status, out) = self
            .send("GET", &format!("/api/v2/hooks/{hook}/secrets"), None)
            .await;
        assert_eq!(status, 200, "{out}");
        let object = out.as_object().expect("an object");
        assert!(object.values().all(|v| v == "_VALUE_NOT_SHOWN_"), "{out}");
        object.keys().cloned().collect()
    }
}

/// Two instances on one fresh PostgreSQL database, answering to [`SHARED_DOMAIN`]: the
/// first with its own data dir and key file, the second with a data dir of its own and
/// the same keyring in `HOOKHAVEN_MASTER_KEY`.
fn two_instances() -> Option<(PgTestDatabase, Server, Server)> {
    let database = postgres_database()?;
    let first = Server::start_with(Options {
        database_url: Some(database.url.clone()),
        domain: Some(SHARED_DOMAIN.into()),
        ..Default::default()
    });
    let second = first.start_peer();
    assert_ne!(first.port, second.port);
    Some((database, first, second))
}

#[tokio::test]
async fn two_instances_share_tokens_hooks_and_secrets() {
    let Some((_database, a, b)) = two_instances() else {
        return;
    };
    let http = reqwest::Client::new();

    // One signing key in the database: the same JWKS, and each accepts the other's tokens.
    let jwks = |s: &Server| {
        let url = s.url("/.well-known/jwks.json");
        let http = http.clone();
        async move { http.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(jwks(&a).await, jwks(&b).await);
    let from_a = a.admin_token().await;
    let from_b = b.admin_token().await;
    for (server, token) in [(&b, &from_a), (&a, &from_b)] {
        let response = http
            .get(server.url("/api/v2/hooks"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            200,
            "a token from one instance works on the other"
        );
    }
    // A token for another audience is still refused by both.
    let foreign = a.claims(&[hookhaven_core::Scope::ReadHooks]);
    let foreign = hookhaven_crypto::AccessClaims {
        aud: vec!["https://elsewhere.example/api/v2/".into()],
        ..foreign
    };
    let forged = a.mint(&foreign).await;
    let response = http
        .get(b.url("/api/v2/hooks"))
        .bearer_auth(&forged)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);

    let (ea, eb) = (Endpoint::of(&a).await, Endpoint::of(&b).await);

    // A hook and its secrets made through A…
    let (status, hook) = ea
        .send(
            "POST",
            "/api/v2/hooks",
            Some(json!({
                "name": "shared-hook",
                "script": proving_script("v1"),
                "triggerId": "credentials-exchange",
            })),
        )
        .await;
    assert_eq!(status, 201, "{hook}");
    let id = hook["id"].as_str().unwrap().to_string();
    let (status, out) = ea
        .send(
            "POST",
            &format!("/api/v2/hooks/{id}/secrets"),
            Some(json!({"API_KEY": "alpha-1", "PARTNER": "beta-1"})),
        )
        .await;
    assert_eq!(status, 201, "{out}");

    // …are read and run through B.
    let (status, read) = eb.send("GET", &format!("/api/v2/hooks/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(read, hook);
    assert_eq!(eb.secret_names(&id).await, ["API_KEY", "PARTNER"]);
    let expected = BTreeMap::from([
        ("version".to_string(), "v1".to_string()),
        ("API_KEY".to_string(), sha256_hex("alpha-1")),
        ("PARTNER".to_string(), sha256_hex("beta-1")),
    ]);
    assert_eq!(eb.run(&id).await, expected);
    // A has compiled and cached v1 by now.
    assert_eq!(ea.run(&id).await, expected);

    // A change through B runs on A at A's next invocation: the cache checks the source.
    let (status, _) = eb
        .send(
            "PATCH",
            &format!("/api/v2/hooks/{id}"),
            Some(json!({"script": proving_script("v2")})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = eb
        .send(
            "PATCH",
            &format!("/api/v2/hooks/{id}/secrets"),
            Some(json!({"API_KEY": "alpha-2"})),
        )
        .await;
    assert_eq!(status, 201);
    let expected = BTreeMap::from([
        ("version".to_string(), "v2".to_string()),
        ("API_KEY".to_string(), sha256_hex("alpha-2")),
        ("PARTNER".to_string(), sha256_hex("beta-1")),
    ]);
    assert_eq!(ea.run(&id).await, expected);
    assert_eq!(eb.run(&id).await, expected);

    // A delete through A is seen by B at once.
    let (status, _) = ea
        .send("DELETE", &format!("/api/v2/hooks/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _) = eb.send("GET", &format!("/api/v2/hooks/{id}"), None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn fifty_writers_on_two_instances_keep_the_limits_and_lose_nothing() {
    let Some((_database, a, b)) = two_instances() else {
        return;
    };
    let endpoints = [Endpoint::of(&a).await, Endpoint::of(&b).await];
    let pick = |i: usize| endpoints[i % 2].clone();

    // D4: 50 writers add one secret each to one hook, half through each instance.
    let (status, hook) = endpoints[0]
        .send(
            "POST",
            "/api/v2/hooks",
            Some(json!({"name": "crowded", "script": proving_script("v1"), "triggerId": "credentials-exchange"})),
        )
        .await;
    assert_eq!(status, 201);
    let id = hook["id"].as_str().unwrap().to_string();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let (endpoint, path) = (pick(i), format!("/api/v2/hooks/{id}/secrets"));
        tasks.spawn(async move {
            let body = json!({ format!("S{i}"): format!("value-{i}") });
            (i, endpoint.send("POST", &path, Some(body)).await)
        });
    }
    let mut acknowledged = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        let (i, (status, body)) = done.unwrap();
        match status {
            201 => {
                acknowledged.insert(format!("S{i}"));
            }
            400 => assert_eq!(body["errorCode"], "invalid_body", "{body}"),
            other => panic!("writer {i}: unexpected {other} {body}"),
        }
    }
    assert_eq!(acknowledged.len(), 20, "exactly 20 adds succeed");
    for endpoint in &endpoints {
        let names: BTreeSet<String> = endpoint.secret_names(&id).await.into_iter().collect();
        assert_eq!(
            names, acknowledged,
            "every acknowledged add, and nothing else"
        );
    }
    // The values are the ones acknowledged, through either instance.
    let seen = endpoints[1].run(&id).await;
    for name in &acknowledged {
        let i: usize = name[1..].parse().unwrap();
        assert_eq!(seen[name], sha256_hex(&format!("value-{i}")), "{name}");
    }

    // D6 across instances: multi-key writes race; each hook ends with one writer's set.
    let mut tasks = tokio::task::JoinSet::new();
    let keys: Vec<String> = acknowledged.iter().take(3).cloned().collect();
    for i in 0..50 {
        let (endpoint, path, keys) = (pick(i), format!("/api/v2/hooks/{id}/secrets"), keys.clone());
        tasks.spawn(async move {
            let body: serde_json::Map<String, Value> = keys
                .iter()
                .map(|k| (k.clone(), json!(format!("gen-{i}"))))
                .collect();
            endpoint
                .send("PATCH", &path, Some(Value::Object(body)))
                .await
                .0
        });
    }
    while let Some(done) = tasks.join_next().await {
        assert_eq!(done.unwrap(), 201);
    }
    let seen = endpoints[0].run(&id).await;
    let values: BTreeSet<&String> = keys.iter().map(|k| &seen[k]).collect();
    assert_eq!(
        values.len(),
        1,
        "all three keys hold one writer's value: {seen:?}"
    );
    assert!(
        (0..50).any(|i| sha256_hex(&format!("gen-{i}")) == **values.iter().next().unwrap()),
        "and it is one that was written"
    );

    // D2: 50 writers create or enable hooks on one trigger through both instances.
    let mut existing = Vec::new();
    for n in 0..10 {
        let (status, hook) = endpoints[n % 2]
            .send(
                "POST",
                "/api/v2/hooks",
                Some(json!({"name": format!("slot-{n}"), "script": proving_script("v1"), "triggerId": "pre-user-registration"})),
            )
            .await;
        assert_eq!(status, 201, "{hook}");
        existing.push(hook["id"].as_str().unwrap().to_string());
    }
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..50 {
        let endpoint = pick(i);
        let target = existing[(i / 2) % existing.len()].clone();
        tasks.spawn(async move {
            if i % 2 == 0 {
                let body = json!({"name": format!("racer-{i}"), "script": proving_script("v1"), "triggerId": "pre-user-registration", "enabled": true});
                let (status, hook) = endpoint.send("POST", "/api/v2/hooks", Some(body)).await;
                assert_eq!(status, 201, "{hook}");
                Some(hook["id"].as_str().unwrap().to_string())
            } else {
                let (status, hook) = endpoint
                    .send("PATCH", &format!("/api/v2/hooks/{target}"), Some(json!({"enabled": true})))
                    .await;
                assert_eq!(status, 200, "{hook}");
                None
            }
        });
    }
    let mut created = Vec::new();
    while let Some(done) = tasks.join_next().await {
        created.extend(done.unwrap());
    }
    assert_eq!(created.len(), 25);
    for endpoint in &endpoints {
        let (_, enabled) = endpoint
            .send(
                "GET",
                "/api/v2/hooks?triggerId=pre-user-registration&enabled=true",
                None,
            )
            .await;
        assert_eq!(
            enabled.as_array().unwrap().len(),
            1,
            "one enabled hook: {enabled}"
        );
        let (_, all) = endpoint
            .send("GET", "/api/v2/hooks?triggerId=pre-user-registration", None)
            .await;
        let all: BTreeSet<&str> = all
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["id"].as_str().unwrap())
            .collect();
        for id in created.iter().chain(&existing) {
            assert!(all.contains(id.as_str()), "acknowledged hook {id} is there");
        }
    }
}

/// What the writers of one crash round were told, per hook.
#[derive(Default)]
struct Acknowledged {
    /// Multi-key hooks: the last value acknowledged, and the one in flight, if any.
    patched: BTreeMap<String, (String, Option<String>)>,
    /// Hooks created (acknowledged), with the secrets value acknowledged for them, or the
    /// one in flight (all or nothing either way).
    created: BTreeMap<String, (Option<String>, Option<String>)>,
    /// Multi-key PATCHes acknowledged, over all rounds.
    patches: usize,
}

const MULTI_KEYS: [&str; 3] = ["KEY_A", "KEY_B", "KEY_C"];

/// Writes until the server stops answering (or `stop` is set): each patching task owns
/// one hook and sets its three keys to one new value per request; each creating task
/// creates hooks and gives each two secrets at once.
async fn write_until_killed(
    endpoint: Endpoint,
    patch_hooks: Vec<String>,
    round: usize,
    acknowledged: Arc<Mutex<Acknowledged>>,
    stop: Arc<AtomicBool>,
) {
    let mut tasks = tokio::task::JoinSet::new();
    for hook in patch_hooks {
        let (endpoint, acknowledged, stop) = (endpoint.clone(), acknowledged.clone(), stop.clone());
        tasks.spawn(async move {
            let path = format!("/api/v2/hooks/{hook}/secrets");
            for generation in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let value = format!("r{round}-g{generation}");
                acknowledged
                    .lock()
                    .unwrap()
                    .patched
                    .get_mut(&hook)
                    .unwrap()
                    .1 = Some(value.clone());
                let body: serde_json::Map<String, Value> = MULTI_KEYS
                    .iter()
                    .map(|k| (k.to_string(), json!(value)))
                    .collect();
                match endpoint
                    .try_send("PATCH", &path, Some(Value::Object(body)))
                    .await
                {
                    Some((201, _)) => {
                        let mut acknowledged = acknowledged.lock().unwrap();
                        acknowledged.patched.insert(hook.clone(), (value, None));
                        acknowledged.patches += 1;
                    }
                    Some((status, body)) => panic!("PATCH answered {status} {body}"),
                    None => break,
                }
            }
        });
    }
    for writer in 0..2 {
        let (endpoint, acknowledged, stop) = (endpoint.clone(), acknowledged.clone(), stop.clone());
        tasks.spawn(async move {
            for n in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let body = json!({
                    "name": format!("crash-r{round}-w{writer}-{n}"),
                    "script": proving_script("v1"),
                    "triggerId": "credentials-exchange",
                });
                let id = match endpoint.try_send("POST", "/api/v2/hooks", Some(body)).await {
                    Some((201, hook)) => hook["id"].as_str().unwrap().to_string(),
                    Some((status, body)) => panic!("POST hook answered {status} {body}"),
                    None => break,
                };
                let value = format!("r{round}-w{writer}-{n}");
                acknowledged
                    .lock()
                    .unwrap()
                    .created
                    .insert(id.clone(), (None, Some(value.clone())));
                let body = json!({"FIRST": value, "SECOND": value});
                match endpoint
                    .try_send("POST", &format!("/api/v2/hooks/{id}/secrets"), Some(body))
                    .await
                {
                    Some((201, _)) => {
                        acknowledged
                            .lock()
                            .unwrap()
                            .created
                            .insert(id, (Some(value), None));
                    }
                    Some((status, body)) => panic!("POST secrets answered {status} {body}"),
                    None => break,
                }
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.expect("writer task");
    }
}

/// Every secret of every hook, decrypted with the keyring (each must open), by hook id.
async fn decrypt_everything(server: &Server) -> BTreeMap<String, BTreeMap<String, Option<String>>> {
    let opened = hookhaven_server::open_data_dir(&server.config())
        .await
        .expect("open the data dir");
    let (hooks, _) = opened
        .store
        .list_hooks(&HookFilter::default(), None)
        .await
        .expect("list hooks");
    let mut all = BTreeMap::new();
    for hook in hooks {
        let mut secrets = BTreeMap::new();
        for (name, sealed) in opened
            .store
            .sealed_secrets(&hook.id)
            .await
            .expect("secrets")
        {
            let value = sealed.map(|sealed| {
                open_secret(&opened.keyring, hook.id.as_str(), name.as_str(), &sealed)
                    .unwrap_or_else(|e| {
                        panic!(
                            "{} of {} does not decrypt: {e}",
                            name.as_str(),
                            hook.id.as_str()
                        )
                    })
                    .expose()
                    .to_string()
            });
            secrets.insert(name.as_str().to_string(), value);
        }
        all.insert(hook.id.as_str().to_string(), secrets);
    }
    all
}

#[tokio::test]
async fn acknowledged_writes_survive_kill_9_under_load() {
    let started = Instant::now();
    // The first server owns the data dir (and, on PostgreSQL, the database) for the whole
    // test; the restarts reuse them.
    let mut first = Server::start();
    let setup = Endpoint::of(&first).await;
    let mut patch_hooks = Vec::new();
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    for n in 0..4 {
        let (status, hook) = setup
            .send(
                "POST",
                "/api/v2/hooks",
                Some(json!({"name": format!("multi-{n}"), "script": proving_script("v1"), "triggerId": "credentials-exchange"})),
            )
            .await;
        assert_eq!(status, 201);
        let id = hook["id"].as_str().unwrap().to_string();
        let body: serde_json::Map<String, Value> = MULTI_KEYS
            .iter()
            .map(|k| (k.to_string(), json!("initial")))
            .collect();
        let (status, _) = setup
            .send(
                "POST",
                &format!("/api/v2/hooks/{id}/secrets"),
                Some(Value::Object(body)),
            )
            .await;
        assert_eq!(status, 201);
        acknowledged
            .lock()
            .unwrap()
            .patched
            .insert(id.clone(), ("initial".into(), None));
        patch_hooks.push(id);
    }

    let mut current: Option<Server> = None;
    for round in 0..3 {
        let server = current.as_mut().unwrap_or(&mut first);
        let endpoint = Endpoint::of(server).await;
        let stop = Arc::new(AtomicBool::new(false));
        let load = tokio::spawn(write_until_killed(
            endpoint,
            patch_hooks.clone(),
            round,
            acknowledged.clone(),
            stop.clone(),
        ));
        // Once the load is under way (a few writes acknowledged), kill at a random moment.
        let before = acknowledged.lock().unwrap().patches;
        let deadline = Instant::now() + Duration::from_secs(15);
        while acknowledged.lock().unwrap().patches < before + 8 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pause = rand::thread_rng().gen_range(100..900);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        server.kill9();
        // Writers stop at their first unanswered request; `stop` only bounds a writer that
        // somehow still gets answers.
        let finished = tokio::time::timeout(Duration::from_secs(20), load).await;
        stop.store(true, Ordering::SeqCst);
        finished
            .expect("the writers notice the crash")
            .expect("writers");

        if !on_postgres() {
            // SQLite after a crash: the file (with its WAL) is sound.
            let store = hookhaven_store::SqliteStore::open(&first.database_url)
                .await
                .expect("open the crashed database");
            store
                .integrity_check()
                .await
                .expect("PRAGMA integrity_check");
            store.close().await;
        }

        let restarted = Server::start_with(first.restart_options());
        let secrets = decrypt_everything(&restarted).await;
        let acknowledged = acknowledged.lock().unwrap();
        let (mut writes, mut in_flight_patches, mut in_flight_adds) = (0, 0, 0);
        for (hook, (last, in_flight)) in &acknowledged.patched {
            let stored = &secrets[hook];
            assert_eq!(
                stored.keys().map(String::as_str).collect::<Vec<_>>(),
                MULTI_KEYS
            );
            in_flight_patches += usize::from(in_flight.is_some());
            let values: BTreeSet<&Option<String>> = stored.values().collect();
            assert_eq!(
                values.len(),
                1,
                "round {round}: a half-applied change on {hook}: {stored:?}"
            );
            let value = stored["KEY_A"].as_ref().expect("a value");
            assert!(
                value == last || Some(value) == in_flight.as_ref(),
                "round {round}: {hook} holds {value}, acknowledged {last}, in flight {in_flight:?}"
            );
        }
        for (hook, (value, in_flight)) in &acknowledged.created {
            let stored = secrets
                .get(hook)
                .unwrap_or_else(|| panic!("round {round}: acknowledged hook {hook} is lost"));
            match (value, in_flight) {
                (Some(value), _) => {
                    writes += 1;
                    let expected = BTreeMap::from([
                        ("FIRST".to_string(), Some(value.clone())),
                        ("SECOND".to_string(), Some(value.clone())),
                    ]);
                    assert_eq!(
                        stored, &expected,
                        "round {round}: acknowledged secrets of {hook}"
                    );
                }
                (None, Some(value)) => {
                    in_flight_adds += 1;
                    let both = BTreeMap::from([
                        ("FIRST".to_string(), Some(value.clone())),
                        ("SECOND".to_string(), Some(value.clone())),
                    ]);
                    assert!(
                        stored.is_empty() || stored == &both,
                        "round {round}: the add in flight on {hook} is all or nothing: {stored:?}"
                    );
                }
                (None, None) => unreachable!(),
            }
        }
        assert!(
            acknowledged.patches >= 8 * (round + 1),
            "round {round}: the load got under way"
        );
        eprintln!(
            "crash round {round} ({}): killed {pause} ms into the load; so far {} multi-key PATCHes and \
             {writes} hook+secrets creations acknowledged, all present; {in_flight_patches} \
             PATCHes and {in_flight_adds} adds were in flight, none half-applied",
            if on_postgres() {
                "PostgreSQL"
            } else {
                "SQLite"
            },
            acknowledged.patches,
        );
        drop(acknowledged);
        current = Some(restarted);
    }
    assert!(
        started.elapsed() < Duration::from_secs(90),
        "the crash test took {:?}",
        started.elapsed()
    );
}

/// `hookhaven audit list` on a database: every event, newest first, one JSON line each.
fn audit_lines(data_dir: &std::path::Path, database_url: &str) -> Vec<String> {
    let (ok, out, err) = run_cli(
        [
            "audit".as_ref(),
            "list".as_ref(),
            "--limit".as_ref(),
            "1000".as_ref(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--database-url".as_ref(),
            database_url.as_ref(),
        ],
        &[],
    );
    assert!(ok, "audit list: {err}");
    out.lines().map(str::to_string).collect()
}

fn db_migrate(
    data_dir: &std::path::Path,
    from: &str,
    to: &str,
    env: &[(&str, &str)],
) -> (bool, String, String) {
    run_cli(
        [
            "db".as_ref(),
            "migrate".as_ref(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--from".as_ref(),
            from.as_ref(),
            "--to".as_ref(),
            to.as_ref(),
        ],
        env,
    )
}

#[tokio::test]
async fn sqlite_moves_to_postgres_with_db_migrate() {
    let Some(target) = postgres_database() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let sqlite_url = format!("sqlite://{}", data_dir.join("hookhaven.db").display());
    let mut old = Server::start_with(Options {
        data_dir: Some(data_dir.clone()),
        database_url: Some(sqlite_url.clone()),
        domain: Some(SHARED_DOMAIN.into()),
        ..Default::default()
    });

    // Seed through the API: hooks with secrets (one without a value), a second client
    // with a grant, and an audit trail of creates, updates, deletes and runs.
    let api = Api::new(&old).await;
    let endpoint = Endpoint::of(&old).await;
    let (status, hook) = endpoint
        .send(
            "POST",
            "/api/v2/hooks",
            Some(json!({"name": "partner-claims", "script": proving_script("v1"), "triggerId": "credentials-exchange"})),
        )
        .await;
    assert_eq!(status, 201);
    let proving = hook["id"].as_str().unwrap().to_string();
    let (status, _) = api
        .post(
            &format!("/api/v2/hooks/{proving}/secrets"),
            r#"{"API_KEY":"k-1","OTHER":"o-1","EMPTY":"_VALUE_NOT_SHOWN_","GONE":"g"}"#,
        )
        .await;
    assert_eq!(status, 201);
    api.patch(
        &format!("/api/v2/hooks/{proving}/secrets"),
        r#"{"API_KEY":"k-2"}"#,
    )
    .await;
    let (status, _) = api
        .delete(
            &format!("/api/v2/hooks/{proving}/secrets"),
            Some(r#"["GONE"]"#),
        )
        .await;
    assert_eq!(status, 204);
    let signup = api
        .create_hook("signup-policy", "pre-user-registration", true)
        .await;
    api.post(&format!("/api/v2/hooks/{signup}/secrets"), r#"{"ONE":"1"}"#)
        .await;
    let (status, created) = api
        .post(
            "/api/v2/clients",
            r#"{"name":"deployer","app_type":"non_interactive"}"#,
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let client_id = created["client_id"].as_str().unwrap().to_string();
    let client_secret = created["client_secret"].as_str().unwrap().to_string();
    let grant =
        json!({"client_id": client_id, "audience": old.audience(), "scope": ["read:hooks"]});
    let (status, _) = api.post("/api/v2/client-grants", &grant.to_string()).await;
    assert_eq!(status, 201);
    old.token_for(&client_id, &client_secret, None).await;
    let before_run = endpoint.run(&proving).await;
    assert_eq!(before_run["API_KEY"], sha256_hex("k-2"));
    assert_eq!(before_run["EMPTY"], sha256_hex("undefined"), "no value");

    // An online backup while the server runs: a file that opens and holds the data.
    let backup = dir.path().join("backup.db");
    let (ok, out, err) = run_cli(
        [
            "db".as_ref(),
            "backup".as_ref(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--database-url".as_ref(),
            sqlite_url.as_ref(),
            "--to".as_ref(),
            backup.as_os_str(),
        ],
        &[],
    );
    assert!(ok, "db backup: {err}");
    assert!(out.contains("integrity check ok"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the backup is private: {mode:o}");
    }
    let (ok, _, err) = run_cli(
        [
            "db".as_ref(),
            "backup".as_ref(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--to".as_ref(),
            backup.as_os_str(),
        ],
        &[],
    );
    assert!(
        !ok && err.contains("exists"),
        "an existing file is refused: {err}"
    );

    let audit_before = audit_lines(&data_dir, &sqlite_url);
    assert!(audit_before.len() >= 9, "{audit_before:?}");
    assert!(old.stop().success());

    let source_counts = {
        let store = hookhaven_store::SqliteStore::open(&sqlite_url)
            .await
            .unwrap();
        let counts = hookhaven_store::Store::counts(&store).await.unwrap();
        store.close().await;
        counts
    };
    let backup_counts = hookhaven_store::SqliteStore::inspect_backup(&backup)
        .await
        .expect("the backup opens");
    assert_eq!(backup_counts, source_counts, "the backup holds the data");
    let backup_url = format!("sqlite://{}", backup.display());
    assert_eq!(audit_lines(&data_dir, &backup_url), audit_before);

    // A keyring that does not open the secrets is refused before anything is written.
    let Some(other_target) = postgres_database() else {
        return;
    };
    let wrong = MasterKeyring::generate().to_toml();
    let (ok, _, err) = db_migrate(
        &data_dir,
        &sqlite_url,
        &other_target.url,
        &[("HOOKHAVEN_MASTER_KEY", wrong.as_str())],
    );
    assert!(!ok, "a wrong keyring is refused");
    assert!(err.contains("does not open"), "{err}");
    assert!(
        err.contains("nothing was written") || err.contains("before copying"),
        "{err}"
    );
    let (ok, out, _) = run_cli(["db", "migrate", "--help"], &[]);
    assert!(ok && out.contains("--to"));

    // The migration itself.
    let (ok, out, err) = db_migrate(&data_dir, &sqlite_url, &target.url, &[]);
    assert!(ok, "db migrate: {err}");
    assert!(out.contains("verified"), "{out}");
    assert!(out.contains("secrets 4"), "{out}");
    assert_eq!(
        audit_lines(&data_dir, &target.url),
        audit_before,
        "the audit log is intact: same events, same seq, same order"
    );
    // A second run into the now non-empty target is refused and changes nothing.
    let (ok, _, err) = db_migrate(&data_dir, &sqlite_url, &target.url, &[]);
    assert!(!ok);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(audit_lines(&data_dir, &target.url), audit_before);

    // Start on PostgreSQL with the same data dir (keyring).
    let new = Server::start_with(Options {
        data_dir: Some(data_dir.clone()),
        database_url: Some(target.url.clone()),
        domain: Some(SHARED_DOMAIN.into()),
        ..Default::default()
    });
    assert!(
        !new.stdout_lines
            .join("\n")
            .contains("created an admin client"),
        "the old admin client came along"
    );
    let endpoint = Endpoint::of(&new).await; // the old admin client fetches a token
    new.token_for(&client_id, &client_secret, None).await; // and so does the other one
    assert_eq!(endpoint.run(&proving).await, before_run, "the same secrets");
    assert_eq!(
        endpoint.secret_names(&proving).await,
        ["API_KEY", "OTHER", "EMPTY"]
    );
    let (_, enabled) = endpoint
        .send(
            "GET",
            "/api/v2/hooks?triggerId=pre-user-registration&enabled=true",
            None,
        )
        .await;
    assert_eq!(enabled[0]["id"], signup.as_str());
    // The log goes on after the copied events.
    let audit_after = audit_lines(&data_dir, &target.url);
    assert_eq!(
        audit_after[audit_after.len() - audit_before.len()..],
        audit_before[..]
    );
    let newest: Value = serde_json::from_str(&audit_after[0]).unwrap();
    let oldest_new: Value = serde_json::from_str(&audit_before[0]).unwrap();
    assert!(newest["seq"].as_i64() > oldest_new["seq"].as_i64());
    assert_eq!(newest["action"], "hook.run");

    // PostgreSQL is backed up with its own tools.
    let (ok, _, err) = run_cli(
        [
            "db".as_ref(),
            "backup".as_ref(),
            "--data-dir".as_ref(),
            data_dir.as_os_str(),
            "--database-url".as_ref(),
            target.url.as_ref(),
            "--to".as_ref(),
            dir.path().join("pg.db").as_os_str(),
        ],
        &[],
    );
    assert!(!ok);
    assert!(err.contains("pg_dump"), "{err}");
    assert!(!dir.path().join("pg.db").exists());

    // The keys came along too: the server keys decrypt with the keyring on the target.
    let opened = hookhaven_server::open_data_dir(&new.config())
        .await
        .unwrap();
    for name in ["jwt-signing-key", "client-secret-hmac-key"] {
        let sealed = opened
            .store
            .get_server_key(name)
            .await
            .unwrap()
            .expect(name);
        open_server_key(&opened.keyring, name, &sealed).expect("decrypts");
    }
}
