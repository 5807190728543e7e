//! DNS rebinding: the host of a mailbox resolves to one address when it is checked and to
//! another (internal) one later. The client must connect to the checked address only.
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures_util::future::BoxFuture;

use super::EwsTransport;
use crate::domain::mailbox::AuthPublic;
use crate::store::mailboxes::MailboxConnection;
use crate::transport::ExchangeContacts;
use crate::transport::address::{Resolve, pins_from};

/// Answers the checked address once; any later lookup would get the internal one.
struct Rebinding {
    checked: SocketAddr,
    later: SocketAddr,
    lookups: AtomicUsize,
}

impl Resolve for Rebinding {
    fn lookup<'a>(
        &'a self,
        _host: &'a str,
        _port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<SocketAddr>>> {
        let first = self.lookups.fetch_add(1, Ordering::SeqCst) == 0;
        let addr = if first { self.checked } else { self.later };
        Box::pin(async move { Ok(vec![addr]) })
    }
}

/// A listener that only counts the connections it gets: the internal service.
async fn trap(addr: SocketAddr) -> Arc<AtomicUsize> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .expect("trap binds");
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    hits
}

#[tokio::test]
async fn the_client_connects_to_the_checked_address_not_to_a_later_dns_answer() {
    // The checked server (the simulator) on 127.0.0.2; the internal one on 127.0.0.1,
    // same port, which is what `localhost` resolves to for anyone asking DNS again.
    let sim = ews_sim::spawn(ews_sim::SimConfig {
        listen: "127.0.0.2:0".parse().unwrap(),
        mailboxes: vec![ews_sim::Credential::new("alice@example.com", "pw-S3cret")],
        ..Default::default()
    })
    .await
    .unwrap();
    let port = sim.addr().port();
    let internal: SocketAddr = ([127, 0, 0, 1], port).into();
    let hits = trap(internal).await;
    let conn = MailboxConnection {
        id: uuid::Uuid::now_v7(),
        owner_id: "alice".into(),
        email: "alice@example.com".into(),
        ews_url: format!("http://localhost:{port}/EWS/Exchange.asmx"),
        server_version: "Exchange2013_SP1".into(),
        impersonate: false,
        auth: AuthPublic {
            kind: "basic".into(),
            username: Some("alice@example.com".into()),
            ..Default::default()
        },
        transport: crate::domain::mailbox::MailboxTransport::Ews,
        graph: None,
        carry_over_from: None,
        secret: "pw-S3cret".into(),
    };
    let allowed = vec!["localhost".to_owned()];
    let resolver = Rebinding {
        checked: sim.addr(),
        later: internal,
        lookups: AtomicUsize::new(0),
    };
    let pins = pins_from(&conn, &allowed, &resolver).await.unwrap();
    let transport = EwsTransport::build(&conn, ews::RetryPolicy::default(), pins).unwrap();
    let folders = transport
        .contact_folders()
        .await
        .expect("the checked server answers");
    assert!(!folders.is_empty());
    assert_eq!(
        resolver.lookups.load(Ordering::SeqCst),
        1,
        "the host is resolved once"
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "no connection to the internal address"
    );

    // Without the pin, the same client asks DNS again and lands on the internal address:
    // what the pin prevents.
    let once = ews::RetryPolicy {
        max_attempts: 1,
        ..ews::RetryPolicy::default()
    };
    let unpinned = EwsTransport::build(&conn, once, Vec::new()).unwrap();
    let _ = unpinned.contact_folders().await;
    assert!(
        hits.load(Ordering::SeqCst) > 0,
        "the control reaches the trap"
    );
}

/// A TCP relay on `listen` to `to` that counts the connections it accepts.
async fn counting_relay(listen: SocketAddr, to: SocketAddr) -> Arc<AtomicUsize> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .expect("relay binds");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                if let Ok(mut server) = tokio::net::TcpStream::connect(to).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    accepted
}

fn basic_connection(email: &str, password: &str, port: u16) -> MailboxConnection {
    MailboxConnection {
        id: uuid::Uuid::now_v7(),
        owner_id: email.into(),
        email: email.into(),
        ews_url: format!("http://localhost:{port}/EWS/Exchange.asmx"),
        server_version: "Exchange2013_SP1".into(),
        impersonate: false,
        auth: AuthPublic {
            kind: "basic".into(),
            username: Some(email.into()),
            ..Default::default()
        },
        transport: crate::domain::mailbox::MailboxTransport::Ews,
        graph: None,
        carry_over_from: None,
        secret: password.into(),
    }
}

#[tokio::test]
async fn mailboxes_checked_to_the_same_addresses_share_connections_and_others_do_not() {
    let sim = ews_sim::spawn(ews_sim::SimConfig {
        listen: "127.0.0.3:0".parse().unwrap(),
        mailboxes: vec![
            ews_sim::Credential::new("alice@example.com", "pw-Alice1"),
            ews_sim::Credential::new("bob@example.com", "pw-Bob1"),
        ],
        ..Default::default()
    })
    .await
    .unwrap();
    // `localhost:port` checked to 127.0.0.4 for two mailboxes, to 127.0.0.5 for a third:
    // two relays to the same simulator, on the URL's port (a pin never changes the port).
    let port = sim.addr().port();
    let first: SocketAddr = ([127, 0, 0, 4], port).into();
    let second: SocketAddr = ([127, 0, 0, 5], port).into();
    let via_first = counting_relay(first, sim.addr()).await;
    let via_second = counting_relay(second, sim.addr()).await;
    let pins = |addr: SocketAddr| vec![("localhost".to_owned(), vec![addr])];
    let policy = ews::RetryPolicy::default;
    let alice = basic_connection("alice@example.com", "pw-Alice1", port);
    let bob = basic_connection("bob@example.com", "pw-Bob1", port);

    let a = EwsTransport::build(&alice, policy(), pins(first)).unwrap();
    a.contact_folders().await.expect("alice's folders");
    let opened = via_first.load(Ordering::SeqCst);
    assert!(opened >= 1);
    // Let the connection go back to the pool.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let b = EwsTransport::build(&bob, policy(), pins(first)).unwrap();
    b.contact_folders().await.expect("bob's folders");
    assert_eq!(
        via_first.load(Ordering::SeqCst),
        opened,
        "bob's requests reuse the connection alice's opened"
    );

    // The same host checked to another address: a client of its own, that goes there.
    let c = EwsTransport::build(&bob, policy(), pins(second)).unwrap();
    c.contact_folders().await.expect("bob's folders again");
    assert!(
        via_second.load(Ordering::SeqCst) >= 1,
        "the other pin is used"
    );
    assert_eq!(
        via_first.load(Ordering::SeqCst),
        opened,
        "never a connection to the first address for the second pin"
    );
}
