//! The hostile EWS server suite: a server that answers with recursion bait, a 100k-deep
//! folder tree, endless paging (cut per feed, per run, or by a cancel between pages), a
//! 1 GB body, token and NTLM challenge bodies without end, a slow body, invalid UTF-8, a
//! DTD entity bomb and wrong content types. Each case ends the call or the run with a
//! clear error, the process stays up (the next request is answered), and memory stays
//! bounded.
use std::sync::Arc;
use std::time::Duration;

use contactsync::domain::run::{Run, RunStatus};
use contactsync::worker::Shutdown;
use contactsync::worker::clock::SystemClock;
use contactsync::worker::queue::{Outcome, Worker};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::TestApp;

/// What the hostile server sends back to one request.
enum Reply {
    /// A whole answer: status, content type, body.
    Full(u16, &'static str, Vec<u8>),
    /// Declares `Content-Length` of this many bytes, then sends zeros until the client leaves.
    Declared(u64),
    /// Chunked zeros, without end.
    Endless,
    /// This status and header line, then chunked zeros without end.
    EndlessWith(u16, &'static str),
    /// The body one byte a second.
    Slow(Vec<u8>),
}

type Script = Arc<dyn Fn(&str) -> Reply + Send + Sync>;

/// A server that answers each request by its EWS operation (`GetFolder`, `FindFolder`,
/// `SyncFolderItems`, ...); returns the EWS URL.
async fn hostile(script: impl Fn(&str) -> Reply + Send + Sync + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/EWS/Exchange.asmx",
        listener.local_addr().unwrap()
    );
    let script: Script = Arc::new(script);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let script = script.clone();
            tokio::spawn(async move {
                let _ = answer(stream, script).await;
            });
        }
    });
    url
}

async fn answer(stream: tokio::net::TcpStream, script: Script) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    let mut len = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).await?;
    let body = String::from_utf8_lossy(&body);
    let op = ["GetFolder", "FindFolder", "SyncFolderItems", "GetItem"]
        .into_iter()
        .find(|op| body.contains(&format!("<m:{op}")))
        .unwrap_or("other");
    let mut stream = reader.into_inner();
    match script(op) {
        Reply::Full(status, content_type, body) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            stream.write_all(&body).await?;
        }
        Reply::Declared(len) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            let zeros = vec![b' '; 64 * 1024];
            loop {
                stream.write_all(&zeros).await?;
            }
        }
        Reply::Endless | Reply::EndlessWith(..) => {
            let (status, header) = match script(op) {
                Reply::EndlessWith(status, header) => (status, format!("{header}\r\n")),
                _ => (200, String::new()),
            };
            let head = format!(
                "HTTP/1.1 {status} X\r\n{header}Content-Type: text/xml; charset=utf-8\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            );
            stream.write_all(head.as_bytes()).await?;
            let mut chunk = b"10000\r\n".to_vec();
            chunk.extend(vec![b' '; 0x10000]);
            chunk.extend(b"\r\n");
            loop {
                stream.write_all(&chunk).await?;
            }
        }
        Reply::Slow(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            stream.write_all(head.as_bytes()).await?;
            for b in body {
                stream.write_all(&[b]).await?;
                stream.flush().await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
    stream.flush().await
}

const XML: &str = "text/xml; charset=utf-8";
const CONTACTS: &str = "CONTACTS";

/// A SOAP envelope around the `<op>Response` holding `messages`.
fn envelope(op: &str, messages: &str) -> Vec<u8> {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>
<m:{op}Response xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">{messages}</m:{op}Response>
</s:Body></s:Envelope>"#
    )
    .into_bytes()
}

/// A GetFolder answer: the Contacts folder.
fn get_folder() -> Reply {
    Reply::Full(
        200,
        XML,
        envelope(
            "GetFolder",
            &format!(
                r#"<m:ResponseMessages><m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
<m:Folders><t:ContactsFolder><t:FolderId Id="{CONTACTS}" ChangeKey="ck"/><t:FolderClass>IPF.Contact</t:FolderClass>
<t:DisplayName>Contacts</t:DisplayName><t:TotalCount>0</t:TotalCount></t:ContactsFolder></m:Folders>
</m:GetFolderResponseMessage></m:ResponseMessages>"#
            ),
        ),
    )
}

/// A FindFolder page of `folders` (id, parent id), with the paging attributes given.
fn find_folder(folders: impl Iterator<Item = (String, String)>, paging: &str) -> Reply {
    let mut xml = String::from(
        r#"<m:ResponseMessages><m:FindFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>"#,
    );
    xml.push_str(&format!("<m:RootFolder {paging}><t:Folders>"));
    for (id, parent) in folders {
        xml.push_str(&format!(
            r#"<t:ContactsFolder><t:FolderId Id="{id}"/><t:ParentFolderId Id="{parent}"/><t:DisplayName>f</t:DisplayName></t:ContactsFolder>"#
        ));
    }
    xml.push_str("</t:Folders></m:RootFolder></m:FindFolderResponseMessage></m:ResponseMessages>");
    Reply::Full(200, XML, envelope("FindFolder", &xml))
}

/// A chain of `n` folders, each the child of the one before, under Contacts.
fn chain(n: usize) -> impl Iterator<Item = (String, String)> {
    (0..n).map(|i| {
        let parent = if i == 0 {
            CONTACTS.to_owned()
        } else {
            format!("f{}", i - 1)
        };
        (format!("f{i}"), parent)
    })
}

/// A SOAP fault whose inner code names itself: a recursion bait.
fn recursion_bait() -> Reply {
    let fault = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault>
<faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:ErrorInternalServerError</faultcode>
<faultstring xml:lang="en-US">An internal server error occurred.</faultstring>
<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">ErrorInternalServerError</e:ResponseCode>
<e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">An internal server error occurred.</e:Message>
<t:MessageXml xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
<t:Value Name="InnerErrorResponseCode">ErrorInternalServerError</t:Value>
<t:Value Name="InnerErrorMessageText">again</t:Value></t:MessageXml></detail>
</s:Fault></s:Body></s:Envelope>"#;
    Reply::Full(500, XML, fault.as_bytes().to_vec())
}

/// Connects a mailbox on `url` for alice; returns (token, mailbox id).
async fn mailbox_on(app: &TestApp, url: &str) -> (String, String) {
    let alice = app.token("alice");
    let m = app
        .create(
            "/api/v1/mailboxes",
            &alice,
            json!({"email": "alice@example.com", "ews_url": url,
                   "auth": {"kind": "basic", "username": "alice", "password": "pw"}}),
        )
        .await;
    (alice, m["id"].as_str().unwrap().to_owned())
}

/// The folder tree through the API: a 502 problem naming what went wrong.
async fn folders_refused(app: &TestApp, token: &str, mailbox: &str, why: &str) {
    let r = app
        .get(
            &format!("/api/v1/mailboxes/{mailbox}/exchange-folders"),
            token,
        )
        .await;
    r.assert_problem(502, "exchange_error");
    assert!(
        r.text.to_lowercase().contains(why),
        "expected `{why}` in {}",
        r.text
    );
    still_up(app).await;
}

/// The process answers the next request.
async fn still_up(app: &TestApp) {
    // A new connection: the server may close a kept-alive one after a long answer.
    let health = reqwest::get(format!("{}/healthz", app.base))
        .await
        .expect("the server answers");
    assert_eq!(health.status(), 200, "the process stays up");
}

/// Resident memory of this process, in MiB (Linux).
fn rss_mib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb / 1024)
}

/// Enqueues a run of the mailbox and executes it with a worker over `engine` limits.
async fn run_once(
    app: &TestApp,
    token: &str,
    mailbox: &str,
    limits: impl FnOnce(&mut contactsync::sync::limits::RunLimits),
) -> Run {
    let profile = app
        .put(
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync"),
            token,
            json!({"import": {"enabled": true, "scope": "all"}}),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    let r = app
        .post(
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync/runs"),
            token,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let mut engine = app.engine();
    limits(&mut engine.limits);
    let worker = Worker::new(
        "hostile-w",
        engine,
        app.events.clone(),
        Arc::new(SystemClock),
        chrono::Duration::seconds(30),
        Shutdown::default(),
    );
    match worker.try_execute_one().await.unwrap() {
        Outcome::Finished { run, .. } => *run,
        other => panic!("the run did not finish: {other:?}"),
    }
}

#[tokio::test]
async fn recursion_bait_fails_the_call_and_the_process_stays_up() {
    let app = TestApp::spawn().await;
    let url = hostile(|_| recursion_bait()).await;
    let (alice, m) = mailbox_on(&app, &url).await;
    let test = app
        .post(&format!("/api/v1/mailboxes/{m}/test"), &alice, json!({}))
        .await;
    assert_eq!(test.status, 200, "{}", test.text);
    assert_eq!(test.body["ok"], false);
    assert!(
        test.text.contains("ErrorInternalServerError"),
        "{}",
        test.text
    );
    folders_refused(&app, &alice, &m, "internalservererror").await;
    let run = run_once(&app, &alice, &m, |_| {}).await;
    assert_eq!(run.status, RunStatus::Failed);
    still_up(&app).await;
}

#[tokio::test]
async fn a_100k_deep_folder_tree_is_refused_and_a_deep_one_under_the_count_cap_too() {
    let app = TestApp::spawn().await;
    let url = hostile(|op| match op {
        "GetFolder" => get_folder(),
        _ => find_folder(
            chain(100_000),
            r#"IndexedPagingOffset="100000" IncludesLastItemInRange="true""#,
        ),
    })
    .await;
    let (alice, m) = mailbox_on(&app, &url).await;
    folders_refused(&app, &alice, &m, "more than 5000 contacts folders").await;

    let url = hostile(|op| match op {
        "GetFolder" => get_folder(),
        _ => find_folder(
            chain(4_000),
            r#"IndexedPagingOffset="4000" IncludesLastItemInRange="true""#,
        ),
    })
    .await;
    let alice = app.token("alice");
    let m = app
        .patch(
            &format!("/api/v1/mailboxes/{m}"),
            &alice,
            json!({"ews_url": url, "auth": {"kind": "basic", "password": "pw"}}),
        )
        .await;
    let m = m.body["id"].as_str().unwrap().to_owned();
    folders_refused(&app, &alice, &m, "nested deeper than 64").await;
    let run = run_once(&app, &alice, &m, |_| {}).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(run.error.unwrap().contains("nested deeper"));
}

#[tokio::test]
async fn endless_paging_ends_the_call_or_the_run() {
    let app = TestApp::spawn().await;
    // FindFolder that always says "more" at the same offset.
    let url = hostile(|op| match op {
        "GetFolder" => get_folder(),
        _ => find_folder(
            chain(1),
            r#"IndexedPagingOffset="0" IncludesLastItemInRange="false""#,
        ),
    })
    .await;
    let (alice, m) = mailbox_on(&app, &url).await;
    folders_refused(&app, &alice, &m, "does not advance").await;

    // A change feed that never says "last page".
    let pages = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = endless_feed(pages.clone()).await;
    let m = app
        .patch(
            &format!("/api/v1/mailboxes/{m}"),
            &alice,
            json!({"ews_url": url, "auth": {"kind": "basic", "password": "pw"}}),
        )
        .await;
    let m = m.body["id"].as_str().unwrap().to_owned();
    let run = run_once(&app, &alice, &m, |l| {
        l.max_feed_pages = 25;
        l.max_run_pages = 100;
    })
    .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.error.as_deref().unwrap().contains("max_feed_pages"),
        "{:?}",
        run.error
    );
    assert_eq!(pages.load(std::sync::atomic::Ordering::SeqCst), 25);
    still_up(&app).await;

    // The cap of the whole run, below the feed's.
    pages.store(0, std::sync::atomic::Ordering::SeqCst);
    let run = run_once(&app, &alice, &m, |l| {
        l.max_feed_pages = 1_000;
        l.max_run_pages = 30;
    })
    .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.error.as_deref().unwrap().contains("max_run_pages"),
        "{:?}",
        run.error
    );
    assert_eq!(pages.load(std::sync::atomic::Ordering::SeqCst), 30);
    still_up(&app).await;
}

/// A server whose change feed never says "last page"; `pages` counts the pages served.
async fn endless_feed(pages: Arc<std::sync::atomic::AtomicUsize>) -> String {
    let counted = pages;
    hostile(move |op| match op {
        "GetFolder" => get_folder(),
        "FindFolder" => find_folder(
            std::iter::empty(),
            r#"IndexedPagingOffset="0" IncludesLastItemInRange="true""#,
        ),
        _ => {
            let n = counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Reply::Full(
                200,
                XML,
                envelope(
                    "SyncFolderItems",
                    &format!(
                    r#"<m:ResponseMessages><m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode>
<m:SyncState>state-{n}</m:SyncState><m:IncludesLastItemInRange>false</m:IncludesLastItemInRange><m:Changes/>
</m:SyncFolderItemsResponseMessage></m:ResponseMessages>"#
                    ),
                ),
            )
        }
    })
    .await
}

#[tokio::test]
async fn a_cancel_is_seen_between_feed_pages() {
    let app = TestApp::spawn().await;
    let pages = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let url = endless_feed(pages.clone()).await;
    let (alice, m) = mailbox_on(&app, &url).await;
    let profile = app
        .put(
            &format!("/api/v1/mailboxes/{m}/contact-sync"),
            &alice,
            json!({"import": {"enabled": true, "scope": "all"}}),
        )
        .await;
    assert_eq!(profile.status, 200, "{}", profile.text);
    let r = app
        .post(
            &format!("/api/v1/mailboxes/{m}/contact-sync/runs"),
            &alice,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let cancel = format!(
        "/api/v1/contact-sync/runs/{}/cancel",
        r.body["id"].as_str().unwrap()
    );
    // No page cap in reach: only the cancel can end this run.
    let mut engine = app.engine();
    engine.limits.max_feed_pages = 1_000_000;
    engine.limits.max_run_pages = 1_000_000;
    let worker = Worker::new(
        "hostile-w",
        engine,
        app.events.clone(),
        Arc::new(SystemClock),
        chrono::Duration::seconds(30),
        Shutdown::default(),
    );
    let running = tokio::spawn(async move { worker.try_execute_one().await });
    crate::support::eventually(30, "the run to page through the feed", || async {
        pages.load(std::sync::atomic::Ordering::SeqCst) >= 5
    })
    .await;
    let r = app.post(&cancel, &alice, json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let at_cancel = pages.load(std::sync::atomic::Ordering::SeqCst);
    let run = match tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("the run stops soon after the cancel")
        .unwrap()
        .unwrap()
    {
        Outcome::Finished { run, .. } => *run,
        other => panic!("the run did not finish: {other:?}"),
    };
    let after = pages.load(std::sync::atomic::Ordering::SeqCst) - at_cancel;
    println!("cancelled after {at_cancel} pages; {after} more page(s) read");
    assert_eq!(run.status, RunStatus::Cancelled, "{run:?}");
    assert!(
        after <= 2,
        "the cancel is seen at the next page: {after} more"
    );
    still_up(&app).await;
}

#[tokio::test]
async fn a_run_longer_than_the_maximum_duration_fails_with_that_reason() {
    let app = TestApp::spawn().await;
    let url = hostile(|op| match op {
        "GetFolder" => get_folder(),
        "FindFolder" => find_folder(
            std::iter::empty(),
            r#"IndexedPagingOffset="0" IncludesLastItemInRange="true""#,
        ),
        // Every feed page takes 2 s and there is always another.
        _ => Reply::Slow(b"  ".to_vec()),
    })
    .await;
    let (alice, m) = mailbox_on(&app, &url).await;
    let started = std::time::Instant::now();
    let run = run_once(&app, &alice, &m, |l| {
        l.max_run_duration = Duration::from_secs(3)
    })
    .await;
    assert_eq!(run.status, RunStatus::Failed);
    assert!(
        run.error
            .as_deref()
            .unwrap()
            .contains("maximum run duration"),
        "{:?}",
        run.error
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn huge_bodies_are_cut_at_the_limit_and_memory_stays_bounded() {
    let app = TestApp::spawn().await;
    let before = rss_mib();
    let url = hostile(|op| match op {
        "GetFolder" => Reply::Declared(1 << 30),
        _ => Reply::Endless,
    })
    .await;
    let (alice, m) = mailbox_on(&app, &url).await;
    // Declared 1 GB: refused from the header.
    folders_refused(&app, &alice, &m, "larger than").await;
    // Chunked without end: refused at the limit while streaming.
    let url = hostile(|_| Reply::Endless).await;
    let m = app
        .patch(
            &format!("/api/v1/mailboxes/{m}"),
            &alice,
            json!({"ews_url": url, "auth": {"kind": "basic", "password": "pw"}}),
        )
        .await;
    let m = m.body["id"].as_str().unwrap().to_owned();
    folders_refused(&app, &alice, &m, "larger than").await;
    let grown = rss_mib().saturating_sub(before);
    println!("resident memory grew by {grown} MiB reading endless bodies");
    assert!(
        grown < 400,
        "memory stays bounded (64 MiB per response): grew {grown} MiB"
    );
}

#[tokio::test]
async fn a_slow_body_ends_at_the_request_timeout() {
    let url = hostile(|_| Reply::Slow(vec![b' '; 10_000])).await;
    let mut config = ews::ClientConfig::new(
        url,
        ews::Auth::Basic {
            username: "alice".into(),
            password: "pw".into(),
        },
    );
    config.request_timeout = Duration::from_secs(3);
    config.retry.max_attempts = 1;
    let client = ews::EwsClient::new(config).unwrap();
    let started = std::time::Instant::now();
    let e = client
        .get_folder(ews::types::BaseFolderId::contacts())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("timeout"), "{e}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn garbled_answers_end_the_call_with_a_clear_error() {
    let app = TestApp::spawn().await;
    let cases: Vec<(Reply, &str)> = vec![
        (
            Reply::Full(200, XML, b"<?xml version=\"1.0\"?>\xff\xfe<bad/>".to_vec()),
            "not utf-8",
        ),
        (
            Reply::Full(
                200,
                XML,
                br#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>&lol3;</s:Body></s:Envelope>"#
                    .to_vec(),
            ),
            "dtd",
        ),
        (
            Reply::Full(
                200,
                "text/html",
                b"<html><body>Sign in to continue</body></html>".to_vec(),
            ),
            "malformed",
        ),
        (
            Reply::Full(200, "application/json", br#"{"value": []}"#.to_vec()),
            "malformed",
        ),
        (
            Reply::Full(404, "text/html", b"<html>not here</html>".to_vec()),
            "http 404",
        ),
    ];
    let alice = app.token("alice");
    let mut mailbox: Option<String> = None;
    for (reply, why) in cases {
        let reply = Arc::new(std::sync::Mutex::new(Some(reply)));
        let url = hostile(move |_| {
            reply
                .lock()
                .unwrap()
                .take()
                .unwrap_or(Reply::Full(500, XML, Vec::new()))
        })
        .await;
        let m = match &mailbox {
            None => mailbox_on(&app, &url).await.1,
            Some(m) => {
                let r = app
                    .patch(
                        &format!("/api/v1/mailboxes/{m}"),
                        &alice,
                        json!({"ews_url": url, "auth": {"kind": "basic", "password": "pw"}}),
                    )
                    .await;
                assert_eq!(r.status, 200, "{}", r.text);
                m.clone()
            }
        };
        mailbox = Some(m.clone());
        let test = app
            .post(&format!("/api/v1/mailboxes/{m}/test"), &alice, json!({}))
            .await;
        assert_eq!(test.status, 200, "{}", test.text);
        assert_eq!(test.body["ok"], false, "{}", test.text);
        assert!(
            test.text.to_lowercase().contains(why),
            "expected `{why}` in {}",
            test.text
        );
        still_up(&app).await;
    }
}

#[tokio::test]
async fn the_simulator_control_api_can_live_on_its_own_address() {
    let sim = ews_sim::spawn(ews_sim::SimConfig {
        control_listen: Some("127.0.0.1:0".parse().unwrap()),
        mailboxes: vec![ews_sim::Credential::new("alice@example.com", "pw")],
        ..Default::default()
    })
    .await
    .unwrap();
    assert_ne!(sim.control_url(), sim.base_url());
    let beside_ews = reqwest::get(format!("{}/_sim/mailboxes", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(beside_ews.status(), 404, "/_sim is not served beside EWS");
    let own = reqwest::get(format!("{}/_sim/mailboxes", sim.control_url()))
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert!(own.text().await.unwrap().contains("alice@example.com"));
    // A credential that does not parse is not echoed: it may hold a password.
    let e = "no-at-sign:hunter2"
        .parse::<ews_sim::Credential>()
        .unwrap_err();
    assert!(!e.to_string().contains("hunter2"), "{e}");
}

#[tokio::test]
async fn endless_token_and_ntlm_challenge_bodies_end_at_their_limit() {
    let app = TestApp::spawn_with(|s| s.ews_request_timeout_seconds = 30).await;
    let alice = app.token("alice");
    let before = rss_mib();
    let started = std::time::Instant::now();
    // The OAuth2 token endpoint answers 200 with a body without end.
    let token_url = hostile(|_| Reply::Endless).await;
    let ews = hostile(|_| Reply::Full(500, XML, Vec::new())).await;
    let m = app
        .create(
            "/api/v1/mailboxes",
            &alice,
            json!({"email": "alice@example.com", "ews_url": ews,
                   "auth": {"kind": "oauth2_client_credentials", "token_url": token_url,
                            "client_id": "app", "client_secret": "cs", "scope": "s"}}),
        )
        .await;
    folders_refused(&app, &alice, m["id"].as_str().unwrap(), "larger than").await;
    // NTLM: the challenge (a 401) carries a body without end; it is read up to the limit
    // only, and the handshake ends with a clear error.
    let ews = hostile(|_| Reply::EndlessWith(401, "WWW-Authenticate: NTLM TlRMTVNTUAACAAAA")).await;
    let m = app
        .create(
            "/api/v1/mailboxes",
            &alice,
            json!({"email": "alice.ntlm@example.com", "ews_url": ews,
                   "auth": {"kind": "ntlm", "username": "alice", "domain": "D", "password": "pw"}}),
        )
        .await;
    let r = app
        .get(
            &format!(
                "/api/v1/mailboxes/{}/exchange-folders",
                m["id"].as_str().unwrap()
            ),
            &alice,
        )
        .await;
    println!("NTLM challenge without end: {} {}", r.status, r.text);
    assert_eq!(r.status, 502, "{}", r.text);
    still_up(&app).await;
    let elapsed = started.elapsed();
    let grown = rss_mib().saturating_sub(before);
    println!("token and NTLM bodies without end: {elapsed:?}, resident memory grew by {grown} MiB");
    assert!(
        elapsed < Duration::from_secs(20),
        "cut at the limit, not at the request timeout: {elapsed:?}"
    );
    assert!(grown < 200, "memory stays bounded: grew {grown} MiB");
}
