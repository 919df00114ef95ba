//! Files holding secrets (keys, token secrets, the case store and its
//! snapshot): readable by their owner only whatever the umask, secrets
//! written once and synced before anyone relies on them.

use std::path::Path;

/// Why a secret file could not be written; the message names the path.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

/// Writes a file readable by its owner only (created new; never overwrites).
pub fn write_private(path: &Path, content: &[u8]) -> Result<(), FileError> {
    use std::io::Write;
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        create_private_dir(dir)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| FileError(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(content)
        .and_then(|_| f.sync_all())
        .map_err(|e| FileError(format!("cannot write {}: {e}", path.display())))
}

/// Creates `dir` and any missing parents with mode 0700 (the mode is set
/// explicitly, so the umask cannot widen it). An existing directory is left
/// as it is: it was chosen by the operator.
pub fn create_private_dir(dir: &Path) -> Result<(), FileError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder
        .create(dir)
        .map_err(|e| FileError(format!("cannot create {}: {e}", dir.display())))
}

/// Makes an existing file readable and writable by its owner only (mode
/// 0600) if anyone else may read it; a missing file is no error. Returns
/// whether the mode was changed.
pub fn restrict_to_owner(path: &Path) -> Result<bool, FileError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(FileError(format!("cannot read {}: {e}", path.display()))),
        };
        if meta.permissions().mode() & 0o077 == 0 {
            return Ok(false);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| FileError(format!("cannot restrict {}: {e}", path.display())))?;
        Ok(true)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(false)
    }
}

/// Creates an empty file with mode 0600 if none exists at `path`.
pub fn create_private_file(path: &Path) -> Result<(), FileError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
        .map(drop)
        .map_err(|e| FileError(format!("cannot create {}: {e}", path.display())))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o777)
            .unwrap_or(0)
    }

    #[test]
    fn private_directories_and_files_are_the_owners_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("a/b");
        create_private_dir(&dir).expect("dir");
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        let file = dir.join("store.db");
        create_private_file(&file).expect("file");
        assert_eq!(mode(&file), 0o600);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        assert!(restrict_to_owner(&file).expect("restrict"));
        assert_eq!(mode(&file), 0o600);
        assert!(!restrict_to_owner(&file).expect("already"));
        assert!(!restrict_to_owner(&dir.join("missing")).expect("missing"));
    }
}
