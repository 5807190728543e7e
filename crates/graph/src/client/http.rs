//! The reqwest clients under [`super::GraphClient`], shared as EWS shares its own (see
//! `crates/ews/src/client/http.rs`): building one costs a TLS setup (the root
//! certificates) and forgoes every open connection, which a run per mailbox every few
//! minutes would pay each time, three times over (a run's transport is rebuilt with its
//! request timeout and pacing). Mailboxes that reach Graph and the token endpoint through
//! exactly the same checked addresses share one client and its connection pool.
//!
//! A client answers its pinned host names from its own table, never from DNS; the pins
//! are the key, so a client is only ever handed to a mailbox whose hosts were checked to
//! the very same addresses.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::ClientConfig;
use crate::error::Error;

/// Most shared clients kept at once; the least recently handed out goes first (a client
/// still held by a mailbox lives on with it).
const MAX_SHARED: usize = 256;

/// What a shared client is built from: the pins, host by host with sorted addresses, and
/// the timeouts.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    pins: Vec<(String, Vec<SocketAddr>)>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl Key {
    fn of(config: &ClientConfig) -> Key {
        let mut pins: Vec<(String, Vec<SocketAddr>)> = config
            .resolved
            .iter()
            .map(|(host, addrs)| {
                let mut addrs = addrs.clone();
                addrs.sort_unstable();
                addrs.dedup();
                (host.to_ascii_lowercase(), addrs)
            })
            .collect();
        pins.sort();
        Key {
            pins,
            connect_timeout: config.connect_timeout,
            request_timeout: config.request_timeout,
        }
    }
}

#[derive(Default)]
struct Registry {
    clients: HashMap<Key, (reqwest::Client, u64)>,
    uses: u64,
}

fn registry() -> &'static Mutex<Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// The HTTP client for `config`, shared with every other client of the same pins and
/// timeouts.
pub(super) fn client_for(config: &ClientConfig) -> Result<reqwest::Client, Error> {
    let key = Key::of(config);
    let mut registry = registry().lock().unwrap_or_else(|p| p.into_inner());
    registry.uses += 1;
    let now = registry.uses;
    if let Some((client, last_use)) = registry.clients.get_mut(&key) {
        *last_use = now;
        return Ok(client.clone());
    }
    let client = build(config)?;
    if registry.clients.len() >= MAX_SHARED
        && let Some(oldest) = registry
            .clients
            .iter()
            .min_by_key(|(_, (_, last_use))| *last_use)
            .map(|(k, _)| k.clone())
    {
        registry.clients.remove(&oldest);
    }
    registry.clients.insert(key, (client.clone(), now));
    Ok(client)
}

fn build(config: &ClientConfig) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(concat!("contactsync-graph/", env!("CARGO_PKG_VERSION")))
        // Redirects would carry the token to another host.
        .redirect(reqwest::redirect::Policy::none());
    for (host, addrs) in &config.resolved {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))
}
