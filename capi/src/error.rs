//! Errors at the C boundary: each component's last `En_HP_SocketError` with its text, the
//! thread's `errno` for per-call failures (`SYS_GetLastError`), and the guard that keeps a Rust
//! panic from unwinding into C.

use crate::types::{se, BOOL, DWORD, FALSE};
use shardnet_components::Error;
use std::ffi::{c_char, c_int, CStr, CString};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

/// Sets the calling thread's `errno` (what `SYS_GetLastError` reads).
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno cell.
    unsafe { *libc::__errno_location() = e };
}

/// The errno a component error is reported with.
pub(crate) fn errno_of(e: &Error) -> c_int {
    match e {
        Error::NotFound => libc::ENOENT,
        Error::NotConnected => libc::ENOTCONN,
        Error::QueueFull(_) => libc::ENOBUFS,
        Error::Backpressure => libc::EAGAIN,
        Error::WouldDeadlock => libc::EDEADLK,
        Error::InvalidParam(_) => libc::EINVAL,
        Error::IllegalState(_) => libc::EPERM,
        Error::ConnectFailed(n) => *n,
        Error::SocketCreate(e) | Error::SocketListen(e) | Error::Io(e) => {
            e.raw_os_error().unwrap_or(libc::EIO)
        }
        Error::SocketBind { source, .. } | Error::Resolve { source, .. } => {
            source.raw_os_error().unwrap_or(libc::EIO)
        }
        _ => libc::EIO,
    }
}

/// The `En_HP_SocketError` of a failed start or connect.
pub(crate) fn code_of(e: &Error) -> c_int {
    match e {
        Error::IllegalState(_) | Error::WouldDeadlock => se::SE_ILLEGAL_STATE,
        Error::InvalidParam(_) | Error::Resolve { .. } => se::SE_INVALID_PARAM,
        Error::SocketCreate(_) => se::SE_SOCKET_CREATE,
        Error::SocketBind { .. } => se::SE_SOCKET_BIND,
        Error::SocketPrepare => se::SE_SOCKET_PREPARE,
        Error::SocketListen(_) => se::SE_SOCKET_LISTEN,
        Error::ConnectFailed(_) => se::SE_CONNECT_SERVER,
        Error::Runtime(_) => se::SE_WORKER_THREAD_CREATE,
        Error::QueueFull(_) | Error::Backpressure => se::SE_DATA_SEND,
        _ => se::SE_NETWORK,
    }
}

/// A component's last error (`HP_*_GetLastError` / `GetLastErrorDesc`).
pub(crate) struct LastError {
    code: AtomicI32,
    desc: Mutex<CString>,
}

impl Default for LastError {
    fn default() -> Self {
        LastError {
            code: AtomicI32::new(se::SE_OK),
            desc: Mutex::new(c"SUCCESS".into()),
        }
    }
}

impl LastError {
    /// Records `code` with `text`, and the errno for `SYS_GetLastError`.
    pub(crate) fn set(&self, code: c_int, text: &str, errno: c_int) {
        if code != se::SE_OK {
            tracing::debug!(code, text, "HPSocket4C component error");
        }
        self.code.store(code, Ordering::Relaxed);
        let t = CString::new(text.replace('\0', " ")).unwrap_or_default();
        *self.desc.lock().unwrap_or_else(|p| p.into_inner()) = t;
        set_errno(errno);
    }

    /// Records a component error.
    pub(crate) fn from(&self, e: &Error) {
        self.set(code_of(e), &e.to_string(), errno_of(e));
    }

    pub(crate) fn code(&self) -> c_int {
        self.code.load(Ordering::Relaxed)
    }

    /// The text, valid until the next error of this component (as HP's).
    pub(crate) fn desc(&self) -> *const c_char {
        self.desc.lock().unwrap_or_else(|p| p.into_inner()).as_ptr()
    }
}

/// Runs `f`, turning a panic into `fallback` (and EFAULT in errno) instead of unwinding into C.
pub(crate) fn guard<R>(fallback: R, f: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => {
            set_errno(libc::EFAULT);
            fallback
        }
    }
}

/// `Ok` → TRUE; an error → FALSE with its errno.
pub(crate) fn done(r: shardnet_components::Result<()>) -> BOOL {
    match r {
        Ok(()) => crate::types::TRUE,
        Err(e) => {
            set_errno(errno_of(&e));
            FALSE
        }
    }
}

/// `SYS_GetLastError`: the calling thread's errno.
#[no_mangle]
pub extern "C" fn SYS_GetLastError() -> DWORD {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as DWORD
}

thread_local! {
    static LAST_STR: std::cell::RefCell<CString> = std::cell::RefCell::new(CString::default());
}

/// `SYS_GetLastErrorStr`: the text of the calling thread's errno (valid until the next call
/// on this thread).
#[no_mangle]
pub extern "C" fn SYS_GetLastErrorStr() -> *const c_char {
    let e = std::io::Error::last_os_error();
    LAST_STR.with(|s| {
        let mut s = s.borrow_mut();
        *s = CString::new(e.to_string()).unwrap_or_default();
        s.as_ptr()
    })
}

/// `HP_GetSocketErrorDesc`: the text of an `En_HP_SocketError`.
#[no_mangle]
pub extern "C" fn HP_GetSocketErrorDesc(code: c_int) -> *const c_char {
    let s: &'static CStr = match code {
        se::SE_OK => c"SUCCESS",
        se::SE_ILLEGAL_STATE => c"Illegal State",
        se::SE_INVALID_PARAM => c"Invalid Parameter",
        se::SE_SOCKET_CREATE => c"Create SOCKET Fail",
        se::SE_SOCKET_BIND => c"Bind SOCKET Fail",
        se::SE_SOCKET_PREPARE => c"Prepare SOCKET Fail",
        se::SE_SOCKET_LISTEN => c"Listen SOCKET Fail",
        se::SE_CP_CREATE => c"Create IOCP Fail",
        se::SE_WORKER_THREAD_CREATE => c"Create Worker Thread Fail",
        se::SE_DETECT_THREAD_CREATE => c"Create Detector Thread Fail",
        se::SE_SOCKE_ATTACH_TO_CP => c"Attach SOCKET to IOCP Fail",
        se::SE_CONNECT_SERVER => c"Connect to Server Fail",
        se::SE_NETWORK => c"Network Error",
        se::SE_DATA_PROC => c"Process Data Error",
        se::SE_DATA_SEND => c"Send Data Fail",
        se::SE_SSL_ENV_NOT_READY => c"SSL environment not ready",
        _ => c"UNKNOWN ERROR",
    };
    s.as_ptr()
}
