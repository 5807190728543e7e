//! The data directory and the files in it that hold secrets (the JWT secret, the
//! encryption key, the SQLite database): readable by the service's user only, and a
//! generated secret written once — two processes starting together agree on one value.
use std::io::Write;
use std::path::Path;

/// Creates `dir` (and missing parents) readable by its owner only (0700); an existing
/// directory is left as its owner set it.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Opens options that create a file readable by its owner only (0600), never an existing one.
fn new_private_file() -> std::fs::OpenOptions {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts
}

/// Creates an empty file readable by its owner only, unless it exists (for the SQLite
/// database, whose journal files SQLite then creates with the same permissions).
pub fn create_private_file_if_missing(path: &Path) -> std::io::Result<()> {
    match new_private_file().open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Reads the secret file at `path`, or writes `generate()` there when there is none.
///
/// The value is written to a temporary file (0600) and then hard-linked to `path`, which
/// fails when `path` exists: the file is never seen half-written, and when two processes
/// generate at once the second drops its value and reads the first's. A file that exists
/// is read, never overwritten, whatever it holds (the caller refuses what it cannot use).
pub fn read_or_create_secret(
    path: &Path,
    generate: impl FnOnce() -> String,
) -> std::io::Result<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => return Ok(text),
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        Err(_) => {}
    }
    let value = generate();
    let tmp = path.with_file_name(format!(
        ".{}.{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("secret"),
        uuid::Uuid::new_v4().simple()
    ));
    let written = (|| {
        let mut f = new_private_file().open(&tmp)?;
        f.write_all(value.as_bytes())?;
        f.sync_all()?;
        std::fs::hard_link(&tmp, path)
    })();
    let _ = std::fs::remove_file(&tmp);
    match written {
        Ok(()) => Ok(value),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => std::fs::read_to_string(path),
        Err(e) => Err(e),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_data_directory_and_secret_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/data");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let secret = dir.join("secret");
        assert_eq!(
            read_or_create_secret(&secret, || "s1".into()).unwrap(),
            "s1"
        );
        assert_eq!(mode(&secret), 0o600);
        let db = dir.join("db");
        create_private_file_if_missing(&db).unwrap();
        assert_eq!(mode(&db), 0o600);
        // No temporary file is left behind.
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["db", "secret"]);
    }

    #[test]
    fn an_existing_secret_is_read_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "short").unwrap();
        let got = read_or_create_secret(&path, || panic!("must not generate")).unwrap();
        assert_eq!(got, "short");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "short");
    }

    #[test]
    fn processes_generating_at_once_agree_on_one_value() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(16));
        let values: Vec<String> = (0..16)
            .map(|i| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    read_or_create_secret(&path, || format!("value-{i}")).unwrap()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect();
        let on_disk = std::fs::read_to_string(&path).unwrap();
        assert!(
            values.iter().all(|v| *v == on_disk),
            "{values:?} vs {on_disk}"
        );
    }
}
