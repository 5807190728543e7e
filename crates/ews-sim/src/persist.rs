//! `--state FILE`: the store as JSON, loaded at start, saved when it changed.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::state::Sim;
use crate::store::Store;

/// Reads the state file; `None` when it does not exist yet.
pub fn load(path: &Path) -> std::io::Result<Option<Store>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("state file {}: {e}", path.display()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A cheap fingerprint that moves on every write (every write bumps a mailbox's seq).
fn fingerprint(store: &Store) -> (u32, usize, u64, String) {
    let seq = store.mailboxes.values().map(|m| m.seq).sum();
    let passwords = store
        .mailboxes
        .values()
        .map(|m| m.password.as_str())
        .collect::<Vec<_>>()
        .join("\u{0}");
    (store.epoch, store.mailboxes.len(), seq, passwords)
}

/// Writes the state file atomically (temporary file + rename).
pub fn save_now(sim: &Sim) -> std::io::Result<()> {
    let Some(path) = &sim.config.state_file else {
        return Ok(());
    };
    let json = {
        let store = sim.store.lock().expect("store lock");
        serde_json::to_vec(&*store).map_err(std::io::Error::other)?
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, json)?;
    std::fs::rename(&tmp, path)
}

/// Saves every half second when the store changed (only with a state file).
pub fn spawn_saver(sim: Arc<Sim>) -> Option<tokio::task::JoinHandle<()>> {
    sim.config.state_file.as_ref()?;
    Some(tokio::spawn(async move {
        let mut last = fingerprint(&sim.store.lock().expect("store lock"));
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = fingerprint(&sim.store.lock().expect("store lock"));
            if now != last {
                match save_now(&sim) {
                    Ok(()) => last = now,
                    Err(e) => tracing::warn!(error = %e, "could not save the simulator state"),
                }
            }
        }
    }))
}
