//! Per-user limits: mailboxes per user (with overrides), Exchange calls a user waits on,
//! live event streams, and fair claiming of the run queue across owners.
use chrono::{Duration, Utc};
use reqwest::Method;
use serde_json::json;

use crate::support::{TestApp, spawn_sim};

fn mailbox(url: &str, email: &str) -> serde_json::Value {
    json!({"email": email, "ews_url": url,
           "auth": {"kind": "basic", "username": email, "password": "pw"}})
}

#[tokio::test]
async fn a_user_connects_at_most_the_configured_mailboxes_unless_given_more() {
    let app = TestApp::spawn_with(|s| {
        s.max_mailboxes_per_user = 2;
        s.mailbox_quota_overrides = vec!["svc-sync=4".into()];
    })
    .await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    for i in 0..2 {
        let r = app
            .post(
                "/api/v1/mailboxes",
                &alice,
                mailbox(&sim.ews_url(), &format!("m{i}@example.com")),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    let r = app
        .post(
            "/api/v1/mailboxes",
            &alice,
            mailbox(&sim.ews_url(), "m2@example.com"),
        )
        .await;
    r.assert_problem(409, "quota_exceeded");
    assert!(r.text.contains("max_mailboxes_per_user"), "{}", r.text);
    // An administrator creating for alice is held to alice's quota too.
    let admin = app.admin_token("root");
    let mut body = mailbox(&sim.ews_url(), "m3@example.com");
    body["owner_id"] = json!("alice");
    app.post("/api/v1/mailboxes", &admin, body)
        .await
        .assert_problem(409, "quota_exceeded");
    // The service user was given more.
    let svc = app.token("svc-sync");
    for i in 0..4 {
        let r = app
            .post(
                "/api/v1/mailboxes",
                &svc,
                mailbox(&sim.ews_url(), &format!("s{i}@example.com")),
            )
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    app.post(
        "/api/v1/mailboxes",
        &svc,
        mailbox(&sim.ews_url(), "s4@example.com"),
    )
    .await
    .assert_problem(409, "quota_exceeded");
    assert_eq!(app.count_rows("mailboxes").await, 6);
}

#[tokio::test]
async fn a_user_waits_on_a_bounded_number_of_exchange_calls() {
    let app = TestApp::spawn_with(|s| s.max_interactive_calls_per_user = 1).await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let a = app
        .connect_mailbox(&alice, &sim, "alice@example.com", "alice-pw-S3cret")
        .await;
    let b = app
        .connect_mailbox(&bob, &sim, "bob@example.com", "bob-pw-S3cret")
        .await;
    sim.set_latency_ms(1_500);
    let test_a = format!("/api/v1/mailboxes/{a}/test");
    let folders_a = format!("/api/v1/mailboxes/{a}/exchange-folders");
    let test_b = format!("/api/v1/mailboxes/{b}/test");
    let slow = app.post(&test_a, &alice, json!({}));
    let (first, second, other_user) = tokio::join!(
        slow,
        async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            app.get(&folders_a, &alice).await
        },
        async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            app.post(&test_b, &bob, json!({})).await
        }
    );
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(first.body["ok"], true, "{}", first.text);
    second.assert_problem(429, "too_many_requests");
    assert_eq!(
        other_user.status, 200,
        "another user is not held back: {}",
        other_user.text
    );
    // The slot is free again once the call ended.
    sim.set_latency_ms(0);
    assert_eq!(app.get(&folders_a, &alice).await.status, 200);
}

#[tokio::test]
async fn a_user_holds_a_bounded_number_of_event_streams() {
    let app = TestApp::spawn_with(|s| s.max_event_streams_per_user = 1).await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let m = app
        .connect_mailbox(&alice, &sim, "alice@example.com", "alice-pw-S3cret")
        .await;
    let run = app
        .post(
            &format!("/api/v1/mailboxes/{m}/contact-sync/runs"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(run.status, 202, "{}", run.text);
    let events = format!(
        "/api/v1/contact-sync/runs/{}/events",
        run.body["id"].as_str().unwrap()
    );
    // The run stays queued (this app runs no workers), so the first stream stays open.
    let open = app
        .http
        .get(format!("{}{events}", app.base))
        .bearer_auth(&alice)
        .send()
        .await
        .unwrap();
    assert_eq!(open.status(), 200);
    app.get(&events, &alice)
        .await
        .assert_problem(429, "too_many_requests");
    drop(open);
    // The server notices a gone client at its next write (the keep-alive, every 15 s).
    crate::support::eventually(40, "the slot is freed when the client leaves", || async {
        let r = app
            .http
            .get(format!("{}{events}", app.base))
            .bearer_auth(&alice)
            .send()
            .await
            .unwrap();
        r.status() == 200
    })
    .await;
}

#[tokio::test]
async fn the_queue_serves_owners_in_turn_not_first_come_first_served() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let mut alice_runs = Vec::new();
    for i in 0..5 {
        let email = format!("a{i}@example.com");
        sim.add_mailbox(&email, "pw");
        let m = app.connect_mailbox(&alice, &sim, &email, "pw").await;
        let path = format!("/api/v1/mailboxes/{m}/contact-sync/runs");
        let r = app.send(Method::POST, &path, Some(&alice), None, &[]).await;
        alice_runs.push(r.body["id"].as_str().unwrap().to_owned());
    }
    let b = app
        .connect_mailbox(&bob, &sim, "bob@example.com", "bob-pw-S3cret")
        .await;
    let path = format!("/api/v1/mailboxes/{b}/contact-sync/runs");
    let r = app.send(Method::POST, &path, Some(&bob), None, &[]).await;
    let bob_run = r.body["id"].as_str().unwrap().to_owned();
    let mut order = Vec::new();
    for w in 0..6 {
        let claim = app
            .store
            .claim_run(&format!("w{w}"), Duration::seconds(60), Utc::now())
            .await
            .unwrap()
            .expect("a run to claim");
        order.push(claim.request.run_id.to_string());
    }
    assert_eq!(order[0], alice_runs[0]);
    assert_eq!(
        order[1], bob_run,
        "bob's run waits behind one of alice's, not five: {order:?}"
    );
    assert_eq!(order[2..], alice_runs[1..]);
}
