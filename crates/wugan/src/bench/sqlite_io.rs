//! Counts what SQLite asks of the disk: every `xWrite` (a `pwrite`) and every `xSync` (an
//! `fsync`/`fdatasync`) on any file it opens, by wrapping the default VFS (the layer SQLite does all
//! its file I/O through). The hub is not touched: the wrapper becomes SQLite's default VFS in this
//! process, so the hub's connections, opened afterwards, go through it.
//!
//! Counting is exact and costs an atomic increment per call. Only `wugan bench` installs it.

use libsqlite3_sys as ffi;
use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicPtr, AtomicU64, Ordering};
use std::sync::OnceLock;

static WRITES: AtomicU64 = AtomicU64::new(0);
static BYTES: AtomicU64 = AtomicU64::new(0);
static SYNCS: AtomicU64 = AtomicU64::new(0);
/// The VFS being wrapped (SQLite's default before ours): every file is really opened by it.
static ORIGINAL: AtomicPtr<ffi::sqlite3_vfs> = AtomicPtr::new(std::ptr::null_mut());
static INSTALLED: OnceLock<Result<(), String>> = OnceLock::new();

/// SQLite's disk work so far in this process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SqliteIo {
    /// `xWrite` calls (a WAL frame is two: its header and its page).
    pub writes: u64,
    pub bytes: u64,
    /// `xSync` calls: durable flushes.
    pub syncs: u64,
}

pub fn counts() -> SqliteIo {
    SqliteIo { writes: WRITES.load(Ordering::Relaxed), bytes: BYTES.load(Ordering::Relaxed), syncs: SYNCS.load(Ordering::Relaxed) }
}

/// Makes the counting VFS SQLite's default. Connections opened before this call are not counted.
/// Safe to call more than once.
pub fn install() -> Result<(), String> {
    // SAFETY: runs once; registers a VFS that lives for the rest of the process.
    INSTALLED.get_or_init(|| unsafe { register() }).clone()
}

unsafe fn register() -> Result<(), String> {
    if ffi::sqlite3_initialize() != ffi::SQLITE_OK {
        return Err("SQLite did not initialize".into());
    }
    let original = ffi::sqlite3_vfs_find(std::ptr::null());
    if original.is_null() {
        return Err("SQLite has no default VFS".into());
    }
    ORIGINAL.store(original, Ordering::Release);
    // Everything as the original (its other methods are given our struct, which carries the same
    // app data and limits), except that files are opened through us, with room for our header.
    let mut vfs = *original;
    vfs.szOsFile += std::mem::size_of::<CountingFile>() as c_int;
    vfs.zName = c"wugan-counting".as_ptr();
    vfs.pNext = std::ptr::null_mut();
    vfs.xOpen = Some(counting_open);
    let vfs: &'static mut ffi::sqlite3_vfs = Box::leak(Box::new(vfs));
    match ffi::sqlite3_vfs_register(vfs, 1) {
        ffi::SQLITE_OK => Ok(()),
        rc => Err(format!("SQLite refused the counting VFS (code {rc})")),
    }
}

/// Our file: SQLite sees `base` (with our methods); the original VFS's file lives right after it.
#[repr(C)]
struct CountingFile {
    base: ffi::sqlite3_file,
    real: *mut ffi::sqlite3_file,
}

unsafe extern "C" fn counting_open(
    _vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let original = ORIGINAL.load(Ordering::Acquire);
    let wrapper = file as *mut CountingFile;
    let real = wrapper.add(1) as *mut ffi::sqlite3_file;
    (*wrapper).real = real;
    (*wrapper).base.pMethods = std::ptr::null();
    let Some(open) = (*original).xOpen else { return ffi::SQLITE_CANTOPEN };
    let rc = open(original, name, real, flags, out_flags);
    // SQLite closes whatever has methods after xOpen, even a failed open: mirror the real file.
    let real_methods = (*real).pMethods;
    if !real_methods.is_null() {
        (*wrapper).base.pMethods = &METHODS[((*real_methods).iVersion.clamp(1, 3) - 1) as usize];
    }
    rc
}

unsafe fn real_of(file: *mut ffi::sqlite3_file) -> (*mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let real = (*(file as *mut CountingFile)).real;
    (real, &*(*real).pMethods)
}

/// A method that passes its call to the real file (`$missing` when the real file lacks it).
macro_rules! forward {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut ffi::sqlite3_file, $($arg: $ty),*) -> $ret {
            let (real, methods) = real_of(file);
            match methods.$method {
                Some(method) => method(real, $($arg),*),
                None => $missing,
            }
        }
    };
}

forward!(close, xClose, () -> c_int, ffi::SQLITE_OK);
forward!(read, xRead, (buf: *mut c_void, amount: c_int, offset: i64) -> c_int, ffi::SQLITE_IOERR_READ);
forward!(real_write, xWrite, (buf: *const c_void, amount: c_int, offset: i64) -> c_int, ffi::SQLITE_IOERR_WRITE);
forward!(truncate, xTruncate, (size: i64) -> c_int, ffi::SQLITE_IOERR_TRUNCATE);
forward!(real_sync, xSync, (flags: c_int) -> c_int, ffi::SQLITE_IOERR_FSYNC);
forward!(file_size, xFileSize, (size: *mut i64) -> c_int, ffi::SQLITE_IOERR_FSTAT);
forward!(lock, xLock, (level: c_int) -> c_int, ffi::SQLITE_IOERR_LOCK);
forward!(unlock, xUnlock, (level: c_int) -> c_int, ffi::SQLITE_IOERR_UNLOCK);
forward!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int, ffi::SQLITE_IOERR_CHECKRESERVEDLOCK);
forward!(file_control, xFileControl, (op: c_int, arg: *mut c_void) -> c_int, ffi::SQLITE_NOTFOUND);
forward!(sector_size, xSectorSize, () -> c_int, 4096);
forward!(device_characteristics, xDeviceCharacteristics, () -> c_int, 0);
forward!(shm_map, xShmMap, (page: c_int, size: c_int, extend: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_IOERR_SHMMAP);
forward!(shm_lock, xShmLock, (offset: c_int, n: c_int, flags: c_int) -> c_int, ffi::SQLITE_IOERR_SHMLOCK);
forward!(shm_unmap, xShmUnmap, (delete: c_int) -> c_int, ffi::SQLITE_OK);
forward!(fetch, xFetch, (offset: i64, amount: c_int, out: *mut *mut c_void) -> c_int, ffi::SQLITE_OK);
forward!(unfetch, xUnfetch, (offset: i64, page: *mut c_void) -> c_int, ffi::SQLITE_OK);

unsafe extern "C" fn write(file: *mut ffi::sqlite3_file, buf: *const c_void, amount: c_int, offset: i64) -> c_int {
    WRITES.fetch_add(1, Ordering::Relaxed);
    BYTES.fetch_add(amount.max(0) as u64, Ordering::Relaxed);
    real_write(file, buf, amount, offset)
}

unsafe extern "C" fn sync(file: *mut ffi::sqlite3_file, flags: c_int) -> c_int {
    SYNCS.fetch_add(1, Ordering::Relaxed);
    real_sync(file, flags)
}

unsafe extern "C" fn shm_barrier(file: *mut ffi::sqlite3_file) {
    let (real, methods) = real_of(file);
    if let Some(barrier) = methods.xShmBarrier {
        barrier(real);
    }
}

/// Our methods at each version SQLite knows, so that a file offers exactly what its real one does.
static METHODS: [ffi::sqlite3_io_methods; 3] = [methods(1), methods(2), methods(3)];

const fn methods(version: c_int) -> ffi::sqlite3_io_methods {
    ffi::sqlite3_io_methods {
        iVersion: version,
        xClose: Some(close),
        xRead: Some(read),
        xWrite: Some(write),
        xTruncate: Some(truncate),
        xSync: Some(sync),
        xFileSize: Some(file_size),
        xLock: Some(lock),
        xUnlock: Some(unlock),
        xCheckReservedLock: Some(check_reserved_lock),
        xFileControl: Some(file_control),
        xSectorSize: Some(sector_size),
        xDeviceCharacteristics: Some(device_characteristics),
        xShmMap: Some(shm_map),
        xShmLock: Some(shm_lock),
        xShmBarrier: Some(shm_barrier),
        xShmUnmap: Some(shm_unmap),
        xFetch: Some(fetch),
        xUnfetch: Some(unfetch),
    }
}
