//! Files holding secrets (keys, token secrets): written once, readable by
//! their owner only, and synced before anyone relies on them.

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
        std::fs::create_dir_all(dir)
            .map_err(|e| FileError(format!("cannot create {}: {e}", dir.display())))?;
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
