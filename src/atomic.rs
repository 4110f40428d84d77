//! Writing output files atomically: a temp file in the same directory, then
//! a rename, so a failure never leaves a half-written file behind.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically (readers see the old file or the new
/// one, never a part). Fails cleanly on an unwritable directory.
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    // tempfile's error names the random temp path; name the directory instead.
    let mut tmp = tempfile::Builder::new()
        .prefix(".resnetc-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "it does not exist".to_string(),
                kind => kind.to_string(),
            };
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot create a file in directory `{}`: {why}",
                    dir.display()
                ),
            )
        })?;
    tmp.write_all(bytes)?;
    // tempfile creates files readable by the owner only; outputs are ordinary files.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("out.bin");
        super::write(&p, b"one").unwrap();
        super::write(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp files left"
        );
    }

    #[test]
    fn unwritable_directory_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("missing").join("out.bin");
        assert!(super::write(&p, b"x").is_err());
        assert!(!p.exists());
    }
}
