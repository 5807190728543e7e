//! What operators read: the access log, the request id on every log line of a request,
//! and the `contactsync_` metrics.
use serde_json::json;

use crate::support::{TestApp, logs};

#[tokio::test]
async fn every_request_logs_one_access_line_and_its_id_on_every_line() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let id = format!("obs-{}", uuid::Uuid::new_v4().simple());
    let r = app
        .send(
            reqwest::Method::GET,
            "/api/v1/contacts?limit=5",
            Some(&alice),
            None,
            &[("x-request-id", &id)],
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let contact = app
        .create(
            "/api/v1/contacts",
            &alice,
            json!({"given_name": "Log", "surname": "Line"}),
        )
        .await;
    let path = format!("/api/v1/contacts/{}", contact["id"].as_str().unwrap());
    let second = format!("obs-{}", uuid::Uuid::new_v4().simple());
    app.send(
        reqwest::Method::GET,
        &path,
        Some(&alice),
        None,
        &[("x-request-id", &second)],
    )
    .await;

    let all = logs();
    let lines: Vec<&str> = all.lines().filter(|l| l.contains(&id)).collect();
    let access: Vec<&&str> = lines
        .iter()
        .filter(|l| l.contains("contactsync::access"))
        .collect();
    assert_eq!(access.len(), 1, "one access line per request: {lines:#?}");
    let line = access[0];
    for part in [
        "method=\"GET\"",
        "route=/api/v1/contacts",
        "status=200",
        "duration_ms=",
    ] {
        assert!(line.contains(part), "{part} missing in {line}");
    }
    // The handler's own lines (here the authenticated caller) carry the same id.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("caller authenticated") && l.contains("user=alice")),
        "no handler line of the request names its id: {lines:#?}"
    );
    // The route is the pattern, never the record id.
    let access2 = all
        .lines()
        .find(|l| l.contains(&second) && l.contains("contactsync::access"))
        .expect("access line of the second request");
    assert!(access2.contains("route=/api/v1/contacts/{id}"), "{access2}");
}

#[tokio::test]
async fn metrics_are_prefixed_and_durations_are_histograms() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    let r = app.get("/api/v1/contacts", &alice).await;
    assert_eq!(r.status, 200);
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;
    assert_eq!(metrics.status, 200);
    let text = &metrics.text;
    assert!(
        text.contains("contactsync_http_request_duration_seconds_bucket{"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("contactsync_http_requests_total{")
                && l.contains("route=\"/api/v1/contacts\"")
                && l.contains("method=\"GET\"")
                && l.contains("status=\"200\"")),
        "{text}"
    );
    // Every series of ours carries the prefix (process-wide recorder: other tests' too).
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(
            line.starts_with("contactsync_"),
            "unprefixed metric: {line}"
        );
    }
}

#[tokio::test]
async fn an_invented_method_does_not_make_a_new_series() {
    let app = TestApp::spawn().await;
    let method = reqwest::Method::from_bytes(b"BREW").unwrap();
    app.send(method, "/healthz", None, None, &[]).await;
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;
    assert!(!metrics.text.contains("BREW"), "{}", metrics.text);
    assert!(
        metrics.text.contains("method=\"other\""),
        "{}",
        metrics.text
    );
}
