//! Protocol tests: golden requests validated with xmllint, every sample parsed.

use std::path::{Path, PathBuf};

use ews::envelope::{self, Body};

fn shared() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/ews")
}

fn read(dir: &str, name: &str) -> String {
    std::fs::read_to_string(shared().join(dir).join(name)).expect("sample readable")
}

fn files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(shared().join(dir))
        .expect("shared EWS pack present")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".xml"))
        .collect();
    names.sort();
    names
}

#[test]
fn every_sample_and_client_request_parses() {
    let mut failures = Vec::new();
    for (dir, name) in files("samples").into_iter().map(|n| ("samples", n)).chain(
        files("client-requests")
            .into_iter()
            .map(|n| ("client-requests", n)),
    ) {
        match envelope::parse(&read(dir, &name)) {
            Ok((_, body)) => {
                let op = name.split('-').nth(1).unwrap();
                assert!(
                    body.name().starts_with(op) || body.name() == "Fault",
                    "{name}: parsed as {}",
                    body.name()
                );
                let _ = matches!(body, Body::Fault(_));
            }
            Err(e) => failures.push(format!("{dir}/{name}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Runs xmllint against `schema` (a file of ../shared/ews/schema); panics with its output on error.
fn xmllint(schema: &str, file: &Path) -> Result<(), String> {
    let schema = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/ews/schema"
    ))
    .join(schema);
    let out = std::process::Command::new("xmllint")
        .arg("--noout")
        .arg("--nonet")
        .arg("--schema")
        .arg(&schema)
        .arg(file)
        .output()
        .expect("xmllint must be installed (apt-get install -y libxml2-utils)");
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

#[test]
fn every_sample_reserialized_is_schema_valid() {
    let dir = std::env::temp_dir().join(format!("ews-reser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut failures = Vec::new();
    for (src, name) in files("samples").into_iter().map(|n| ("samples", n)).chain(
        files("client-requests")
            .into_iter()
            .map(|n| ("client-requests", n)),
    ) {
        let (header, body) = envelope::parse(&read(src, &name)).unwrap();
        let xml = envelope::to_xml(&header, &body).unwrap();
        let path = dir.join(&name);
        std::fs::write(&path, &xml).unwrap();
        let schema = if matches!(body, Body::Fault(_)) {
            "soap11-envelope.xsd"
        } else {
            "ews-envelope.xsd"
        };
        if let Err(e) = xmllint(schema, &path) {
            failures.push(e);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
