//! `contactsync demo`: the simulator with a realistic mailbox, the service on SQLite, a
//! seeded CRM and one two-way sync, then it keeps serving so the user can look around.
//!
//! The demo drives its own API over HTTP, as a CRM frontend would: what it shows is what
//! a client gets.
mod people;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::config::Settings;
use crate::service::Service;

const MAILBOX: &str = "demo@example.com";
const MAILBOX_PASSWORD: &str = "demo-password";
const EMPLOYEE: &str = "00000000-0000-7000-8000-000000000001";
const CUSTOMER: &str = "00000000-0000-7000-8000-000000000002";
const SUPPLIER: &str = "00000000-0000-7000-8000-000000000005";

/// Flags of `contactsync demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Address of the API.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the EWS simulator.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub sim_listen: SocketAddr,
    /// Folder for the demo's database and keys (default: a new temporary folder).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// How many contacts the Outlook mailbox starts with.
    #[arg(long, default_value_t = 300)]
    pub contacts: usize,
    /// Stop after printing the summary instead of serving until interrupted.
    #[arg(long)]
    pub exit: bool,
}

/// A signed-in client of the demo's own API.
struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}/api/v1{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {text}");
        }
        Ok(if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text)?
        })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn put(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.send(reqwest::Method::PUT, path, Some(body)).await
    }
}

fn id_of(v: &Value) -> anyhow::Result<String> {
    v["id"]
        .as_str()
        .map(str::to_owned)
        .context("answer without an id")
}

/// Runs the demo; serves until interrupted unless `--exit`.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    let data_dir = args.data_dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("contactsync-demo-{}", std::process::id()))
    });
    crate::private_files::create_private_dir(&data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    // The environment still applies (e.g. CONTACTSYNC_CORS_ORIGINS), but the demo always
    // runs on its own SQLite file and may reach its simulator.
    let mut settings = Settings::load(None)?;
    settings.listen = args.listen;
    settings.data_dir = data_dir.clone();
    settings.database_url = None;
    settings.migrate_on_start = true;
    settings.workers = settings.workers.max(1);
    settings
        .ews_allowed_hosts
        .push(args.sim_listen.ip().to_string());
    settings.validate()?;

    let sim = ews_sim::spawn(ews_sim::SimConfig {
        control_listen: None,
        listen: args.sim_listen,
        mailboxes: vec![ews_sim::Credential::new(MAILBOX, MAILBOX_PASSWORD)],
        ..ews_sim::SimConfig::default()
    })
    .await
    .with_context(|| format!("starting the EWS simulator on {}", args.sim_listen))?;
    seed_outlook(&sim, args.contacts)?;

    let service = Service::start(settings.clone())
        .await
        .with_context(|| format!("starting the service on {}", args.listen))?;
    let base = format!("http://{}", service.addr());
    let secret = crate::auth::load_or_create_secret(&settings)?;
    let token = crate::auth::mint_hs256(
        &secret,
        "demo",
        false,
        Duration::from_secs(7 * 86400),
        &settings,
    )?;
    let client = Client {
        http: reqwest::Client::new(),
        base: base.clone(),
        token: token.clone(),
    };

    let summary = async {
        let crm = seed_crm(&client).await?;
        let mailbox = connect_mailbox(&client, &sim).await?;
        let run = synchronize(&client, &mailbox).await?;
        let outlook = Seeded {
            contacts: args.contacts,
            crm,
        };
        summarize(
            &client, &sim, &base, &token, &data_dir, &mailbox, &run, outlook,
        )
        .await
    }
    .await;
    if let Err(e) = summary {
        service.stop().await;
        return Err(e);
    }
    if !args.exit {
        crate::cli::shutdown_signal().await?;
    }
    service.stop().await;
    let _ = sim.stop().await;
    Ok(())
}

/// Nested folders and `n` contacts in the simulated mailbox.
fn seed_outlook(sim: &ews_sim::SimHandle, n: usize) -> anyhow::Result<()> {
    for (parent, name) in people::OUTLOOK_FOLDERS {
        sim.create_folder(MAILBOX, parent, name, Some("IPF.Contact"))
            .map_err(|e| anyhow::anyhow!("creating {parent}/{name}: {e:?}"))?;
    }
    for i in 0..n {
        sim.seed_contacts(
            MAILBOX,
            people::outlook_folder(i),
            vec![people::outlook_contact(i)],
        )
        .map_err(|e| anyhow::anyhow!("seeding contact {i}: {e:?}"))?;
    }
    Ok(())
}

/// What both sides started with.
struct Seeded {
    contacts: usize,
    crm: CrmSeed,
}

/// What the CRM started with.
struct CrmSeed {
    accounts: usize,
    contacts: usize,
}

/// Accounts (two named Contoso), contacts of several types, and a static folder.
async fn seed_crm(client: &Client) -> anyhow::Result<CrmSeed> {
    let mut accounts = Vec::new();
    for name in ["Contoso", "Contoso", "Fabrikam", "Northwind Traders"] {
        let account = client.post("/accounts", json!({ "name": name })).await?;
        accounts.push(id_of(&account)?);
    }
    let mut key_customers = Vec::new();
    let seeds = people::crm_contacts();
    // A few people already in Outlook (same e-mail): the first sync links them instead
    // of creating them twice.
    let mut known = Vec::new();
    for i in [0usize, 10, 20] {
        let c = people::outlook_contact(i);
        known.push((
            "Customer",
            1,
            c.given_name.unwrap_or_default(),
            c.surname.unwrap_or_default(),
            "Buyer",
            c.email_addresses["EmailAddress1"].clone(),
        ));
    }
    let total = seeds.len() + known.len();
    for (n, (kind, account, given, surname, title, email)) in
        known.into_iter().chain(seeds).enumerate()
    {
        let type_id = match kind {
            "Employee" => EMPLOYEE,
            "Customer" => CUSTOMER,
            _ => SUPPLIER,
        };
        let contact = client
            .post(
                "/contacts",
                json!({
                    "type_id": type_id,
                    "account_id": accounts[account],
                    "given_name": given,
                    "surname": surname,
                    "job_title": title,
                    "email1": email,
                    "business_phone": format!("+49 30 5550 {:04}", 100 + n),
                }),
            )
            .await?;
        if kind == "Customer" && key_customers.len() < 5 {
            key_customers.push(id_of(&contact)?);
        }
    }
    let folder = client
        .post("/contact-folders", json!({ "name": "Key customers" }))
        .await?;
    client
        .post(
            &format!("/contact-folders/{}/members", id_of(&folder)?),
            json!({ "contact_ids": key_customers }),
        )
        .await?;
    Ok(CrmSeed {
        accounts: accounts.len(),
        contacts: total,
    })
}

/// The demo mailbox on the simulator, tested, with a two-way profile.
async fn connect_mailbox(client: &Client, sim: &ews_sim::SimHandle) -> anyhow::Result<String> {
    let mailbox = client
        .post(
            "/mailboxes",
            json!({
                "email": MAILBOX,
                "display_name": "Demo mailbox",
                "ews_url": sim.ews_url(),
                "auth": {"kind": "basic", "username": MAILBOX, "password": MAILBOX_PASSWORD},
            }),
        )
        .await?;
    let id = id_of(&mailbox)?;
    let test = client
        .post(&format!("/mailboxes/{id}/test"), json!({}))
        .await?;
    if test["ok"] == false {
        bail!("the connection test failed: {test}");
    }
    client
        .put(
            &format!("/mailboxes/{id}/contact-sync"),
            json!({
                "import": {"enabled": true, "scope": "all"},
                "export": {"enabled": true, "scope": "specific",
                           "contact_type_ids": [EMPLOYEE, CUSTOMER]},
                "auto_sync": {"enabled": true, "interval_minutes": 60},
            }),
        )
        .await?;
    Ok(id)
}

/// Starts a two-way run and waits for its end.
async fn synchronize(client: &Client, mailbox: &str) -> anyhow::Result<Value> {
    let run = client
        .post(
            &format!("/mailboxes/{mailbox}/contact-sync/runs"),
            json!({ "mode": "two_way" }),
        )
        .await?;
    let id = id_of(&run)?;
    for _ in 0..600 {
        let run = client.get(&format!("/contact-sync/runs/{id}")).await?;
        if !matches!(run["status"].as_str(), Some("queued" | "running")) {
            return Ok(run);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    bail!("the run {id} did not finish within two minutes")
}

/// Up to `n` contact names (with their company) of the run's items of `op`.
async fn examples(client: &Client, run: &str, op: &str, n: usize) -> anyhow::Result<Vec<String>> {
    let mut crm_ids = Vec::new();
    let mut cursor: Option<String> = None;
    while crm_ids.len() < n {
        let page = client
            .get(&format!(
                "/contact-sync/runs/{run}/items?limit=500{}",
                cursor.map(|c| format!("&cursor={c}")).unwrap_or_default()
            ))
            .await?;
        crm_ids.extend(
            page["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|item| item["op"] == op)
                .filter_map(|item| item["crm_id"].as_str().map(str::to_owned)),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    let mut out = Vec::new();
    for crm_id in crm_ids.into_iter().take(n) {
        let c = client.get(&format!("/contacts/{crm_id}")).await?;
        out.push(format!(
            "{} ({})",
            c["full_name"].as_str().unwrap_or("?"),
            c["company"].as_str().unwrap_or("")
        ));
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
async fn summarize(
    client: &Client,
    sim: &ews_sim::SimHandle,
    base: &str,
    token: &str,
    data_dir: &std::path::Path,
    mailbox: &str,
    run: &Value,
    seeded: Seeded,
) -> anyhow::Result<()> {
    let crm = seeded.crm;
    let run_id = id_of(run)?;
    let c = &run["counts"];
    let imported = examples(client, &run_id, "crm_create", 3).await?;
    let exported = examples(client, &run_id, "exchange_create", 3).await?;
    let outlook_total: usize = sim.with_store(|s| {
        s.mailbox(MAILBOX)
            .map(|m| {
                m.items
                    .values()
                    .filter(|i| {
                        m.folder_by_any("deleteditems")
                            .is_none_or(|d| i.folder_id != d.id)
                    })
                    .count()
            })
            .unwrap_or(0)
    });
    println!("contactsync demo is running.\n");
    println!(
        "Before: Outlook mailbox {MAILBOX} with {} contacts in 5 folders (Contacts, Clients, Clients/VIP, Suppliers, Suppliers/Logistics);",
        seeded.contacts
    );
    println!(
        "        CRM with {} accounts (two named Contoso) and {} contacts (employees, customers, suppliers).",
        crm.accounts, crm.contacts
    );
    println!(
        "Two-way sync {}: {} imported into the CRM, {} exported to Outlook, {} linked to an existing contact, {} failed.",
        run["status"].as_str().unwrap_or("?"),
        c["crm_created"],
        c["exchange_created"],
        c["linked"],
        c["failed"],
    );
    println!("After:  Outlook holds {outlook_total} contacts.");
    if !imported.is_empty() {
        println!("Imported, e.g.: {}", imported.join(", "));
    }
    if !exported.is_empty() {
        println!("Exported, e.g.: {}", exported.join(", "));
    }
    println!();
    println!("API docs:      {base}/docs");
    println!("Setup page:    {base}/ui   (paste the token below)");
    println!(
        "Run events:    curl -sN -H \"Authorization: Bearer $TOKEN\" {base}/api/v1/contact-sync/runs/{run_id}/events"
    );
    println!("Mailbox:       {base}/api/v1/mailboxes/{mailbox}");
    println!(
        "Simulator:     {}  (control API at {}/_sim)",
        sim.ews_url(),
        sim.base_url()
    );
    println!("Data folder:   {}", data_dir.display());
    println!();
    println!("TOKEN={token}");
    Ok(())
}
