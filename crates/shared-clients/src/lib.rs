//! What the protocol crates (`ews`, `graph`) share between the clients of many mailboxes:
//! reqwest clients with their connection pools, and token caches. Building either anew
//! for every run of every mailbox would cost a TLS setup, the open connections and a
//! token fetch each time.
//!
//! This crate holds only the bookkeeping (the keys and the bounds). Each protocol crate
//! keeps its own registry instances and its own client builder, so an EWS client is never
//! handed to Graph or the other way round.

mod caches;
mod clients;

pub use caches::CacheRegistry;
pub use clients::{ClientKey, ClientRegistry, pins_text};

/// Host names with the addresses they were checked to, answered instead of DNS.
pub type Pins = [(String, Vec<std::net::SocketAddr>)];
