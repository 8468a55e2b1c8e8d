//! The files the server keeps are for its own user alone: folders `0700`, database files
//! (and their `-wal` and `-shm`, which SQLite creates with the database file's mode)
//! `0600`. Files made by an older version are tightened when next opened.

use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if missing, and makes it private.
pub fn private_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)
}

/// Creates the database file `path` empty if missing (SQLite takes an empty file as a new
/// database), and makes it and its `-wal` and `-shm` private.
pub fn private_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = path.as_os_str().to_owned();
            name.push(suffix);
            match std::fs::set_permissions(&name, std::fs::Permissions::from_mode(0o600)) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                other => other?,
            }
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map(|_| ())
    }
}

/// Copies a consistent snapshot of the SQLite file `src` (one this crate does not serve,
/// such as a memory space's graph) to `dest` while others may be writing it: a read-only
/// connection's `VACUUM INTO`, into a private file.
pub fn snapshot_sqlite(src: &Path, dest: &Path) -> io::Result<()> {
    let conn = rusqlite::Connection::open_with_flags(
        src,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(io::Error::other)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(io::Error::other)?;
    private_file(dest)?;
    conn.execute("VACUUM INTO ?1", [dest.to_string_lossy().as_ref()])
        .map(|_| ())
        .map_err(io::Error::other)
}
