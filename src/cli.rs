//! The command line: `serve` (default), `worker`, `migrate`, `openapi`, `token`, `ews-sim`.
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::auth::{load_or_create_secret, mint_hs256};
use crate::config::Settings;
use crate::store::Store;
use crate::worker::Background;
use crate::worker::events::RunEvents;

/// contactsync: keeps CRM contacts and Exchange mailbox contacts in sync.
#[derive(Debug, Parser)]
#[command(name = "contactsync", version, about)]
pub struct Cli {
    /// A TOML configuration file (environment variables CONTACTSYNC_* override it).
    #[arg(long, global = true, env = "CONTACTSYNC_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands; none means `serve`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API with the sync workers and scheduler (applies pending
    /// migrations first unless disabled).
    Serve,
    /// Run the sync workers and the scheduler only, no API (scale out on PostgreSQL).
    Worker,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document.
    Openapi,
    /// Mint a bearer token signed with the service's HS256 secret.
    Token {
        /// The user id (`sub` claim).
        #[arg(long)]
        sub: String,
        /// Give the token the `admin` role.
        #[arg(long)]
        admin: bool,
        /// Lifetime, e.g. `30m`, `1h`, `7d`.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: Duration,
    },
    /// Run the EWS simulator (a fake Exchange server for tests and demos).
    EwsSim(EwsSimArgs),
    /// Try it all at once: the simulator with a mailbox of a few hundred contacts, the
    /// service on SQLite with a seeded CRM, one two-way sync, then serve until stopped.
    Demo(crate::demo::DemoArgs),
}

/// Flags of `contactsync ews-sim`.
#[derive(Debug, clap::Args)]
pub struct EwsSimArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    pub listen: std::net::SocketAddr,
    /// Serve the `/_sim` control API on this address only (keep it off the service's network).
    #[arg(long, value_name = "ADDR")]
    pub control_listen: Option<std::net::SocketAddr>,
    /// A mailbox `email:password`; repeat for more. Log in with the SMTP address or its
    /// local part as user name.
    #[arg(long = "mailbox", value_name = "EMAIL:PASSWORD")]
    pub mailboxes: Vec<String>,
    /// A service account `email:password` that may impersonate every mailbox; repeatable.
    #[arg(long = "service-account", value_name = "EMAIL:PASSWORD")]
    pub service_accounts: Vec<String>,
    /// An app `tenant:client_id:secret` that may use Microsoft Graph on every mailbox
    /// (token endpoint `/{tenant}/oauth2/v2.0/token`, Graph at `/v1.0`); repeatable.
    #[arg(long = "app", value_name = "TENANT:CLIENT_ID:SECRET")]
    pub apps: Vec<String>,
    /// Latency added to every EWS and Graph request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Keep the simulator's mailboxes in this JSON file across restarts.
    #[arg(long)]
    pub state: Option<PathBuf>,
}

fn parse_ttl(s: &str) -> Result<Duration, String> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected e.g. 30m, 1h, 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" | "" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("`{s}`: unit must be s, m, h or d")),
    };
    if secs == 0 {
        return Err("ttl must be positive".into());
    }
    Ok(Duration::from_secs(secs))
}

/// Runs the command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Some(Command::Openapi) => {
            print!("{}", crate::app::openapi_json());
            Ok(())
        }
        Some(Command::EwsSim(args)) => run_sim(args).await,
        Some(Command::Demo(args)) => {
            // The summary is the demo's output; logs only when something is wrong.
            crate::telemetry::init_logging_with("text", "warn");
            crate::demo::run(args).await
        }
        command => {
            let settings = Settings::load(cli.config.as_deref())?;
            crate::telemetry::init_logging(&settings.log_format);
            match command {
                Some(Command::Migrate) => {
                    let store = connect(&settings).await?;
                    store.migrate().await?;
                    tracing::info!("migrations applied");
                    Ok(())
                }
                Some(Command::Token { sub, admin, ttl }) => {
                    if settings.jwt_public_key_file.is_some() {
                        anyhow::bail!(
                            "tokens for a public-key setup are minted by your identity provider"
                        );
                    }
                    let secret = load_or_create_secret(&settings)?;
                    println!("{}", mint_hs256(&secret, &sub, admin, ttl, &settings)?);
                    Ok(())
                }
                Some(Command::Worker) => worker(settings).await,
                _ => serve(settings).await,
            }
        }
    }
}

pub(crate) async fn connect(settings: &Settings) -> anyhow::Result<Store> {
    if settings.database_url.is_none() {
        crate::private_files::create_private_dir(&settings.data_dir)?;
    }
    Ok(Store::connect(&settings.effective_database_url(), None).await?)
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let service = crate::service::Service::start(settings).await?;
    tracing::info!(addr = %service.addr(), "contactsync listening; API docs at /docs");
    shutdown_signal().await?;
    tracing::info!("shutting down");
    service.stop().await;
    Ok(())
}

/// Workers and scheduler without the API, until interrupted; a run in progress stops at
/// its next batch and its lease is released for another process.
async fn worker(settings: Settings) -> anyhow::Result<()> {
    let store = connect(&settings).await?;
    if settings.migrate_on_start {
        store.migrate().await?;
    }
    let secrets = crate::crypto::SecretBox::from_settings(&settings)?;
    let background = Background::start(store, secrets, &settings, RunEvents::default());
    tracing::info!(workers = settings.workers, "contactsync worker started");
    shutdown_signal().await?;
    tracing::info!("shutting down");
    background.stop().await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (what `docker stop` sends).
pub(crate) async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

async fn run_sim(args: EwsSimArgs) -> anyhow::Result<()> {
    crate::telemetry::init_logging("text");
    crate::sim::run(args).await
}
