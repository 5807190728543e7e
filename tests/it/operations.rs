//! Probes, metrics, request ids, Swagger UI, the OpenAPI drift check and the binary itself.
use std::time::Duration;

use contactsync::config::Settings;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn probes_metrics_and_request_ids() {
    let app = TestApp::spawn().await;
    let health = app
        .send(reqwest::Method::GET, "/healthz", None, None, &[])
        .await;
    assert_eq!(health.status, 200);
    assert_eq!(health.body["status"], "ok");
    let ready = app
        .send(reqwest::Method::GET, "/readyz", None, None, &[])
        .await;
    assert_eq!(ready.status, 200, "{}", ready.text);
    assert!(
        health
            .header("x-request-id")
            .is_some_and(|id| id.len() >= 32)
    );
    let echoed = app
        .send(
            reqwest::Method::GET,
            "/healthz",
            None,
            None,
            &[("x-request-id", "abc-123")],
        )
        .await;
    assert_eq!(echoed.header("x-request-id"), Some("abc-123"));
    // Any token is a valid HTTP method; it must not become a label of its own.
    let odd = reqwest::Method::from_bytes(b"FUZZMETHOD123").unwrap();
    let r = app.send(odd, "/healthz", None, None, &[]).await;
    assert!(r.status >= 400, "{}", r.status);
    let metrics = app
        .send(reqwest::Method::GET, "/metrics", None, None, &[])
        .await;
    assert_eq!(metrics.status, 200);
    assert!(!metrics.text.contains("FUZZMETHOD123"), "{}", metrics.text);
    assert!(
        metrics.text.contains(r#"method="other""#),
        "{}",
        metrics.text
    );
    assert!(
        metrics.text.contains("contactsync_http_requests_total"),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn swagger_ui_is_served_offline() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    let page = client
        .get(format!("{}/docs", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let r = client
            .get(format!("{}/docs/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
    }
    let init = client
        .get(format!("{}/docs/swagger-initializer.js", app.base))
        .send()
        .await
        .unwrap();
    assert!(init.text().await.unwrap().contains("/openapi.json"));
    let spec = app
        .send(reqwest::Method::GET, "/openapi.json", None, None, &[])
        .await;
    assert_eq!(spec.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn openapi_document_matches_the_checked_in_file() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    let checked_in = std::fs::read_to_string(path).unwrap_or_default();
    let generated = contactsync::app::openapi_json();
    assert!(
        checked_in == generated,
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json`"
    );
    let app = TestApp::spawn().await;
    let served = app
        .send(reqwest::Method::GET, "/openapi.json", None, None, &[])
        .await;
    let file: serde_json::Value = serde_json::from_str(&checked_in).unwrap();
    assert_eq!(
        served.body, file,
        "the served document is the checked-in one"
    );
}

#[test]
fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "listen = \"not an address\"\n").unwrap();
    let err = Settings::load(Some(&file)).unwrap_err().to_string();
    assert!(err.contains("listen"), "{err}");
    std::fs::write(&file, "lisen = \"127.0.0.1:1\"\n").unwrap();
    let err = Settings::load(Some(&file)).unwrap_err().to_string();
    assert!(err.contains("lisen"), "{err}");
    std::fs::write(&file, "workers = 1000\n").unwrap();
    let err = Settings::load(Some(&file)).unwrap_err().to_string();
    assert!(err.contains("CONTACTSYNC_WORKERS"), "{err}");
    let ok = Settings::load(Some(&dir.path().join("missing.toml")));
    assert!(ok.unwrap_err().to_string().contains("does not exist"));
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The README path: `contactsync` serves with no set-up, and `contactsync token` mints a
/// token it accepts.
#[tokio::test]
async fn the_binary_serves_and_its_tokens_work() {
    let bin = env!("CARGO_BIN_EXE_contactsync");
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = std::process::Command::new(bin)
        .current_dir(dir.path())
        .env_clear()
        .env("CONTACTSYNC_LISTEN", format!("127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if http
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let token = std::process::Command::new(bin)
        .current_dir(dir.path())
        .env_clear()
        .args(["token", "--sub", "alice", "--ttl", "10m"])
        .output()
        .unwrap();
    let result = async {
        assert!(up, "service did not become ready");
        assert!(
            token.status.success(),
            "{}",
            String::from_utf8_lossy(&token.stderr)
        );
        let token = String::from_utf8(token.stdout).unwrap().trim().to_owned();
        let r = http
            .post(format!("{base}/api/v1/accounts"))
            .bearer_auth(&token)
            .json(&json!({"name": "Acme"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let me: serde_json::Value = http
            .get(format!("{base}/api/v1/me"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["user_id"], "alice");
        assert!(dir.path().join("data/contactsync.db").exists());
        assert!(dir.path().join("data/jwt-secret").exists());
    };
    result.await;
    child.kill().ok();
    child.wait().ok();
}

#[test]
fn ews_sim_help_documents_every_flag() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_contactsync"))
        .args(["ews-sim", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--mailbox",
        "--service-account",
        "--latency-ms",
        "--state",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[tokio::test]
async fn the_setup_page_is_served_without_a_token_and_loads_nothing_from_elsewhere() {
    let app = TestApp::spawn().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .unwrap();
    let page = client.get(format!("{}/ui", app.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("Synchronize now"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN: {html}"
    );
    for (asset, kind) in [("app.js", "text/javascript"), ("style.css", "text/css")] {
        let r = client
            .get(format!("{}/ui/{asset}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(
            r.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with(kind)
        );
        let body = r.text().await.unwrap();
        assert!(!body.contains("https://"), "{asset} loads from elsewhere");
    }
}
