//! `POST /oauth/token` (spec §8.1, checklist point 15) and the tokens it issues (§8.2).

use base64::Engine;
use serde_json::{json, Value};

use crate::support::Server;

fn claims_of(token: &str) -> (Value, Value) {
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);
    let decode = |s: &str| -> Value {
        serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap(),
        )
        .unwrap()
    };
    (decode(parts[0]), decode(parts[1]))
}

async fn post(
    server: &Server,
    req: reqwest::RequestBuilder,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let _ = server;
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        headers,
    )
}

#[tokio::test]
async fn p15_form_json_and_basic_all_work() {
    let server = Server::start();
    let http = server.http();
    let url = server.url("/oauth/token");
    let audience = server.audience();

    let form = http.post(&url).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", &server.client_id),
        ("client_secret", &server.client_secret),
        ("audience", &audience),
    ]);
    let (status, body, headers) = post(&server, form).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], json!(86400), "a JSON number");
    assert!(body.get("id_token").is_none());
    assert_eq!(
        body.as_object().unwrap().len(),
        4,
        "access_token, scope, expires_in, token_type: {body}"
    );

    // python v4 sends JSON with `organization: null`.
    let json_body = json!({"client_id": server.client_id, "client_secret": server.client_secret, "audience": audience, "grant_type": "client_credentials", "organization": null});
    let (status, body, _) = post(&server, http.post(&url).json(&json_body)).await;
    assert_eq!(status, 200, "{body}");

    // go's x/oauth2 tries HTTP Basic first.
    let basic = http
        .post(&url)
        .basic_auth(&server.client_id, Some(&server.client_secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("audience", audience.as_str()),
        ]);
    let (status, body, _) = post(&server, basic).await;
    assert_eq!(status, 200, "{body}");

    let (header, claims) = claims_of(body["access_token"].as_str().unwrap());
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["typ"], "JWT");
    let kid = header["kid"].as_str().unwrap();
    assert_eq!(claims["iss"], format!("https://{}/", server.domain));
    assert_eq!(claims["sub"], format!("{}@clients", server.client_id));
    assert_eq!(claims["aud"], audience);
    assert_eq!(claims["azp"], server.client_id);
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86400
    );
    assert!(claims["scope"]
        .as_str()
        .unwrap()
        .split(' ')
        .any(|s| s == "update:hooks"));

    let jwks: Value = http
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The JWKS also publishes the next signing key (before it signs anything): find the
    // one that signed this token by its kid.
    let key = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid)
        .expect("the signing key is published");
    assert_eq!(
        (
            key["kid"].as_str(),
            key["kty"].as_str(),
            key["alg"].as_str(),
            key["use"].as_str()
        ),
        (Some(kid), Some("RSA"), Some("RS256"), Some("sig"))
    );
    assert!(key.get("d").is_none(), "no private part");
    let oidc: Value = http
        .get(server.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oidc["issuer"], format!("https://{}/", server.domain));
    assert_eq!(
        oidc["jwks_uri"],
        format!("https://{}/.well-known/jwks.json", server.domain)
    );
}

#[tokio::test]
async fn scopes_are_the_requested_ones_intersected_with_the_grant() {
    let server = Server::start();
    let http = server.http();
    let url = server.url("/oauth/token");
    let form = |scope: &'static str| {
        http.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", server.client_id.as_str()),
            ("client_secret", server.client_secret.as_str()),
            ("scope", scope),
        ])
    };
    let (_, body, _) = post(&server, form("read:hooks bogus:scope delete:hooks")).await;
    assert_eq!(body["scope"], "read:hooks delete:hooks");
    assert_eq!(
        claims_of(body["access_token"].as_str().unwrap()).1["scope"],
        "read:hooks delete:hooks"
    );
    // No audience at all: the Management API is the default.
    let (status, body, _) = post(&server, form("read:hooks")).await;
    assert_eq!(status, 200);
    // The http:// form of the audience is accepted too.
    let (status, _, _) = post(
        &server,
        http.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", server.client_id.as_str()),
            ("client_secret", server.client_secret.as_str()),
            ("audience", &format!("http://{}/api/v2/", server.domain)),
        ]),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn token_errors_use_the_oauth_shape() {
    let server = Server::start();
    let http = server.http();
    let url = server.url("/oauth/token");
    type Case<'a> = (Vec<(&'a str, String)>, u16, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", server.client_id.clone()),
                ("client_secret", "wrong".into()),
            ],
            401,
            "access_denied",
        ),
        (
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", "nobody".into()),
                ("client_secret", "wrong".into()),
            ],
            401,
            "access_denied",
        ),
        (
            vec![
                ("client_id", server.client_id.clone()),
                ("client_secret", server.client_secret.clone()),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "password".into()),
                ("client_id", server.client_id.clone()),
                ("client_secret", server.client_secret.clone()),
            ],
            403,
            "unauthorized_client",
        ),
        (
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_secret", server.client_secret.clone()),
            ],
            400,
            "invalid_request",
        ),
        (
            vec![
                ("grant_type", "client_credentials".into()),
                ("client_id", server.client_id.clone()),
                ("client_secret", server.client_secret.clone()),
                ("audience", "https://elsewhere.example/api/v2/".into()),
            ],
            403,
            "access_denied",
        ),
    ];
    for (form, status, error) in cases {
        let (got, body, _) = post(&server, http.post(&url).form(&form)).await;
        assert_eq!(
            (got, body["error"].as_str()),
            (status, Some(error)),
            "{form:?}: {body}"
        );
        assert!(body["error_description"].is_string());
        assert_eq!(body.as_object().unwrap().len(), 2);
    }
    let (_, body, _) = post(
        &server,
        http.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &server.client_id),
            ("client_secret", "x"),
            ("audience", "https://elsewhere.example/api/v2/"),
        ]),
    )
    .await;
    assert_eq!(
        body["error_description"], "Unauthorized",
        "credentials are checked before the audience"
    );
    let (status, body, _) = post(
        &server,
        http.post(&url)
            .header("content-type", "application/json")
            .body("{not json"),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (400, Some("invalid_request"))
    );
}

#[tokio::test]
async fn a_client_without_a_grant_is_refused_with_auth0s_text() {
    let server = Server::start();
    let api = crate::support::Api::new(&server).await;
    let (status, client) = api
        .post("/api/v2/clients", r#"{"name":"no grant yet"}"#)
        .await;
    assert_eq!(status, 201);
    let http = server.http();
    let (status, body, _) = post(
        &server,
        http.post(server.url("/oauth/token")).form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client["client_id"].as_str().unwrap()),
            ("client_secret", client["client_secret"].as_str().unwrap()),
            ("audience", &server.audience()),
        ]),
    )
    .await;
    assert_eq!(status, 403);
    assert_eq!(
        body["error_description"],
        format!("Client is not authorized to access \"{}\". You need to create a \"client-grant\" associated to this API.", server.audience())
    );
}
