//! Many mailboxes on the scheduler: every mailbox imports, syncs automatically every 5
//! minutes, and its Outlook user changes 20 contacts per interval (16 edits, 2 new, 2
//! deleted). One owner holds a tenth of the mailboxes (at most 500), the others one
//! each. Reports, per interval: runs, how late they started against their due time, run
//! cost of the big owner against the others, EWS round trips, the most EWS requests in
//! flight at once (the per-host cap), the service's memory and the database's size, and
//! the CPU time a run costs the service and the simulator (what the two cores can
//! afford, whatever the load average). After each interval it purges the run history
//! past the newest `SYNC_BENCH_KEEP_RUNS` (1) runs a mailbox, as the service's hourly
//! purge does past `run_retention_runs`, so that the size shows whether it holds steady.
use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use contactsync::domain::profile::ContactSyncProfile;
use contactsync::store::RunRetention;
use sea_orm::{ConnectionTrait, Statement};

use crate::Row;
use crate::procs::{Data, Service, Sim, cpu_seconds, db_bytes, rss_mib, sim_contact};

const INTERVAL_MINUTES: u32 = 5;
const CONTACTS_EACH: usize = 20;
const BIG_OWNER: &str = "service-user";
/// The per-host cap on EWS requests in flight.
const CAP: usize = ews::client::DEFAULT_MAX_CONCURRENCY_PER_HOST;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct RunRow {
    mailbox: String,
    owner: String,
    started: DateTime<Utc>,
    finished: Option<DateTime<Utc>>,
    status: String,
}

async fn runs(data: &Data) -> Vec<RunRow> {
    let db = data.store.connection();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT mailbox_id, owner_id, started_at, finished_at, status FROM sync_runs \
             WHERE started_at IS NOT NULL ORDER BY started_at",
        ))
        .await
        .expect("runs");
    rows.iter()
        .map(|r| RunRow {
            mailbox: r
                .try_get::<uuid::Uuid>("", "mailbox_id")
                .expect("mailbox")
                .to_string(),
            owner: r.try_get("", "owner_id").expect("owner"),
            started: r.try_get("", "started_at").expect("started"),
            finished: r.try_get("", "finished_at").expect("finished"),
            status: r.try_get("", "status").expect("status"),
        })
        .collect()
}

/// What the database holds, to tell the contacts the churn adds (data) from run history.
async fn holdings(data: &Data) -> String {
    let db = data.store.connection();
    let count = async |sql: &str| {
        let row = db
            .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
            .await
            .expect("count")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("a count")
    };
    format!(
        "{} contacts ({} deleted), {} links, {} runs, {} run items",
        count("SELECT COUNT(*) FROM contacts").await,
        count("SELECT COUNT(*) FROM contacts WHERE deleted_at IS NOT NULL").await,
        count("SELECT COUNT(*) FROM contact_links").await,
        count("SELECT COUNT(*) FROM sync_runs").await,
        count("SELECT COUNT(*) FROM sync_run_items").await,
    )
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<f64>() / v.len() as f64
    }
}

/// Lateness of each run started in `[from, to)`: its start against its due time (the
/// mailbox's previous run's end plus the interval), and its duration, by owner class.
struct Window {
    runs: usize,
    failed: usize,
    lag: Vec<f64>,
    big_secs: Vec<f64>,
    other_secs: Vec<f64>,
}

fn window(all: &[RunRow], from: DateTime<Utc>, to: DateTime<Utc>) -> Window {
    let interval = chrono::Duration::minutes(i64::from(INTERVAL_MINUTES));
    let mut previous_end: HashMap<&str, DateTime<Utc>> = HashMap::new();
    let mut w = Window {
        runs: 0,
        failed: 0,
        lag: Vec::new(),
        big_secs: Vec::new(),
        other_secs: Vec::new(),
    };
    for r in all {
        if r.started >= from && r.started < to {
            w.runs += 1;
            if r.status != "succeeded" && r.finished.is_some() {
                w.failed += 1;
            }
            if let Some(prev) = previous_end.get(r.mailbox.as_str()) {
                let lag = (r.started - (*prev + interval)).num_milliseconds() as f64 / 1000.0;
                w.lag.push(lag.max(0.0));
            }
            if let Some(end) = r.finished {
                let secs = (end - r.started).num_milliseconds() as f64 / 1000.0;
                if r.owner == BIG_OWNER {
                    w.big_secs.push(secs);
                } else {
                    w.other_secs.push(secs);
                }
            }
        }
        if let Some(end) = r.finished {
            previous_end.insert(r.mailbox.as_str(), end);
        }
    }
    w.lag.sort_by(f64::total_cmp);
    w
}

pub async fn run() -> Vec<Row> {
    let n = env("SYNC_BENCH_MAILBOXES", 5000);
    let intervals = env("SYNC_BENCH_INTERVALS", 3);
    let keep = env("SYNC_BENCH_KEEP_RUNS", 1) as u32;
    let big = (n / 10).min(500);
    let sim = Sim::start().await;
    let data = Data::new().await;
    let mut profile = ContactSyncProfile::default();
    profile.import.enabled = true;
    profile.auto_sync.enabled = true;
    profile.auto_sync.interval_minutes = INTERVAL_MINUTES;
    let setup = Instant::now();
    for i in 0..n {
        let email = format!("m{i}@many.test");
        let tag = format!("m{i}");
        sim.add_mailbox(&email).await;
        sim.seed(
            &email,
            (0..CONTACTS_EACH).map(|k| sim_contact(&tag, k)).collect(),
        )
        .await;
        let owner = if i < big {
            BIG_OWNER.to_owned()
        } else {
            format!("user{i}")
        };
        data.mailbox(&sim, &owner, &email, profile.clone()).await;
    }
    eprintln!(
        "many: {n} mailboxes ({big} of one owner) set up in {:.0} s",
        setup.elapsed().as_secs_f64()
    );
    let db_before = db_bytes(&data.db_file()) as f64 / 1048576.0;
    sim.set_latency(20).await;
    sim.clear_stats().await;
    let service = Service::start(&data, crate::workers()).await;
    let cpu = |service: &Service| (cpu_seconds(service.pid()), cpu_seconds(sim.pid()));
    let cpu_note = |before: (f64, f64), after: (f64, f64), runs: usize| {
        let per_run = |a: f64, b: f64| (b - a) * 1000.0 / runs.max(1) as f64;
        format!(
            "CPU per run: service {:.1} ms, simulator {:.1} ms",
            per_run(before.0, after.0),
            per_run(before.1, after.1)
        )
    };
    let cpu_start = cpu(&service);
    let started = Utc::now();
    let clock = Instant::now();
    let mut rows = Vec::new();
    // The first pass: every mailbox is due at once and imports its contacts.
    loop {
        tokio::time::sleep(Duration::from_secs(5)).await;
        let all = runs(&data).await;
        let done = all.iter().filter(|r| r.finished.is_some()).count();
        if done >= n {
            break;
        }
        if clock.elapsed() > Duration::from_secs(30 * 60) {
            eprintln!("many: first pass incomplete after 30 minutes ({done}/{n})");
            break;
        }
    }
    let first_pass = clock.elapsed().as_secs_f64();
    let stats = sim.stats().await;
    let (peak, rss) = rss_mib(service.pid());
    let w = window(
        &runs(&data).await,
        started,
        Utc::now() + chrono::Duration::hours(1),
    );
    let row = Row {
        scenario: format!("{n} mailboxes: first pass (all due)"),
        contacts: n * CONTACTS_EACH,
        latency_ms: 20,
        round_trips: Some(stats.requests),
        seconds: Some(first_pass),
        items: (n * CONTACTS_EACH) as u64,
        peak_rss_mib: Some(peak),
        note: format!(
            "{} runs ({} failed), {:.0} runs/min; run mean {:.2} s (big owner) / {:.2} s (others); {} EWS requests in flight at most (cap {CAP}); {}; RSS {rss:.0} MiB, DB {db_before:.0} MiB before, {:.0} MiB after",
            w.runs,
            w.failed,
            w.runs as f64 / first_pass * 60.0,
            mean(&w.big_secs),
            mean(&w.other_secs),
            stats.max_in_flight,
            cpu_note(cpu_start, cpu(&service), w.runs),
            db_bytes(&data.db_file()) as f64 / 1048576.0
        ),
    };
    row.print();
    rows.push(row);
    for k in 1..=intervals {
        sim.clear_stats().await;
        let from = Utc::now();
        let cpu_from = cpu(&service);
        let t = Instant::now();
        sim.churn(16, 2, 2).await;
        tokio::time::sleep(Duration::from_secs(u64::from(INTERVAL_MINUTES) * 60)).await;
        let to = Utc::now();
        let stats = sim.stats().await;
        let (peak, rss) = rss_mib(service.pid());
        let w = window(&runs(&data).await, from, to);
        let cpu_to = cpu(&service);
        let held = holdings(&data).await;
        // The service's own purge, run here at each interval rather than hourly, with a
        // history of `keep` runs a mailbox: the database must stop growing once each
        // mailbox holds that many (freed pages are reused).
        let purge = Instant::now();
        let purged = data
            .store
            .purge_run_history(RunRetention {
                cutoff: Utc::now() - chrono::Duration::days(30),
                runs_per_mailbox: keep,
            })
            .await
            .expect("run history purged");
        let purge_secs = purge.elapsed().as_secs_f64();
        let row = Row {
            scenario: format!("{n} mailboxes: interval {k}"),
            contacts: n * CONTACTS_EACH,
            latency_ms: 20,
            round_trips: Some(stats.requests),
            seconds: Some(t.elapsed().as_secs_f64()),
            items: (n * 20) as u64,
            peak_rss_mib: Some(peak),
            note: format!(
                "{} runs ({} failed), {:.0} runs/min; late by p50 {:.1} s, p99 {:.1} s, max {:.1} s; run mean {:.2} s (big owner) / {:.2} s (others); {} in flight at most (cap {CAP}); {}; RSS {rss:.0} MiB, DB {:.0} MiB holding {held}; then {purged} runs past the newest {keep} a mailbox purged in {purge_secs:.1} s",
                w.runs,
                w.failed,
                w.runs as f64 / (to - from).num_milliseconds().max(1) as f64 * 60_000.0,
                percentile(&w.lag, 0.5),
                percentile(&w.lag, 0.99),
                w.lag.last().copied().unwrap_or(0.0),
                mean(&w.big_secs),
                mean(&w.other_secs),
                stats.max_in_flight,
                cpu_note(cpu_from, cpu_to, w.runs),
                db_bytes(&data.db_file()) as f64 / 1048576.0
            ),
        };
        row.print();
        rows.push(row);
    }
    service.stop();
    rows
}
