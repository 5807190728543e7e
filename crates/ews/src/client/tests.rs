//! Retry, auth, size-limit and redaction behaviour against a tiny scripted HTTP server
//! (full client-against-simulator tests live in crates/ews-sim).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::*;
use crate::envelope::{Fault, ServerVersionInfo};
use crate::ops::{SyncChanges, SyncFolderItemsResponse, SyncFolderItemsResponseMessage};
use crate::types::{BaseFolderId, MessageXml};

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    head: String,
}

/// Serves the scripted `(status, body)` answers in order, one connection each.
fn serve(answers: Vec<(u16, String)>) -> (String, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/EWS/Exchange.asmx",
        listener.local_addr().unwrap()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for (status, body) in answers {
            let Ok((stream, _)) = listener.accept() else {
                return;
            };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body_in = vec![0; len];
            let _ = reader.read_exact(&mut body_in);
            log.lock().unwrap().push(Seen {
                at: Instant::now(),
                head,
            });
            let mut stream = stream;
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, seen)
}

fn client(url: &str) -> EwsClient {
    let mut config = ClientConfig::new(
        url,
        Auth::Basic {
            username: "alice".into(),
            password: "s3cret".into(),
        },
    );
    config.impersonate = Some("bob@example.com".into());
    config.retry = RetryPolicy {
        max_attempts: 3,
        min_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        max_server_back_off: Duration::from_secs(5),
    };
    config.max_response_bytes = 64 * 1024;
    EwsClient::new(config).unwrap()
}

fn sync_ok() -> String {
    let message = SyncFolderItemsResponseMessage {
        sync_state: Some("state-1".into()),
        includes_last_item_in_range: Some(true),
        changes: Some(SyncChanges::default()),
        ..SyncFolderItemsResponseMessage::success()
    };
    let body: Body = SyncFolderItemsResponse::new(vec![message]).into();
    envelope::to_xml(&Header::response(ServerVersionInfo::default()), &body).unwrap()
}

fn busy_fault(ms: u64) -> String {
    let fault = Fault::ews(
        "ErrorServerBusy",
        "The server cannot service this request right now. Try again later.",
        Some(MessageXml::with_back_off(Duration::from_millis(ms))),
    );
    envelope::to_xml(&Header::default(), &fault.into()).unwrap()
}

#[tokio::test]
async fn server_busy_fault_is_retried_after_the_back_off() {
    let (url, seen) = serve(vec![(500, busy_fault(300)), (200, sync_ok())]);
    let page = client(&url)
        .sync_folder_items(BaseFolderId::contacts(), None, 512, vec![])
        .await
        .unwrap();
    assert_eq!(page.sync_state, "state-1");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(
        seen[1].at - seen[0].at >= Duration::from_millis(300),
        "gap {:?}",
        seen[1].at - seen[0].at
    );
    let head = seen[0].head.to_ascii_lowercase();
    assert!(head.contains("x-anchormailbox: bob@example.com"), "{head}");
    assert!(head.contains("authorization: basic "), "{head}");
}

#[tokio::test]
async fn per_item_server_busy_on_a_single_item_call_is_retried() {
    let busy = SyncFolderItemsResponseMessage {
        message_xml: Some(MessageXml::with_back_off(Duration::from_millis(100))),
        ..SyncFolderItemsResponseMessage::error("ErrorServerBusy", "busy")
    };
    let body: Body = SyncFolderItemsResponse::new(vec![busy]).into();
    let busy = envelope::to_xml(&Header::default(), &body).unwrap();
    let (url, seen) = serve(vec![(200, busy), (200, sync_ok())]);
    client(&url)
        .sync_folder_items(BaseFolderId::contacts(), None, 10, vec![])
        .await
        .unwrap();
    let seen = seen.lock().unwrap();
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(100));
}

#[tokio::test]
async fn back_off_beyond_the_limit_is_returned_not_slept() {
    let (url, seen) = serve(vec![(500, busy_fault(600_000))]);
    let err = client(&url)
        .sync_folder_items(BaseFolderId::contacts(), None, 10, vec![])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Throttled { back_off: Some(d), .. } if d == Duration::from_secs(600))
    );
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn http_500_without_fault_is_retried_then_reported_transient() {
    let (url, seen) = serve(vec![
        (500, "oops".into()),
        (502, String::new()),
        (503, String::new()),
    ]);
    let err = client(&url)
        .sync_folder_items(BaseFolderId::contacts(), None, 10, vec![])
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn unauthorized_is_an_auth_error_without_retry() {
    let (url, seen) = serve(vec![(401, String::new()), (200, sync_ok())]);
    let err = client(&url)
        .sync_folder_items(BaseFolderId::contacts(), None, 10, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth { .. }), "{err:?}");
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn oversized_response_is_refused() {
    let (url, _) = serve(vec![(200, "x".repeat(100 * 1024))]);
    let err = client(&url)
        .sync_folder_items(BaseFolderId::contacts(), None, 10, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::ResponseTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn malformed_xml_is_a_clear_error() {
    let bad = "<s:Envelope><s:Body><m:SyncFolderItemsResponse>".to_string();
    let (url, _) = serve(vec![(200, bad.clone()), (200, bad.clone()), (200, bad)]);
    let err = client(&url)
        .sync_folder_items(BaseFolderId::contacts(), None, 10, vec![])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MalformedResponse(_)), "{err:?}");
}

#[test]
fn secrets_never_appear_in_debug() {
    let auths = [
        Auth::Basic {
            username: "u".into(),
            password: "pw-SECRET".into(),
        },
        Auth::Bearer {
            token: "tok-SECRET".into(),
        },
        Auth::Ntlm {
            username: "u".into(),
            password: "pw-SECRET".into(),
            domain: "D".into(),
        },
        Auth::OAuth2ClientCredentials {
            token_url: "https://login.example/token".into(),
            client_id: "id".into(),
            client_secret: "cs-SECRET".into(),
            scope: "s".into(),
        },
    ];
    for auth in auths {
        let config = ClientConfig::new("https://mail.example.com/EWS/Exchange.asmx", auth);
        let text = format!("{config:?} {:?}", EwsClient::new(config.clone()).unwrap());
        assert!(!text.contains("SECRET"), "{text}");
    }
}

#[test]
fn host_cap_is_shared_and_clamped() {
    let a = host_semaphore("cap-test.example:443", 100);
    let b = host_semaphore("CAP-TEST.example:443", 5);
    assert!(Arc::ptr_eq(&a, &b));
    assert_eq!(a.available_permits(), DEFAULT_MAX_CONCURRENCY_PER_HOST);
}
