//! The index's directory: tantivy's memory-mapped directory without its fsyncs.
//!
//! The index is a cache derived from the store, never the record of anything: every commit's
//! stamp says which store and feed position it reflects, and [`crate::Index::open_in`] checks
//! the stamp and every file's checksum before it serves a byte, catching up or rebuilding
//! otherwise. So a commit need not be durable, only atomic as far as this process sees, and
//! tantivy's `MmapDirectory` pays for durability on every commit: a `sync_data` per segment
//! file, one for `meta.json` and one for the directory — eight to ten fsyncs for a one-course
//! commit. A node receiving live changes commits about once per change, and with 33 nodes
//! on one disk those fsyncs were what every change waited behind.
//!
//! What a crash of the machine (not of the process: the page cache survives that) can leave
//! is an older `meta.json` (an older stamp: caught up from the feed), a `meta.json` naming
//! files that are missing or torn (a failed open or a checksum mismatch: rebuilt), or files
//! that nothing names (tantivy's garbage collection removes them). Nothing else is changed:
//! reads, deletes, locks and the meta watch are the `MmapDirectory`'s own.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tantivy::directory::error::{
    DeleteError, LockError, OpenDirectoryError, OpenReadError, OpenWriteError,
};
use tantivy::directory::{
    AntiCallToken, Directory, DirectoryLock, FileHandle, Lock, MmapDirectory, TerminatingWrite,
    WatchCallback, WatchHandle, WritePtr,
};

/// How the temporary file of an `atomic_write` ends (it starts with a dot).
const TEMP: &str = ".atomic-tmp";

/// `MmapDirectory` with writes that are not fsync'd (see the module comment for why that is
/// safe here).
#[derive(Clone, Debug)]
pub(crate) struct Unsynced {
    inner: MmapDirectory,
    root: PathBuf,
}

impl Unsynced {
    /// Opens `root` (which must exist), first removing what an interrupted `atomic_write`
    /// left behind.
    pub(crate) fn open(root: &Path) -> Result<Unsynced, OpenDirectoryError> {
        if let Ok(dir) = std::fs::read_dir(root) {
            for f in dir.flatten() {
                let name = f.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(TEMP) {
                    let _ = std::fs::remove_file(f.path());
                }
            }
        }
        Ok(Unsynced {
            inner: MmapDirectory::open(root)?,
            root: root.to_path_buf(),
        })
    }
}

/// A file written through the page cache, complete once terminated (flushed), never synced.
struct PlainFile(File);

impl Write for PlainFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl TerminatingWrite for PlainFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for Unsynced {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.inner.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.inner.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.inner.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.root.join(path))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    OpenWriteError::FileAlreadyExists(path.to_path_buf())
                } else {
                    OpenWriteError::wrap_io_error(e, path.to_path_buf())
                }
            })?;
        Ok(BufWriter::new(Box::new(PlainFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.inner.atomic_read(path)
    }

    /// Written beside the target and renamed over it, so a reader sees the old or the new
    /// content, never part of either.
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let target = self.root.join(path);
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("atomic");
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let temp = self
            .root
            .join(format!(".{name}.{}.{n}{TEMP}", std::process::id()));
        let mut f = File::create(&temp)?;
        f.write_all(data)?;
        f.flush()?;
        drop(f);
        std::fs::rename(&temp, &target)
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.inner.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.inner.watch(watch_callback)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_replace_whole_files_and_leftovers_are_cleared_at_open() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = Unsynced::open(tmp.path()).expect("open");
        let meta = Path::new("meta.json");
        dir.atomic_write(meta, b"first").expect("write");
        dir.atomic_write(meta, b"second, longer").expect("rewrite");
        assert_eq!(dir.atomic_read(meta).expect("read"), b"second, longer");
        // A temp file an interrupted write left; another file that only looks similar stays.
        let left = tmp.path().join(format!(".meta.json.1.7{TEMP}"));
        std::fs::write(&left, b"half").expect("leftover");
        std::fs::write(tmp.path().join("keep.tmp"), b"x").expect("other");
        drop(Unsynced::open(tmp.path()).expect("reopen"));
        assert!(
            !left.exists(),
            "an interrupted atomic write's temp file is removed"
        );
        assert!(tmp.path().join("keep.tmp").exists());
        let names: Vec<_> = std::fs::read_dir(tmp.path())
            .expect("list")
            .flatten()
            .map(|f| f.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(!names.iter().any(|n| n.ends_with(TEMP)), "{names:?}");
    }

    #[test]
    fn a_written_file_reads_back_once_terminated() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = Unsynced::open(tmp.path()).expect("open");
        let p = Path::new("seg.idx");
        let mut w = dir.open_write(p).expect("open_write");
        w.write_all(b"postings").expect("write");
        w.terminate().expect("terminate");
        let bytes = dir.open_read(p).expect("read").read_bytes().expect("bytes");
        assert_eq!(bytes.as_slice(), b"postings");
        assert!(matches!(
            dir.open_write(p),
            Err(OpenWriteError::FileAlreadyExists(_))
        ));
    }
}
