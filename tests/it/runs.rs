//! Sync runs through the API: "Synchronize now", one active run per mailbox,
//! idempotency, cancel, all-mailbox sync, items and the event stream.
use std::sync::Arc;

use chrono::Duration;
use contactsync::domain::run::{ItemOutcome, OpKind, RunCounts, RunItem, RunReport, RunStatus};
use contactsync::store::RunRetention;
use contactsync::sync::engine::RunSink;
use contactsync::worker::Shutdown;
use contactsync::worker::clock::SystemClock;
use contactsync::worker::events::RunEvent;
use contactsync::worker::queue::Outcome;
use contactsync::worker::sink::{RunRecorder, StopReason};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{TestApp, eventually, parse_sse, spawn_sim};

const ALICE_PW: &str = "alice-pw-S3cret";

fn runs_path(mailbox: &str) -> String {
    format!("/api/v1/mailboxes/{mailbox}/contact-sync/runs")
}

async fn events_of(app: &TestApp, token: &str, run_id: &str) -> String {
    let res = app
        .http
        .get(format!(
            "{}/api/v1/contact-sync/runs/{run_id}/events",
            app.base
        ))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().unwrap(),
        "text/event-stream"
    );
    // The stream closes after `end`: reading to the end is the assertion that it does.
    res.text().await.unwrap()
}

#[tokio::test]
async fn sync_now_answers_202_and_the_event_stream_ends_with_the_final_state() {
    let app = TestApp::spawn_with(|s| s.workers = 1).await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let good = app
        .connect_mailbox(&alice, &sim, "alice@example.com", ALICE_PW)
        .await;
    let bad = app
        .connect_mailbox(&alice, &sim, "bob@example.com", "wrong-password")
        .await;

    let r = app
        .send(Method::POST, &runs_path(&good), Some(&alice), None, &[])
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/contact-sync/runs/{id}").as_str())
    );
    assert_eq!(r.body["mailbox_id"], good.as_str());
    assert_eq!(r.body["mode"], "two_way");
    assert_eq!(r.body["trigger"], "manual");
    assert_eq!(r.body["dry_run"], false);

    let events = parse_sse(&events_of(&app, &alice, &id).await);
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names.first(), Some(&"state"), "{names:?}");
    assert_eq!(names.last(), Some(&"end"), "{names:?}");
    let end = &events.last().unwrap().data;
    assert_eq!(end["id"], id.as_str());
    assert_eq!(end["status"], "succeeded", "{end}");
    assert!(end["finished_at"].is_string());
    let got = app
        .get(&format!("/api/v1/contact-sync/runs/{id}"), &alice)
        .await;
    assert_eq!(got.body, *end);

    // A run that cannot sign in fails as a whole, with the reason.
    let r = app
        .post(
            &runs_path(&bad),
            &alice,
            json!({"mode": "import_only", "dry_run": true}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    assert_eq!(r.body["mode"], "import_only");
    assert_eq!(r.body["dry_run"], true);
    let bad_id = r.body["id"].as_str().unwrap().to_owned();
    let events = parse_sse(&events_of(&app, &alice, &bad_id).await);
    let end = &events.last().unwrap();
    assert_eq!(end.event, "end");
    assert_eq!(end.data["status"], "failed");
    assert!(end.data["error"].as_str().is_some_and(|e| !e.is_empty()));

    // A client that connects after the end gets the state and the end at once.
    let late = parse_sse(&events_of(&app, &alice, &id).await);
    let names: Vec<&str> = late.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["state", "end"]);

    let metrics = app.send(Method::GET, "/metrics", None, None, &[]).await;
    assert!(
        metrics
            .text
            .contains("contactsync_sync_runs_total{outcome=\"succeeded\"}"),
        "{}",
        metrics.text
    );
    assert!(
        metrics
            .text
            .contains("contactsync_sync_runs_total{outcome=\"failed\"}")
    );
    let notes = app.get("/api/v1/notifications", &alice).await;
    let kinds: Vec<&str> = notes.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["run_failed"], "{}", notes.text);
}

#[tokio::test]
async fn one_active_run_per_mailbox_and_idempotency_keys_answer_the_same_run() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let mailbox = app
        .connect_mailbox(&alice, &sim, "alice@example.com", ALICE_PW)
        .await;
    let other = app
        .connect_mailbox(&alice, &sim, "bob@example.com", "bob-pw-S3cret")
        .await;
    let key = [("Idempotency-Key", "retry-7f3a")];

    let first = app
        .send(Method::POST, &runs_path(&mailbox), Some(&alice), None, &key)
        .await;
    assert_eq!(first.status, 202, "{}", first.text);
    let id = first.body["id"].as_str().unwrap();
    assert_eq!(first.body["status"], "queued");

    let retry = app
        .send(Method::POST, &runs_path(&mailbox), Some(&alice), None, &key)
        .await;
    assert_eq!(retry.status, 202, "{}", retry.text);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.header("idempotent-replayed"), Some("true"));

    let second = app
        .send(Method::POST, &runs_path(&mailbox), Some(&alice), None, &[])
        .await;
    let problem = second.assert_problem(409, "conflict");
    assert_eq!(problem["active_run_id"], id);
    assert_eq!(app.count_rows("sync_runs").await, 1);

    // The key belongs to the first run: reusing it for another mailbox is a conflict.
    let elsewhere = app
        .send(Method::POST, &runs_path(&other), Some(&alice), None, &key)
        .await;
    elsewhere.assert_problem(409, "conflict");
    let bad_key = app
        .send(
            Method::POST,
            &runs_path(&other),
            Some(&alice),
            None,
            &[("Idempotency-Key", "")],
        )
        .await;
    assert_eq!(bad_key.status, 422, "{}", bad_key.text);
    let bad_body = app
        .post(&runs_path(&other), &alice, json!({"mode": "sideways"}))
        .await;
    bad_body.assert_problem(400, "invalid_body");
    assert_eq!(bad_body.error_fields(), ["mode"]);
    assert_eq!(app.count_rows("sync_runs").await, 1);

    // Nobody else sees the mailbox or its runs.
    let bob = app.token("bob");
    app.send(Method::POST, &runs_path(&mailbox), Some(&bob), None, &[])
        .await
        .assert_problem(404, "not_found");
    app.get(&format!("/api/v1/contact-sync/runs/{id}"), &bob)
        .await
        .assert_problem(404, "not_found");
    let admin = app.admin_token("root");
    let seen = app
        .get(&format!("/api/v1/contact-sync/runs/{id}"), &admin)
        .await;
    assert_eq!(seen.status, 200);
}

#[tokio::test]
async fn cancel_stops_a_queued_run_at_once_and_a_running_one_at_its_next_batch() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let mailbox = app
        .connect_mailbox(&alice, &sim, "alice@example.com", ALICE_PW)
        .await;
    let queued = app
        .send(Method::POST, &runs_path(&mailbox), Some(&alice), None, &[])
        .await;
    let id = queued.body["id"].as_str().unwrap().to_owned();
    let cancel = format!("/api/v1/contact-sync/runs/{id}/cancel");
    let r = app.post(&cancel, &alice, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "cancelled");
    assert!(r.body["finished_at"].is_string());
    app.post(&cancel, &alice, json!({}))
        .await
        .assert_problem(409, "conflict");
    // No worker ever sees it.
    let worker = app.worker("w1", Arc::new(SystemClock), Duration::seconds(30));
    assert!(matches!(
        worker.try_execute_one().await.unwrap(),
        Outcome::Idle
    ));

    // The mailbox is free again; this run is claimed, then cancelled while it runs.
    let r = app
        .send(Method::POST, &runs_path(&mailbox), Some(&alice), None, &[])
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let claim = app
        .store
        .claim_run("w0", Duration::seconds(30), chrono::Utc::now())
        .await
        .unwrap()
        .expect("a queued run");
    let recorder = RunRecorder::new(
        app.store.clone(),
        app.events.clone(),
        &claim,
        "w0",
        Shutdown::default(),
    );
    assert!(!recorder.should_stop().await);
    let r = app
        .post(
            &format!("/api/v1/contact-sync/runs/{id}/cancel"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["status"], "running");
    assert_eq!(r.body["cancel_requested"], true);
    assert!(recorder.should_stop().await);
    assert_eq!(recorder.stop_reason(), Some(StopReason::Cancelled));
    let run = app
        .store
        .finish_run(
            claim.request.run_id,
            "w0",
            &RunReport {
                status: RunStatus::Cancelled,
                counts: RunCounts::default(),
                error: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .expect("w0 holds the lease");
    assert_eq!(run.status, RunStatus::Cancelled);
    let listed = app
        .list_all("/api/v1/contact-sync/runs?status=cancelled", &alice)
        .await;
    assert_eq!(listed.len(), 2);
}

#[tokio::test]
async fn sync_all_mailboxes_starts_one_run_per_mailbox_of_the_caller() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let a1 = app
        .connect_mailbox(&alice, &sim, "alice@example.com", ALICE_PW)
        .await;
    let a2 = app
        .connect_mailbox(&alice, &sim, "bob@example.com", "bob-pw-S3cret")
        .await;
    let b1 = app
        .connect_mailbox(&bob, &sim, "bob@example.com", "bob-pw-S3cret")
        .await;
    // a1 already has a run: it is answered, not duplicated.
    let earlier = app
        .send(Method::POST, &runs_path(&a1), Some(&alice), None, &[])
        .await;
    let all = app
        .send(
            Method::POST,
            "/api/v1/contact-sync/runs",
            Some(&alice),
            None,
            &[],
        )
        .await;
    assert_eq!(all.status, 202, "{}", all.text);
    let items = all.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let by_mailbox = |m: &str| -> &Value {
        items
            .iter()
            .find(|i| i["run"]["mailbox_id"] == m)
            .unwrap_or_else(|| panic!("no run for {m}"))
    };
    assert_eq!(by_mailbox(&a1)["created"], false);
    assert_eq!(by_mailbox(&a1)["run"]["id"], earlier.body["id"]);
    assert_eq!(by_mailbox(&a2)["created"], true);
    assert_eq!(by_mailbox(&a2)["run"]["status"], "queued");
    assert_eq!(app.count_rows("sync_runs").await, 2);

    let again = app
        .send(
            Method::POST,
            "/api/v1/contact-sync/runs",
            Some(&alice),
            None,
            &[],
        )
        .await;
    assert!(
        again.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["created"] == false)
    );
    assert_eq!(app.count_rows("sync_runs").await, 2);

    // Bob's mailbox was not touched; his listing shows nothing of Alice's.
    let bobs = app.list_all("/api/v1/contact-sync/runs", &bob).await;
    assert!(bobs.is_empty());
    let filtered = app
        .list_all(
            &format!("/api/v1/contact-sync/runs?mailbox_id={a2}"),
            &alice,
        )
        .await;
    assert_eq!(filtered.len(), 1);
    let page = app.get("/api/v1/contact-sync/runs?limit=1", &alice).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 1);
    assert!(page.body["next_cursor"].is_string());
    app.get("/api/v1/contact-sync/runs?status=sleeping", &alice)
        .await
        .assert_problem(400, "invalid_query");
    let status = app
        .get(&format!("/api/v1/mailboxes/{b1}/contact-sync/status"), &bob)
        .await;
    assert_eq!(status.status, 200, "{}", status.text);
    assert!(status.body["active_run"].is_null());
    assert_eq!(status.body["auto_sync_enabled"], false);
}

#[tokio::test]
async fn items_are_recorded_in_order_and_streamed_live() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let mailbox = app
        .connect_mailbox(&alice, &sim, "alice@example.com", ALICE_PW)
        .await;
    let r = app
        .send(Method::POST, &runs_path(&mailbox), Some(&alice), None, &[])
        .await;
    let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let claim = app
        .store
        .claim_run("w0", Duration::seconds(30), chrono::Utc::now())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.request.run_id, id);
    let stream = {
        let (http, base, token) = (app.http.clone(), app.base.clone(), alice.clone());
        tokio::spawn(async move {
            http.get(format!("{base}/api/v1/contact-sync/runs/{id}/events"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    eventually(10, "the event stream to subscribe", || async {
        app.events.subscribers(id) == 1
    })
    .await;

    // The engine's side of the contract, as the worker's sink receives it.
    let recorder = RunRecorder::new(
        app.store.clone(),
        app.events.clone(),
        &claim,
        "w0",
        Shutdown::default(),
    );
    let item = |op: OpKind, outcome: ItemOutcome| RunItem {
        seq: 0,
        op,
        outcome,
        crm_id: Some(Uuid::now_v7()),
        item_id: Some("AAMk-1".into()),
        code: (outcome == ItemOutcome::Failed).then(|| "ErrorItemNotFound".into()),
        message: None,
        before: Some(json!({"job_title": "Engineer"})),
        created_at: chrono::Utc::now(),
    };
    recorder
        .item(item(OpKind::CrmCreate, ItemOutcome::Applied))
        .await;
    recorder
        .item(item(OpKind::ExchangeUpdate, ItemOutcome::Failed))
        .await;
    recorder
        .item(item(OpKind::Link, ItemOutcome::Applied))
        .await;
    let counts = RunCounts {
        crm_created: 1,
        linked: 1,
        failed: 1,
        ..RunCounts::default()
    };
    recorder.progress(counts).await;
    // As the worker does before it finishes a run: the progress is written behind the
    // engine, and waited for here.
    recorder.flush().await.unwrap();
    let run = app
        .store
        .finish_run(
            id,
            "w0",
            &RunReport {
                status: RunStatus::PartiallyFailed,
                counts,
                error: None,
            },
            chrono::Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();
    app.events.publish(id, RunEvent::End(Box::new(run)));

    let events = parse_sse(&stream.await.unwrap());
    let names: Vec<&str> = events.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(names, ["state", "item", "item", "item", "progress", "end"]);
    assert_eq!(events[0].data["status"], "running");
    let seqs: Vec<i64> = events[1..4]
        .iter()
        .map(|e| e.data["seq"].as_i64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3]);
    assert_eq!(events[4].data["crm_created"], 1);
    assert_eq!(events[5].data["status"], "partially_failed");
    assert_eq!(events[5].data["counts"]["failed"], 1);

    let path = format!("/api/v1/contact-sync/runs/{id}/items");
    let all = app.list_all(&format!("{path}?limit=2"), &alice).await;
    let ops: Vec<&str> = all.iter().map(|i| i["op"].as_str().unwrap()).collect();
    assert_eq!(ops, ["crm_create", "exchange_update", "link"]);
    assert_eq!(all[0]["seq"], 1);
    assert_eq!(all[0]["before"], json!({"job_title": "Engineer"}));
    let failed = app
        .list_all(&format!("{path}?outcome=failed"), &alice)
        .await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["code"], "ErrorItemNotFound");
    app.get(&path, &app.token("bob"))
        .await
        .assert_problem(404, "not_found");
    let notes = app.list_all("/api/v1/notifications", &alice).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["kind"], "run_partially_failed");
    assert_eq!(notes[0]["run_id"], id.to_string());
}

/// SPEC §7b: on Exchange Online an export of 10k contacts takes at least 10 minutes (10,000
/// requests per 10 minutes for an app on a mailbox), and the run says so: in its record
/// and on its event stream.
#[tokio::test]
async fn a_graph_export_past_the_request_budget_says_how_long_it_takes_at_least() {
    use contactsync::domain::contact::ContactFields;
    use contactsync::store::sync_state::CrmWrite;

    use crate::sync_support::{Proto, World};

    let w = World::on(Proto::Graph).await;
    // One write more than the budget lets out at once.
    let writes: Vec<CrmWrite> = (0..10_001)
        .map(|i| {
            let mut f = ContactFields {
                given_name: format!("Crm{i}"),
                surname: format!("Person{i}"),
                email1: format!("crm{i}@export.test"),
                ..Default::default()
            };
            f.normalize();
            CrmWrite::Create(f)
        })
        .collect();
    for chunk in writes.chunks(2_000) {
        w.app
            .store
            .apply_crm_writes("alice", chunk.to_vec())
            .await
            .unwrap();
    }
    w.profile(json!({"export": {"enabled": true}})).await;
    let r = w
        .app
        .send(
            Method::POST,
            &runs_path(&w.mailbox.to_string()),
            Some(&w.token),
            None,
            &[],
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let id = r.body["id"].as_str().unwrap().to_owned();
    let claim = w
        .app
        .store
        .claim_run("w0", Duration::seconds(60), chrono::Utc::now())
        .await
        .unwrap()
        .expect("the queued run");
    let mut events = w.app.events.subscribe(claim.request.run_id);
    let recorder = RunRecorder::new(
        w.app.store.clone(),
        w.app.events.clone(),
        &claim,
        "w0",
        Shutdown::default(),
    );
    let ctx = w.app.engine();
    let running = tokio::spawn(async move {
        contactsync::worker::run_mailbox(&ctx, &claim.request, &recorder).await
    });
    let notice = tokio::time::timeout(std::time::Duration::from_secs(120), async {
        loop {
            match events.recv().await {
                Ok(RunEvent::Notice(n)) => return n,
                Ok(_) => {}
                Err(e) => panic!("the run's events: {e}"),
            }
        }
    })
    .await
    .expect("a notice before the writes");
    assert!(
        notice.contains("10000 requests per 10 minutes")
            && notice.contains("writing 10001 contacts")
            && notice.contains("at least 10 minutes"),
        "{notice}"
    );
    let run = w
        .app
        .get(&format!("/api/v1/contact-sync/runs/{id}"), &w.token)
        .await;
    assert_eq!(run.body["notice"], json!(notice));
    // Not waited out here: cancelled at its next batch.
    w.app
        .post(
            &format!("/api/v1/contact-sync/runs/{id}/cancel"),
            &w.token,
            json!({}),
        )
        .await;
    let report = running.await.unwrap();
    assert_eq!(report.status, RunStatus::Cancelled, "{report:?}");
}

/// Runs one queued run of `mailbox` with a worker whose clock shows `finished_at`, and
/// records one item for it; answers the run's id.
async fn finished_run_with_an_item(
    app: &TestApp,
    token: &str,
    mailbox: &str,
    finished_at: chrono::DateTime<chrono::Utc>,
) -> Uuid {
    let r = app.post(&runs_path(mailbox), token, json!({})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    let id: Uuid = r.body["id"].as_str().unwrap().parse().unwrap();
    let clock = contactsync::worker::clock::ManualClock::new(finished_at);
    let worker = app.worker("history", Arc::new(clock), Duration::seconds(30));
    assert!(matches!(
        worker.try_execute_one().await.unwrap(),
        Outcome::Finished { .. }
    ));
    let item = RunItem {
        seq: 1,
        op: OpKind::CrmUpdate,
        outcome: ItemOutcome::Applied,
        crm_id: Some(Uuid::now_v7()),
        item_id: Some("AAMk-history".into()),
        code: None,
        message: None,
        before: Some(json!({"given_name": "Before"})),
        created_at: finished_at,
    };
    app.store.append_run_items(id, &[item]).await.unwrap();
    id
}

#[tokio::test]
async fn finished_runs_and_their_items_are_purged_past_retention_but_each_mailboxs_last_run_stays()
{
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let a = app
        .connect_mailbox(&alice, &sim, "alice@example.com", ALICE_PW)
        .await;
    let b = app
        .connect_mailbox(&bob, &sim, "bob@example.com", "bob-pw-S3cret")
        .await;
    let now = chrono::Utc::now();
    let days = chrono::Duration::days;
    let a_oldest = finished_run_with_an_item(&app, &alice, &a, now - days(40)).await;
    let a_old = finished_run_with_an_item(&app, &alice, &a, now - days(35)).await;
    let a_recent = finished_run_with_an_item(&app, &alice, &a, now - days(1)).await;
    // Bob's only run is old, and it is his mailbox's last one.
    let b_last = finished_run_with_an_item(&app, &bob, &b, now - days(40)).await;
    assert_eq!(app.count_rows("sync_runs").await, 4);
    assert_eq!(app.count_rows("sync_run_items").await, 4);
    let keep = |runs_per_mailbox| RunRetention {
        cutoff: now - days(30),
        runs_per_mailbox,
    };

    let purged = app.store.purge_run_history(keep(1_000)).await.unwrap();

    assert_eq!(purged, 2, "alice's two runs past retention");
    for gone in [a_oldest, a_old] {
        let r = app
            .get(&format!("/api/v1/contact-sync/runs/{gone}"), &alice)
            .await;
        assert_eq!(r.status, 404, "{gone} purged");
    }
    for (kept, token) in [(a_recent, &alice), (b_last, &bob)] {
        let items = app
            .list_all(&format!("/api/v1/contact-sync/runs/{kept}/items"), token)
            .await;
        assert_eq!(items.len(), 1, "{kept} keeps its item");
        assert_eq!(items[0]["before"]["given_name"], "Before");
    }
    let status = app
        .get(&format!("/api/v1/mailboxes/{b}/contact-sync/status"), &bob)
        .await;
    assert_eq!(status.body["last_run"]["id"], b_last.to_string());
    assert_eq!(app.count_rows("sync_runs").await, 2);
    assert_eq!(app.count_rows("sync_run_items").await, 2);
    assert_eq!(
        app.store.purge_run_history(keep(1_000)).await.unwrap(),
        0,
        "nothing more to purge"
    );

    // A mailbox that runs often keeps its newest runs, however recent the older ones:
    // the oldest of three runs of the last hours goes by the count alone.
    let hours = chrono::Duration::hours;
    let b_two_hours_ago = finished_run_with_an_item(&app, &bob, &b, now - hours(2)).await;
    let b_hour_ago = finished_run_with_an_item(&app, &bob, &b, now - hours(1)).await;
    let b_now = finished_run_with_an_item(&app, &bob, &b, now).await;
    assert_eq!(app.store.purge_run_history(keep(2)).await.unwrap(), 2);
    for (gone, why) in [
        (
            b_last,
            "bob's old run, no longer his last, went by the days",
        ),
        (b_two_hours_ago, "bob's third newest run went by the count"),
    ] {
        let r = app
            .get(&format!("/api/v1/contact-sync/runs/{gone}"), &bob)
            .await;
        assert_eq!(r.status, 404, "{why}");
    }
    for (kept, token) in [(b_hour_ago, &bob), (b_now, &bob), (a_recent, &alice)] {
        let r = app
            .get(&format!("/api/v1/contact-sync/runs/{kept}"), token)
            .await;
        assert_eq!(r.status, 200, "{kept} is one of its mailbox's two newest");
    }

    // A queued run is never history, and the last finished run stays beside it.
    let queued = app.post(&runs_path(&a), &alice, json!({})).await;
    assert_eq!(queued.status, 202);
    assert_eq!(app.store.purge_run_history(keep(1)).await.unwrap(), 1);
    for (kept, token) in [(a_recent, &alice), (b_now, &bob)] {
        let r = app
            .get(&format!("/api/v1/contact-sync/runs/{kept}"), token)
            .await;
        assert_eq!(r.status, 200, "{kept} is its mailbox's last finished run");
    }
    let queued = &queued.body["id"].as_str().unwrap();
    let r = app
        .get(&format!("/api/v1/contact-sync/runs/{queued}"), &alice)
        .await;
    assert_eq!(r.status, 200, "the queued run stays");
    assert_eq!(app.count_rows("sync_runs").await, 3);
    assert_eq!(app.count_rows("sync_run_items").await, 2);
}
