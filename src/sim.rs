//! Wires `contactsync ews-sim` to the simulator crate.
use crate::cli::EwsSimArgs;

/// Starts the simulator with the command-line flags and serves until interrupted.
pub async fn run(args: EwsSimArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("the EWS simulator is not built yet")
}
