//! SQLite's settings for the whole process, made once before its first use (SQLite refuses
//! them afterwards; the database then works the same, only slower).
//!
//! - **Multi-thread mode** instead of serialized: every connection here is used by one thread
//!   at a time (diesel's connections can move between threads but not be shared, the pool hands
//!   each to one caller, the checkpoint connection is its thread's own), so SQLite's lock around
//!   every call on a connection guards nothing.
//! - **No memory statistics**: they take a process-wide lock on every allocation SQLite makes;
//!   nothing reads them.
//! - **The page-cache layer** (`page_cache`).
//!
//! The two locks were 4 % of the writer thread's time in a storm (docs/benchmarks.md,
//! twenty-first session).
#![allow(unsafe_code)]

use std::ffi::c_int;
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

use super::page_cache;

/// Applies the settings, once per process. Call before opening any SQLite connection.
pub fn configure() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        // SAFETY: both options take what is passed here (none, an int) and are refused with an
        // error code once SQLite is in use.
        let modes = unsafe {
            [
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MULTITHREAD),
                ffi::sqlite3_config(ffi::SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
            ]
        };
        let installed = page_cache::install();
        if modes.iter().any(|code| *code != ffi::SQLITE_OK) || installed.is_err() {
            tracing::warn!(
                ?modes,
                page_cache = ?installed,
                "SQLite was in use before Klaxon could set it up: it runs with its defaults"
            );
        }
    });
}

#[cfg(test)]
mod tests {
    use std::ptr;

    use libsqlite3_sys as ffi;

    #[test]
    fn connections_have_no_lock_of_their_own_and_allocations_are_not_counted() {
        super::configure();
        let mut handle = ptr::null_mut();
        // SAFETY: a C string and an out-parameter; the handle is closed below.
        let code = unsafe {
            ffi::sqlite3_open_v2(
                c":memory:".as_ptr(),
                &mut handle,
                ffi::SQLITE_OPEN_READWRITE | ffi::SQLITE_OPEN_CREATE,
                ptr::null(),
            )
        };
        assert_eq!(code, ffi::SQLITE_OK);
        // SAFETY: a live handle, then a C string run on it, then closed.
        let (lock, ran, used) = unsafe {
            let lock = ffi::sqlite3_db_mutex(handle);
            let ran = ffi::sqlite3_exec(
                handle,
                c"CREATE TABLE t (x); INSERT INTO t VALUES (randomblob(100000));".as_ptr(),
                None,
                ptr::null_mut(),
                ptr::null_mut(),
            );
            let used = ffi::sqlite3_memory_used();
            ffi::sqlite3_close(handle);
            (lock, ran, used)
        };
        assert_eq!(ran, ffi::SQLITE_OK);
        assert!(lock.is_null(), "a serialized connection");
        assert_eq!(used, 0, "SQLite counts its memory");
    }
}
