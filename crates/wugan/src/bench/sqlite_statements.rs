//! Counts the SQL statements the hub runs on its SQLite database (`hub.db`): an auto-extension
//! (called by SQLite for every connection it opens in this process) registers a statement trace
//! (`SQLITE_TRACE_STMT`, once per statement run) on the hub's connections only, so the partners'
//! journals are not counted. Every statement counts: `BEGIN`, `SAVEPOINT` and `COMMIT` too, for each
//! is a round trip to SQLite's thread. Only `wugan bench` installs it; the hub is not touched.

use libsqlite3_sys as ffi;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
/// Whether each statement's text is counted too (`WUGAN_BENCH_SQL_TOP`): a profile of which
/// statements a visit runs, printed by `top`. Off by default: it takes a lock per statement.
static BY_TEXT: AtomicBool = AtomicBool::new(false);
static TEXTS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
/// The file whose connections are traced.
const HUB_FILE: &[u8] = b"hub.db";

/// Statements run on the hub's database so far in this process.
pub fn count() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

/// Counts each statement's text from now on.
pub fn count_texts() {
    BY_TEXT.store(true, Ordering::Relaxed);
}

/// The `n` statements run most often so far, with their counts, most first.
pub fn top(n: usize) -> Vec<(u64, String)> {
    let texts = TEXTS.lock().map(|t| t.clone().unwrap_or_default()).unwrap_or_default();
    let mut all: Vec<(u64, String)> = texts.into_iter().map(|(sql, k)| (k, sql)).collect();
    all.sort_by(|a, b| b.cmp(a));
    all.truncate(n);
    all
}

/// Traces every hub connection opened after this call. Safe to call more than once.
pub fn install() -> Result<(), String> {
    // SAFETY: registers a function that lives for the whole process; SQLite calls it with a valid
    // connection handle.
    INSTALLED
        .get_or_init(|| match unsafe { ffi::sqlite3_auto_extension(Some(trace_hub_connection)) } {
            ffi::SQLITE_OK => Ok(()),
            rc => Err(format!("SQLite refused the statement counter (code {rc})")),
        })
        .clone()
}

unsafe extern "C" fn trace_hub_connection(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    let name = ffi::sqlite3_db_filename(db, c"main".as_ptr());
    if !name.is_null() && CStr::from_ptr(name).to_bytes().ends_with(HUB_FILE) {
        ffi::sqlite3_trace_v2(db, ffi::SQLITE_TRACE_STMT, Some(on_statement), std::ptr::null_mut());
    }
    ffi::SQLITE_OK
}

unsafe extern "C" fn on_statement(_event: c_uint, _context: *mut c_void, _statement: *mut c_void, sql: *mut c_void) -> c_int {
    STATEMENTS.fetch_add(1, Ordering::Relaxed);
    if BY_TEXT.load(Ordering::Relaxed) && !sql.is_null() {
        // For SQLITE_TRACE_STMT the last argument is the statement's unexpanded text.
        let text: String = CStr::from_ptr(sql as *const c_char).to_string_lossy().chars().take(120).collect();
        if let Ok(mut texts) = TEXTS.lock() {
            *texts.get_or_insert_with(HashMap::new).entry(text).or_insert(0) += 1;
        }
    }
    0
}
