use super::*;

const CERT: &str = include_str!("../../tests/fixtures/app-cert.pem");
const KEY: &str = include_str!("../../tests/fixtures/app-key.pem");

fn config(credential: Credential) -> ClientConfig {
    ClientConfig::new("contoso", "app-1", credential, "ann@contoso.com")
}

#[test]
fn debug_never_shows_a_secret_or_key() {
    let secret = config(Credential::Secret("s3cr3t-value".into()));
    let client = GraphClient::new(secret.clone()).unwrap();
    let cert = config(Credential::Certificate {
        certificate_pem: CERT.into(),
        private_key_pem: KEY.into(),
    });
    for text in [
        format!("{secret:?}"),
        format!("{client:?}"),
        format!("{cert:?}"),
    ] {
        assert!(!text.contains("s3cr3t"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(text.contains("redacted"), "{text}");
    }
}

#[test]
fn the_client_assertion_is_a_ps256_jwt_naming_the_certificate() {
    let jwt = auth::client_assertion(
        "https://login.microsoftonline.com/contoso/oauth2/v2.0/token",
        "app-1",
        CERT,
        KEY,
    )
    .unwrap();
    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::PS256);
    let der = auth::certificate_der(CERT).unwrap();
    use base64::Engine;
    use sha2::Digest;
    assert_eq!(
        header.x5t_s256.as_deref(),
        Some(
            base64::prelude::BASE64_URL_SAFE_NO_PAD
                .encode(sha2::Sha256::digest(&der))
                .as_str()
        )
    );
    let payload = jwt.split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::prelude::BASE64_URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "app-1");
    assert_eq!(claims["sub"], "app-1");
    assert_eq!(
        claims["aud"],
        "https://login.microsoftonline.com/contoso/oauth2/v2.0/token"
    );
    assert!(claims["exp"].as_i64().unwrap() > claims["iat"].as_i64().unwrap());
}

#[test]
fn unusable_configurations_are_refused() {
    let mut c = config(Credential::Certificate {
        certificate_pem: "not a cert".into(),
        private_key_pem: KEY.into(),
    });
    assert!(matches!(GraphClient::new(c.clone()), Err(Error::Config(_))));
    c.credential = Credential::Secret("x".into());
    c.graph_url = "ftp://graph".into();
    assert!(matches!(GraphClient::new(c.clone()), Err(Error::Config(_))));
    c.graph_url = "https://graph.microsoft.us/v1.0".into();
    assert_eq!(c.scope().unwrap(), "https://graph.microsoft.us/.default");
    c.tenant_id = "a/b".into();
    assert!(matches!(GraphClient::new(c), Err(Error::Config(_))));
}

#[test]
fn links_are_followed_only_on_the_configured_host() {
    let mut c = config(Credential::Secret("x".into()));
    c.graph_url = "https://graph.microsoft.com/v1.0/".into();
    let client = GraphClient::new(c).unwrap();
    assert!(
        client
            .check_link("https://graph.microsoft.com/v1.0/users/a/contacts/delta?$deltatoken=x")
            .is_ok()
    );
    for foreign in [
        "https://evil.example/v1.0/users/a/contacts/delta?$deltatoken=x",
        "http://graph.microsoft.com/v1.0/users/a/contacts/delta",
        "https://graph.microsoft.com:8443/v1.0/users/a/contacts/delta",
        "https://graph.microsoft.com/beta/users/a/contacts/delta",
    ] {
        let e = client.check_link(foreign).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::SyncStateInvalid, "{foreign}");
    }
}

#[test]
fn a_retry_after_too_large_for_a_duration_is_no_hint_rather_than_a_panic() {
    use super::retry_after;
    assert_eq!(retry_after(Some("1e300")), None);
    assert_eq!(retry_after(Some("-5")), None);
    assert_eq!(retry_after(Some("NaN")), None);
    assert_eq!(retry_after(Some(" 3 ")), Some(Duration::from_secs(3)));
}
