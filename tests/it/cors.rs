//! CORS: a CRM frontend on an allowed origin may call the API from the browser.
use crate::support::TestApp;

const FRONTEND: &str = "https://crm.example.com";

async fn app_for_frontend() -> TestApp {
    TestApp::spawn_with(|s| s.cors_origins = vec![FRONTEND.into()]).await
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let app = app_for_frontend().await;
    let r = app
        .send(
            reqwest::Method::OPTIONS,
            "/api/v1/contacts/0190b5a6-0000-7000-8000-000000000001",
            None,
            None,
            &[
                ("origin", FRONTEND),
                ("access-control-request-method", "PATCH"),
                (
                    "access-control-request-headers",
                    "authorization, content-type, if-match, idempotency-key",
                ),
            ],
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some(FRONTEND));
    let methods = r.header("access-control-allow-methods").unwrap();
    for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_lowercase();
    for h in [
        "authorization",
        "content-type",
        "if-match",
        "idempotency-key",
    ] {
        assert!(headers.contains(h), "{headers}");
    }
}

#[tokio::test]
async fn answers_to_an_allowed_origin_expose_etag_and_location() {
    let app = app_for_frontend().await;
    let alice = app.token("alice");
    let body = serde_json::json!({"name": "Acme"});
    let r = app
        .send(
            reqwest::Method::POST,
            "/api/v1/accounts",
            Some(&alice),
            Some(&body),
            &[("origin", FRONTEND)],
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.header("access-control-allow-origin"), Some(FRONTEND));
    let exposed = r.header("access-control-expose-headers").unwrap();
    assert!(
        exposed.contains("ETag") && exposed.contains("Location"),
        "{exposed}"
    );
    assert!(r.header("vary").unwrap().contains("Origin"));
    // An error answer is readable too, so the frontend can show the problem.
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/me",
            None,
            None,
            &[("origin", FRONTEND)],
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.header("access-control-allow-origin"), Some(FRONTEND));
}

#[tokio::test]
async fn other_origins_get_no_cors_answer() {
    let app = app_for_frontend().await;
    let r = app
        .send(
            reqwest::Method::OPTIONS,
            "/api/v1/contacts",
            None,
            None,
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = app
        .send(
            reqwest::Method::GET,
            "/healthz",
            None,
            None,
            &[("origin", "https://evil.example")],
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), None);
    // And by default no origin at all is allowed.
    let default = TestApp::spawn().await;
    let r = default
        .send(
            reqwest::Method::OPTIONS,
            "/api/v1/contacts",
            None,
            None,
            &[
                ("origin", FRONTEND),
                ("access-control-request-method", "GET"),
            ],
        )
        .await;
    assert_eq!(r.status, 403);
}

#[tokio::test]
async fn a_bad_origin_setting_stops_start_up_naming_the_key() {
    let settings = contactsync::config::Settings {
        cors_origins: vec!["crm.example.com/app".into()],
        ..Default::default()
    };
    let err = settings.validate().unwrap_err().to_string();
    assert!(err.contains("CONTACTSYNC_CORS_ORIGINS"), "{err}");
}
