//! The compatibility checklist of spec §11, one test per point, through real HTTP.

use serde_json::{json, Value};

use crate::support::{Api, Server};

const PLACEHOLDER: &str = "_VALUE_NOT_SHOWN_";

async fn stored_value(server: &Server, hook_id: &str, name: &str) -> Option<String> {
    server.stored_secret(hook_id, name).await
}

#[tokio::test]
async fn p1_status_codes_are_not_uniform() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let body = json!({"name": "status-hook", "script": "function (u, c, cb) { cb(); }", "triggerId": "pre-user-registration"});
    let (status, hook, headers) = api
        .send("POST", "/api/v2/hooks", Some(&body.to_string()))
        .await;
    assert_eq!(status, 201);
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    let id = hook["id"].as_str().unwrap();
    // Every field comes back, with defaults: dependencies {} and enabled false.
    assert_eq!(
        hook,
        json!({"id": id, "name": "status-hook", "script": "function (u, c, cb) { cb(); }", "dependencies": {}, "triggerId": "pre-user-registration", "enabled": false})
    );
    let (status, _) = api
        .patch(&format!("/api/v2/hooks/{id}"), r#"{"enabled": true}"#)
        .await;
    assert_eq!(status, 200);
    let (status, body) = api
        .post(&format!("/api/v2/hooks/{id}/secrets"), r#"{"A": "1"}"#)
        .await;
    assert_eq!((status, body), (201, json!({})));
    let (status, body) = api
        .patch(&format!("/api/v2/hooks/{id}/secrets"), r#"{"A": "2"}"#)
        .await;
    assert_eq!((status, body), (201, json!({})));
    let (status, body, headers) = api
        .send(
            "DELETE",
            &format!("/api/v2/hooks/{id}/secrets"),
            Some(r#"["A"]"#),
        )
        .await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(headers["content-type"], "application/json; charset=utf-8");
    let (status, body) = api.delete(&format!("/api/v2/hooks/{id}"), None).await;
    assert_eq!((status, body), (204, Value::Null));
}

#[tokio::test]
async fn p2_placeholder_is_shown_and_never_stored() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let id = api
        .create_hook("placeholder-hook", "credentials-exchange", false)
        .await;
    let path = format!("/api/v2/hooks/{id}/secrets");
    let (status, _) = api
        .post(
            &path,
            &json!({"REAL": "real-value", "UNSET": PLACEHOLDER}).to_string(),
        )
        .await;
    assert_eq!(status, 201);
    let (_, secrets) = api.get(&path).await;
    assert_eq!(secrets, json!({"REAL": PLACEHOLDER, "UNSET": PLACEHOLDER}));
    // D1: a POSTed placeholder creates the secret without a value.
    assert_eq!(stored_value(&server, &id, "UNSET").await, None);
    let (_, set) = api.get(&format!("/api/v2/hooks/{id}/secret-status")).await;
    assert_eq!(set, json!({"REAL": {"set": true}, "UNSET": {"set": false}}));
    // D1: a PATCHed placeholder leaves the value alone; the rest of the request applies.
    let (status, _) = api
        .patch(
            &path,
            &json!({"REAL": PLACEHOLDER, "UNSET": "now-set"}).to_string(),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        stored_value(&server, &id, "REAL").await.as_deref(),
        Some("real-value")
    );
    assert_eq!(
        stored_value(&server, &id, "UNSET").await.as_deref(),
        Some("now-set")
    );
    // The extension shows which secrets hold a value, never a value.
    let (status, set) = api.get(&format!("/api/v2/hooks/{id}/secret-status")).await;
    assert_eq!(status, 200);
    assert_eq!(set, json!({"REAL": {"set": true}, "UNSET": {"set": true}}));
    // An auth0-deploy-cli keyword that was never replaced is not a value either.
    for keyword in ["##REAL##", "@@REAL@@"] {
        let (status, _) = api
            .patch(&path, &json!({ "REAL": keyword }).to_string())
            .await;
        assert_eq!(status, 201);
        assert_eq!(
            stored_value(&server, &id, "REAL").await.as_deref(),
            Some("real-value")
        );
    }
}

#[tokio::test]
async fn p3_odd_bodies_are_tolerated() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let id = api
        .create_hook("odd-bodies", "send-phone-message", false)
        .await;
    // A literal `null` body with a JSON content type on GET (old go-auth0).
    let (status, _, _) = api
        .send("GET", &format!("/api/v2/hooks/{id}"), Some("null"))
        .await;
    assert_eq!(status, 200);
    // A JSON content type and no body on GET and DELETE (python v4).
    let response = api
        .http
        .get(server.url("/api/v2/hooks"))
        .bearer_auth(&api.token)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    api.post(
        &format!("/api/v2/hooks/{id}/secrets"),
        r#"{"X":"1","Y":"2"}"#,
    )
    .await;
    // DELETE with a JSON array body, and without a content type at all.
    let response = api
        .http
        .delete(server.url(&format!("/api/v2/hooks/{id}/secrets")))
        .bearer_auth(&api.token)
        .body(r#"["X", "NOT-THERE"]"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204, "unknown names are ignored");
    let (_, secrets) = api.get(&format!("/api/v2/hooks/{id}/secrets")).await;
    assert_eq!(secrets, json!({"Y": PLACEHOLDER}));
}

#[tokio::test]
async fn p4_trigger_id_is_camel_case_everywhere() {
    let server = Server::start();
    let api = Api::new(&server).await;
    api.create_hook("cce", "credentials-exchange", false).await;
    api.create_hook("pur", "post-user-registration", false)
        .await;
    let (status, list) = api
        .get("/api/v2/hooks?triggerId=post-user-registration")
        .await;
    assert_eq!(status, 200);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["triggerId"], "post-user-registration");
    // The snake_case spelling is not a filter; an unknown trigger value is a 400.
    let (status, body) = api.get("/api/v2/hooks?triggerId=nope").await;
    assert_eq!(status, 400);
    assert_eq!(body["errorCode"], "invalid_query_string");
    let (status, body) = api
        .post(
            "/api/v2/hooks",
            r#"{"name":"x","script":"s","trigger_id":"credentials-exchange"}"#,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorCode"], "invalid_body");
}

#[tokio::test]
async fn p5_list_shapes_paging_and_exact_totals() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(
            api.create_hook(&format!("page-hook-{i}"), "post-change-password", false)
                .await,
        );
    }
    let (_, bare) = api.get("/api/v2/hooks").await;
    let bare_ids: Vec<&str> = bare
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(bare_ids, ids, "creation order");
    let (_, page) = api
        .get("/api/v2/hooks?page=1&per_page=3&include_totals=true")
        .await;
    assert_eq!(page["total"], 7);
    assert_eq!(page["start"], 3);
    assert_eq!(page["limit"], 3);
    let got: Vec<&str> = page["hooks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap())
        .collect();
    assert_eq!(got, ids[3..6]);
    let (status, past) = api
        .get("/api/v2/hooks?page=5&per_page=3&include_totals=true")
        .await;
    assert_eq!(status, 200);
    assert_eq!(past["hooks"], json!([]));
    assert_eq!(past["total"], 7);
    let (_, past_bare) = api.get("/api/v2/hooks?page=9&per_page=3").await;
    assert_eq!(past_bare, json!([]));
    // No paging but totals: everything, start 0, limit = what was returned.
    let (_, all) = api.get("/api/v2/hooks?include_totals=true").await;
    assert_eq!(
        (
            all["total"].clone(),
            all["start"].clone(),
            all["limit"].clone()
        ),
        (json!(7), json!(0), json!(7))
    );
    let (status, body) = api.get("/api/v2/hooks?per_page=101").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (400, json!("invalid_query_string"))
    );
    let (status, _) = api.get("/api/v2/hooks?include_totals=yes").await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn p6_fields_include_fields_and_enabled_filter() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let on = api
        .create_hook("enabled-one", "credentials-exchange", true)
        .await;
    api.create_hook("disabled-one", "pre-user-registration", false)
        .await;
    // python v4's default query must actually filter.
    let (_, list) = api
        .get("/api/v2/hooks?enabled=true&include_fields=true&include_totals=false")
        .await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["id"], on.as_str());
    let (_, list) = api
        .get("/api/v2/hooks?fields=id&include_fields=true&include_totals=true&per_page=50")
        .await;
    assert_eq!(
        list["hooks"][0]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["id"]
    );
    let (_, list) = api
        .get("/api/v2/hooks?fields=script,dependencies&include_fields=false")
        .await;
    let keys: Vec<&String> = list[0].as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["id", "name", "enabled", "triggerId"]);
    let (_, one) = api
        .get(&format!("/api/v2/hooks/{on}?fields=name,enabled"))
        .await;
    assert_eq!(one, json!({"name": "enabled-one", "enabled": true}));
    let (status, body) = api.get("/api/v2/hooks?fields=id,secret").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (400, json!("invalid_query_string"))
    );
}

#[tokio::test]
async fn p7_unknown_hook_is_404_hook_does_not_exist_everywhere() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let missing = "01ZZZZZZZZZZZZZZZZZZZZZZZZ";
    let expected = json!({"statusCode": 404, "error": "Not Found", "message": "Error: Hook does not exist", "errorCode": "HookDoesNotExist"});
    for (method, path, body) in [
        ("GET", format!("/api/v2/hooks/{missing}"), None),
        (
            "PATCH",
            format!("/api/v2/hooks/{missing}"),
            Some(r#"{"enabled":false}"#),
        ),
        ("DELETE", format!("/api/v2/hooks/{missing}"), None),
        ("GET", format!("/api/v2/hooks/{missing}/secrets"), None),
        (
            "POST",
            format!("/api/v2/hooks/{missing}/secrets"),
            Some(r#"{"A":"1"}"#),
        ),
        (
            "PATCH",
            format!("/api/v2/hooks/{missing}/secrets"),
            Some(r#"{"A":"1"}"#),
        ),
        (
            "DELETE",
            format!("/api/v2/hooks/{missing}/secrets"),
            Some(r#"["A"]"#),
        ),
    ] {
        let (status, got, _) = api.send(method, &path, body).await;
        assert_eq!((status, &got), (404, &expected), "{method} {path}");
    }
    // A PATCH of a secret that does not exist is a 404 too, and changes nothing.
    let id = api
        .create_hook("has-secrets", "credentials-exchange", false)
        .await;
    api.post(&format!("/api/v2/hooks/{id}/secrets"), r#"{"A":"1"}"#)
        .await;
    let (status, _) = api
        .patch(
            &format!("/api/v2/hooks/{id}/secrets"),
            r#"{"A":"2","B":"3"}"#,
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(stored_value(&server, &id, "A").await.as_deref(), Some("1"));
    // An id outside the path pattern is a 400 invalid_uri, not a 404.
    let (status, body) = api.get("/api/v2/hooks/bad%20id").await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (400, json!("invalid_uri"))
    );
}

#[tokio::test]
async fn p8_insufficient_scope_text_is_exact() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let token = server
        .mint(&server.claims(&[hookhaven_core::Scope::ReadHooks]))
        .await;
    let response = api
        .http
        .post(server.url("/api/v2/hooks/01ZZZZZZZZZZZZZZZZZZZZZZZZ/secrets"))
        .bearer_auth(token)
        .body(r#"{"A":"1"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"statusCode": 403, "error": "Forbidden", "message": "Insufficient scope, expected any of: create:hooks, update:hooks", "errorCode": "insufficient_scope"})
    );
}

#[tokio::test]
async fn p9_client_mistakes_never_get_a_5xx() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let id = api
        .create_hook("fuzzed", "credentials-exchange", false)
        .await;
    let bodies = [
        "",
        "null",
        "{",
        "[]",
        "{}",
        "\"str\"",
        "12",
        "true",
        r#"{"a":{"b":[1,2,{"c":null}]}}"#,
        r#"{"name":123}"#,
        r#"{"enabled":"maybe"}"#,
        r#"{"dependencies":[1]}"#,
        r#"{"dependencies":{"a":1}}"#,
        r#"{"script":""}"#,
        r#"{"A":["x"]}"#,
        r#"{"":"v"}"#,
        r#"["a", 1]"#,
        r#"[""]"#,
        "\u{0}\u{1}",
        r#"{"name":"a\u0000b","script":"s","triggerId":"credentials-exchange"}"#,
    ];
    let paths = [
        "/api/v2/hooks".to_string(),
        format!("/api/v2/hooks/{id}"),
        format!("/api/v2/hooks/{id}/secrets"),
        "/api/v2/clients".to_string(),
        "/api/v2/client-grants".to_string(),
    ];
    for path in &paths {
        for method in ["GET", "POST", "PATCH", "DELETE", "PUT"] {
            for body in bodies {
                let (status, got, _) = api.send(method, path, Some(body)).await;
                assert!(
                    status < 500,
                    "{method} {path} {body:?} gave {status}: {got}"
                );
                if status >= 400 {
                    assert!(
                        got["statusCode"].is_number()
                            && got["error"].is_string()
                            && got["message"].is_string(),
                        "{method} {path}: {got}"
                    );
                }
            }
        }
    }
    // Oversize bodies (413) are tested in edge.rs, over a raw connection: the server
    // answers before reading the body, so an HTTP client still sending it may see a
    // broken pipe instead of the answer.
    // NUL characters anywhere (PostgreSQL text cannot hold them) are a client error.
    for path in [
        "/api/v2/hooks/%00",
        "/api/v2/clients/a%00b",
        "/api/v2/client-grants?client_id=%00",
    ] {
        let (status, got) = api.get(path).await;
        assert_eq!(status, 400, "{path}: {got}");
    }
    let (status, got) = api
        .post(
            "/api/v2/hooks",
            r#"{"name":"nul","script":"a\u0000b","triggerId":"credentials-exchange"}"#,
        )
        .await;
    assert_eq!(
        (status, got["errorCode"].clone()),
        (400, json!("invalid_body"))
    );
    let response = api
        .http
        .post(server.url("/oauth/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "a\0b"),
            ("client_secret", "x"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let (status, body) = api.get("/api/v2/nothing-here").await;
    assert_eq!((status, body["statusCode"].clone()), (404, json!(404)));
}

#[tokio::test]
async fn p10_rate_limit_headers_on_every_response_and_retry_after_on_429() {
    let server = Server::start_with(crate::support::Options {
        args: vec![
            "--rate-limit-burst".into(),
            "5".into(),
            "--rate-limit-per-second".into(),
            "0.2".into(),
        ],
        ..Default::default()
    });
    let api = Api::new(&server).await;
    let now = hookhaven_core::now_ms() / 1000;
    let mut saw_429 = false;
    for i in 0..8 {
        let (status, body, headers) = api.send("GET", "/api/v2/hooks", None).await;
        for h in [
            "x-ratelimit-limit",
            "x-ratelimit-remaining",
            "x-ratelimit-reset",
        ] {
            assert!(headers.contains_key(h), "request {i} lacks {h}");
        }
        let reset: i64 = headers["x-ratelimit-reset"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(
            reset >= now && reset < now + 3600,
            "reset is epoch seconds: {reset}"
        );
        if status == 429 {
            saw_429 = true;
            assert!(
                headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    >= 1
            );
            assert_eq!(body["message"], "Global limit has been reached");
            assert_eq!(body["errorCode"], "too_many_requests");
            assert_eq!(headers["x-ratelimit-remaining"], "0");
        }
    }
    assert!(saw_429, "a burst of 5 lets 8 requests through");
    // Headers also on unauthenticated errors and on public routes.
    let response = api
        .http
        .get(server.url("/api/v2/hooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("x-ratelimit-reset"));
    let response = api.http.get(server.url("/healthz")).send().await.unwrap();
    assert!(response.headers().contains_key("x-ratelimit-limit"));
}

#[tokio::test]
async fn p11_one_enabled_hook_per_trigger_and_twenty_secrets() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let first = api
        .create_hook("first-enabled", "credentials-exchange", true)
        .await;
    // deploy-cli creates the new enabled hook before it disables the old one: no 409.
    let second = api
        .create_hook("second-enabled", "credentials-exchange", true)
        .await;
    let (_, a) = api.get(&format!("/api/v2/hooks/{first}")).await;
    let (_, b) = api.get(&format!("/api/v2/hooks/{second}")).await;
    assert_eq!(
        (a["enabled"].clone(), b["enabled"].clone()),
        (json!(false), json!(true))
    );
    let (status, _) = api
        .patch(&format!("/api/v2/hooks/{first}"), r#"{"enabled":"true"}"#)
        .await;
    assert_eq!(status, 200);
    let (_, enabled) = api
        .get("/api/v2/hooks?enabled=true&triggerId=credentials-exchange")
        .await;
    assert_eq!(enabled.as_array().unwrap().len(), 1);
    assert_eq!(enabled[0]["id"], first.as_str());

    let path = format!("/api/v2/hooks/{first}/secrets");
    let eighteen: serde_json::Map<String, Value> =
        (0..18).map(|i| (format!("S{i}"), json!("v"))).collect();
    assert_eq!(
        api.post(&path, &Value::Object(eighteen).to_string())
            .await
            .0,
        201
    );
    let (status, body) = api.post(&path, r#"{"N1":"v","N2":"v","N3":"v"}"#).await;
    assert_eq!(
        (status, body["errorCode"].clone()),
        (400, json!("invalid_body"))
    );
    let (_, secrets) = api.get(&path).await;
    assert_eq!(
        secrets.as_object().unwrap().len(),
        18,
        "the rejected write changed nothing"
    );
    assert_eq!(api.post(&path, r#"{"N1":"v","N2":"v"}"#).await.0, 201);
    let (status, _) = api.post(&path, r#"{"N3":"v"}"#).await;
    assert_eq!(status, 400);
    // An existing name is a 409, and the whole request is rolled back.
    let id = api
        .create_hook("conflicts", "send-phone-message", false)
        .await;
    let path = format!("/api/v2/hooks/{id}/secrets");
    api.post(&path, r#"{"A":"1"}"#).await;
    let (status, _) = api.post(&path, r#"{"B":"2","A":"3"}"#).await;
    assert_eq!(status, 409);
    let (_, secrets) = api.get(&path).await;
    assert_eq!(secrets, json!({"A": PLACEHOLDER}));
}

#[tokio::test]
async fn p12_names_are_stored_as_given_and_unique() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let (status, created) = api
        .post(
            "/api/v2/hooks",
            r#"{"name":"test-hook150","script":"s","triggerId":"credentials-exchange"}"#,
        )
        .await;
    assert_eq!(status, 201);
    let (_, read) = api
        .get(&format!(
            "/api/v2/hooks/{}",
            created["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(read["name"], "test-hook150");
    assert_eq!(created["name"], "test-hook150");
    let (status, _) = api
        .post(
            "/api/v2/hooks",
            r#"{"name":"test-hook150","script":"s","triggerId":"pre-user-registration"}"#,
        )
        .await;
    assert_eq!(status, 409);
    for bad in ["-lead", "trail ", "under_score", ""] {
        let body = json!({"name": bad, "script": "s", "triggerId": "credentials-exchange"});
        let (status, err) = api.post("/api/v2/hooks", &body.to_string()).await;
        assert_eq!(
            (status, err["errorCode"].clone()),
            (400, json!("invalid_body")),
            "{bad:?}"
        );
    }
    // Ids are 26-character Crockford base32 ULIDs.
    let id = created["id"].as_str().unwrap();
    assert_eq!(id.len(), 26);
    assert!(id
        .chars()
        .all(|c| "0123456789ABCDEFGHJKMNPQRSTVWXYZ".contains(c)));
}

#[tokio::test]
async fn p13_unknown_properties_and_empty_patch_are_invalid_body() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let (status, body) = api
        .post(
            "/api/v2/hooks",
            r#"{"id":"x","name":"n","script":"s","triggerId":"credentials-exchange"}"#,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Payload validation error: 'Additional properties not allowed: id'."
    );
    let id = api
        .create_hook("patched", "credentials-exchange", false)
        .await;
    let (status, body) = api
        .patch(
            &format!("/api/v2/hooks/{id}"),
            r#"{"triggerId":"pre-user-registration"}"#,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Payload validation error: 'Additional properties not allowed: triggerId'."
    );
    let (status, body) = api.patch(&format!("/api/v2/hooks/{id}"), "{}").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Payload validation error: 'Too few properties defined (0), minimum 1'."
    );
    let (status, body) = api.post("/api/v2/hooks", r#"{"name":"n"}"#).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["message"],
        "Payload validation error: 'Missing required property: script' (also) 'Missing required property: triggerId'."
    );
    // Dependencies are replaced on PATCH, not merged.
    api.patch(
        &format!("/api/v2/hooks/{id}"),
        r#"{"dependencies":{"auth0":"2.30.0","lodash":"4"}}"#,
    )
    .await;
    let (status, hook) = api
        .patch(
            &format!("/api/v2/hooks/{id}"),
            r#"{"dependencies":{"axios":"1"}}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(hook["dependencies"], json!({"axios": "1"}));
}

#[tokio::test]
async fn docs_sample_body_gets_a_400_showing_the_right_shape() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let id = api
        .create_hook("docs-sample", "credentials-exchange", false)
        .await;
    for method in ["POST", "PATCH"] {
        let (status, body, _) = api
            .send(
                method,
                &format!("/api/v2/hooks/{id}/secrets"),
                Some(r#"{ [ "HOOK_SECRET_KEY", "HOOK_SECRET_VALUE" ] }"#),
            )
            .await;
        assert_eq!(status, 400);
        assert_eq!(body["errorCode"], "invalid_body");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(r#"{"HOOK_SECRET_KEY": "HOOK_SECRET_VALUE"}"#),
            "{body}"
        );
    }
    let (status, body) = api
        .delete(
            &format!("/api/v2/hooks/{id}/secrets"),
            Some(r#"{ [ "HOOK_SECRET_KEY" ] }"#),
        )
        .await;
    assert_eq!(status, 400);
    assert!(body["message"]
        .as_str()
        .unwrap()
        .contains(r#"["HOOK_SECRET_KEY"]"#));
}

#[tokio::test]
async fn p14_https_on_localhost_with_the_self_signed_certificate() {
    let server = Server::start_with(crate::support::Options {
        tls_self_signed: true,
        ..Default::default()
    });
    assert!(server.base.starts_with("https://127.0.0.1:"));
    // reqwest checks the certificate against IP 127.0.0.1: the SAN must hold it.
    let api = Api::new(&server).await;
    let (status, _) = api.get("/api/v2/hooks").await;
    assert_eq!(status, 200);
    let localhost = server.base.replace("127.0.0.1", "localhost");
    let response = server
        .http()
        .get(format!("{localhost}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        200,
        "DNS:localhost is in the certificate too"
    );
}
