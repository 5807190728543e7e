//! The reqwest clients under [`super::EwsClient`]. Building one costs a TLS setup (the
//! root certificates) and forgoes every open connection, which a run per mailbox every
//! few minutes would pay each time; so mailboxes that reach Exchange through exactly the
//! same checked addresses share one client and its connection pool.
//!
//! A client answers its pinned host names from its own table, never from DNS: that is
//! what keeps a second DNS answer (rebinding) from sending a request elsewhere. Sharing
//! keeps the property because the pins are the key: a client is only ever handed to a
//! mailbox whose hosts were checked to the very same addresses. NTLM authenticates a
//! connection, not a request, so NTLM clients are never shared.
//!
//! The key and the eviction are `client_sharing`'s; the registry instance and the builder
//! are this crate's own.
use std::sync::LazyLock;

use client_sharing::{ClientKey, ClientRegistry};

use super::ClientConfig;
use crate::error::Error;

/// Most shared clients kept at once; the least recently handed out goes first (a client
/// still held by a mailbox lives on with it).
const MAX_SHARED: usize = 256;

/// EWS clients only: Graph keeps its own registry, since its clients are built otherwise
/// (user agent, no NTLM) and one protocol's client must never serve the other.
static SHARED: LazyLock<ClientRegistry> = LazyLock::new(|| ClientRegistry::new(MAX_SHARED));

/// The HTTP client for `config`: shared with every other client of the same pins and
/// timeouts, or, for NTLM, a client of its own.
pub(super) fn client_for(config: &ClientConfig) -> Result<reqwest::Client, Error> {
    if matches!(config.auth, super::Auth::Ntlm { .. }) {
        return build(config, true);
    }
    let key = ClientKey::new(
        &config.resolved,
        config.connect_timeout,
        config.request_timeout,
    );
    SHARED.client(key, || build(config, false))
}

fn build(config: &ClientConfig, ntlm: bool) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(config.connect_timeout)
        .timeout(config.request_timeout)
        .user_agent(concat!("contactsync-ews/", env!("CARGO_PKG_VERSION")))
        // Redirects would replay credentials to another host.
        .redirect(reqwest::redirect::Policy::none());
    if ntlm {
        builder = builder.http1_only().pool_max_idle_per_host(1);
    }
    for (host, addrs) in &config.resolved {
        builder = builder.resolve_to_addrs(host, addrs);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("HTTP client: {e}")))
}
