//! Resolves the hosts a mailbox's secret is sent to, refuses internal addresses the
//! allow-list does not admit, and pins the checked addresses into the HTTP client, so
//! that a second DNS answer (rebinding) cannot lead the request elsewhere.
use std::net::SocketAddr;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::{ErrorKind, TransportError};
use crate::domain::address::{is_allowed, is_internal_ip};
use crate::domain::mailbox::MailboxTransport;
use crate::store::mailboxes::MailboxConnection;

/// A host name and the checked addresses its requests must go to.
pub type Pin = (String, Vec<SocketAddr>);

fn transient(message: String) -> TransportError {
    TransportError {
        kind: ErrorKind::Transient,
        code: None,
        message,
    }
}

/// The host (without IPv6 brackets) and port of a URL.
pub fn host_port(url: &str) -> Result<(String, u16), TransportError> {
    let u = url::Url::parse(url)
        .map_err(|e| TransportError::permanent(format!("bad URL {url}: {e}")))?;
    let host = u
        .host_str()
        .ok_or_else(|| TransportError::permanent(format!("{url} has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = u.port_or_known_default().unwrap_or(443);
    Ok((host, port))
}

/// Where host names are looked up: the system's DNS in the service; a scripted resolver
/// in the test that a second answer (rebinding) is never used.
pub trait Resolve: Sync {
    /// The addresses of `host`, with `port`.
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>>;
}

/// The system's resolver.
pub struct SystemDns;

impl Resolve for SystemDns {
    fn lookup<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

/// Resolves the host of `url` and checks every address it answered.
pub async fn resolve_checked(
    url: &str,
    allowed_hosts: &[String],
    resolver: &dyn Resolve,
) -> Result<Vec<SocketAddr>, TransportError> {
    let (host, port) = host_port(url)?;
    let addrs: Vec<SocketAddr> =
        tokio::time::timeout(Duration::from_secs(5), resolver.lookup(&host, port))
            .await
            .map_err(|_| transient(format!("DNS lookup of {host} timed out")))?
            .map_err(|e| transient(format!("DNS lookup of {host} failed: {e}")))?;
    if !is_allowed(allowed_hosts, &host, port) && addrs.iter().any(|a| is_internal_ip(a.ip())) {
        return Err(TransportError::permanent(format!(
            "{host} resolves to an internal address; allow it with CONTACTSYNC_EWS_ALLOWED_HOSTS"
        )));
    }
    if addrs.is_empty() {
        return Err(transient(format!("DNS lookup of {host} found no address")));
    }
    Ok(addrs)
}

/// The checked addresses of every host the mailbox's secret or token goes to: the EWS
/// server and, for OAuth2, the token endpoint; over Graph, Graph and the authority.
pub async fn pins(
    conn: &MailboxConnection,
    allowed_hosts: &[String],
) -> Result<Vec<Pin>, TransportError> {
    pins_from(conn, allowed_hosts, &SystemDns).await
}

/// [`pins`] with the resolver given.
pub async fn pins_from(
    conn: &MailboxConnection,
    allowed_hosts: &[String],
    resolver: &dyn Resolve,
) -> Result<Vec<Pin>, TransportError> {
    let mut urls = Vec::new();
    match (&conn.transport, &conn.graph) {
        (MailboxTransport::Graph, Some(g)) => {
            urls.push(g.graph_url.as_str());
            urls.push(g.authority_url.as_str());
        }
        (MailboxTransport::Graph, None) => {
            return Err(TransportError::permanent(
                "the mailbox has no Microsoft Graph settings",
            ));
        }
        (MailboxTransport::Ews, _) => {
            urls.push(conn.ews_url.as_str());
            if conn.auth.kind == "oauth2_client_credentials"
                && let Some(token_url) = conn.auth.token_url.as_deref()
            {
                urls.push(token_url);
            }
        }
    }
    let mut pins = Vec::new();
    for url in urls {
        let addrs = resolve_checked(url, allowed_hosts, resolver).await?;
        pins.push((host_port(url)?.0, addrs));
    }
    Ok(pins)
}
