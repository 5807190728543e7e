//! Automatic sync on an injected clock: due profiles, back-off, suspension after ten
//! failures in a row, and recovery.
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use contactsync::worker::clock::{Clock, ManualClock};
use contactsync::worker::queue::{Outcome, Worker};
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_sim};

fn auto(interval: u32) -> Value {
    json!({"auto_sync": {"enabled": true, "interval_minutes": interval}})
}

async fn save_profile(app: &TestApp, token: &str, mailbox: &str, profile: Value) {
    let r = app
        .put(
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync"),
            token,
            profile,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

async fn status(app: &TestApp, token: &str, mailbox: &str) -> Value {
    let r = app
        .get(
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync/status"),
            token,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.body
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a time: {v}"))
        .parse()
        .unwrap()
}

/// Executes the next queued run; returns its final status.
async fn run_next(worker: &Worker) -> String {
    match worker.try_execute_one().await.unwrap() {
        Outcome::Finished { run, .. } => run.status.as_str().to_owned(),
        other => panic!("expected a run, got {other:?}"),
    }
}

#[tokio::test]
async fn the_scheduler_enqueues_due_profiles_and_not_others() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let due = app
        .connect_mailbox(&alice, &sim, "alice@example.com", "alice-pw-S3cret")
        .await;
    let off = app
        .connect_mailbox(&alice, &sim, "bob@example.com", "bob-pw-S3cret")
        .await;
    sim.add_mailbox("carol@example.com", "carol-pw-S3cret");
    let busy = app
        .connect_mailbox(&alice, &sim, "carol@example.com", "carol-pw-S3cret")
        .await;
    save_profile(&app, &alice, &due, auto(30)).await;
    save_profile(&app, &alice, &off, json!({})).await;
    save_profile(&app, &alice, &busy, auto(30)).await;
    let manual = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/mailboxes/{busy}/contact-sync/runs"),
            Some(&alice),
            None,
            &[],
        )
        .await;
    assert_eq!(manual.status, 202);

    let clock = ManualClock::new(Utc::now() + Duration::seconds(1));
    let scheduler = app.scheduler(Arc::new(clock.clone()));
    let worker = app.worker("w1", Arc::new(clock.clone()), Duration::seconds(30));
    let enqueued = scheduler.tick().await.unwrap();
    // `busy` has an active run, `off` has automatic sync off.
    assert_eq!(enqueued.len(), 1);
    assert_eq!(enqueued[0].mailbox_id.to_string(), due);
    assert_eq!(enqueued[0].trigger, contactsync::domain::run::Trigger::Auto);
    assert!(scheduler.tick().await.unwrap().is_empty(), "not twice");

    assert_eq!(run_next(&worker).await, "succeeded");
    assert_eq!(run_next(&worker).await, "succeeded");
    let finished_at = clock.now();
    let s = status(&app, &alice, &due).await;
    assert_eq!(time(&s["next_due_at"]), finished_at + Duration::minutes(30));
    assert_eq!(s["last_run"]["status"], "succeeded");
    assert_eq!(s["consecutive_failures"], 0);

    clock.advance(Duration::minutes(29));
    assert!(scheduler.tick().await.unwrap().is_empty(), "not yet due");
    clock.advance(Duration::minutes(2));
    let enqueued = scheduler.tick().await.unwrap();
    let mut mailboxes: Vec<String> = enqueued.iter().map(|r| r.mailbox_id.to_string()).collect();
    mailboxes.sort();
    let mut expected = vec![due.clone(), busy.clone()];
    expected.sort();
    assert_eq!(mailboxes, expected, "both auto mailboxes are due again");
    let s = status(&app, &alice, &off).await;
    assert!(s["next_due_at"].is_null());
    assert!(s["last_run"].is_null());
}

/// Runs the mailbox's automatic sync until it has failed `n` times in a row, checking
/// the back-off of each.
async fn fail_in_a_row(
    app: &TestApp,
    token: &str,
    mailbox: &str,
    clock: &ManualClock,
    worker: &Worker,
    n: i32,
) {
    let scheduler = app.scheduler(Arc::new(clock.clone()));
    for failure in 1..=n {
        let enqueued = scheduler.tick().await.unwrap();
        assert_eq!(enqueued.len(), 1, "failure {failure}: one run enqueued");
        assert_eq!(run_next(worker).await, "failed");
        let s = status(app, token, mailbox).await;
        assert_eq!(s["consecutive_failures"], failure);
        if failure < 10 {
            let wait = time(&s["next_due_at"]) - clock.now();
            let expected = (Duration::minutes(5) * (1 << failure)).min(Duration::hours(24));
            assert_eq!(wait, expected, "back-off after failure {failure}");
            clock.advance(wait);
        }
    }
}

async fn suspended_mailbox(
    app: &TestApp,
    sim: &ews_sim::SimHandle,
    alice: &str,
    clock: &ManualClock,
    worker: &Worker,
) -> String {
    let mailbox = app
        .connect_mailbox(alice, sim, "alice@example.com", "wrong-password")
        .await;
    save_profile(app, alice, &mailbox, auto(5)).await;
    fail_in_a_row(app, alice, &mailbox, clock, worker, 10).await;

    let s = status(app, alice, &mailbox).await;
    assert_eq!(s["mailbox_status"], "suspended");
    let reason = s["suspended_reason"].as_str().unwrap();
    assert!(reason.contains("10 failed runs"), "{reason}");
    assert!(s["next_due_at"].is_null());
    let m = app
        .get(&format!("/api/v1/mailboxes/{mailbox}"), alice)
        .await;
    assert_eq!(m.body["status"], "suspended");
    assert_eq!(m.body["status_reason"], reason);
    let notes = app.list_all("/api/v1/notifications", alice).await;
    let suspended: Vec<&Value> = notes
        .iter()
        .filter(|n| n["kind"] == "mailbox_suspended")
        .collect();
    assert_eq!(suspended.len(), 1);
    assert_eq!(suspended[0]["mailbox_id"], mailbox.as_str());
    assert_eq!(
        notes.iter().filter(|n| n["kind"] == "run_failed").count(),
        10
    );
    // Suspended: nothing more is enqueued, however late it gets.
    clock.advance(Duration::days(3));
    let scheduler = app.scheduler(Arc::new(clock.clone()));
    assert!(scheduler.tick().await.unwrap().is_empty());
    assert!(
        app.list_all("/api/v1/notifications", &app.token("bob"))
            .await
            .is_empty()
    );
    mailbox
}

#[tokio::test]
async fn ten_failures_suspend_auto_sync_and_a_successful_run_resumes_it() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    // Ahead of the profile saves below (real time), however slow a loaded machine is.
    let clock = ManualClock::new(Utc::now() + Duration::minutes(1));
    let worker = app.worker("w1", Arc::new(clock.clone()), Duration::seconds(30));
    let sim = spawn_sim().await;
    let mailbox = suspended_mailbox(&app, &sim, &alice, &clock, &worker).await;

    // The owner fixes the password and syncs by hand: the success resumes auto sync.
    let r = app
        .patch(
            &format!("/api/v1/mailboxes/{mailbox}"),
            &alice,
            json!({"auth": {"kind": "basic", "password": "alice-pw-S3cret"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let r = app
        .send(
            reqwest::Method::POST,
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync/runs"),
            Some(&alice),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(run_next(&worker).await, "succeeded");
    let s = status(&app, &alice, &mailbox).await;
    assert_eq!(s["mailbox_status"], "active");
    assert!(s["suspended_reason"].is_null());
    assert!(s["status_reason"].is_null());
    assert_eq!(s["consecutive_failures"], 0);
    assert_eq!(time(&s["next_due_at"]), clock.now() + Duration::minutes(5));
    clock.advance(Duration::minutes(5));
    assert_eq!(
        app.scheduler(Arc::new(clock.clone()))
            .tick()
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn saving_the_profile_resumes_suspended_auto_sync() {
    let app = TestApp::spawn().await;
    let alice = app.token("alice");
    // Ahead of the profile saves below (real time), however slow a loaded machine is.
    let clock = ManualClock::new(Utc::now() + Duration::minutes(1));
    let worker = app.worker("w1", Arc::new(clock.clone()), Duration::seconds(30));
    let sim = spawn_sim().await;
    let mailbox = suspended_mailbox(&app, &sim, &alice, &clock, &worker).await;

    save_profile(&app, &alice, &mailbox, auto(5)).await;
    let s = status(&app, &alice, &mailbox).await;
    assert_eq!(s["mailbox_status"], "active");
    assert!(s["suspended_reason"].is_null());
    assert_eq!(s["consecutive_failures"], 0);
    // Due at once after a resume: the scheduler enqueues it on its next tick.
    let enqueued = app.scheduler(Arc::new(clock.clone())).tick().await.unwrap();
    assert_eq!(enqueued.len(), 1);
    assert_eq!(enqueued[0].mailbox_id.to_string(), mailbox);
}

/// The scheduler enqueues due mailboxes a batch per transaction: across batches, every
/// due mailbox gets one run, a mailbox with an active run or automatic sync off none, and
/// a second tick nothing.
#[tokio::test]
async fn a_tick_enqueues_each_due_mailbox_once_across_batches() {
    use contactsync::domain::Caller;
    use contactsync::domain::mailbox::{AuthWrite, MailboxWrite};
    use contactsync::domain::profile::ContactSyncProfile;
    use contactsync::store::runs::NewRun;
    use contactsync::store::schedules::ENQUEUE_BATCH;

    let app = TestApp::spawn().await;
    let owner = Caller {
        user_id: "fleet".into(),
        is_admin: false,
    };
    let secrets = app.engine().secrets;
    let mut auto_profile = ContactSyncProfile::default();
    auto_profile.auto_sync.enabled = true;
    auto_profile.auto_sync.interval_minutes = 5;
    let n = ENQUEUE_BATCH * 2 + 3;
    let mut ids = Vec::new();
    for i in 0..n {
        let m = app
            .store
            .create_mailbox(
                &secrets,
                &owner,
                MailboxWrite {
                    email: Some(format!("m{i}@fleet.test")),
                    ews_url: Some("http://127.0.0.1:9/EWS/Exchange.asmx".into()),
                    auth: Some(AuthWrite::Basic {
                        username: Some(format!("m{i}@fleet.test")),
                        password: Some("pw".into()),
                    }),
                    ..Default::default()
                },
                &app.settings.ews_allowed_hosts,
                |_| u32::MAX,
            )
            .await
            .unwrap();
        // The last one keeps automatic sync off.
        let profile = if i + 1 == n {
            ContactSyncProfile::default()
        } else {
            auto_profile.clone()
        };
        app.store
            .put_profile(&owner, m.id, profile, None)
            .await
            .unwrap();
        ids.push(m.id);
    }
    // One mailbox in the middle of a batch has a run already.
    let busy = ids[ENQUEUE_BATCH + 1];
    app.store
        .enqueue_run(
            &owner,
            busy,
            NewRun {
                mode: contactsync::domain::run::RunMode::TwoWay,
                dry_run: false,
                full: false,
                trigger: contactsync::domain::run::Trigger::Manual,
                idempotency_key: None,
                profile: None,
            },
            Utc::now(),
        )
        .await
        .unwrap();

    let clock = ManualClock::new(Utc::now() + Duration::seconds(1));
    let scheduler = app.scheduler(Arc::new(clock.clone()));
    let enqueued = scheduler.tick().await.unwrap();
    let mut got: Vec<_> = enqueued.iter().map(|r| r.mailbox_id).collect();
    got.sort();
    let mut expected: Vec<_> = ids[..n - 1]
        .iter()
        .copied()
        .filter(|id| *id != busy)
        .collect();
    expected.sort();
    assert_eq!(got, expected, "every due mailbox once, across batches");
    assert!(
        enqueued
            .iter()
            .all(|r| r.trigger == contactsync::domain::run::Trigger::Auto)
    );
    assert!(scheduler.tick().await.unwrap().is_empty(), "not twice");
    assert_eq!(app.store.queued_runs().await.unwrap(), n as u64 - 1);
}
