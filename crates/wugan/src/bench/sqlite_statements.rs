//! Counts the SQL statements the hub runs on its SQLite database (`hub.db`): an auto-extension
//! (called by SQLite for every connection it opens in this process) registers a statement trace
//! (`SQLITE_TRACE_STMT`, once per statement run) on the hub's connections only, so the partners'
//! journals are not counted. Every statement counts: `BEGIN`, `SAVEPOINT` and `COMMIT` too, for each
//! is a round trip to SQLite's thread. Only `wugan bench` installs it; the hub is not touched.

use libsqlite3_sys as ffi;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();
/// The file whose connections are traced.
const HUB_FILE: &[u8] = b"hub.db";

/// Statements run on the hub's database so far in this process.
pub fn count() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
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

unsafe extern "C" fn on_statement(_event: c_uint, _context: *mut c_void, _statement: *mut c_void, _sql: *mut c_void) -> c_int {
    STATEMENTS.fetch_add(1, Ordering::Relaxed);
    0
}
