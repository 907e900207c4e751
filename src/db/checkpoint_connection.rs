//! The checkpoint thread's connection, opened through SQLite's C interface: besides
//! checkpointing, it flushes the database file with SQLite's own file handle.
//!
//! Why not a `std::fs::File` of the database: POSIX locks belong to the process, and closing
//! any descriptor of a file drops every lock the process holds on it. SQLite knows this and
//! keeps its own descriptors open while any of its connections hold locks; a descriptor of
//! ours, closed when a `Db` was dropped, took the locks of every other connection in the
//! process with it. Another process closing the database then took itself for its last user,
//! copied the log back and deleted it, and this process's later commits went into the deleted
//! log, unseen by every other process (tests/app/transfer.rs,
//! `a_handle_closed_beside_a_running_app_keeps_its_locks`).
#![allow(unsafe_code)]

use std::ffi::{c_int, c_void, CStr, CString};
use std::path::Path;
use std::ptr::{self, NonNull};

use libsqlite3_sys as ffi;

use super::BUSY_TIMEOUT_MS;

const MAIN: &CStr = c"main";

/// An open connection, used by one thread at a time.
pub struct CheckpointConnection(NonNull<ffi::sqlite3>);

// SAFETY: the bundled SQLite is built threadsafe, and the connection is used by one thread at
// a time (`&mut self`); it only moves to the checkpoint thread.
unsafe impl Send for CheckpointConnection {}

/// Pages in the log, and how many of them are in the database file.
#[derive(Debug, Clone, Copy)]
pub struct LogPages {
    pub log: i64,
    pub copied: i64,
}

impl CheckpointConnection {
    pub fn open(path: &Path) -> Result<CheckpointConnection, String> {
        let name = CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{} has a NUL byte", path.display()))?;
        let mut handle = ptr::null_mut();
        // SAFETY: `name` is a C string; SQLite writes a handle (possibly null) to `handle`.
        let code = unsafe {
            ffi::sqlite3_open_v2(
                name.as_ptr(),
                &mut handle,
                ffi::SQLITE_OPEN_READWRITE,
                ptr::null(),
            )
        };
        // Even a failed open returns a handle that must be closed (unless out of memory).
        let connection = NonNull::new(handle)
            .map(CheckpointConnection)
            .ok_or_else(|| "SQLite is out of memory".to_owned())?;
        connection.check(code)?;
        // As every other connection: a checkpoint flushes the log before copying it back, and
        // waits out another connection's recovery of the log instead of failing.
        connection.execute(c"PRAGMA synchronous = NORMAL")?;
        // SAFETY: a live handle.
        connection.check(unsafe {
            ffi::sqlite3_busy_timeout(connection.0.as_ptr(), BUSY_TIMEOUT_MS as c_int)
        })?;
        Ok(connection)
    }

    /// Copies back what it can of the log without waiting for the writer or readers.
    pub fn checkpoint_passive(&mut self) -> Result<LogPages, String> {
        let (mut log, mut copied) = (0, 0);
        // SAFETY: a live handle, a C string and two out-parameters.
        let code = unsafe {
            ffi::sqlite3_wal_checkpoint_v2(
                self.0.as_ptr(),
                MAIN.as_ptr(),
                ffi::SQLITE_CHECKPOINT_PASSIVE,
                &mut log,
                &mut copied,
            )
        };
        self.check(code)?;
        Ok(LogPages {
            log: i64::from(log),
            copied: i64::from(copied),
        })
    }

    /// Flushes the database file to disk through SQLite's own handle of it.
    pub fn flush_database_file(&mut self) -> Result<(), String> {
        let mut file: *mut ffi::sqlite3_file = ptr::null_mut();
        // SAFETY: FILE_POINTER writes the main database's `sqlite3_file` to the pointer.
        let code = unsafe {
            ffi::sqlite3_file_control(
                self.0.as_ptr(),
                MAIN.as_ptr(),
                ffi::SQLITE_FCNTL_FILE_POINTER,
                (&mut file as *mut *mut ffi::sqlite3_file).cast::<c_void>(),
            )
        };
        self.check(code)?;
        // SAFETY: the file belongs to this connection, which nothing else uses meanwhile; a
        // file not opened yet has no methods.
        let code = unsafe {
            let methods = file.as_ref().and_then(|file| file.pMethods.as_ref());
            match methods.and_then(|methods| methods.xSync) {
                Some(sync) => sync(file, ffi::SQLITE_SYNC_NORMAL),
                None => ffi::SQLITE_OK,
            }
        };
        if code == ffi::SQLITE_OK {
            return Ok(());
        }
        // The file's own call leaves the connection's last error as it was: name the code.
        // SAFETY: SQLite returns a static C string for any code.
        let text = unsafe { CStr::from_ptr(ffi::sqlite3_errstr(code)) };
        Err(format!("{} (code {code})", text.to_string_lossy()))
    }

    fn execute(&self, sql: &CStr) -> Result<(), String> {
        // SAFETY: a live handle and a C string; no callback, no error string asked for.
        let code = unsafe {
            ffi::sqlite3_exec(
                self.0.as_ptr(),
                sql.as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        self.check(code)
    }

    fn check(&self, code: c_int) -> Result<(), String> {
        if code == ffi::SQLITE_OK {
            return Ok(());
        }
        // SAFETY: SQLite returns a C string it owns, valid until the next call on the handle.
        let message = unsafe { CStr::from_ptr(ffi::sqlite3_errmsg(self.0.as_ptr())) };
        Err(message.to_string_lossy().into_owned())
    }
}

impl Drop for CheckpointConnection {
    fn drop(&mut self) {
        // SAFETY: the handle is live and dropped once; its statements were all finalized.
        unsafe { ffi::sqlite3_close(self.0.as_ptr()) };
    }
}
