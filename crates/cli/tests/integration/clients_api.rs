//! `/api/v2/clients` and `/api/v2/client-grants`: minting credentials over HTTP.

use serde_json::{json, Value};

use crate::support::{Api, Server};

#[tokio::test]
async fn create_grant_use_and_delete_a_client_over_http() {
    let server = Server::start();
    let api = Api::new(&server).await;
    let (status, created) = api
        .post("/api/v2/clients", r#"{"name":"terraform","app_type":"non_interactive","grant_types":["client_credentials"]}"#)
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["client_id"].as_str().unwrap().to_string();
    let secret = created["client_secret"].as_str().unwrap().to_string();
    assert_eq!(created["app_type"], "non_interactive");

    // The secret is shown once: never again on read or list.
    let (status, read) = api.get(&format!("/api/v2/clients/{id}")).await;
    assert_eq!(status, 200);
    assert!(read.get("client_secret").is_none());
    let (_, list) = api
        .get("/api/v2/clients?include_totals=true&per_page=1&page=0")
        .await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["clients"].as_array().unwrap().len(), 1);
    assert!(!list.to_string().contains(&secret));
    let (_, bare) = api.get("/api/v2/clients").await;
    assert_eq!(bare.as_array().unwrap().len(), 2);
    let (_, global) = api.get("/api/v2/clients?is_global=true").await;
    assert_eq!(global, json!([]));

    let grant_body =
        json!({"client_id": id, "audience": server.audience(), "scope": ["read:hooks"]});
    let (status, grant) = api
        .post("/api/v2/client-grants", &grant_body.to_string())
        .await;
    assert_eq!(status, 201, "{grant}");
    assert_eq!(grant["scope"], json!(["read:hooks"]));
    let (status, _) = api
        .post("/api/v2/client-grants", &grant_body.to_string())
        .await;
    assert_eq!(status, 409, "one grant per client and audience");
    let (_, grants) = api
        .get(&format!("/api/v2/client-grants?client_id={id}"))
        .await;
    assert_eq!(grants.as_array().unwrap().len(), 1);
    let (_, totals) = api.get("/api/v2/client-grants?include_totals=true").await;
    assert_eq!(totals["total"], 2);
    assert!(totals["client_grants"].is_array());

    let token = server.token_for(&id, &secret, None).await;
    let response = api
        .http
        .get(server.url("/api/v2/hooks"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    for (body, code) in [
        (
            json!({"client_id": id, "audience": "https://nowhere/api/v2/", "scope": []}),
            404,
        ),
        (
            json!({"client_id": "nobody", "audience": server.audience(), "scope": []}),
            404,
        ),
        (
            json!({"client_id": id, "audience": server.audience(), "scope": ["root"]}),
            400,
        ),
        (json!({"client_id": id}), 400),
    ] {
        let (status, err) = api.post("/api/v2/client-grants", &body.to_string()).await;
        assert_eq!(status, code, "{body}: {err}");
    }
    let (status, _) = api
        .post(
            "/api/v2/clients",
            r#"{"name":"x","callbacks":["https://x"]}"#,
        )
        .await;
    assert_eq!(status, 400, "unknown client properties are refused");

    let grant_id = grant["id"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/api/v2/client-grants/{grant_id}"), None)
            .await
            .0,
        204
    );
    assert_eq!(
        api.delete(&format!("/api/v2/client-grants/{grant_id}"), None)
            .await
            .0,
        404
    );
    assert_eq!(
        api.delete(&format!("/api/v2/clients/{id}"), None).await.0,
        204
    );
    let (status, body): (u16, Value) = api.get(&format!("/api/v2/clients/{id}")).await;
    assert_eq!(status, 404, "{body}");
}
