//! The reqwest clients under [`super::GraphClient`], shared as EWS shares its own (see
//! `crates/ews/src/client/http.rs`): building one costs a TLS setup (the root
//! certificates) and forgoes every open connection, which a run per mailbox every few
//! minutes would pay each time, three times over (a run's transport is rebuilt with its
//! request timeout and pacing). Mailboxes that reach Graph and the token endpoint through
//! exactly the same checked addresses share one client and its connection pool.
//!
//! A client answers its pinned host names from its own table, never from DNS; the pins
//! are the key, so a client is only ever handed to a mailbox whose hosts were checked to
//! the very same addresses. The key and the eviction are `client_sharing`'s; the
//! registry instance and the builder are this crate's own.
use std::sync::LazyLock;

use client_sharing::{ClientKey, ClientRegistry};

use super::ClientConfig;
use crate::error::Error;

/// Most shared clients kept at once; the least recently handed out goes first (a client
/// still held by a mailbox lives on with it).
const MAX_SHARED: usize = 256;

/// Graph clients only: EWS keeps its own registry, since its clients are built otherwise
/// (user agent, NTLM rules) and one protocol's client must never serve the other.
static SHARED: LazyLock<ClientRegistry> = LazyLock::new(|| ClientRegistry::new(MAX_SHARED));

/// The HTTP client for `config`, shared with every other client of the same pins and
/// timeouts.
pub(super) fn client_for(config: &ClientConfig) -> Result<reqwest::Client, Error> {
    let key = ClientKey::new(
        &config.resolved,
        config.connect_timeout,
        config.request_timeout,
    );
    SHARED.client(key, || build(config))
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
