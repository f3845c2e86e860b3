//! `wugan::sqlite_without_memory_statistics`, as `main` calls it: first, before any connection. A
//! test binary of its own, so that nothing in it opened SQLite before.

use libsqlite3_sys as ffi;
use std::ffi::CString;

#[test]
fn sqlite_counts_no_memory_once_its_statistics_are_off() {
    assert!(wugan::sqlite_without_memory_statistics(), "SQLite takes the setting before it is initialized");
    let mut db = std::ptr::null_mut();
    let name = CString::new(":memory:").unwrap();
    // SAFETY: a fresh in-memory database, closed below; the pointers outlive the calls.
    let (opened, used) = unsafe {
        let opened = ffi::sqlite3_open(name.as_ptr(), &mut db);
        let sql = CString::new("CREATE TABLE t (x); INSERT INTO t VALUES (randomblob(100000));").unwrap();
        ffi::sqlite3_exec(db, sql.as_ptr(), None, std::ptr::null_mut(), std::ptr::null_mut());
        let (mut used, mut peak) = (0i64, 0i64);
        ffi::sqlite3_status64(ffi::SQLITE_STATUS_MEMORY_USED, &mut used, &mut peak, 0);
        ffi::sqlite3_close(db);
        (opened, used)
    };
    assert_eq!(opened, ffi::SQLITE_OK);
    assert_eq!(used, 0, "with the statistics off, SQLite keeps no count (and takes no lock to keep one)");
    assert!(!wugan::sqlite_without_memory_statistics(), "once SQLite is initialized the setting is refused, not half-applied");
}
