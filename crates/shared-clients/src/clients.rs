//! Shared reqwest clients, keyed by their pins and timeouts.
//!
//! A client answers its pinned host names from its own table, never from DNS: that is
//! what keeps a second DNS answer (rebinding) from sending a request elsewhere. Sharing
//! keeps the property because the pins are the key: a client is only ever handed to a
//! caller whose hosts were checked to the very same addresses.
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use crate::Pins;

/// What a shared client is built from: the pins, host by host (lower case, in order)
/// with sorted, deduplicated addresses, and the timeouts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClientKey {
    pins: Vec<(String, Vec<SocketAddr>)>,
    connect_timeout: Duration,
    request_timeout: Duration,
}

impl ClientKey {
    /// The key of a client built with `pins` and these timeouts, whatever their order.
    pub fn new(pins: &Pins, connect_timeout: Duration, request_timeout: Duration) -> Self {
        let mut pins: Vec<(String, Vec<SocketAddr>)> = pins
            .iter()
            .map(|(host, addrs)| {
                let mut addrs = addrs.clone();
                addrs.sort_unstable();
                addrs.dedup();
                (host.to_ascii_lowercase(), addrs)
            })
            .collect();
        pins.sort();
        ClientKey {
            pins,
            connect_timeout,
            request_timeout,
        }
    }
}

/// Shared reqwest clients, at most a bound of them: the least recently handed out goes
/// first (a client still held lives on with its holder).
pub struct ClientRegistry {
    bound: usize,
    state: Mutex<Clients>,
}

#[derive(Default)]
struct Clients {
    /// Each client with the use count at which it was last handed out.
    by_key: HashMap<ClientKey, (reqwest::Client, u64)>,
    uses: u64,
}

impl ClientRegistry {
    /// An empty registry that keeps at most `bound` clients.
    pub fn new(bound: usize) -> Self {
        Self {
            bound,
            state: Mutex::default(),
        }
    }

    /// The client of `key`: the shared one, else one from `build`, kept for later callers.
    /// `build` runs under the registry's lock, so callers of one key build one client.
    pub fn client<E>(
        &self,
        key: ClientKey,
        build: impl FnOnce() -> Result<reqwest::Client, E>,
    ) -> Result<reqwest::Client, E> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.uses += 1;
        let now = state.uses;
        if let Some((client, last_use)) = state.by_key.get_mut(&key) {
            *last_use = now;
            return Ok(client.clone());
        }
        let client = build()?;
        if state.by_key.len() >= self.bound
            && let Some(oldest) = state
                .by_key
                .iter()
                .min_by_key(|(_, (_, last_use))| *last_use)
                .map(|(k, _)| k.clone())
        {
            state.by_key.remove(&oldest);
        }
        state.by_key.insert(key, (client.clone(), now));
        Ok(client)
    }
}

/// The pins as one text, the same whatever the order of hosts and addresses: a cache key
/// digests it so that a cache is shared only through the same checked addresses.
pub fn pins_text(pins: &Pins) -> String {
    let mut pins: Vec<String> = pins
        .iter()
        .map(|(host, addrs)| {
            let mut addrs = addrs.clone();
            addrs.sort_unstable();
            format!("{}={addrs:?}", host.to_ascii_lowercase())
        })
        .collect();
    pins.sort();
    pins.join(";")
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::convert::Infallible;

    use super::*;

    fn pin(host: &str, addrs: &[&str]) -> (String, Vec<SocketAddr>) {
        let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
        (host.to_owned(), addrs)
    }

    fn key(pins: &Pins) -> ClientKey {
        ClientKey::new(pins, Duration::from_secs(10), Duration::from_secs(120))
    }

    /// Hands out `key`'s client, counting in `builds` whether one had to be built.
    fn client(registry: &ClientRegistry, key: ClientKey, builds: &Cell<u32>) -> reqwest::Client {
        registry
            .client(key, || {
                builds.set(builds.get() + 1);
                Ok::<_, Infallible>(reqwest::Client::new())
            })
            .unwrap()
    }

    #[test]
    fn the_same_pins_in_any_order_or_case_share_one_client() {
        let registry = ClientRegistry::new(8);
        let builds = Cell::new(0);
        let a = "192.0.2.1:443";
        let b = "192.0.2.2:443";
        client(&registry, key(&[pin("mail.example.com", &[a, b])]), &builds);
        client(
            &registry,
            key(&[pin("MAIL.example.com", &[b, a, b])]),
            &builds,
        );
        assert_eq!(builds.get(), 1);
    }

    #[test]
    fn other_pins_or_timeouts_build_another_client() {
        let registry = ClientRegistry::new(8);
        let builds = Cell::new(0);
        let pins = [pin("mail.example.com", &["192.0.2.1:443"])];
        client(&registry, key(&pins), &builds);
        client(
            &registry,
            key(&[pin("mail.example.com", &["192.0.2.9:443"])]),
            &builds,
        );
        client(
            &registry,
            key(&[pin("other.example.com", &["192.0.2.1:443"])]),
            &builds,
        );
        let slower = ClientKey::new(&pins, Duration::from_secs(10), Duration::from_secs(300));
        client(&registry, slower, &builds);
        assert_eq!(builds.get(), 4);
    }

    #[test]
    fn a_full_registry_drops_the_least_recently_handed_out_client() {
        let registry = ClientRegistry::new(2);
        let builds = Cell::new(0);
        let [a, b, c] = ["a.example.com", "b.example.com", "c.example.com"]
            .map(|host| key(&[pin(host, &["192.0.2.1:443"])]));
        client(&registry, a.clone(), &builds);
        client(&registry, b.clone(), &builds);
        client(&registry, a.clone(), &builds);
        client(&registry, c.clone(), &builds);
        assert_eq!(builds.get(), 3);
        client(&registry, a, &builds);
        client(&registry, c, &builds);
        assert_eq!(builds.get(), 3, "a and c stay shared");
        client(&registry, b, &builds);
        assert_eq!(builds.get(), 4, "b was dropped");
    }

    #[test]
    fn a_failed_build_is_not_kept() {
        let registry = ClientRegistry::new(8);
        let builds = Cell::new(0);
        let pins = [pin("mail.example.com", &["192.0.2.1:443"])];
        assert!(registry.client(key(&pins), || Err("no TLS")).is_err());
        client(&registry, key(&pins), &builds);
        assert_eq!(builds.get(), 1);
    }

    #[test]
    fn pins_text_ignores_the_order_of_hosts_and_addresses_and_the_case_of_hosts() {
        let a = pin("a.example.com", &["192.0.2.1:443", "192.0.2.2:443"]);
        let b = pin("B.example.com", &["192.0.2.3:443"]);
        let reordered = [
            pin("b.example.com", &["192.0.2.3:443"]),
            pin("A.example.com", &["192.0.2.2:443", "192.0.2.1:443"]),
        ];
        assert_eq!(pins_text(&[a.clone(), b]), pins_text(&reordered));
        assert_ne!(pins_text(&[a]), pins_text(&reordered));
    }
}
