//! SQLite's own page cache, with one pass-through layer that spares each commit a walk over the
//! whole cache.
//!
//! Why: at every commit SQLite drops the cached pages past the end of the database
//! (`xTruncate`). Its page cache finds them by the largest page number it was handed since the
//! last truncation; when that number is far past the end, it walks every slot and page of its
//! hash table. And it always is, after a page split: when the pages a split produces come out
//! of page-number order, SQLite's b-tree swaps two of them through the number of the lock-byte
//! page at 1 GiB (262 145 with 4 KiB pages) and back. So nearly every commit of a storm walked
//! the writer's whole 64 MiB cache, some 16 000 pages: 8 % of the writer thread's time
//! (docs/benchmarks.md, twenty-first session).
//!
//! This layer hands every call to SQLite's default cache and keeps, per cache, what it needs to
//! know that no page at or past a truncation's limit can be in it (`HeldPages`). When none can
//! be, the truncation has nothing to drop and is not passed on; otherwise it is, unchanged.
//! Installed with SQLite's other settings for the process (`sqlite_process`); if SQLite was
//! already in use, the default cache stays as it is and only the walk remains.
#![allow(unsafe_code)]

use std::ffi::{c_int, c_uint};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use libsqlite3_sys as ffi;

/// The page numbers a cache may hold, as far as the calls through this layer tell.
///
/// Invariant: every page in the cache has a number at most `fetched_max`, or one in
/// `moved_high`. A page enters the cache only through a fetch that may create it or by being
/// moved to a new number; pages the cache drops on its own (to stay within its size) only make
/// the bound looser.
#[derive(Debug, Default, Clone)]
struct HeldPages {
    /// The largest number fetched (creating if missing) since the last truncation.
    fetched_max: u32,
    /// Numbers past `fetched_max` that pages were moved to and not (as far as known) away from:
    /// at most a few at a time, the page-split swap's one among them.
    moved_high: Vec<u32>,
}

impl HeldPages {
    fn fetched(&mut self, number: u32) {
        self.fetched_max = self.fetched_max.max(number);
    }

    fn moved(&mut self, from: u32, to: u32) {
        self.moved_high.retain(|held| *held != from);
        if to > self.fetched_max {
            self.moved_high.push(to);
        }
    }

    /// True when a page numbered `limit` or more may be in the cache.
    fn may_hold_from(&self, limit: u32) -> bool {
        self.fetched_max >= limit || self.moved_high.iter().any(|held| *held >= limit)
    }

    /// After the cache dropped every page numbered `limit` or more.
    fn truncated(&mut self, limit: u32) {
        self.fetched_max = self.fetched_max.min(limit.saturating_sub(1));
        self.moved_high.retain(|held| *held < limit);
    }
}

/// What this layer hands SQLite in place of a cache of the default implementation.
struct Layer {
    inner: *mut ffi::sqlite3_pcache,
    held: HeldPages,
}

/// SQLite's default page-cache methods, as they were before this layer was installed.
struct DefaultCache(ffi::sqlite3_pcache_methods2);

// SAFETY: a table of C function pointers and the default cache's global argument, which SQLite
// itself shares between all threads.
unsafe impl Send for DefaultCache {}
unsafe impl Sync for DefaultCache {}

static DEFAULT: OnceLock<DefaultCache> = OnceLock::new();
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
static TRUNCATIONS_PASSED: AtomicU64 = AtomicU64::new(0);
static TRUNCATIONS_SKIPPED: AtomicU64 = AtomicU64::new(0);

/// Installs the layer, once per process, before SQLite is first used. An error says why the
/// default cache stays (SQLite was already in use); the database works the same either way.
pub fn install() -> Result<(), String> {
    INSTALLED
        .get_or_init(|| {
            let installed = install_now();
            if let Err(why) = &installed {
                tracing::warn!(%why, "SQLite keeps its default page cache: each commit walks it");
            }
            installed
        })
        .clone()
}

/// Truncations passed on to the default cache and those found to have nothing to drop, since
/// the process started.
#[cfg(test)]
pub fn truncations() -> (u64, u64) {
    (
        TRUNCATIONS_PASSED.load(Ordering::Relaxed),
        TRUNCATIONS_SKIPPED.load(Ordering::Relaxed),
    )
}

fn install_now() -> Result<(), String> {
    // SAFETY: zeroed is a valid value of this plain C struct (null pointers, no functions).
    let mut default: ffi::sqlite3_pcache_methods2 = unsafe { std::mem::zeroed() };
    // SAFETY: SQLITE_CONFIG_GETPCACHE2 takes a pointer to the struct to fill.
    let code = unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_GETPCACHE2,
            &mut default as *mut ffi::sqlite3_pcache_methods2,
        )
    };
    if code != ffi::SQLITE_OK {
        return Err(format!(
            "SQLite refused to show its page cache (code {code})"
        ));
    }
    let complete = default.xCreate.is_some()
        && default.xCachesize.is_some()
        && default.xPagecount.is_some()
        && default.xFetch.is_some()
        && default.xUnpin.is_some()
        && default.xRekey.is_some()
        && default.xTruncate.is_some()
        && default.xDestroy.is_some();
    if !complete {
        return Err("SQLite's page cache lacks a method".to_owned());
    }
    let layered = ffi::sqlite3_pcache_methods2 {
        iVersion: default.iVersion,
        // The default cache's global setup takes its own argument, unchanged.
        pArg: default.pArg,
        xInit: default.xInit,
        xShutdown: default.xShutdown,
        xCreate: Some(create),
        xCachesize: Some(cachesize),
        xPagecount: Some(pagecount),
        xFetch: Some(fetch),
        xUnpin: Some(unpin),
        xRekey: Some(rekey),
        xTruncate: Some(truncate),
        xDestroy: Some(destroy),
        xShrink: default.xShrink.map(|_| shrink as unsafe extern "C" fn(_)),
    };
    if DEFAULT.set(DefaultCache(default)).is_err() {
        return Err("the page cache layer was set up twice".to_owned());
    }
    // SAFETY: SQLITE_CONFIG_PCACHE2 takes a pointer to the methods, which SQLite copies.
    let code = unsafe {
        ffi::sqlite3_config(
            ffi::SQLITE_CONFIG_PCACHE2,
            &layered as *const ffi::sqlite3_pcache_methods2,
        )
    };
    if code != ffi::SQLITE_OK {
        return Err(format!(
            "SQLite was already in use, its page cache stays as it is (code {code})"
        ));
    }
    Ok(())
}

fn default_cache() -> &'static ffi::sqlite3_pcache_methods2 {
    // Set before the layer's methods were handed to SQLite, which calls them only after.
    &DEFAULT.get().expect("the default page cache is known").0
}

/// # Safety
/// `cache` is a pointer `create` returned and `destroy` has not freed.
unsafe fn layer<'a>(cache: *mut ffi::sqlite3_pcache) -> &'a mut Layer {
    // SAFETY: SQLite calls one cache's methods from one thread at a time.
    unsafe { &mut *cache.cast::<Layer>() }
}

// The methods below forward to the default cache; `expect`s name methods `install_now` checked.

unsafe extern "C" fn create(
    page_size: c_int,
    extra_size: c_int,
    purgeable: c_int,
) -> *mut ffi::sqlite3_pcache {
    let create = default_cache().xCreate.expect("checked");
    // SAFETY: forwarded as SQLite called it.
    let inner = unsafe { create(page_size, extra_size, purgeable) };
    if inner.is_null() {
        return inner;
    }
    let layer = Box::new(Layer {
        inner,
        held: HeldPages::default(),
    });
    Box::into_raw(layer).cast()
}

unsafe extern "C" fn cachesize(cache: *mut ffi::sqlite3_pcache, pages: c_int) {
    // SAFETY: SQLite hands back a cache `create` made; forwarded unchanged.
    unsafe { default_cache().xCachesize.expect("checked")(layer(cache).inner, pages) }
}

unsafe extern "C" fn pagecount(cache: *mut ffi::sqlite3_pcache) -> c_int {
    // SAFETY: as in `cachesize`.
    unsafe { default_cache().xPagecount.expect("checked")(layer(cache).inner) }
}

unsafe extern "C" fn fetch(
    cache: *mut ffi::sqlite3_pcache,
    number: c_uint,
    create: c_int,
) -> *mut ffi::sqlite3_pcache_page {
    // SAFETY: as in `cachesize`.
    let layer = unsafe { layer(cache) };
    if create != 0 {
        layer.held.fetched(number);
    }
    // SAFETY: forwarded unchanged.
    unsafe { default_cache().xFetch.expect("checked")(layer.inner, number, create) }
}

unsafe extern "C" fn unpin(
    cache: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    discard: c_int,
) {
    // SAFETY: as in `cachesize`.
    unsafe { default_cache().xUnpin.expect("checked")(layer(cache).inner, page, discard) }
}

unsafe extern "C" fn rekey(
    cache: *mut ffi::sqlite3_pcache,
    page: *mut ffi::sqlite3_pcache_page,
    from: c_uint,
    to: c_uint,
) {
    // SAFETY: as in `cachesize`.
    let layer = unsafe { layer(cache) };
    layer.held.moved(from, to);
    // SAFETY: forwarded unchanged.
    unsafe { default_cache().xRekey.expect("checked")(layer.inner, page, from, to) }
}

unsafe extern "C" fn truncate(cache: *mut ffi::sqlite3_pcache, limit: c_uint) {
    // SAFETY: as in `cachesize`.
    let layer = unsafe { layer(cache) };
    if !layer.held.may_hold_from(limit) {
        TRUNCATIONS_SKIPPED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    TRUNCATIONS_PASSED.fetch_add(1, Ordering::Relaxed);
    // SAFETY: forwarded unchanged.
    unsafe { default_cache().xTruncate.expect("checked")(layer.inner, limit) };
    layer.held.truncated(limit);
}

unsafe extern "C" fn destroy(cache: *mut ffi::sqlite3_pcache) {
    // SAFETY: `create` made this box; SQLite calls nothing on the cache after destroying it.
    let layer = unsafe { Box::from_raw(cache.cast::<Layer>()) };
    // SAFETY: forwarded unchanged.
    unsafe { default_cache().xDestroy.expect("checked")(layer.inner) }
}

unsafe extern "C" fn shrink(cache: *mut ffi::sqlite3_pcache) {
    if let Some(shrink) = default_cache().xShrink {
        // SAFETY: as in `cachesize`.
        unsafe { shrink(layer(cache).inner) }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::HeldPages;

    /// A tiny deterministic generator: the test needs varied sequences, not good randomness.
    struct Steps(u64);

    impl Steps {
        fn below(&mut self, n: u32) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((self.0 >> 33) % u64::from(n)) as u32
        }
    }

    /// Against a model of the cache's real contents (including pages it drops on its own and
    /// the page split's swap through a far number): the layer never skips a truncation that
    /// had a page to drop.
    #[test]
    fn never_says_a_page_past_the_limit_is_absent_when_one_is_there() {
        const SWAP: u32 = 262_145;
        let mut skipped = 0;
        for seed in 0..200 {
            let mut steps = Steps(seed);
            let mut held = HeldPages::default();
            let mut cache = BTreeSet::new();
            let mut size = 1 + steps.below(50);
            for _ in 0..400 {
                match steps.below(6) {
                    0 | 1 => {
                        // A fetch that may create: a page within the database or just past it.
                        let number = 1 + steps.below(size + 3);
                        held.fetched(number);
                        cache.insert(number);
                        size = size.max(number);
                    }
                    2 => {
                        // A page split's swap of two pages through the far number.
                        let (a, b) = (1 + steps.below(size), 1 + steps.below(size));
                        if a != b && cache.contains(&a) && cache.contains(&b) {
                            for (from, to) in [(a, SWAP), (b, a), (SWAP, b)] {
                                held.moved(from, to);
                                cache.remove(&from);
                                cache.insert(to);
                            }
                        }
                    }
                    3 => {
                        // A move with no way back (as a failed statement may leave it).
                        let from = 1 + steps.below(size);
                        if cache.remove(&from) {
                            let to = SWAP + steps.below(3);
                            held.moved(from, to);
                            cache.insert(to);
                        }
                    }
                    4 => {
                        // The cache drops a page on its own.
                        let number = 1 + steps.below(size + 3);
                        cache.remove(&number);
                    }
                    _ => {
                        // A commit or rollback truncates to the database's size.
                        size = 1 + steps.below(size + 2);
                        let limit = size + 1;
                        let present = cache.range(limit..).next().is_some();
                        if held.may_hold_from(limit) {
                            cache.retain(|number| *number < limit);
                            held.truncated(limit);
                        } else {
                            assert!(!present, "seed {seed}: skipped with {cache:?} past {limit}");
                            skipped += 1;
                        }
                    }
                }
            }
        }
        assert!(skipped > 1_000, "only {skipped} truncations skipped");
    }

    /// SQLite through the layer: random keys split pages out of order (the swap), transactions
    /// that grew the file are rolled back (a truncation that must drop pages), and the database
    /// holds exactly what was committed, intact.
    #[test]
    fn sqlite_through_the_layer_keeps_what_was_committed_and_skips_empty_truncations() {
        use diesel::connection::SimpleConnection;
        use diesel::{Connection, RunQueryDsl};

        #[derive(diesel::QueryableByName)]
        struct Answer {
            #[diesel(sql_type = diesel::sql_types::Text)]
            answer: String,
        }
        let answer = |conn: &mut diesel::SqliteConnection, sql: &str| -> String {
            diesel::sql_query(sql)
                .get_result::<Answer>(conn)
                .unwrap()
                .answer
        };

        crate::db::sqlite_process::configure();
        super::install().expect("the layer is installed before SQLite's first use");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.db");
        let mut conn = diesel::SqliteConnection::establish(&path.to_string_lossy()).unwrap();
        conn.batch_execute(
            "PRAGMA journal_mode = WAL; PRAGMA cache_size = -65536; \
             CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE, v TEXT NOT NULL);",
        )
        .unwrap();
        let (_, skipped_before) = super::truncations();
        let mut steps = Steps(7);
        let mut kept = 0;
        for round in 0..300 {
            let mut sql = String::from("BEGIN;");
            for i in 0..40 {
                let key = format!("{:016x}-{round}-{i}", steps.below(u32::MAX));
                sql.push_str(&format!(
                    "INSERT INTO t (k, v) VALUES ('{key}', printf('%.300c', 'x'));"
                ));
            }
            let keep = round % 5 != 0;
            sql.push_str(if keep { "COMMIT;" } else { "ROLLBACK;" });
            conn.batch_execute(&sql).unwrap();
            if keep {
                kept += 40;
            }
        }
        assert_eq!(
            answer(
                &mut conn,
                "SELECT integrity_check AS answer FROM pragma_integrity_check"
            ),
            "ok"
        );
        assert_eq!(
            answer(&mut conn, "SELECT CAST(count(*) AS TEXT) AS answer FROM t"),
            kept.to_string()
        );
        let (_, skipped_after) = super::truncations();
        assert!(
            skipped_after > skipped_before,
            "no truncation was found empty"
        );
    }

    #[test]
    fn the_page_split_swap_leaves_nothing_to_truncate() {
        let mut held = HeldPages::default();
        for number in 1..=100 {
            held.fetched(number);
        }
        held.truncated(101);
        for (from, to) in [(40, 262_145), (70, 40), (262_145, 70)] {
            held.moved(from, to);
        }
        assert!(!held.may_hold_from(101));
        held.moved(50, 262_145);
        assert!(held.may_hold_from(101));
    }
}
