//! The fault matrix: a two-way run with edits on both sides meets one injected fault of
//! the simulator (before or after the operation executes). Each case asserts the faulted
//! run's outcome and the retries the client made, then runs again until clean and checks
//! that nothing was lost or duplicated on either side.
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use contactsync::domain::run::{RunMode, RunStatus};
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_sim};
use crate::sync_support::{ALICE, Proto, World, person};

/// What the faulted run must show.
struct Expect {
    /// Its status.
    status: RunStatus,
    /// Requests the simulator answered with the fault (each a failed attempt).
    faults_hit: usize,
    /// Attempts of the faulted operation in the faulted run, at least.
    attempts_at_least: usize,
}

/// A world on a simulator with a short EWS request timeout, both directions on, linked
/// pairs on both sides, then edits on both sides waiting for the next run.
async fn edited_world() -> (World, Vec<String>) {
    edited_world_with(TestApp::spawn_with(|s| s.ews_request_timeout_seconds = 2).await).await
}

async fn edited_world_with(app: TestApp) -> (World, Vec<String>) {
    let sim = spawn_sim().await;
    let token = app.token("alice");
    let m = app
        .create(
            "/api/v1/mailboxes",
            &token,
            json!({"email": ALICE, "ews_url": sim.ews_url(),
                   "auth": {"kind": "basic", "username": ALICE, "password": "alice-pw-S3cret"}}),
        )
        .await;
    let w = World {
        mailbox: m["id"].as_str().unwrap().parse().unwrap(),
        app,
        sim,
        token,
        proto: Proto::Ews,
    };
    w.profile(
        json!({"import": {"enabled": true}, "export": {"enabled": true},
                     "match_existing": "none"}),
    )
    .await;
    let seeded = w.seed(
        "contacts",
        (0..6)
            .map(|i| person("Ex", &format!("Base{i}"), &format!("ex{i}@x.test"), None))
            .collect(),
    );
    for i in 0..6 {
        w.create_crm(
            json!({"full_name": format!("Crm Base{i}"), "email1": format!("crm{i}@x.test")}),
        )
        .await;
    }
    w.sync().await;
    // Edits waiting for the faulted run: new and changed on both sides.
    for i in 0..3 {
        w.create_crm(
            json!({"full_name": format!("Crm New{i}"), "email1": format!("crmnew{i}@x.test")}),
        )
        .await;
    }
    let crm = w.crm_contacts().await;
    for c in crm.iter().filter(|c| {
        ["Crm Base0", "Crm Base1"].contains(&c["full_name"].as_str().unwrap_or_default())
    }) {
        let r = w
            .app
            .patch(
                &format!("/api/v1/contacts/{}", c["id"].as_str().unwrap()),
                &w.token,
                json!({"job_title": format!("crm edit of {}", c["full_name"].as_str().unwrap())}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
    }
    w.seed(
        "contacts",
        (0..3)
            .map(|i| person("Ex", &format!("New{i}"), &format!("exnew{i}@x.test"), None))
            .collect(),
    );
    for id in &seeded[..2] {
        w.edit(id, json!({"job_title": format!("ex edit of {id}")}));
    }
    (w, seeded)
}

/// Every contact's display name on each side, checked for duplicates; both sides hold the
/// same 18 people and every edit.
async fn assert_nothing_lost_or_duplicated(w: &World, seeded: &[String]) {
    let crm = w.crm_contacts().await;
    let live: Vec<&Value> = crm.iter().filter(|c| c["deleted_at"].is_null()).collect();
    let names: Vec<String> = live
        .iter()
        .map(|c| c["full_name"].as_str().unwrap_or_default().to_owned())
        .collect();
    let unique: HashSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "a CRM duplicate: {names:?}");
    assert_eq!(names.len(), 18, "CRM: {names:?}");
    let items = w.exchange("contacts");
    let ex_names: Vec<String> = items
        .iter()
        .map(|i| i.data.display_name.clone().unwrap_or_default())
        .collect();
    let unique: HashSet<&String> = ex_names.iter().collect();
    assert_eq!(
        unique.len(),
        ex_names.len(),
        "an Exchange duplicate: {ex_names:?}"
    );
    assert_eq!(ex_names.len(), 18, "Exchange: {ex_names:?}");
    for c in &live {
        let name = c["full_name"].as_str().unwrap_or_default();
        if name == "Crm Base0" || name == "Crm Base1" {
            assert_eq!(
                c["job_title"],
                format!("crm edit of {name}"),
                "CRM edit kept"
            );
            let item = items
                .iter()
                .find(|i| i.data.display_name.as_deref() == Some(name))
                .expect("exported");
            assert_eq!(
                item.data.job_title.as_deref(),
                Some(format!("crm edit of {name}").as_str()),
                "CRM edit reached Exchange"
            );
        }
    }
    for id in &seeded[..2] {
        let item = w
            .sim
            .contact(ALICE, id)
            .expect("the edited item is still there");
        let title = format!("ex edit of {id}");
        assert_eq!(item.data.job_title.as_deref(), Some(title.as_str()));
        assert!(
            live.iter().any(|c| c["job_title"] == title.as_str()),
            "Exchange edit {title} reached the CRM"
        );
    }
}

/// Runs one case: the fault rules, the operation they hit, and what the faulted run shows.
async fn case(name: &str, operation: &str, rules: Vec<Value>, expect: Expect) {
    let (w, seeded) = edited_world().await;
    w.sim.clear_requests();
    for r in rules {
        w.sim.add_fault(serde_json::from_value(r).unwrap());
    }
    let (report, items) = w.run_with(RunMode::TwoWay, false, false).await;
    // A request the client gave up on is logged when the simulator finishes it.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let log = w.sim.requests();
    let hit = log
        .iter()
        .filter(|r| r.outcome.starts_with("fault:"))
        .count();
    let attempts = log.iter().filter(|r| r.operation == operation).count();
    println!(
        "fault matrix [{name}]: run {:?}, {hit} fault(s) answered, {attempts} {operation} request(s), error {:?}",
        report.status, report.error
    );
    assert_eq!(
        report.status, expect.status,
        "[{name}] {report:?} {items:#?}"
    );
    assert_eq!(hit, expect.faults_hit, "[{name}] {log:#?}");
    assert!(
        attempts >= expect.attempts_at_least,
        "[{name}] {attempts} attempts of {operation}: {log:#?}"
    );
    w.sim.clear_faults();
    // Heal: the next runs finish the work and then write nothing.
    let mut healed = false;
    for _ in 0..3 {
        let (r, _) = w.run_with(RunMode::TwoWay, false, false).await;
        if r.status == RunStatus::Succeeded && r.counts.writes() == 0 {
            healed = true;
            break;
        }
    }
    assert!(healed, "[{name}] the runs after the fault converge");
    assert_nothing_lost_or_duplicated(&w, &seeded).await;
}

fn ok(faults_hit: usize, attempts_at_least: usize) -> Expect {
    Expect {
        status: RunStatus::Succeeded,
        faults_hit,
        attempts_at_least,
    }
}

#[tokio::test]
async fn server_busy_fault_is_retried_after_its_back_off() {
    let (w, seeded) = edited_world().await;
    w.sim.clear_requests();
    w.sim.add_fault(
        serde_json::from_value(
            json!({"operation": "GetItem", "kind": "server_busy", "back_off_ms": 700, "count": 1}),
        )
        .unwrap(),
    );
    let (report, _) = w.run_with(RunMode::TwoWay, false, false).await;
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    let log = w.sim.requests();
    let busy = log
        .iter()
        .position(|r| r.outcome == "fault:server_busy")
        .expect("the fault was answered");
    let retry = log[busy + 1..]
        .iter()
        .find(|r| r.operation == "GetItem")
        .expect("GetItem retried");
    let waited = retry.at_ms - log[busy].at_ms - log[busy].duration_ms as i64;
    println!(
        "fault matrix [server_busy fault]: retried after {waited} ms (BackOffMilliseconds 700)"
    );
    assert!(waited >= 650, "the back-off was honoured: {waited} ms");
    w.sync().await;
    assert_nothing_lost_or_duplicated(&w, &seeded).await;
}

#[tokio::test]
async fn server_busy_per_item_fails_that_item_and_the_next_run_heals() {
    let (w, seeded) = edited_world().await;
    w.sim.clear_requests();
    // The first item written by UpdateItem is throttled, once.
    let ids: Vec<String> = w.exchange("contacts").into_iter().map(|i| i.id).collect();
    w.sim.add_fault(
        serde_json::from_value(json!({"operation": "UpdateItem", "kind": "item_error",
            "item_ids": ids, "code": "ErrorServerBusy", "count": 1}))
        .unwrap(),
    );
    let (report, items) = w.run_with(RunMode::TwoWay, false, false).await;
    let throttled = w
        .sim
        .requests()
        .iter()
        .filter(|r| r.operation == "UpdateItem" && r.outcome == "ErrorServerBusy")
        .count();
    println!(
        "fault matrix [ErrorServerBusy per item]: {:?}, {throttled} throttled answer(s)",
        report.status
    );
    assert_eq!(throttled, 1, "the per-item fault was answered");
    // Alone in its batch, the whole call is throttled and retried after the back-off;
    // beside others, that item fails and waits for the next run.
    match report.status {
        RunStatus::Succeeded => assert_eq!(report.counts.failed, 0),
        RunStatus::PartiallyFailed => {
            assert_eq!(report.counts.failed, 1, "{report:?}");
            assert!(
                items
                    .iter()
                    .any(|i| i.code.as_deref() == Some("ErrorServerBusy")),
                "{items:#?}"
            );
        }
        other => panic!("{other:?}: {report:?}"),
    }
    w.sync().await;
    w.assert_converged().await;
    assert_nothing_lost_or_duplicated(&w, &seeded).await;
}

#[tokio::test]
async fn http_500_burst_is_retried() {
    case(
        "http500 x2 on SyncFolderItems",
        "SyncFolderItems",
        vec![json!({"operation": "SyncFolderItems", "kind": "http500", "count": 2})],
        ok(2, 3),
    )
    .await;
}

#[tokio::test]
async fn http_503_is_throttling_and_retried() {
    case(
        "http503 on GetItem",
        "GetItem",
        vec![json!({"operation": "GetItem", "kind": "http503", "count": 1})],
        ok(1, 2),
    )
    .await;
}

#[tokio::test]
async fn a_timeout_before_execution_is_retried() {
    case(
        "timeout before GetItem",
        "GetItem",
        vec![json!({"operation": "GetItem", "kind": "delay", "delay_ms": 3000, "count": 1})],
        // A delay is not an answer: the timed-out request is logged as a disconnect.
        ok(0, 2),
    )
    .await;
}

#[tokio::test]
async fn a_connection_reset_before_execution_is_retried() {
    case(
        "reset before CreateItem",
        "CreateItem",
        vec![json!({"operation": "CreateItem", "kind": "connection_reset", "count": 1})],
        // A create that may have run is not retried in the call: the run records the
        // failure and the next run writes it.
        Expect {
            status: RunStatus::PartiallyFailed,
            faults_hit: 1,
            attempts_at_least: 1,
        },
    )
    .await;
}

#[tokio::test]
async fn a_create_executed_whose_answer_is_lost_is_not_duplicated() {
    case(
        "reset after CreateItem",
        "CreateItem",
        vec![json!({"operation": "CreateItem", "kind": "connection_reset", "when": "after", "count": 1})],
        Expect {
            status: RunStatus::PartiallyFailed,
            faults_hit: 1,
            attempts_at_least: 1,
        },
    )
    .await;
}

#[tokio::test]
async fn a_create_executed_whose_answer_times_out_is_not_duplicated() {
    case(
        "timeout after CreateItem",
        "CreateItem",
        vec![json!({"operation": "CreateItem", "kind": "delay", "delay_ms": 3000, "when": "after", "count": 1})],
        Expect {
            status: RunStatus::PartiallyFailed,
            faults_hit: 0,
            attempts_at_least: 1,
        },
    )
    .await;
}

#[tokio::test]
async fn an_update_executed_whose_answer_is_lost_is_replayed_safely() {
    case(
        "reset after UpdateItem",
        "UpdateItem",
        vec![json!({"operation": "UpdateItem", "kind": "connection_reset", "when": "after", "count": 1})],
        // The first UpdateItem stamps the imported items (beside the run). Its replay
        // meets the ChangeKey its first delivery changed: the stamps are there, so
        // nothing fails; the links take the items' ChangeKeys when their echoes are
        // read, and the next run writes nothing.
        Expect {
            status: RunStatus::Succeeded,
            faults_hit: 1,
            attempts_at_least: 2,
        },
    )
    .await;
}

#[tokio::test]
async fn malformed_and_truncated_xml_is_retried() {
    case(
        "truncated XML on GetItem",
        "GetItem",
        vec![json!({"operation": "GetItem", "kind": "malformed_xml", "count": 1})],
        ok(1, 2),
    )
    .await;
}

#[tokio::test]
async fn garbled_answer_after_an_update_executed_is_replayed_safely() {
    case(
        "truncated XML after UpdateItem",
        "UpdateItem",
        vec![json!({"operation": "UpdateItem", "kind": "malformed_xml", "when": "after", "count": 1})],
        // The first UpdateItem stamps the imported items (beside the run). Its replay
        // meets the ChangeKey its first delivery changed: the stamps are there, so
        // nothing fails; the links take the items' ChangeKeys when their echoes are
        // read, and the next run writes nothing.
        Expect {
            status: RunStatus::Succeeded,
            faults_hit: 1,
            attempts_at_least: 2,
        },
    )
    .await;
}

#[tokio::test]
async fn invalid_sync_state_restarts_the_folder() {
    case(
        "invalid sync state",
        "SyncFolderItems",
        vec![json!({"operation": "SyncFolderItems", "kind": "invalid_sync_state", "count": 1})],
        ok(0, 2),
    )
    .await;
}

#[tokio::test]
async fn unauthorized_mid_run_stops_the_run_and_the_next_run_heals() {
    let (w, seeded) = edited_world().await;
    w.sim.clear_requests();
    w.sim.add_fault(
        serde_json::from_value(json!({"operation": "GetItem", "kind": "unauthorized", "count": 1}))
            .unwrap(),
    );
    let (report, items) = w.run_with(RunMode::TwoWay, false, false).await;
    println!(
        "fault matrix [401 mid-run]: {:?} {:?}",
        report.status, report.error
    );
    assert_ne!(report.status, RunStatus::Succeeded, "{report:?} {items:#?}");
    let log = w.sim.requests();
    let hits = log
        .iter()
        .filter(|r| r.outcome == "fault:unauthorized")
        .count();
    assert_eq!(hits, 1, "a 401 is not retried in the call");
    w.sim.clear_faults();
    w.sync().await;
    w.assert_converged().await;
    assert_nothing_lost_or_duplicated(&w, &seeded).await;
}

/// A TCP proxy to PostgreSQL that the test cuts: open connections are dropped and new ones
/// refused (its port closed), as when the database restarts, until it is restored.
struct DbProxy {
    addr: std::net::SocketAddr,
    upstream: std::net::SocketAddr,
    open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    listener: Option<tokio::task::JoinHandle<()>>,
}

impl DbProxy {
    async fn start(upstream: std::net::SocketAddr) -> DbProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut proxy = DbProxy {
            addr: listener.local_addr().unwrap(),
            upstream,
            open: Arc::default(),
            listener: None,
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (upstream, open) = (self.upstream, self.open.clone());
        self.listener = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let task = tokio::spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
                open.lock().unwrap().push(task.abort_handle());
            }
        }));
    }

    /// The database goes away: every connection through the proxy is dropped, and its
    /// port refuses new ones.
    fn cut(&mut self) {
        if let Some(l) = self.listener.take() {
            l.abort();
        }
        for c in self.open.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    /// The database is back on the same address.
    async fn restore(&mut self) {
        // Tokio listeners set SO_REUSEADDR: the port is bound again at once.
        let listener = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test]
async fn the_database_unavailable_for_seconds_mid_run_is_waited_for() {
    let Some(pg) = crate::support::postgres_url() else {
        println!(
            "skipped on SQLite: the database is a file inside the process, there is no connection to cut"
        );
        return;
    };
    const OUTAGE: Duration = Duration::from_secs(3);
    let (w, seeded) = edited_world_with(TestApp::spawn().await).await;
    // The engine's store reaches PostgreSQL through the proxy.
    let direct = url::Url::parse(&w.app.database_url_for_processes()).unwrap();
    let upstream = tokio::net::lookup_host((
        direct.host_str().unwrap().to_owned(),
        direct.port().unwrap_or(5432),
    ))
    .await
    .unwrap()
    .next()
    .unwrap();
    let mut proxy = DbProxy::start(upstream).await;
    let mut via_proxy = direct.clone();
    via_proxy.set_host(Some("127.0.0.1")).unwrap();
    via_proxy.set_port(Some(proxy.addr.port())).unwrap();
    let store = contactsync::store::Store::connect(via_proxy.as_str(), None)
        .await
        .expect("PostgreSQL through the proxy");
    assert!(pg.starts_with("postgres"));

    // The first CreateItem is held by Exchange: the database goes away while the run waits
    // on it (after the chunk's CRM writes, before its links), and is still away when the
    // answer comes and the run needs it for the links.
    w.sim.clear_requests();
    w.sim.add_fault(
        serde_json::from_value(
            json!({"operation": "CreateItem", "kind": "delay", "delay_ms": 1000, "count": 1}),
        )
        .unwrap(),
    );
    let ctx = contactsync::worker::EngineContext {
        store,
        secrets: contactsync::crypto::SecretBox::from_settings(&w.app.settings).unwrap(),
        allowed_hosts: w.app.settings.ews_allowed_hosts.clone(),
        limits: contactsync::sync::limits::RunLimits::from_settings(&w.app.settings),
    };
    let req = contactsync::domain::run::RunRequest {
        run_id: uuid::Uuid::now_v7(),
        mailbox_id: w.mailbox,
        mode: RunMode::TwoWay,
        dry_run: false,
        full: false,
    };
    let started = std::time::Instant::now();
    let run = tokio::spawn(async move {
        let sink = crate::sync_support::Collect::default();
        contactsync::worker::run_mailbox(&ctx, &req, &sink).await
    });
    let faults_url = format!("{}/_sim/faults", w.sim.control_url());
    crate::support::eventually(30, "the held CreateItem to arrive", || async {
        let rules: Vec<Value> = reqwest::get(&faults_url)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        rules.is_empty()
    })
    .await;
    proxy.cut();
    let cut_at = started.elapsed();
    tokio::time::sleep(OUTAGE).await;
    proxy.restore().await;
    let report = run.await.unwrap();
    println!(
        "fault matrix [database unavailable {OUTAGE:?}, {cut_at:?} into the run]: run {:?} in {:?}, error {:?}",
        report.status,
        started.elapsed(),
        report.error
    );
    // The pool drops the broken connections and, while the port refuses, tries again
    // until the database answers (within its acquire timeout): the run waits, then goes
    // on and finishes.
    assert_eq!(report.status, RunStatus::Succeeded, "{report:?}");
    assert!(
        started.elapsed() >= cut_at + OUTAGE,
        "the run waited for the database"
    );
    w.sim.clear_faults();
    w.assert_converged().await;
    assert_nothing_lost_or_duplicated(&w, &seeded).await;
}
