//! JWT: accepted and refused tokens (SPEC §2).
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

use crate::support::{SECRET, TestApp};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: serde_json::Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn me(app: &TestApp, token: &str) -> crate::support::Resp {
    app.get("/api/v1/me", token).await
}

#[tokio::test]
async fn valid_token_identifies_the_caller_and_upserts_the_user() {
    let app = TestApp::spawn().await;
    let r = me(&app, &app.admin_token("root")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body, json!({"user_id": "root", "is_admin": true}));
    me(&app, &app.token("alice")).await;
    assert_eq!(app.count_rows("users").await, 2);
}

#[tokio::test]
async fn refused_tokens() {
    let app = TestApp::spawn().await;
    let exp = now() + 600;
    // No header, wrong scheme, garbage.
    let r = app
        .send(reqwest::Method::GET, "/api/v1/me", None, None, &[])
        .await;
    r.assert_problem(401, "unauthorized");
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/me",
            None,
            None,
            &[("Authorization", "Basic YTpi")],
        )
        .await;
    r.assert_problem(401, "unauthorized");
    me(&app, "not.a.jwt")
        .await
        .assert_problem(401, "unauthorized");
    // alg none.
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(json!({"sub": "mallory", "exp": exp}).to_string());
    me(&app, &format!("{header}.{claims}."))
        .await
        .assert_problem(401, "unauthorized");
    // Wrong key.
    me(
        &app,
        &hs256(
            json!({"sub": "mallory", "exp": exp}),
            "another-secret-0123456789-0123456789",
        ),
    )
    .await
    .assert_problem(401, "unauthorized");
    // Expired, and no exp at all.
    me(
        &app,
        &hs256(json!({"sub": "alice", "exp": now() - 3600}), SECRET),
    )
    .await
    .assert_problem(401, "unauthorized");
    me(&app, &hs256(json!({"sub": "alice"}), SECRET))
        .await
        .assert_problem(401, "unauthorized");
    // Other algorithm with the same secret (HS512).
    let t = encode(
        &Header::new(Algorithm::HS512),
        &json!({"sub": "alice", "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    me(&app, &t).await.assert_problem(401, "unauthorized");
    // Nothing was upserted for refused callers.
    assert_eq!(app.count_rows("users").await, 0);
}

#[tokio::test]
async fn audience_and_issuer_are_checked_when_configured() {
    let app = TestApp::spawn_with(|s| {
        s.jwt_audience = Some("contactsync".into());
        s.jwt_issuer = Some("https://idp.test".into());
    })
    .await;
    let exp = now() + 600;
    let good = hs256(
        json!({"sub": "alice", "exp": exp, "aud": "contactsync", "iss": "https://idp.test"}),
        SECRET,
    );
    assert_eq!(me(&app, &good).await.status, 200);
    me(
        &app,
        &hs256(
            json!({"sub": "alice", "exp": exp, "aud": "other", "iss": "https://idp.test"}),
            SECRET,
        ),
    )
    .await
    .assert_problem(401, "unauthorized");
    me(
        &app,
        &hs256(
            json!({"sub": "alice", "exp": exp, "iss": "https://idp.test"}),
            SECRET,
        ),
    )
    .await
    .assert_problem(401, "unauthorized");
    me(
        &app,
        &hs256(
            json!({"sub": "alice", "exp": exp, "aud": "contactsync", "iss": "https://evil.test"}),
            SECRET,
        ),
    )
    .await
    .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn es256_public_key_and_no_algorithm_switching() {
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/keys");
    let app = TestApp::spawn_with(|s| {
        s.jwt_secret = None;
        s.jwt_public_key_file = Some(format!("{keys}/es256-public.pem").into());
        s.jwt_algorithm = Some("ES256".into());
    })
    .await;
    let exp = now() + 600;
    let private = std::fs::read(format!("{keys}/es256-private.pem")).unwrap();
    let token = encode(
        &Header::new(Algorithm::ES256),
        &json!({"sub": "alice", "exp": exp, "roles": ["admin"]}),
        &EncodingKey::from_ec_pem(&private).unwrap(),
    )
    .unwrap();
    let r = me(&app, &token).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["is_admin"], true);
    // Signed by another key.
    let other = std::fs::read(format!("{keys}/other-es256-private.pem")).unwrap();
    let forged = encode(
        &Header::new(Algorithm::ES256),
        &json!({"sub": "alice", "exp": exp}),
        &EncodingKey::from_ec_pem(&other).unwrap(),
    )
    .unwrap();
    me(&app, &forged).await.assert_problem(401, "unauthorized");
    // HS256 "signed" with the public key as secret: the classic algorithm switch.
    let public = std::fs::read_to_string(format!("{keys}/es256-public.pem")).unwrap();
    me(&app, &hs256(json!({"sub": "alice", "exp": exp}), &public))
        .await
        .assert_problem(401, "unauthorized");
}

#[tokio::test]
async fn a_token_is_refused_before_its_nbf_and_an_audience_array_is_accepted() {
    let app = TestApp::spawn_with(|s| s.jwt_audience = Some("contactsync".into())).await;
    let exp = now() + 600;
    // Not yet valid: nbf an hour ahead (beyond the 30 s leeway); then one already valid.
    me(
        &app,
        &hs256(
            json!({"sub": "alice", "exp": exp, "nbf": now() + 3600, "aud": "contactsync"}),
            SECRET,
        ),
    )
    .await
    .assert_problem(401, "unauthorized");
    let r = me(
        &app,
        &hs256(
            json!({"sub": "alice", "exp": exp, "nbf": now() - 10, "aud": "contactsync"}),
            SECRET,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // `aud` as an array (RFC 7519 §4.1.3): accepted when it names us, refused otherwise.
    let r = me(
        &app,
        &hs256(
            json!({"sub": "alice", "exp": exp, "aud": ["other-api", "contactsync"]}),
            SECRET,
        ),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    me(
        &app,
        &hs256(
            json!({"sub": "alice", "exp": exp, "aud": ["other-api", "third"]}),
            SECRET,
        ),
    )
    .await
    .assert_problem(401, "unauthorized");
}
