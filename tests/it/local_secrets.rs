//! Secrets on the machine: the data directory and the files holding secrets are the
//! service user's only, a generated secret is written once (processes starting together
//! agree on it), a damaged secret file is refused rather than replaced, and neither the
//! settings nor the simulator's command line print a secret.
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use contactsync::config::Settings;

fn contactsync(data_dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_contactsync"));
    cmd.args(args)
        .env_clear()
        .env("CONTACTSYNC_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn");
    cmd
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_data_directory_the_database_and_the_secret_files_are_private() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    ok(contactsync(&data, &["migrate"]).output().unwrap());
    ok(contactsync(&data, &["token", "--sub", "alice"])
        .output()
        .unwrap());
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&data.join("contactsync.db")), 0o600, "SQLite file");
    assert_eq!(mode(&data.join("jwt-secret")), 0o600, "JWT secret");
    // The encryption key is made by the process that seals (serve, worker); the library
    // call is the same.
    let settings = Settings {
        data_dir: data.clone(),
        ..Settings::default()
    };
    contactsync::crypto::SecretBox::from_settings(&settings).unwrap();
    assert_eq!(mode(&data.join("encryption-key")), 0o600, "encryption key");
    for entry in std::fs::read_dir(&data).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path) & 0o077, 0, "{} is private", path.display());
    }
}

#[test]
fn processes_starting_together_use_one_generated_secret() {
    for round in 0..5 {
        let root = tempfile::tempdir().unwrap();
        let data = root.path().join("data");
        let children: Vec<_> = (0..4)
            .map(|_| {
                contactsync(&data, &["token", "--sub", "alice"])
                    .stdout(std::process::Stdio::piped())
                    .stderr(std::process::Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let tokens: Vec<String> = children
            .into_iter()
            .map(|c| ok(c.wait_with_output().unwrap()).trim().to_owned())
            .collect();
        let settings = Settings {
            data_dir: data.clone(),
            ..Settings::default()
        };
        let verifier = contactsync::auth::JwtVerifier::from_settings(&settings).unwrap();
        for t in &tokens {
            let claims = verifier
                .verify_header(Some(&format!("Bearer {t}")))
                .unwrap_or_else(|e| {
                    panic!("round {round}: a token signed with another secret: {e}")
                });
            assert_eq!(claims.sub, "alice");
        }
    }
}

#[test]
fn a_damaged_secret_file_is_refused_and_left_as_it_is() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("jwt-secret"), "too-short\n").unwrap();
    let out = contactsync(&data, &["token", "--sub", "alice"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "a short secret file is refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("jwt-secret"), "{stderr}");
    assert!(
        !stderr.contains("too-short"),
        "the secret is not shown: {stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("jwt-secret")).unwrap(),
        "too-short\n"
    );

    std::fs::write(data.join("encryption-key"), "c2hvcnQ=\n").unwrap();
    let settings = Settings {
        data_dir: data.clone(),
        ..Settings::default()
    };
    let err = contactsync::crypto::SecretBox::from_settings(&settings).unwrap_err();
    assert!(err.to_string().contains("encryption-key"), "{err}");
    assert_eq!(
        std::fs::read_to_string(data.join("encryption-key")).unwrap(),
        "c2hvcnQ=\n",
        "the key file is not overwritten"
    );
}

#[test]
fn settings_debug_shows_no_secret() {
    let settings = Settings {
        jwt_secret: Some("jwt-secret-VALUE-0123456789abcdef".into()),
        encryption_key: Some("ZW5jcnlwdGlvbi1rZXktVkFMVUUtMDEyMzQ1Njc4OQ==".into()),
        database_url: Some("postgres://svc:db-PASSWORD-value@db.example/contacts".into()),
        ..Settings::default()
    };
    let shown = format!("{settings:?} {settings:#?}");
    for secret in [
        "jwt-secret-VALUE",
        "ZW5jcnlwdGlvbi1rZXktVkFMVUU",
        "db-PASSWORD-value",
    ] {
        assert!(!shown.contains(secret), "{secret} shown in {shown}");
    }
    assert!(shown.contains("db.example"), "the rest is shown: {shown}");
}

#[test]
fn the_simulator_does_not_print_a_credential_it_cannot_read() {
    let root = tempfile::tempdir().unwrap();
    for (flag, value) in [
        ("--mailbox", "no-at-sign:Hunter2-Secret"),
        ("--mailbox", "bob@example.org:"),
        ("--service-account", "svc-no-at:Hunter2-Secret"),
        ("--app", "tenant-only:Hunter2-Secret"),
    ] {
        let out = contactsync(
            root.path(),
            &["ews-sim", "--listen", "127.0.0.1:0", flag, value],
        )
        .output()
        .unwrap();
        assert!(!out.status.success(), "{flag} {value} is refused");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(printed.contains(flag), "the flag is named: {printed}");
        assert!(
            !printed.contains("Hunter2"),
            "the secret is not shown: {printed}"
        );
        assert!(
            !printed.contains(value),
            "the argument is not shown: {printed}"
        );
    }
    // The parsed credential's Debug hides the password too.
    let c: ews_sim::Credential = "alice@example.com:Hunter2-Secret".parse().unwrap();
    assert!(!format!("{c:?}").contains("Hunter2"), "{c:?}");
}

#[test]
fn the_container_runs_the_service_as_an_unprivileged_user() {
    // There is no Docker here to build the image: the Dockerfile's last stage is read.
    let dockerfile =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    let last_stage = dockerfile.rsplit("\nFROM ").next().unwrap();
    let user = last_stage
        .lines()
        .rev()
        .find_map(|l| l.trim().strip_prefix("USER "))
        .expect("the last stage sets USER");
    assert!(
        !["root", "0", "0:0"].contains(&user.trim()),
        "the service runs as {user}"
    );
    let entrypoint = last_stage.find("ENTRYPOINT").expect("an entrypoint");
    assert!(
        last_stage.find("USER ").is_some_and(|u| u < entrypoint),
        "USER comes before the entrypoint"
    );
}
