//! The JWT attack list (security-tests row 15), sent to a real server: each forged token
//! gets a 401 and no data.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hookhaven_core::ALL_SCOPES;
use hookhaven_crypto::SigningKey;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

use crate::support::Server;

/// Signs an arbitrary header and payload text with RS256, so that tests control every
/// byte, including duplicate keys.
fn rs256(key: &SigningKey, header: &str, payload: &str) -> String {
    let pair = RsaKeyPair::from_pkcs8(&key.to_pkcs8_der()).unwrap();
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let mut sig = vec![0u8; pair.public().modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", B64.encode(sig))
}

fn hs256(secret: &[u8], header: &str, payload: &str) -> String {
    let input = format!("{}.{}", B64.encode(header), B64.encode(payload));
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        input.as_bytes(),
    );
    format!("{input}.{}", B64.encode(tag.as_ref()))
}

#[tokio::test]
async fn forged_tokens_are_refused() {
    let server = Server::start();
    let key = server.signing_key().await;
    let kid = key.kid().to_string();
    let claims = serde_json::to_string(&server.claims(&ALL_SCOPES)).unwrap();
    let header = |extra: &str| format!(r#"{{"alg":"RS256","typ":"JWT","kid":"{kid}"{extra}}}"#);
    let jwks = server
        .http()
        .get(server.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let public_n = serde_json::from_str::<serde_json::Value>(&jwks).unwrap()["keys"][0]["n"]
        .as_str()
        .unwrap()
        .to_string();
    let now = hookhaven_core::now_ms() / 1000;
    let mut future = server.claims(&ALL_SCOPES);
    future.iat = now;
    let future = serde_json::to_string(&future)
        .unwrap()
        .replace('}', &format!(r#","nbf":{}}}"#, now + 3600));
    let valid = rs256(&key, &header(""), &claims);

    let attacks: Vec<(&str, String)> = vec![
        (
            "alg none",
            format!(
                "{}.{}.",
                B64.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{kid}"}}"#)),
                B64.encode(&claims)
            ),
        ),
        (
            "HS256 keyed with the public modulus",
            hs256(
                public_n.as_bytes(),
                &format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#),
                &claims,
            ),
        ),
        (
            "HS256 keyed with the JWKS text",
            hs256(
                jwks.as_bytes(),
                &format!(r#"{{"alg":"HS256","typ":"JWT","kid":"{kid}"}}"#),
                &claims,
            ),
        ),
        (
            "signature stripped",
            format!("{}.", valid.rsplit_once('.').unwrap().0),
        ),
        ("payload altered", {
            let parts: Vec<&str> = valid.split('.').collect();
            let altered = claims.replace("client-credentials", "client-credentialz");
            format!("{}.{}.{}", parts[0], B64.encode(altered), parts[2])
        }),
        ("not yet valid", rs256(&key, &header(""), &future)),
        (
            "unknown kid",
            rs256(
                &key,
                r#"{"alg":"RS256","typ":"JWT","kid":"someone-else"}"#,
                &claims,
            ),
        ),
        (
            "kid with a path",
            rs256(
                &key,
                r#"{"alg":"RS256","typ":"JWT","kid":"../../../../etc/passwd"}"#,
                &claims,
            ),
        ),
        (
            "kid with SQL",
            rs256(
                &key,
                r#"{"alg":"RS256","typ":"JWT","kid":"' OR '1'='1"}"#,
                &claims,
            ),
        ),
        (
            "kid with a URL",
            rs256(
                &key,
                r#"{"alg":"RS256","typ":"JWT","kid":"http://127.0.0.1:1/key"}"#,
                &claims,
            ),
        ),
        (
            "no kid",
            rs256(&key, r#"{"alg":"RS256","typ":"JWT"}"#, &claims),
        ),
        (
            "jku header",
            rs256(
                &key,
                &header(r#","jku":"http://127.0.0.1:1/jwks.json""#),
                &claims,
            ),
        ),
        (
            "x5u header",
            rs256(
                &key,
                &header(r#","x5u":"http://127.0.0.1:1/cert.pem""#),
                &claims,
            ),
        ),
        (
            "embedded jwk",
            rs256(
                &key,
                &header(r#","jwk":{"kty":"RSA","n":"AQAB","e":"AQAB"}"#),
                &claims,
            ),
        ),
        (
            "unknown crit",
            rs256(&key, &header(r#","crit":["exp-ext"]"#), &claims),
        ),
        (
            "wrong typ",
            rs256(
                &key,
                &format!(r#"{{"alg":"RS256","typ":"id+jwt","kid":"{kid}"}}"#),
                &claims,
            ),
        ),
        (
            "duplicate header key",
            rs256(
                &key,
                &format!(r#"{{"alg":"RS256","alg":"none","typ":"JWT","kid":"{kid}"}}"#),
                &claims,
            ),
        ),
        (
            "duplicate claim",
            rs256(
                &key,
                &header(""),
                &claims.replacen('{', r#"{"scope":"read:hooks","#, 1),
            ),
        ),
        (
            "oversize",
            rs256(
                &key,
                &header(&format!(r#","pad":"{}""#, "a".repeat(9000))),
                &claims,
            ),
        ),
    ];
    let http = server.http();
    for (name, token) in attacks {
        let response = http
            .get(server.url("/api/v2/hooks"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.text().await.unwrap();
        assert_eq!(status, 401, "{name}: {body}");
        assert!(
            !body.contains("\"hooks\"") && !body.starts_with('['),
            "{name} leaked data"
        );
    }
    // The unforged token with the same claims works, so the refusals above are meaningful.
    let response = http
        .get(server.url("/api/v2/hooks"))
        .bearer_auth(&valid)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
