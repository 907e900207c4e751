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

    /// SQLite asks a connection's authorizer about every table and column a statement names
    /// while it compiles the statement, and only then: counting its questions counts the
    /// compilations, the first ones and those SQLite does again on its own. Its trace names
    /// each statement run, whose program then shows whether it builds a temporary b-tree.
    #[test]
    fn stopping_an_incidents_paging_compiles_each_statement_once_and_builds_no_temporary_b_tree() {
        use std::cell::Cell;
        use std::os::raw::{c_char, c_int, c_uint, c_void};
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Mutex;

        use libsqlite3_sys as ffi;

        static QUESTIONS: AtomicUsize = AtomicUsize::new(0);
        static RUN: Mutex<Vec<String>> = Mutex::new(Vec::new());
        thread_local! {
            // Only the connection this test opens on its own thread is watched.
            static WATCHING: Cell<bool> = const { Cell::new(false) };
        }
        unsafe extern "C" fn answer(
            _: *mut c_void,
            _: c_int,
            _: *const c_char,
            _: *const c_char,
            _: *const c_char,
            _: *const c_char,
        ) -> c_int {
            QUESTIONS.fetch_add(1, Ordering::SeqCst);
            ffi::SQLITE_OK
        }
        unsafe extern "C" fn on_open(
            db: *mut ffi::sqlite3,
            _: *mut *mut c_char,
            _: *const ffi::sqlite3_api_routines,
        ) -> c_int {
            if WATCHING.with(Cell::get) {
                // SAFETY: the connection being opened, and callbacks that outlive it.
                unsafe {
                    ffi::sqlite3_set_authorizer(db, Some(answer), std::ptr::null_mut());
                    ffi::sqlite3_trace_v2(
                        db,
                        ffi::SQLITE_TRACE_STMT as c_uint,
                        Some(ran),
                        std::ptr::null_mut(),
                    );
                }
            }
            ffi::SQLITE_OK
        }
        unsafe extern "C" fn ran(
            _: c_uint,
            _: *mut c_void,
            stmt: *mut c_void,
            _: *mut c_void,
        ) -> c_int {
            // SAFETY: the statement SQLite is starting, whose text lives as long as it does.
            let sql = unsafe {
                std::ffi::CStr::from_ptr(ffi::sqlite3_sql(stmt.cast())).to_string_lossy()
            };
            let mut run = RUN.lock().unwrap();
            if !run.iter().any(|seen| *seen == sql) {
                run.push(sql.into_owned());
            }
            0
        }

        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("compiled.db").display());
        let db = super::super::Db::connect(&url, 1).unwrap();
        // SAFETY: registers a function with the signature SQLite calls it with.
        assert_eq!(
            unsafe { ffi::sqlite3_auto_extension(Some(on_open)) },
            ffi::SQLITE_OK
        );
        WATCHING.with(|watching| watching.set(true));
        let mut conn = super::super::Manager {
            url: db.url().clone(),
            backends: Default::default(),
        }
        .open()
        .unwrap();
        WATCHING.with(|watching| watching.set(false));
        let mut cancel = |incident_id: i64| {
            super::super::escalations::stop_for_incident(
                &mut conn,
                incident_id,
                "acknowledged",
                super::super::now(),
            )
            .unwrap();
            super::super::notifications::cancel_pending_for_incident(
                &mut conn,
                incident_id,
                "no",
                super::super::now(),
            )
            .unwrap();
            super::super::notifications::notified_users(&mut conn, incident_id).unwrap();
        };
        cancel(1);
        assert!(
            QUESTIONS.load(Ordering::SeqCst) > 0,
            "the authorizer is asked"
        );
        QUESTIONS.store(0, Ordering::SeqCst);
        for incident_id in 2..10 {
            cancel(incident_id);
        }
        assert_eq!(
            QUESTIONS.load(Ordering::SeqCst),
            0,
            "a statement was compiled again"
        );

        let run = RUN.lock().unwrap().clone();
        assert!(run.len() >= 4, "{run:?}");
        let super::super::DbConn::Sqlite(sqlite) = &mut conn else {
            unreachable!("a SQLite URL")
        };
        let with_temporary_b_tree: Vec<String> = run
            .into_iter()
            .filter(|sql| {
                super::super::program_of(sqlite, sql)
                    .iter()
                    .any(|opcode| opcode == "OpenEphemeral")
            })
            .collect();
        assert_eq!(
            with_temporary_b_tree,
            Vec::<String>::new(),
            "these build a temporary b-tree"
        );
    }
}
