//! The tantivy directories of a block's index: [`StagingDirectory`], the one it is built in
//! before it is published, and [`PublishedDirectory`], the read-only one it is searched through.
//!
//! Building: tantivy's `MmapDirectory` makes each file durable as it finishes it (an fdatasync per
//! file) and rewrites `.managed.json` durably (temporary, fsync, rename, directory fsync) each
//! time it creates a file: about 50 syncs and 17 renames per block, which made a one-row
//! source cost ~20 ms of journal commits and thousands of small sources minutes. A block's
//! index directory is unpublished staging until the writer's `publish` packs its files into
//! one synced [`crate::bundle`] and the store's rename publishes it, so syncing along the way
//! buys nothing: this directory is `MmapDirectory` for reads and deletes, and writes without
//! syncing.
//!
//! Searching: a published index never changes, so reading it needs no lock — `MmapDirectory`
//! creates `.tantivy-meta.lock` in the index directory to open a reader, which wrote into a
//! dataset that is only read (and failed on a read-only mount). Its bundle is one open and,
//! past [`READ_WHOLE_BYTES`], one mapping, every file a slice of it. An index published
//! before bundles is loose files: each mapped, one mapping each, except those of at most
//! [`READ_WHOLE_BYTES`], read into memory instead, so thousands of small sources do not use
//! up the kernel's mappings per process (`vm.max_map_count`, 65,530 by default). Memory: at
//! most [`READ_WHOLE_BYTES`] per small bundle or file, the rest mapped and paged by the kernel.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tantivy::Directory;
use tantivy::directory::error::{DeleteError, LockError, OpenReadError, OpenWriteError};
use tantivy::directory::{
    AntiCallToken, DirectoryLock, FileHandle, Lock, MmapDirectory, OwnedBytes, TerminatingWrite, WatchCallback,
    WatchHandle, WritePtr,
};

use crate::bundle::{BUNDLE_FILE, Bundle};

/// `MmapDirectory` over `root`, writing without syncing (see the module doc).
#[derive(Clone, Debug)]
pub(crate) struct StagingDirectory {
    mapped: MmapDirectory,
    root: PathBuf,
}

impl StagingDirectory {
    pub(crate) fn open(root: &Path) -> tantivy::Result<StagingDirectory> {
        Ok(StagingDirectory { mapped: MmapDirectory::open(root)?, root: root.to_path_buf() })
    }
}

/// A file written through a buffer and closed without a sync.
struct UnsyncedFile(File);

impl Write for UnsyncedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl TerminatingWrite for UnsyncedFile {
    fn terminate_ref(&mut self, _: AntiCallToken) -> io::Result<()> {
        self.0.flush()
    }
}

impl Directory for StagingDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        self.mapped.get_file_handle(path)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        self.mapped.delete(path)
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.mapped.exists(path)
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = OpenOptions::new().write(true).create_new(true).open(self.root.join(path)).map_err(|e| {
            if e.kind() == io::ErrorKind::AlreadyExists {
                OpenWriteError::FileAlreadyExists(path.to_path_buf())
            } else {
                OpenWriteError::wrap_io_error(e, path.to_path_buf())
            }
        })?;
        Ok(BufWriter::new(Box::new(UnsyncedFile(file))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        self.mapped.atomic_read(path)
    }

    /// Replaces the file whole (readers of a staging directory are this writer only).
    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        std::fs::write(self.root.join(path), data)
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        self.mapped.acquire_lock(lock)
    }

    fn watch(&self, watch_callback: WatchCallback) -> tantivy::Result<WatchHandle> {
        self.mapped.watch(watch_callback)
    }
}

/// Files (and bundles) up to this size are read into memory rather than mapped (see the
/// module doc): four pages, what a mapping of them would keep in the page cache anyway.
pub const READ_WHOLE_BYTES: u64 = 16 << 10;

/// A published block index, read-only: no lock files; its [`Bundle`] read whole or mapped once,
/// or — an index published before bundles — its loose files, small ones read whole and the
/// rest mapped (see the module doc). Counts the mappings it makes.
#[derive(Clone, Debug)]
pub(crate) struct PublishedDirectory {
    files: Files,
    root: PathBuf,
    mapped_files: Arc<AtomicU64>,
}

#[derive(Clone, Debug)]
enum Files {
    Bundle(Arc<Bundle>),
    Loose(MmapDirectory),
}

impl PublishedDirectory {
    /// Opens the index in `root`; an [`io::ErrorKind::InvalidData`] error if its bundle is not
    /// whole.
    pub(crate) fn open(root: &Path) -> io::Result<PublishedDirectory> {
        let mapped_files = Arc::new(AtomicU64::new(0));
        let files = match Bundle::open(&root.join(BUNDLE_FILE))? {
            Some(bundle) => {
                if bundle.mapped() {
                    mapped_files.fetch_add(1, Ordering::Relaxed);
                }
                Files::Bundle(Arc::new(bundle))
            }
            None => Files::Loose(MmapDirectory::open(root).map_err(io::Error::other)?),
        };
        Ok(PublishedDirectory { files, root: root.to_path_buf(), mapped_files })
    }

    /// Mappings of this directory made so far (each one of the process's).
    pub(crate) fn mapped_files(&self) -> u64 {
        self.mapped_files.load(Ordering::Relaxed)
    }

    fn read_only(&self, path: &Path) -> io::Error {
        io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("{} is a published index, opened read-only", self.root.join(path).display()),
        )
    }
}

impl Directory for PublishedDirectory {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        let mapped = match &self.files {
            Files::Bundle(bundle) => {
                let bytes = bundle.file(path).ok_or_else(|| OpenReadError::FileDoesNotExist(path.to_path_buf()))?;
                return Ok(Arc::new(bytes));
            }
            Files::Loose(mapped) => mapped,
        };
        let full = self.root.join(path);
        let bytes = match std::fs::metadata(&full) {
            Ok(metadata) => metadata.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(OpenReadError::FileDoesNotExist(path.to_path_buf()));
            }
            Err(e) => return Err(OpenReadError::wrap_io_error(e, path.to_path_buf())),
        };
        if bytes <= READ_WHOLE_BYTES {
            let data = std::fs::read(&full).map_err(|e| OpenReadError::wrap_io_error(e, path.to_path_buf()))?;
            return Ok(Arc::new(OwnedBytes::new(data)));
        }
        let handle = mapped.get_file_handle(path)?;
        self.mapped_files.fetch_add(1, Ordering::Relaxed);
        Ok(handle)
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        Err(DeleteError::IoError { io_error: Arc::new(self.read_only(path)), filepath: path.to_path_buf() })
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        match &self.files {
            Files::Bundle(bundle) => Ok(bundle.file(path).is_some()),
            Files::Loose(mapped) => mapped.exists(path),
        }
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        Err(OpenWriteError::wrap_io_error(self.read_only(path), path.to_path_buf()))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        match &self.files {
            Files::Bundle(bundle) => bundle
                .file(path)
                .map(|bytes| bytes.as_slice().to_vec())
                .ok_or_else(|| OpenReadError::FileDoesNotExist(path.to_path_buf())),
            Files::Loose(mapped) => mapped.atomic_read(path),
        }
    }

    fn atomic_write(&self, path: &Path, _: &[u8]) -> io::Result<()> {
        Err(self.read_only(path))
    }

    fn sync_directory(&self) -> io::Result<()> {
        Ok(())
    }

    /// No lock: nothing changes a published index, so readers need not exclude a writer.
    fn acquire_lock(&self, _: &Lock) -> Result<DirectoryLock, LockError> {
        Ok(DirectoryLock::from(Box::new(())))
    }

    fn watch(&self, _: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}
