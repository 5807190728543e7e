//! The performance table (README "Performance"): the simulator and the service each in
//! their own process, the service driven through its API like a client drives it.
//!
//!     cargo bench --bench sync                     every scenario (the 5,000 mailboxes
//!                                                  take about 15 minutes)
//!     cargo bench --bench sync -- import api       only some: import export scoped twoway api
//!                                                  many
//!     SYNC_BENCH_TRANSPORT=graph SYNC_BENCH_N=10000 cargo bench --bench sync -- import export
//!
//! `hey` (a Debian package) is the load generator of the API rows, `oha` (`cargo install
//! oha`) of the paced one. Environment:
//! `SYNC_BENCH_TRANSPORT=graph` connects the mailboxes over Microsoft Graph (the
//! 10-minute budget's pacing off, as SPEC §10 measures it; a round trip is one HTTP
//! request, a `$batch` of 20 is one); `SYNC_BENCH_N` sets the contacts of every scenario
//! (import then runs only that size, at 20 ms, or with no latency from 100k as in the
//! full table); `SYNC_BENCH_MAILBOXES` (5000) and `SYNC_BENCH_INTERVALS` (3) size the
//! many-mailbox scenario, `SYNC_BENCH_KEEP_RUNS` (1) the run history it keeps a mailbox; `SYNC_BENCH_WORKERS` overrides the service's worker count;
//! `SYNC_BENCH_DATABASE=postgres://user@host:port/name` runs the service on that
//! PostgreSQL database (created when missing, emptied before each scenario; the
//! database sizes of `many` are SQLite's only); `SYNC_BENCH_REQUEST_LOG=dir` writes the
//! simulator's request log of each measured run there, a file a scenario (arrival and
//! duration of each request: where a run's wall time goes).
mod many;
mod procs;

use std::time::Duration;

use contactsync::domain::contact::ContactFields;
use contactsync::domain::profile::ContactSyncProfile;
use contactsync::store::sync_state::CrmWrite;
use procs::{Data, RunResult, Service, Sim, cpu_seconds, rss_mib, sim_contact, transport};
use uuid::Uuid;

/// One row of the table.
pub struct Row {
    pub scenario: String,
    pub contacts: usize,
    pub latency_ms: u64,
    pub round_trips: Option<u64>,
    pub seconds: Option<f64>,
    pub items: u64,
    pub peak_rss_mib: Option<f64>,
    pub note: String,
}

impl Row {
    fn print_header() {
        println!(
            "| {:<34} | {:>8} | {:>7} | {:>11} | {:>9} | {:>8} | {:>8} | notes",
            "scenario", "contacts", "latency", "round trips", "wall time", "items/s", "peak RSS"
        );
        println!(
            "| {:-<34} | {:->8} | {:->7} | {:->11} | {:->9} | {:->8} | {:->8} | ---",
            "", "", "", "", "", "", ""
        );
    }

    pub fn print(&self) {
        let opt = |v: Option<String>| v.unwrap_or_else(|| "–".into());
        let rate = self
            .seconds
            .filter(|s| *s > 0.0 && self.items > 0)
            .map(|s| format!("{:.0}", self.items as f64 / s));
        println!(
            "| {:<34} | {:>8} | {:>5}ms | {:>11} | {:>9} | {:>8} | {:>8} | {}",
            self.scenario,
            self.contacts,
            self.latency_ms,
            opt(self.round_trips.map(|r| r.to_string())),
            opt(self.seconds.map(|s| if s < 1.0 {
                format!("{:.0} ms", s * 1000.0)
            } else {
                format!("{s:.2} s")
            })),
            opt(rate),
            opt(self.peak_rss_mib.map(|m| format!("{m:.0} MiB"))),
            self.note
        );
    }
}

fn workers() -> usize {
    std::env::var("SYNC_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(contactsync::config::Settings::default().workers)
}

/// `SYNC_BENCH_N`, when set: the size of every scenario.
fn size() -> Option<usize> {
    std::env::var("SYNC_BENCH_N")
        .ok()
        .and_then(|v| v.parse().ok())
}

fn import_profile() -> ContactSyncProfile {
    let mut p = ContactSyncProfile::default();
    p.import.enabled = true;
    p
}

/// Runs one mailbox's sync in a fresh service process and makes its row.
async fn measured_run(
    data: &Data,
    sim: &Sim,
    owner: &str,
    mailbox: Uuid,
    scenario: String,
    contacts: usize,
    latency_ms: u64,
) -> (Row, RunResult) {
    let what = Measured {
        scenario,
        contacts,
        latency_ms,
        warm: false,
    };
    measure(data, sim, owner, mailbox, what).await
}

/// What a measured run is: its row's scenario, contacts and latency, and whether it is
/// measured warm: the service's second run of the mailbox, its clients (TLS roots,
/// connection pool) built and the database's pages in memory, as in a service that has
/// been up for a while.
struct Measured {
    scenario: String,
    contacts: usize,
    latency_ms: u64,
    warm: bool,
}

async fn measure(
    data: &Data,
    sim: &Sim,
    owner: &str,
    mailbox: Uuid,
    what: Measured,
) -> (Row, RunResult) {
    sim.set_latency(what.latency_ms).await;
    let service = Service::start(data, workers()).await;
    if what.warm {
        service.run(owner, mailbox).await;
    }
    sim.clear_stats().await;
    let (service_cpu, sim_cpu) = (cpu_seconds(service.pid()), cpu_seconds(sim.pid()));
    let run = service.run(owner, mailbox).await;
    let (service_cpu, sim_cpu) = (
        cpu_seconds(service.pid()) - service_cpu,
        cpu_seconds(sim.pid()) - sim_cpu,
    );
    let stats = sim.stats().await;
    if let Ok(dir) = std::env::var("SYNC_BENCH_REQUEST_LOG") {
        // Where a run's wall time goes: each request's arrival and duration, in order.
        let log = serde_json::to_string_pretty(&sim.requests().await).expect("request log");
        let name: String = (what.scenario.chars())
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        std::fs::create_dir_all(&dir).expect("request log folder");
        std::fs::write(std::path::Path::new(&dir).join(format!("{name}.json")), log)
            .expect("request log written");
    }
    let (peak, _) = rss_mib(service.pid());
    service.stop();
    let row = Row {
        scenario: what.scenario,
        contacts: what.contacts,
        latency_ms: what.latency_ms,
        round_trips: Some(stats.requests),
        seconds: Some(run.seconds),
        items: run.items,
        peak_rss_mib: Some(peak),
        note: if run.status == "succeeded" {
            format!("CPU s: service {service_cpu:.2}, simulator {sim_cpu:.2}")
        } else {
            format!("status {}", run.status)
        },
    };
    row.print();
    (row, run)
}

/// A full import, then the run after it (over Graph it writes the stamps the import left
/// owed, up to 2,000 a run).
async fn import(n: usize, latency_ms: u64) -> Vec<Row> {
    let sim = Sim::start().await;
    let data = Data::new().await;
    let email = "importer@example.com";
    sim.add_mailbox(email).await;
    sim.seed(email, (0..n).map(|i| sim_contact("import", i)).collect())
        .await;
    let mailbox = data.mailbox(&sim, "owner", email, import_profile()).await;
    let (full, _) = measured_run(
        &data,
        &sim,
        "owner",
        mailbox,
        format!("full import of {n}"),
        n,
        latency_ms,
    )
    .await;
    let (next, _) = measured_run(
        &data,
        &sim,
        "owner",
        mailbox,
        "import: the next run".into(),
        n,
        latency_ms,
    )
    .await;
    vec![full, next]
}

async fn seed_crm(data: &Data, owner: &str, n: usize) {
    let writes: Vec<CrmWrite> = (0..n)
        .map(|i| {
            let mut f = ContactFields {
                given_name: format!("Crm{i}"),
                surname: format!("Person{i}"),
                email1: format!("crm{i}@export.test"),
                job_title: "Buyer".into(),
                company: Some(format!("Customer {}", i % 89)),
                ..Default::default()
            };
            f.normalize();
            CrmWrite::Create(f)
        })
        .collect();
    for chunk in writes.chunks(1000) {
        data.store
            .apply_crm_writes(owner, chunk.to_vec())
            .await
            .expect("CRM contacts");
    }
}

async fn export(n: usize) -> Vec<Row> {
    let sim = Sim::start().await;
    let data = Data::new().await;
    let email = "exporter@example.com";
    sim.add_mailbox(email).await;
    seed_crm(&data, "owner", n).await;
    let mut p = ContactSyncProfile::default();
    p.export.enabled = true;
    let mailbox = data.mailbox(&sim, "owner", email, p).await;
    let (full, _) = measured_run(
        &data,
        &sim,
        "owner",
        mailbox,
        format!("full export of {n}"),
        n,
        20,
    )
    .await;
    let (next, _) = measured_run(
        &data,
        &sim,
        "owner",
        mailbox,
        "export: the next run".into(),
        n,
        20,
    )
    .await;
    vec![full, next]
}

/// An export of chosen contact types from a CRM mostly outside them: `n` customers
/// exported out of `5n` contacts; then the run after it, and a run after one edit of an
/// employee (outside the scope), which compares again: its cost follows what changed,
/// not the CRM.
async fn scoped_export(n: usize) -> Vec<Row> {
    const EMPLOYEE: &str = "00000000-0000-7000-8000-000000000001";
    const CUSTOMER: &str = "00000000-0000-7000-8000-000000000002";
    let sim = Sim::start().await;
    let data = Data::new().await;
    let email = "customers@example.com";
    sim.add_mailbox(email).await;
    let typed = |i: usize, type_id: &str| {
        let mut f = ContactFields {
            given_name: format!("Crm{i}"),
            surname: format!("Person{i}"),
            email1: format!("crm{i}@scope.test"),
            type_id: Some(type_id.parse().expect("type id")),
            ..Default::default()
        };
        f.normalize();
        CrmWrite::Create(f)
    };
    let writes: Vec<CrmWrite> = (0..5 * n)
        .map(|i| typed(i, if i % 5 == 0 { CUSTOMER } else { EMPLOYEE }))
        .collect();
    for chunk in writes.chunks(1000) {
        data.store
            .apply_crm_writes("owner", chunk.to_vec())
            .await
            .expect("CRM contacts");
    }
    let mut p = ContactSyncProfile::default();
    p.export.enabled = true;
    p.export.scope = contactsync::domain::profile::ExportScope::Specific;
    p.export.contact_type_ids = vec![CUSTOMER.parse().expect("type id")];
    let mailbox = data.mailbox(&sim, "owner", email, p).await;
    let mut rows = Vec::new();
    for scenario in [
        format!("export of {n} customers among {}", 5 * n),
        "customers: the next run".into(),
    ] {
        rows.push(
            measured_run(&data, &sim, "owner", mailbox, scenario, n, 20)
                .await
                .0,
        );
    }
    data.store
        .apply_crm_writes(
            "owner",
            vec![CrmWrite::Update {
                id: employee_id(&data).await,
                fields: {
                    let mut f = ContactFields {
                        given_name: "Edited".into(),
                        surname: "Employee".into(),
                        type_id: Some(EMPLOYEE.parse().expect("type id")),
                        ..Default::default()
                    };
                    f.normalize();
                    f
                },
                expected: None,
            }],
        )
        .await
        .expect("an employee edited");
    let scenario = "customers: after an employee's edit".into();
    rows.push(
        measured_run(&data, &sim, "owner", mailbox, scenario, n, 20)
            .await
            .0,
    );
    rows
}

/// One contact of the scoped export's CRM outside its scope.
async fn employee_id(data: &Data) -> Uuid {
    use sea_orm::{ConnectionTrait, Statement};
    let conn = data.store.connection();
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT id FROM contacts WHERE type_id IS NOT NULL ORDER BY id DESC LIMIT 1",
        ))
        .await
        .expect("query")
        .expect("a contact");
    row.try_get("", "id").expect("id")
}

/// A two-way mailbox of `n` synced pairs; then 1% changed on each side, then nothing.
async fn two_way(n: usize) -> Vec<Row> {
    let sim = Sim::start().await;
    let data = Data::new().await;
    let email = "twoway@example.com";
    sim.add_mailbox(email).await;
    sim.seed(email, (0..n).map(|i| sim_contact("twoway", i)).collect())
        .await;
    let mut p = import_profile();
    p.export.enabled = true;
    let mailbox = data.mailbox(&sim, "owner", email, p).await;
    // The first sync is setup, not measured.
    {
        let service = Service::start(&data, workers()).await;
        service.run("owner", mailbox).await;
        service.stop();
    }
    let changed = n / 100;
    // Exchange: the oldest items edited as the Outlook user would.
    sim.churn(changed, 0, 0).await;
    // CRM: other contacts edited straight in the store (another field than Outlook's).
    let ids = crm_ids(&data, "owner", changed * 2).await;
    let records = data
        .store
        .contacts_for_sync(&ids[changed..])
        .await
        .expect("contacts");
    let writes = records
        .into_iter()
        .map(|r| {
            let mut fields = r.fields;
            fields.department = "Changed in the CRM".into();
            CrmWrite::Update {
                id: r.id,
                fields,
                expected: Some(r.version),
            }
        })
        .collect();
    data.store
        .apply_crm_writes("owner", writes)
        .await
        .expect("CRM edits");
    let mut rows = Vec::new();
    rows.push(
        measured_run(
            &data,
            &sim,
            "owner",
            mailbox,
            format!("two-way, {changed} changed on each side"),
            n,
            20,
        )
        .await
        .0,
    );
    for latency in [20, 0] {
        // The first quiet run after changes compares every contact with its link (and
        // leaves the mark that lets the next ones skip it): the mark is removed to measure it.
        data.store
            .set_crm_mark(mailbox, None)
            .await
            .expect("mark removed");
        for scenario in [
            "nothing to do, first quiet run (compares every pair)",
            "nothing to do",
        ] {
            let row = measured_run(&data, &sim, "owner", mailbox, scenario.into(), n, latency);
            rows.push(row.await.0);
        }
        let warm = Measured {
            scenario: "nothing to do, service warm".into(),
            contacts: n,
            latency_ms: latency,
            warm: true,
        };
        rows.push(measure(&data, &sim, "owner", mailbox, warm).await.0);
    }
    rows
}

async fn crm_ids(data: &Data, owner: &str, n: usize) -> Vec<Uuid> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = data.store.connection();
    let backend = db.get_database_backend();
    let sql = match backend {
        sea_orm::DbBackend::Postgres => {
            "SELECT id FROM contacts WHERE owner_id = $1 ORDER BY id LIMIT $2"
        }
        _ => "SELECT id FROM contacts WHERE owner_id = ? ORDER BY id LIMIT ?",
    };
    let rows = db
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [owner.into(), (n as i64).into()],
        ))
        .await
        .expect("contact ids");
    rows.iter()
        .map(|r| r.try_get::<Uuid>("", "id").expect("id"))
        .collect()
}

/// What `hey` printed: the 50th and 99th percentiles (seconds), the rate served and the
/// status codes.
struct HeyReport {
    p50: Option<f64>,
    p99: Option<f64>,
    average: Option<f64>,
    /// Seconds the whole load took.
    total: Option<f64>,
    rps: String,
    statuses: String,
}

impl HeyReport {
    /// The requests answered: the rate times the duration.
    fn requests(&self) -> Option<f64> {
        Some(self.rps.parse::<f64>().ok()? * self.total?)
    }
}

fn hey_report(text: &str) -> HeyReport {
    let pct = |p: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{p}% in")))
            .and_then(|l| l.split_whitespace().nth(2))
            .and_then(|s| s.parse::<f64>().ok())
    };
    let field = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    HeyReport {
        p50: pct("50"),
        p99: pct("99"),
        average: field("Average:").and_then(|s| s.parse().ok()),
        total: field("Total:").and_then(|s| s.parse().ok()),
        rps: field("Requests/sec:").unwrap_or_else(|| "?".into()),
        statuses: text
            .lines()
            .skip_while(|l| !l.starts_with("Status code distribution"))
            .skip(1)
            .map(str::trim)
            .take_while(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Runs `hey` against `url` with the reader's token: `load` are its own arguments.
fn hey(url: &str, token: &str, load: &[&str], gzip: bool) -> std::io::Result<HeyReport> {
    let mut cmd = std::process::Command::new("hey");
    cmd.args(load)
        .args(["-H", &format!("Authorization: Bearer {token}")]);
    if gzip {
        cmd.args(["-H", "Accept-Encoding: gzip"]);
    }
    let out = cmd.arg(url).output()?;
    Ok(hey_report(&String::from_utf8_lossy(&out.stdout)))
}

/// List endpoints with gzip on keep-alive connections at 1,000 requests/s (10
/// connections of 100/s each), from `hey` in its own process; and one request at a time
/// on one connection, with and without gzip, which shows any delayed-ACK stall.
async fn api(n: usize) -> Vec<Row> {
    let data = Data::new().await;
    seed_crm(&data, "reader", n).await;
    let reader = contactsync::domain::Caller {
        user_id: "reader".into(),
        is_admin: false,
    };
    for i in 0..500 {
        data.store
            .create_account(
                &reader,
                contactsync::domain::account::AccountWrite {
                    name: Some(format!("Customer {i}")),
                    website: Some(format!("https://customer{i}.example")),
                    ..Default::default()
                },
            )
            .await
            .expect("account");
    }
    for i in 0..200 {
        data.store
            .create_folder(
                &reader,
                contactsync::domain::folder::ContactFolderWrite {
                    name: Some(format!("Folder {i}")),
                    ..Default::default()
                },
            )
            .await
            .expect("folder");
    }
    // A colleague's contacts, all shared with everyone (a CRM where contacts are public
    // by default): what a user who owns none of them is shown.
    seed_crm(&data, "colleague", n).await;
    use sea_orm::ConnectionTrait;
    data.store
        .connection()
        .execute_unprepared(
            "INSERT INTO grants (record_id, grantee, record_kind, access) \
             SELECT id, '*', 'contact', 'read' FROM contacts WHERE owner_id = 'colleague'",
        )
        .await
        .expect("grants to everyone");
    let service = Service::start(&data, workers()).await;
    let token = Service::token("reader");
    let viewer = Service::token("viewer");
    let ms = |v: Option<f64>| v.map_or("–".into(), |s| format!("{:.2} ms", s * 1000.0));
    let row = |scenario: String, note: String, peak: Option<f64>| Row {
        scenario,
        contacts: n,
        latency_ms: 0,
        round_trips: None,
        seconds: None,
        items: 0,
        peak_rss_mib: peak,
        note,
    };
    let contacts = format!("{}/api/v1/contacts?limit=50", service.base);
    if hey(&contacts, &token, &["-n", "10"], true).is_err() {
        let r = row(
            "API list, gzip, keep-alive, 1,000/s".into(),
            "hey not installed: apt-get install hey".into(),
            None,
        );
        r.print();
        return vec![r];
    }
    let mut rows = Vec::new();
    for (name, path, token) in [
        ("contacts", "/api/v1/contacts?limit=50", &token),
        ("accounts", "/api/v1/accounts?limit=50", &token),
        (
            "contact-folders",
            "/api/v1/contact-folders?limit=50",
            &token,
        ),
        (
            "contacts shared with all",
            "/api/v1/contacts?limit=50",
            &viewer,
        ),
    ] {
        let url = format!("{}{path}", service.base);
        // Warm up (connections, caches), then measure.
        let rate = ["-c", "10", "-q", "100"];
        hey(&url, token, &[&rate[..], &["-z", "3s"]].concat(), true).expect("hey runs");
        let cpu_before = cpu_seconds(service.pid());
        let load = hey(&url, token, &[&rate[..], &["-z", "15s"]].concat(), true).expect("hey runs");
        let cpu = cpu_seconds(service.pid()) - cpu_before;
        let (peak, _) = rss_mib(service.pid());
        let cpu_per_request = load
            .requests()
            .filter(|n| *n > 0.0)
            .map_or("–".into(), |n| format!("{:.2} ms", cpu / n * 1000.0));
        let r = row(
            format!("API {name}?limit=50, gzip, 1,000/s"),
            format!(
                "p50 {} p99 {}, {} requests/s served, service CPU {cpu_per_request} a request, {}",
                ms(load.p50),
                ms(load.p99),
                load.rps,
                load.statuses
            ),
            Some(peak),
        );
        r.print();
        rows.push(r);
    }
    let one_at_a_time = ["-n", "300", "-c", "1"];
    let gzip = hey(&contacts, &token, &one_at_a_time, true).expect("hey runs");
    let identity = hey(&contacts, &token, &one_at_a_time, false).expect("hey runs");
    let r = row(
        "API contacts, one at a time".into(),
        format!(
            "keep-alive, mean/p99: gzip {}/{}, identity {}/{}",
            ms(gzip.average),
            ms(gzip.p99),
            ms(identity.average),
            ms(identity.p99)
        ),
        None,
    );
    r.print();
    rows.push(r);
    // `hey`'s connections each keep their own clock, started together: its 1,000/s
    // arrive as ten requests at once every 10 ms, and its p99 is the last of ten queued
    // on two cores. The same rate with arrivals spread evenly over 50 connections, each
    // latency counted from when its request was due (no coordinated omission), is what
    // `oha` measures.
    let r = match paced(&contacts, &token) {
        Some(load) => row(
            "API contacts?limit=50, gzip, 1,000/s paced".into(),
            format!(
                "oha -c 50 -q 1000 --latency-correction: p50 {} p99 {}, {:.0} requests/s served",
                ms(Some(load.p50)),
                ms(Some(load.p99)),
                load.rps
            ),
            None,
        ),
        None => row(
            "API contacts?limit=50, gzip, 1,000/s paced".into(),
            "oha not installed: cargo install oha".into(),
            None,
        ),
    };
    r.print();
    rows.push(r);
    service.stop();
    rows
}

/// What `oha` measured: percentiles (seconds) and the rate served.
struct Paced {
    p50: f64,
    p99: f64,
    rps: f64,
}

/// 1,000 requests/s spread evenly over 50 keep-alive connections for 15 s (after 3 s
/// of warm-up), from `oha` in its own process; `None` when it is not installed.
fn paced(url: &str, token: &str) -> Option<Paced> {
    let run = |seconds: &str| {
        std::process::Command::new("oha")
            .args([
                "-c",
                "50",
                "-q",
                "1000",
                "-z",
                seconds,
                "--latency-correction",
            ])
            .args(["--no-tui", "--output-format", "json"])
            .args(["-H", &format!("Authorization: Bearer {token}")])
            .args(["-H", "Accept-Encoding: gzip"])
            .arg(url)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    run("3s")?;
    let out = run("15s")?;
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let pct = |p: &str| report["latencyPercentiles"][p].as_f64();
    Some(Paced {
        p50: pct("p50")?,
        p99: pct("p99")?,
        rps: report["summary"]["requestsPerSec"].as_f64()?,
    })
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        println!(
            "contactsync performance over {}: simulator and service in separate processes, loopback, {} workers",
            transport().as_str(),
            workers()
        );
        println!("(wall time: the run's started_at to finished_at; peak RSS: the service process)");
        Row::print_header();
        let mut rows = Vec::new();
        if wants("import") {
            match size() {
                // As in the full table: 100k and more with no latency.
                Some(n) => rows.extend(import(n, if n >= 100_000 { 0 } else { 20 }).await),
                None => {
                    rows.extend(import(1_000, 20).await);
                    rows.extend(import(10_000, 20).await);
                    rows.extend(import(100_000, 0).await);
                }
            }
        }
        let n = size().unwrap_or(10_000);
        if wants("export") {
            rows.extend(export(n).await);
        }
        if wants("scoped") {
            rows.extend(scoped_export(n).await);
        }
        if wants("twoway") {
            rows.extend(two_way(n).await);
        }
        if wants("api") {
            rows.extend(api(n).await);
        }
        if wants("many") {
            rows.extend(many::run().await);
        }
        println!();
        Row::print_header();
        for r in &rows {
            r.print();
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    });
}
