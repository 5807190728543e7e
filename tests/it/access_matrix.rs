//! The access matrix, generated from the OpenAPI document so that a new route is covered
//! by default: every operation on a record (and its sub-resources) is tried by a user who
//! may not see the record (404, never 403: an invisible record does not exist), then by
//! one with a read grant (reads answer, writes 403; mailboxes, their profiles and runs are
//! owner-only, so still 404); and no list shows a record to a user who may not see it.
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{TestApp, spawn_sim};

const EMPLOYEE: &str = "00000000-0000-7000-8000-000000000001";

/// Who may see a kind of record besides its owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sharing {
    /// Grants share it (accounts, contacts, folders).
    Grants,
    /// Its owner and administrators only (mailboxes, their profiles and runs).
    OwnerOnly,
    /// Everyone signed in (the contact type lookup).
    Everyone,
}

/// Alice's records, one of each kind.
struct Records {
    account: String,
    contact: String,
    folder: String,
    mailbox: String,
    run: String,
}

impl Records {
    fn ids(&self) -> [&str; 5] {
        [
            &self.account,
            &self.contact,
            &self.folder,
            &self.mailbox,
            &self.run,
        ]
    }

    /// The record a documented path names, by the collection it lives under, and who may
    /// see it. A new kind of record route fails here until the matrix knows it.
    fn for_path(&self, path: &str) -> (Sharing, String) {
        let rest = path.strip_prefix("/api/v1/").unwrap_or(path);
        let (id, sharing) = match rest.split('/').collect::<Vec<_>>().as_slice() {
            ["accounts", "{id}", ..] => (&self.account, Sharing::Grants),
            ["contacts", "{id}", ..] => (&self.contact, Sharing::Grants),
            ["contact-folders", "{id}", ..] => (&self.folder, Sharing::Grants),
            ["mailboxes", "{id}", ..] => (&self.mailbox, Sharing::OwnerOnly),
            ["contact-sync", "runs", "{id}", ..] => (&self.run, Sharing::OwnerOnly),
            ["contact-types", "{id}"] => {
                return (Sharing::Everyone, path.replace("{id}", EMPLOYEE));
            }
            _ => panic!("{path}: which record does it name? Teach the access matrix"),
        };
        let concrete = path
            .replace("{id}", id)
            .replace("{contact_id}", &self.contact);
        assert!(!concrete.contains('{'), "{path}: unknown path parameter");
        (sharing, concrete)
    }
}

/// Every operation of the served document: (method, path template, operation).
fn operations(doc: &Value) -> Vec<(Method, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (name, method) in [
            ("get", Method::GET),
            ("put", Method::PUT),
            ("post", Method::POST),
            ("patch", Method::PATCH),
            ("delete", Method::DELETE),
        ] {
            if let Some(op) = item.get(name) {
                out.push((method, path.clone(), op.clone()));
            }
        }
    }
    out
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").expect("schema ref");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

/// The smallest value a schema accepts as far as shape goes: required members only,
/// the fewest list entries allowed; enough to get past the checks of shape to the access
/// check.
fn sample(doc: &Value, schema: &Value) -> Value {
    let schema = resolve(doc, schema);
    for alt in ["oneOf", "anyOf"] {
        if let Some(options) = schema[alt].as_array() {
            let chosen = options
                .iter()
                .find(|o| o["type"] != "null")
                .expect("a non-null alternative");
            return sample(doc, chosen);
        }
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .find(|t| *t != "null")
            .cloned()
            .unwrap_or(Value::Null),
        t => t.clone(),
    };
    match ty.as_str() {
        Some("object") | None if schema.get("properties").is_some() => {
            let mut body = serde_json::Map::new();
            for name in schema["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                body.insert(name.into(), sample(doc, &schema["properties"][name]));
            }
            Value::Object(body)
        }
        Some("object") => json!({}),
        Some("array") => {
            let min = schema["minItems"].as_u64().unwrap_or(0) as usize;
            Value::Array(vec![sample(doc, &schema["items"]); min])
        }
        Some("boolean") => json!(false),
        Some("integer") | Some("number") if schema["minimum"].is_number() => {
            schema["minimum"].clone()
        }
        Some("integer") | Some("number") => json!(1),
        Some("string") => match schema["enum"].as_array() {
            Some(values) => values[0].clone(),
            None if schema["format"] == "uuid" => json!(EMPLOYEE),
            None => json!("x"),
        },
        _ => json!({}),
    }
}

fn request_body(doc: &Value, op: &Value) -> Option<Value> {
    let content = op["requestBody"]["content"].as_object()?;
    let schema = &content.get("application/json")?["schema"];
    Some(sample(doc, schema))
}

/// Alice's records: an account, a contact of it in a static folder, a mailbox on the
/// simulator and a queued run of it.
async fn seed(app: &TestApp, alice: &str, sim: &ews_sim::SimHandle) -> Records {
    let account = app
        .create("/api/v1/accounts", alice, json!({"name": "Alice Ltd"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let contact = app
        .create(
            "/api/v1/contacts",
            alice,
            json!({"given_name": "Ann", "surname": "Lee", "email1": "ann@alice.test",
                "type_id": EMPLOYEE, "account_id": account}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let folder = app
        .create(
            "/api/v1/contact-folders",
            alice,
            json!({"name": "Alice's", "kind": "static"}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .post(
            &format!("/api/v1/contact-folders/{folder}/members"),
            alice,
            json!({"contact_ids": [contact]}),
        )
        .await;
    assert_eq!(r.status, 204, "{}", r.text);
    let mailbox = app
        .connect_mailbox(alice, sim, "alice@example.com", "alice-pw-S3cret")
        .await;
    let r = app
        .post(
            &format!("/api/v1/mailboxes/{mailbox}/contact-sync/runs"),
            alice,
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let run = r.body["id"].as_str().unwrap().to_owned();
    Records {
        account,
        contact,
        folder,
        mailbox,
        run,
    }
}

/// One row of the matrix, tried and checked; returns a description of a wrong answer.
async fn try_operation(
    app: &TestApp,
    doc: &Value,
    token: &str,
    method: &Method,
    path: &str,
    op: &Value,
    expected: u16,
) -> Option<String> {
    let body = request_body(doc, op);
    let r = app
        .send(method.clone(), path, Some(token), body.as_ref(), &[])
        .await;
    let is_problem = r.header("content-type") == Some("application/problem+json");
    let ok = r.status == expected && (expected < 400 || is_problem);
    (!ok).then(|| {
        format!(
            "{method} {path}: expected {expected}, got {} {}",
            r.status, r.text
        )
    })
}

#[tokio::test]
async fn every_record_route_hides_or_refuses_what_the_caller_may_not_touch() {
    let app = TestApp::spawn().await;
    let sim = spawn_sim().await;
    let alice = app.token("alice");
    let bob = app.token("bob");
    let records = seed(&app, &alice, &sim).await;
    let doc = app
        .send(Method::GET, "/openapi.json", None, None, &[])
        .await
        .body;
    let ops = operations(&doc);
    let mut wrong = Vec::new();
    let mut cases = 0;

    // Bob has no grant: every operation on Alice's records is a 404.
    for (method, template, op) in ops.iter().filter(|(_, p, _)| p.contains('{')) {
        let (sharing, path) = records.for_path(template);
        let expected = match (sharing, method) {
            (Sharing::Everyone, &Method::GET) => 200,
            (Sharing::Everyone, _) => continue,
            _ => 404,
        };
        cases += 1;
        wrong.extend(try_operation(&app, &doc, &bob, method, &path, op, expected).await);
    }
    cases += lists_hide(&app, &doc, &ops, &records, &alice, &bob, &mut wrong).await;

    // Alice shares the account, the contact and the folder with Bob, read only.
    for path in [
        format!("/api/v1/accounts/{}", records.account),
        format!("/api/v1/contacts/{}", records.contact),
        format!("/api/v1/contact-folders/{}", records.folder),
    ] {
        let r = app
            .patch(
                &path,
                &alice,
                json!({"grants": [{"user_id": "bob", "access": "read"}]}),
            )
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.text);
    }
    // Reads answer and writes are refused on shared records; owner-only ones stay hidden.
    for (method, template, op) in ops.iter().filter(|(_, p, _)| p.contains('{')) {
        let (sharing, path) = records.for_path(template);
        let expected = match (sharing, method) {
            (Sharing::Everyone, _) => continue,
            (Sharing::OwnerOnly, _) => 404,
            (Sharing::Grants, &Method::GET) => 200,
            (Sharing::Grants, _) => 403,
        };
        cases += 1;
        wrong.extend(try_operation(&app, &doc, &bob, method, &path, op, expected).await);
    }
    // Refused writes changed nothing: Alice's records are all still there.
    for (_, template, _) in ops
        .iter()
        .filter(|(m, p, _)| *m == Method::GET && p.contains('{'))
    {
        let (_, path) = records.for_path(template);
        if path.ends_with("/events") {
            continue;
        }
        let r = app.get(&path, &alice).await;
        assert_eq!(
            r.status, 200,
            "{path} after Bob's refused writes: {}",
            r.text
        );
    }
    println!("access matrix: {cases} cases over {} operations", ops.len());
    assert!(
        wrong.is_empty(),
        "{} wrong answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

/// Every list (a GET without path parameters answering `items`), plain and filtered by
/// each of Alice's ids, shows Bob none of Alice's records; Alice's own lists show them
/// all, so the check is not passing on empty lists. Returns the number of cases.
async fn lists_hide(
    app: &TestApp,
    doc: &Value,
    ops: &[(Method, String, Value)],
    records: &Records,
    alice: &str,
    bob: &str,
    wrong: &mut Vec<String>,
) -> usize {
    let mut cases = 0;
    let mut alice_saw = String::new();
    for (method, path, op) in ops {
        if *method != Method::GET || path.contains('{') {
            continue;
        }
        let ok = &op["responses"]["200"]["content"]["application/json"]["schema"];
        let is_list = resolve(doc, ok)["properties"].get("items").is_some();
        if !is_list {
            continue;
        }
        let mut queries = vec![String::new()];
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] == "query" && p["schema"]["format"] == "uuid" {
                let name = p["name"].as_str().unwrap();
                queries.extend(records.ids().iter().map(|id| format!("?{name}={id}")));
            }
        }
        for q in queries {
            cases += 1;
            let url = format!("{path}{q}");
            let seen = app.get(&url, bob).await;
            // A filter naming a record Bob may not see finds nothing, or is itself a 404.
            let hidden = seen.status == 404
                && seen.header("content-type") == Some("application/problem+json");
            if seen.status != 200 && !hidden {
                wrong.push(format!("GET {url} as Bob: {} {}", seen.status, seen.text));
            }
            for id in records.ids() {
                if seen.text.contains(id) {
                    wrong.push(format!("GET {url} shows Bob Alice's {id}"));
                }
            }
            alice_saw.push_str(&app.get(&url, alice).await.text);
        }
    }
    for id in records.ids() {
        assert!(alice_saw.contains(id), "no list shows Alice her own {id}");
    }
    cases
}
