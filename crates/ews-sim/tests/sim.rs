//! The simulator against real clients: the requests a third-party EWS client sent
//! (replayed verbatim, every answer schema-checked with xmllint), and the `ews` crate.

use std::path::PathBuf;
use std::process::Command;

use ews_sim::{Credential, SimConfig, SimHandle};

const PROBE: &str = "probe@example.com";
const PROBE_PASSWORD: &str = "probe-secret";
const SERVICE: &str = "svc@example.com";
const SERVICE_PASSWORD: &str = "svc-secret";

fn shared() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared"))
}

async fn sim() -> SimHandle {
    ews_sim::spawn(SimConfig {
        mailboxes: vec![
            Credential::new(PROBE, PROBE_PASSWORD),
            "alice@example.com:alice-secret".parse().unwrap(),
            "bob@example.com:bob-secret".parse().unwrap(),
        ],
        service_accounts: vec![Credential::new(SERVICE, SERVICE_PASSWORD)],
        ..SimConfig::default()
    })
    .await
    .expect("simulator starts")
}

/// Validates one answer with xmllint: envelopes against the strict EWS schema, SOAP
/// faults (HTTP 500) against the SOAP 1.1 schema. Fails when xmllint is missing.
fn validate(status: u16, body: &str, what: &str) {
    let schema = if status == 500 {
        "soap11-envelope.xsd"
    } else {
        "ews-envelope.xsd"
    };
    let schema = shared().join("ews/schema").join(schema);
    let file = std::env::temp_dir().join(format!(
        "ews-sim-{}-{}.xml",
        std::process::id(),
        uuid_like()
    ));
    std::fs::write(&file, body).unwrap();
    let out = Command::new("xmllint")
        .arg("--noout")
        .arg("--schema")
        .arg(&schema)
        .arg(&file)
        .output()
        .expect("xmllint must be installed (Debian package libxml2-utils)");
    let _ = std::fs::remove_file(&file);
    assert!(
        out.status.success(),
        "{what}: answer does not validate against {}:\n{}\n{body}",
        schema.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn uuid_like() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

/// Every `m:ResponseCode` of an answer, in order.
fn codes(body: &str) -> Vec<String> {
    body.split("<m:ResponseCode>")
        .skip(1)
        .map(|s| s.split('<').next().unwrap().trim().to_string())
        .collect()
}

/// The text of the first `<tag>` element.
fn first(body: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let rest = body.split(&open).nth(1)?;
    Some(rest.split('<').next()?.to_string())
}

/// The `Id` and `ChangeKey` of every `t:ItemId` / `t:FolderId` of an answer.
fn ids(body: &str, element: &str) -> Vec<(String, String)> {
    body.split(&format!("<{element} "))
        .skip(1)
        .map(|s| {
            let attr = |name: &str| {
                s.split(&format!("{name}=\""))
                    .nth(1)
                    .map(|v| v.split('"').next().unwrap().to_string())
                    .unwrap_or_default()
            };
            (attr("Id"), attr("ChangeKey"))
        })
        .collect()
}

struct Client {
    http: reqwest::Client,
    url: String,
}

impl Client {
    fn new(sim: &SimHandle) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: sim.ews_url(),
        }
    }

    async fn post_as(&self, user: &str, password: &str, body: String, what: &str) -> (u16, String) {
        let resp = self
            .http
            .post(&self.url)
            .basic_auth(user, Some(password))
            .header("Content-Type", "text/xml; charset=utf-8")
            .header("X-AnchorMailbox", PROBE)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        if status != 401 {
            validate(status, &text, what);
        }
        (status, text)
    }

    async fn post(&self, body: String, what: &str) -> (u16, String) {
        self.post_as(PROBE, PROBE_PASSWORD, body, what).await
    }
}

fn captured(name: &str) -> String {
    let dir = shared().join("ews/client-requests");
    let file = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(name))
        .unwrap_or_else(|| panic!("no captured request {name} in {}", dir.display()));
    std::fs::read_to_string(file).unwrap()
}

/// Replaces the id (and the ChangeKey that follows it) of a captured request.
fn with_id(xml: &str, fake: &str, real: &(String, String)) -> String {
    let mut out = xml.replace(&format!("Id=\"{fake}\""), &format!("Id=\"{}\"", real.0));
    for ck in [
        "Q0swMDAwMDAwNQ==",
        "Q0swMDAwMDAwNg==",
        "Q0swMDAwMDAwOQ==",
        "Q0swMDAwMDAwNA==",
        "Q0swMDAwMDAwMg==",
    ] {
        out = out.replace(
            &format!("Id=\"{}\" ChangeKey=\"{ck}\"", real.0),
            &format!("Id=\"{}\" ChangeKey=\"{}\"", real.0, real.1),
        );
    }
    out
}

fn all_success(codes: &[String]) -> bool {
    !codes.is_empty() && codes.iter().all(|c| c == "NoError")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captured_client_requests_get_exchange_answers_that_validate() {
    let sim = sim().await;
    let c = Client::new(&sim);

    for name in ["01-", "02-", "03-", "05-"] {
        let (status, body) = c.post(captured(name), name).await;
        assert_eq!(status, 200, "{name}: {body}");
        assert!(all_success(&codes(&body)), "{name}: {body}");
    }

    // 04: ~40 well-known folders at once; the ones the mailbox lacks fail one by one.
    let (status, body) = c.post(captured("04-"), "04").await;
    assert_eq!(status, 200);
    let got = codes(&body);
    assert_eq!(got.len(), 31, "one message per folder id");
    assert!(got.iter().any(|c| c == "ErrorFolderNotFound"), "{got:?}");
    assert!(
        got.iter().filter(|c| *c == "NoError").count() >= 10,
        "{got:?}"
    );
    assert!(body.contains("<t:ContactsFolder>"));

    // 06: the captured FolderId is not one of ours; a real one works.
    let (_, body) = c.post(captured("06-"), "06 verbatim").await;
    assert_eq!(codes(&body), ["ErrorInvalidIdMalformed", "NoError"]);
    let root = sim.with_store(|s| {
        let mb = s.mailbox(PROBE).unwrap();
        let f = mb.folder_by_any("msgfolderroot").unwrap();
        (f.id.clone(), f.change_key.clone())
    });
    let (_, body) = c
        .post(
            with_id(&captured("06-"), "ZmFrZS1mb2xkZXItMDAwMDAy", &root),
            "06",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");

    // 07: CreateFolder below contacts.
    let (_, body) = c.post(captured("07-"), "07").await;
    assert!(all_success(&codes(&body)), "{body}");
    let new_folder = ids(&body, "t:FolderId").remove(0);
    assert!(sim.with_store(|s| {
        s.mailbox(PROBE)
            .unwrap()
            .folder_by_any("Contacts/Capture Subfolder")
            .is_some()
    }));
    // The same name again is refused per folder.
    let (_, body) = c.post(captured("07-"), "07 again").await;
    assert_eq!(codes(&body), ["ErrorFolderExists"]);

    // 08: one contact with many fields.
    let (_, body) = c.post(captured("08-"), "08").await;
    assert!(all_success(&codes(&body)), "{body}");
    let ada = ids(&body, "t:ItemId").remove(0);
    let stored = sim.contact(PROBE, &ada.0).unwrap();
    assert_eq!(stored.data.given_name.as_deref(), Some("Ada"));
    assert_eq!(
        stored.data.email_addresses["EmailAddress3"],
        "ada.other@example.net"
    );
    assert_eq!(
        stored.data.physical_addresses["Home"].city.as_deref(),
        Some("Mockford")
    );
    assert_eq!(stored.data.birthday.as_deref(), Some("1985-07-14"));

    // 09, 10: GetItem with the contact and the all-item-types field sets.
    for name in ["09-", "10-"] {
        let (_, body) = c.post(captured(name), name).await;
        assert_eq!(codes(&body), ["ErrorInvalidIdMalformed"], "{name} verbatim");
        let (_, body) = c
            .post(
                with_id(&captured(name), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
                name,
            )
            .await;
        assert!(all_success(&codes(&body)), "{name}: {body}");
    }
    let (_, body) = c
        .post(
            with_id(&captured("09-"), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
            "09",
        )
        .await;
    for text in [
        "Ada Q. Lovelace",
        "Principal Tester",
        "ada.home@example.org",
        "+1 555 0102",
        "22 Harness Road",
    ] {
        assert!(body.contains(text), "GetItem shows {text}: {body}");
    }

    // 11: UpdateItem that deletes and re-sets indexed entries, in order.
    let (_, body) = c
        .post(
            with_id(&captured("11-"), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
            "11",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");
    let updated = sim.contact(PROBE, &ada.0).unwrap();
    assert_ne!(updated.change_key, ada.1, "a write changes the ChangeKey");
    assert_eq!(updated.data.job_title.as_deref(), Some("Chief Tester"));
    assert_eq!(updated.data.office_location.as_deref(), Some("Room 42"));
    assert_eq!(updated.data.phone_numbers["MobilePhone"], "+1 555 0199");
    assert_eq!(updated.data.phone_numbers["BusinessPhone"], "+1 555 0100");
    assert!(
        !updated.data.phone_numbers.contains_key("HomePhone"),
        "{:?}",
        updated.data.phone_numbers
    );
    assert_eq!(
        updated.data.physical_addresses["Business"].city.as_deref(),
        Some("Newtown")
    );
    let ada = (ada.0.clone(), updated.change_key.clone());

    // 12: first SyncFolderItems.
    let (_, body) = c.post(captured("12-"), "12").await;
    assert!(all_success(&codes(&body)), "{body}");
    assert_eq!(
        first(&body, "m:IncludesLastItemInRange").as_deref(),
        Some("true")
    );
    let state = first(&body, "m:SyncState").unwrap();
    assert!(body.contains(&ada.0));

    // 13: two contacts in one CreateItem.
    let (_, body) = c.post(captured("13-"), "13").await;
    assert_eq!(codes(&body), ["NoError", "NoError"]);
    let bulk = ids(&body, "t:ItemId");

    // 14: the captured SyncState is another server's: invalid; ours gives the 2 creates.
    let (status, body) = c.post(captured("14-"), "14 verbatim").await;
    assert_eq!(status, 200);
    assert_eq!(codes(&body), ["ErrorInvalidSyncStateData"]);
    let fresh = captured("14-").replace(
        "eJyrVorKdSuKCjYsSHEPK/EJcSz3dXEs9wu0tVWyUlAKNCgG88Fi6UCxWgB5Sg8D",
        &state,
    );
    let (_, body) = c.post(fresh, "14").await;
    assert!(all_success(&codes(&body)), "{body}");
    assert_eq!(body.matches("<t:Create>").count(), 2, "{body}");
    for (id, _) in &bulk {
        assert!(body.contains(id.as_str()));
    }

    // 15-18: extended property create, find, get, update.
    let (_, body) = c.post(captured("15-"), "15").await;
    assert!(all_success(&codes(&body)), "{body}");
    let ext = ids(&body, "t:ItemId").remove(0);
    let (_, body) = c.post(captured("16-"), "16").await;
    assert!(all_success(&codes(&body)), "{body}");
    assert_eq!(ids(&body, "t:ItemId").len(), 1, "{body}");
    assert_eq!(ids(&body, "t:ItemId")[0].0, ext.0);
    let (_, body) = c
        .post(
            with_id(&captured("17-"), "ZmFrZS1pdGVtLTAwMDAwOA==", &ext),
            "17",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");
    assert!(body.contains("CRM-0042"), "{body}");
    let (_, body) = c
        .post(
            with_id(&captured("18-"), "ZmFrZS1pdGVtLTAwMDAwOA==", &ext),
            "18",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");
    let stored = sim.contact(PROBE, &ext.0).unwrap();
    assert_eq!(stored.data.extended_properties[0].value, "CRM-0042-v2");

    // 19: HardDelete; 20: DeleteFolder.
    let (_, body) = c.post(captured("19-"), "19 verbatim").await;
    assert_eq!(codes(&body), ["ErrorInvalidIdMalformed"]);
    let (_, body) = c
        .post(
            with_id(&captured("19-"), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
            "19",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");
    assert!(sim.contact(PROBE, &ada.0).is_none());
    let (_, body) = c
        .post(
            with_id(&captured("19-"), "ZmFrZS1pdGVtLTAwMDAwNQ==", &ada),
            "19 twice",
        )
        .await;
    assert_eq!(codes(&body), ["ErrorItemNotFound"]);
    let (_, body) = c
        .post(
            with_id(&captured("20-"), "ZmFrZS1mb2xkZXItMDAwMDA0", &new_folder),
            "20",
        )
        .await;
    assert!(all_success(&codes(&body)), "{body}");

    // 21: wrong password.
    let (status, _) = c.post_as(PROBE, "wrong", captured("21-"), "21").await;
    assert_eq!(status, 401);

    // The local part works as a user name too.
    let (status, _) = c
        .post_as("probe", PROBE_PASSWORD, captured("01-"), "01 local part")
        .await;
    assert_eq!(status, 200);

    // What it cannot read is an ErrorSchemaValidation fault (validated as SOAP 1.1).
    let (status, body) = c
        .post("<s:Envelope xmlns:s=\"nope\"/>".into(), "garbage")
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("ErrorSchemaValidation"), "{body}");
    let truncated = captured("08-");
    let (status, body) = c
        .post(truncated[..truncated.len() / 2].to_string(), "truncated")
        .await;
    assert_eq!(status, 500);
    assert!(body.contains("ErrorSchemaValidation"), "{body}");

    let log = sim.requests();
    assert!(
        log.iter()
            .any(|r| r.operation == "UpdateItem" && r.outcome == "NoError")
    );
    assert!(log.iter().any(|r| r.status == 401));
    sim.stop().await.unwrap();
}
