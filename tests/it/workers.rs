//! Workers over one queue: expired leases are taken over, released leases resumed, and
//! several workers (or `contactsync worker` processes) execute every run exactly once.
use std::sync::Arc;

use chrono::{Duration, Utc};
use contactsync::crypto::SecretBox;
use contactsync::domain::run::RunStatus;
use contactsync::worker::Background;
use contactsync::worker::clock::{ManualClock, SystemClock};
use contactsync::worker::events::RunEvents;
use contactsync::worker::pool::PoolConfig;
use contactsync::worker::queue::Outcome;
use ews_sim::{FaultKind, FaultRule};
use reqwest::Method;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::support::{TestApp, eventually, spawn_sim};

/// `(status, attempts, lease_owner)` of every run, straight from the database.
async fn run_rows(app: &TestApp) -> Vec<(String, String, i32, Option<String>)> {
    let db = app.store.connection();
    db.query_all_raw(Statement::from_string(
        db.get_database_backend(),
        "SELECT mailbox_id, status, attempts, lease_owner FROM sync_runs",
    ))
    .await
    .unwrap()
    .into_iter()
    .map(|r| {
        let mailbox: uuid::Uuid = r.try_get("", "mailbox_id").unwrap();
        (
            mailbox.to_string(),
            r.try_get("", "status").unwrap(),
            r.try_get("", "attempts").unwrap(),
            r.try_get("", "lease_owner").unwrap(),
        )
    })
    .collect()
}

#[tokio::test]
async fn an_expired_lease_is_taken_over_by_another_worker_and_the_run_finishes() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let mailbox = app
        .connect_mailbox(&alice, &sim, "alice@example.com", "alice-pw-S3cret")
        .await;
    let r = app
        .send(
            Method::POST,
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync/runs"),
            Some(&alice),
            None,
            &[],
        )
        .await;
    let id: uuid::Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    // Exchange hangs, so worker A is mid-run when it dies.
    sim.add_fault(FaultRule {
        when: Default::default(),
        id: 0,
        operation: None,
        mailbox: None,
        count: None,
        fault: FaultKind::Delay { delay_ms: 60_000 },
    });
    let clock = ManualClock::new(Utc::now());
    let lease = Duration::seconds(5);
    let a = app.worker("worker-a", Arc::new(clock.clone()), lease);
    let b = app.worker("worker-b", Arc::new(clock.clone()), lease);
    let crashed = tokio::spawn(async move { a.try_execute_one().await });
    eventually(10, "worker A to claim the run", || async {
        app.store.run_by_id(id).await.unwrap().status == RunStatus::Running
    })
    .await;
    assert!(
        matches!(b.try_execute_one().await.unwrap(), Outcome::Idle),
        "a live lease is not taken"
    );
    // A dies without a word: no finish, no release, no more heartbeats.
    crashed.abort();
    let _ = crashed.await;
    sim.clear_faults();
    clock.advance(lease + Duration::seconds(1));

    match b.try_execute_one().await.unwrap() {
        Outcome::Finished { run, takeover } => {
            assert!(takeover);
            assert_eq!(run.id, id);
            assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
        }
        other => panic!("expected a takeover, got {other:?}"),
    }
    let rows = run_rows(&app).await;
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].2, 2, "two attempts: A's and B's");
    assert_eq!(rows[0].3.as_deref(), Some("worker-b"));
    // A late finish by the dead worker changes nothing.
    let report = contactsync::domain::run::RunReport {
        status: RunStatus::Failed,
        counts: Default::default(),
        error: Some("late".into()),
    };
    assert!(
        app.store
            .finish_run(id, "worker-a", &report, Utc::now())
            .await
            .unwrap()
            .is_none()
    );
    let metrics = app.send(Method::GET, "/metrics", None, None, &[]).await;
    assert!(
        metrics
            .text
            .contains("contactsync_sync_lease_takeovers_total"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn a_released_lease_is_resumed_by_the_next_claim() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let mailbox = app
        .connect_mailbox(&alice, &sim, "alice@example.com", "alice-pw-S3cret")
        .await;
    app.send(
        Method::POST,
        &format!("/api/v1/mailboxes/{mailbox}/contact-sync/runs"),
        Some(&alice),
        None,
        &[],
    )
    .await;
    let lease = Duration::seconds(30);
    let first = app
        .store
        .claim_run("w0", lease, Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert!(!first.takeover && !first.resumed);
    let run_id = first.request.run_id;
    assert!(
        app.store
            .heartbeat(run_id, "w0", lease, Utc::now())
            .await
            .unwrap()
    );
    assert!(
        !app.store
            .heartbeat(run_id, "intruder", lease, Utc::now())
            .await
            .unwrap(),
        "only the holder renews a lease"
    );
    let counts = contactsync::domain::run::RunCounts {
        crm_created: 3,
        ..Default::default()
    };
    // What a worker does at shutdown: give the lease up with the counts so far.
    app.store
        .release_run(first.request.run_id, "w0", &counts, Utc::now())
        .await
        .unwrap();
    let worker = app.worker("w1", Arc::new(SystemClock), lease);
    match worker.try_execute_one().await.unwrap() {
        Outcome::Finished { run, takeover } => {
            assert!(!takeover, "a released lease is resumed, not taken over");
            assert_eq!(run.id, first.request.run_id);
            assert_eq!(run.status, RunStatus::Succeeded);
            assert_eq!(run.counts.crm_created, 3, "earlier counts are kept");
        }
        other => panic!("expected the run to resume, got {other:?}"),
    }
    assert_eq!(run_rows(&app).await[0].2, 2);
}

/// 50 mailboxes due at once, two worker processes on PostgreSQL (two pools in this
/// process on SQLite), each with its own scheduler: every mailbox gets exactly one run,
/// executed exactly once.
#[tokio::test]
async fn two_workers_on_one_database_execute_each_due_run_exactly_once() {
    const MAILBOXES: usize = 50;
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    sim.set_latency_ms(10);
    let alice = app.token("alice");
    for i in 0..MAILBOXES {
        let email = format!("user{i}@example.com");
        sim.add_mailbox(&email, "user-pw-S3cret");
        let id = app
            .connect_mailbox(&alice, &sim, &email, "user-pw-S3cret")
            .await;
        let r = app
            .put(
                &format!("/api/v1/mailboxes/{id}/contact-sync"),
                &alice,
                json!({"auto_sync": {"enabled": true, "interval_minutes": 60}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }

    let mut children = Vec::new();
    let mut pools = Vec::new();
    if app.on_postgres() {
        for _ in 0..2 {
            let child = std::process::Command::new(env!("CARGO_BIN_EXE_contactsync"))
                .arg("worker")
                .env_clear()
                .env("DATABASE_URL", app.database_url_for_processes())
                .env("CONTACTSYNC_DATA_DIR", &app.settings.data_dir)
                .env("CONTACTSYNC_EWS_ALLOWED_HOSTS", "127.0.0.1")
                .env("CONTACTSYNC_WORKERS", "2")
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("worker process starts");
            children.push(child);
        }
    } else {
        for _ in 0..2 {
            let config = PoolConfig {
                workers: 2,
                poll: std::time::Duration::from_millis(100),
                ..PoolConfig::default()
            };
            pools.push(Background::start_with(
                app.store.clone(),
                SecretBox::from_settings(&app.settings).unwrap(),
                &app.settings,
                RunEvents::default(),
                &config,
                Arc::new(SystemClock),
            ));
        }
    }
    let finished = || async {
        let rows = run_rows(&app).await;
        rows.len() >= MAILBOXES && rows.iter().all(|r| r.1 != "queued" && r.1 != "running")
    };
    eventually(90, "every due run to finish", finished).await;
    for mut c in children {
        c.kill().ok();
        c.wait().ok();
    }
    for p in pools {
        p.stop().await;
    }

    let rows = run_rows(&app).await;
    let mut mailboxes: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    mailboxes.sort();
    mailboxes.dedup();
    assert_eq!(rows.len(), MAILBOXES, "one run per mailbox");
    assert_eq!(mailboxes.len(), MAILBOXES);
    assert!(rows.iter().all(|r| r.1 == "succeeded"), "{rows:?}");
    assert!(
        rows.iter().all(|r| r.2 == 1),
        "each run claimed once: {rows:?}"
    );
    let mut per_worker = std::collections::BTreeMap::<String, usize>::new();
    for r in &rows {
        *per_worker
            .entry(r.3.clone().unwrap_or_default())
            .or_default() += 1;
    }
    eprintln!("runs per worker: {per_worker:?}");
}
