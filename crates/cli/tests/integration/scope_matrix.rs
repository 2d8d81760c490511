//! Every Management API route × every kind of credential, against a table of expected
//! outcomes. The route list comes from the server's own route table, so a new route with
//! no row here fails this test (security-tests row 14).

use std::collections::HashMap;

use hookhaven_core::{Scope, ALL_SCOPES};
use hookhaven_crypto::{sign_access_token, SigningKey};
use serde_json::Value;

use crate::support::{Api, Server};

/// The scopes that open each route: Auth0's per-endpoint scopes (spec §3.9).
fn expected() -> HashMap<(&'static str, &'static str), Vec<Scope>> {
    use Scope::*;
    HashMap::from([
        (("GET", "/api/v2/hooks"), vec![ReadHooks]),
        (("POST", "/api/v2/hooks"), vec![CreateHooks]),
        (("GET", "/api/v2/hooks/{id}"), vec![ReadHooks]),
        (
            ("PATCH", "/api/v2/hooks/{id}"),
            vec![CreateHooks, UpdateHooks],
        ),
        (("DELETE", "/api/v2/hooks/{id}"), vec![DeleteHooks]),
        (("GET", "/api/v2/hooks/{id}/secrets"), vec![ReadHooks]),
        (
            ("POST", "/api/v2/hooks/{id}/secrets"),
            vec![CreateHooks, UpdateHooks],
        ),
        (
            ("PATCH", "/api/v2/hooks/{id}/secrets"),
            vec![CreateHooks, UpdateHooks],
        ),
        (("DELETE", "/api/v2/hooks/{id}/secrets"), vec![DeleteHooks]),
        // Hookhaven extension: rename a secret and/or change its value.
        (
            ("PATCH", "/api/v2/hooks/{id}/secrets/{name}"),
            vec![CreateHooks, UpdateHooks],
        ),
        (("POST", "/api/v2/hooks/{id}/run"), vec![UpdateHooks]),
        (("GET", "/api/v2/hooks/{id}/secret-status"), vec![ReadHooks]),
        (
            ("POST", "/api/v2/triggers/{trigger_id}/invoke"),
            vec![ExecuteHooks],
        ),
        (("GET", "/api/v2/clients"), vec![ReadClients]),
        (("POST", "/api/v2/clients"), vec![CreateClients]),
        (("GET", "/api/v2/clients/{id}"), vec![ReadClients]),
        (("DELETE", "/api/v2/clients/{id}"), vec![DeleteClients]),
        (
            ("POST", "/api/v2/clients/{id}/rotate-secret"),
            vec![UpdateClientKeys],
        ),
        (("GET", "/api/v2/client-grants"), vec![ReadClientGrants]),
        (("POST", "/api/v2/client-grants"), vec![CreateClientGrants]),
        (
            ("DELETE", "/api/v2/client-grants/{id}"),
            vec![DeleteClientGrants],
        ),
        // Hookhaven extension: master-key status and re-sealing.
        (("GET", "/api/v2/keys/status"), vec![UpdateKeys]),
        (("POST", "/api/v2/keys/rewrap"), vec![UpdateKeys]),
    ])
}

fn body_for(method: &str, path: &str) -> Option<&'static str> {
    match (method, path) {
        ("POST", "/api/v2/hooks") => {
            Some(r#"{"name":"matrix","script":"s","triggerId":"credentials-exchange"}"#)
        }
        ("PATCH", "/api/v2/hooks/{id}") => Some(r#"{"enabled":false}"#),
        ("POST" | "PATCH", "/api/v2/hooks/{id}/secrets") => Some(r#"{"K":"v"}"#),
        ("DELETE", "/api/v2/hooks/{id}/secrets") => Some(r#"["K"]"#),
        ("PATCH", "/api/v2/hooks/{id}/secrets/{name}") => Some(r#"{"name":"K2"}"#),
        ("POST", "/api/v2/clients") => Some(r#"{"name":"matrix"}"#),
        ("POST", "/api/v2/client-grants") => {
            Some(r#"{"client_id":"nobody","audience":"x","scope":[]}"#)
        }
        _ => None,
    }
}

#[tokio::test]
async fn every_route_by_every_credential() {
    let server = Server::start();
    let key = server.signing_key().await;
    let other_key = SigningKey::generate();
    let api = Api::new(&server).await;
    let table = expected();
    let routes = hookhaven_server::app::api_route_table();
    assert!(!routes.is_empty());
    let mut checked = 0;

    let now = hookhaven_core::now_ms() / 1000;
    let all = server.claims(&ALL_SCOPES);
    let mut expired = all.clone();
    (expired.iat, expired.exp) = (now - 7200, now - 3600);
    let mut wrong_aud = all.clone();
    wrong_aud.aud = vec!["https://elsewhere.example/api/v2/".into()];
    let mut wrong_iss = all.clone();
    wrong_iss.iss = "https://elsewhere.example/".into();
    // Same kid as ours, signed by another key: the signature check must catch it.
    let forged = {
        let token = sign_access_token(&other_key, &all);
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        let ours = sign_access_token(&key, &all);
        parts[0] = ours.split('.').next().unwrap().to_string();
        parts.join(".")
    };

    let rejected: Vec<(&str, Option<String>, &str)> = vec![
        ("no token", None, "Missing authentication"),
        ("malformed", Some("not-a-jwt".into()), "Invalid token"),
        (
            "bad signature",
            Some(forged),
            "Invalid signature received for JSON Web Token validation.",
        ),
        (
            "expired",
            Some(sign_access_token(&key, &expired)),
            "Expired token received for JSON Web Token validation",
        ),
        (
            "wrong audience",
            Some(sign_access_token(&key, &wrong_aud)),
            "Invalid token",
        ),
        (
            "wrong issuer",
            Some(sign_access_token(&key, &wrong_iss)),
            "Invalid token",
        ),
        (
            "other key",
            Some(sign_access_token(&other_key, &all)),
            "Invalid token",
        ),
    ];

    for (method, path, scopes) in routes {
        let allowed = table
            .get(&(method.as_str(), path))
            .unwrap_or_else(|| panic!("route {method} {path} has no row in the scope matrix"));
        assert_eq!(
            &scopes.to_vec(),
            allowed,
            "{method} {path}: scopes differ from Auth0's"
        );
        let url_path = path
            .replace("{id}", "01ZZZZZZZZZZZZZZZZZZZZZZZZ")
            .replace("{trigger_id}", "send-phone-message")
            .replace("{name}", "K");
        let body = body_for(method.as_str(), path);

        for (case, token, message) in &rejected {
            let mut req = api.http.request(method.clone(), server.url(&url_path));
            if let Some(t) = token {
                req = req.bearer_auth(t);
            }
            if let Some(b) = body {
                req = req.body(b);
            }
            let response = req.send().await.unwrap();
            assert_eq!(response.status(), 401, "{method} {path} with {case}");
            let got: Value = response.json().await.unwrap();
            assert_eq!(got["message"], *message, "{method} {path} with {case}");
        }

        let mut cases: Vec<(String, Vec<Scope>)> = ALL_SCOPES
            .iter()
            .map(|s| (s.to_string(), vec![*s]))
            .collect();
        cases.push(("all scopes".into(), ALL_SCOPES.to_vec()));
        cases.push(("no scopes".into(), vec![]));
        for (case, held) in cases {
            let token = sign_access_token(&key, &server.claims(&held));
            let mut req = api
                .http
                .request(method.clone(), server.url(&url_path))
                .bearer_auth(token);
            if let Some(b) = body {
                req = req.body(b);
            }
            let response = req.send().await.unwrap();
            let status = response.status().as_u16();
            let got: Value = response.json().await.unwrap_or(Value::Null);
            if held.iter().any(|s| allowed.contains(s)) {
                assert!(
                    status != 401 && status != 403,
                    "{method} {path} with {case}: {status} {got}"
                );
                assert!(status < 500, "{method} {path} with {case}: {status} {got}");
            } else {
                let names: Vec<&str> = allowed.iter().map(|s| s.as_str()).collect();
                assert_eq!(status, 403, "{method} {path} with {case}");
                assert_eq!(
                    got["message"],
                    format!("Insufficient scope, expected any of: {}", names.join(", "))
                );
            }
        }
        checked += 1;
    }
    assert_eq!(
        checked,
        table.len(),
        "every row of the table is a served route"
    );
}
