//! Wires `contactsync ews-sim` to the simulator crate.
use anyhow::Context;

use crate::cli::EwsSimArgs;

/// Starts the simulator with the command-line flags and serves until interrupted.
pub async fn run(args: EwsSimArgs) -> anyhow::Result<()> {
    // An argument that does not parse is named by its position, never printed: it may
    // hold a password.
    let parse = |list: &[String], flag: &str| -> anyhow::Result<Vec<ews_sim::Credential>> {
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                s.parse::<ews_sim::Credential>()
                    .map_err(|e| anyhow::anyhow!("{flag} (occurrence {}): {e}", i + 1))
            })
            .collect()
    };
    let config = ews_sim::SimConfig {
        listen: args.listen,
        control_listen: args.control_listen,
        mailboxes: parse(&args.mailboxes, "--mailbox")?,
        service_accounts: parse(&args.service_accounts, "--service-account")?,
        latency_ms: args.latency_ms,
        state_file: args.state,
        apps: args
            .apps
            .iter()
            .map(|s| {
                s.parse::<ews_sim::GraphApp>()
                    .map_err(|e| anyhow::anyhow!("--app: {e}"))
            })
            .collect::<anyhow::Result<_>>()?,
    };
    tracing::info!(listen = %config.listen, mailboxes = config.mailboxes.len(), "EWS simulator starting; EWS at /EWS/Exchange.asmx, Microsoft Graph at /v1.0 (token endpoint /{{tenant}}/oauth2/v2.0/token), control API at /_sim");
    ews_sim::run(config).await.context("EWS simulator")
}
