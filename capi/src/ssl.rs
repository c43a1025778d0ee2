//! The SSL forms of the TCP components (`Create_HP_SSL*`, HPSocket4C-SSL.h) on shardnet's
//! rustls configuration: `SetupSSLContext` (files or memory), extra contexts for SNI
//! (`AddSSLContext`, `BindSSLServerName`, the server-name callback), client verification
//! modes, `StartSSLHandShake` with `SetSSLAutoHandShake(FALSE)`.
//!
//! OpenSSL specifics have no rustls equivalent: `SetSSLCipherList` keeps the string for its
//! getter (rustls offers only its own safe suites), `GetSSLSessionInfo` (OpenSSL objects)
//! answers FALSE with ENOTSUP, and an encrypted private key (`lpszKeyPassword`) is refused.

use crate::any_client::AnyClient;
use crate::any_server::AnyServer;
use crate::error::{guard, set_errno};
use crate::handle::{handle, Handle};
use crate::listener::{ConnectorFns, ServerFns};
use crate::types::*;
use shardnet_components::tls::{
    roots_from_pem, ClientAuth, ClientTlsConfig, Identity, ServerTlsConfig, SniChoice,
};
use shardnet_components::{TcpAgent, TlsSettings};
use std::ffi::{c_char, c_int, CString};
use std::sync::Mutex;

/// `SSL_VM_*` verify mode bits.
const SSL_VM_PEER: c_int = 1;
const SSL_VM_FAIL_IF_NO_PEER_CERT: c_int = 2;

/// HP's server-name callback: the index of the context to use (0 the default, -1 abort).
pub type FnServerName = unsafe extern "C" fn(LPCTSTR, PVOID) -> c_int;

/// One component's TLS settings as the C program gave them.
#[derive(Default)]
pub(crate) struct SslState {
    /// Context 0 (Setup) and those added for SNI.
    contexts: Vec<Identity>,
    client_auth: Option<ClientAuth>,
    /// Server names bound to context indexes.
    names: Vec<(String, usize)>,
    callback: Option<FnServerName>,
    cipher_list: CString,
}

type Ssl = Mutex<SslState>;

fn read(p: LPCTSTR) -> Result<Option<Vec<u8>>, ()> {
    // SAFETY: the C contract: NULL or a C string.
    match unsafe { text(p) } {
        None | Some("") => Ok(None),
        Some(path) => std::fs::read(path).map(Some).map_err(|_| ()),
    }
}

fn mem(p: LPCTSTR) -> Option<Vec<u8>> {
    // SAFETY: the C contract: NULL or a C string.
    match unsafe { text(p) } {
        None | Some("") => None,
        Some(s) => Some(s.as_bytes().to_vec()),
    }
}

/// The PEM inputs of a Setup/Add call.
struct Pem {
    cert: Option<Vec<u8>>,
    key: Option<Vec<u8>>,
    ca: Option<Vec<u8>>,
}

fn pem(
    from_files: bool,
    cert: LPCTSTR,
    key: LPCTSTR,
    password: LPCTSTR,
    ca: LPCTSTR,
) -> Option<Pem> {
    // SAFETY: the C contract: NULL or a C string.
    let has_password = unsafe { text(password) }.is_some_and(|p| !p.is_empty());
    let p = if from_files {
        Pem {
            cert: read(cert).ok()?,
            key: read(key).ok()?,
            ca: read(ca).ok()?,
        }
    } else {
        Pem {
            cert: mem(cert),
            key: mem(key),
            ca: mem(ca),
        }
    };
    let encrypted = p
        .key
        .as_ref()
        .is_some_and(|k| String::from_utf8_lossy(k).contains("ENCRYPTED"));
    if encrypted || (has_password && p.key.is_none()) {
        return None; // rustls reads unencrypted keys only
    }
    Some(p)
}

fn identity(p: &Pem) -> Option<Identity> {
    match (&p.cert, &p.key) {
        (Some(c), Some(k)) => Identity::from_pem(c, k).ok(),
        _ => None,
    }
}

/// Rebuilds a server's rustls configuration from its contexts.
fn server_config(h: &Handle<AnyServer, ServerFns>, st: &SslState, me: PVOID) -> bool {
    let Some(first) = st.contexts.first() else {
        return false;
    };
    let mut b = ServerTlsConfig::builder().identity(first.clone());
    for (name, i) in &st.names {
        if let Some(id) = st.contexts.get(*i) {
            b = b.sni(name, id.clone());
        }
    }
    if let Some(f) = st.callback {
        let ids = st.contexts.clone();
        let ctx = me as usize;
        b = b.sni_callback(move |name| {
            let c = CString::new(name.unwrap_or("")).unwrap_or_default();
            // SAFETY: the program's callback with HP's signature; the name lives for the call.
            let i = unsafe { f(c.as_ptr(), ctx as PVOID) };
            match i {
                0 => SniChoice::Default,
                i if i > 0 => ids
                    .get(i as usize)
                    .map_or(SniChoice::Abort, |id| SniChoice::Use(id.clone())),
                _ => SniChoice::Abort,
            }
        });
    }
    if let Some(a) = &st.client_auth {
        b = b.client_auth(a.clone());
    }
    match b.build() {
        Ok(c) => {
            h.cfg().tls = Some(TlsSettings::Server(c));
            true
        }
        Err(_) => false,
    }
}

/// A component created without SSL (`Create_HP_TcpServer`, ...) refuses an SSL context, as
/// HP's plain C++ classes do: it would otherwise start speaking TLS.
fn not_ssl<C, F>(h: &Handle<C, F>) -> bool {
    if h.is_ssl.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    h.err.set(
        se::SE_INVALID_PARAM,
        "not an SSL component",
        libc::EOPNOTSUPP,
    );
    true
}

fn ssl_state(h: &Handle<AnyServer, ServerFns>) -> std::sync::MutexGuard<'_, SslState> {
    h.ssl.lock().unwrap_or_else(|e| e.into_inner())
}

fn server<'a>(p: PVOID) -> Option<&'a Handle<AnyServer, ServerFns>> {
    // SAFETY: the C contract: NULL or a live server handle.
    unsafe { handle::<AnyServer, ServerFns>(p) }
}

#[allow(clippy::too_many_arguments)]
fn setup_server(
    p: PVOID,
    files: bool,
    mode: c_int,
    cert: LPCTSTR,
    key: LPCTSTR,
    password: LPCTSTR,
    ca: LPCTSTR,
    cb: Option<FnServerName>,
) -> BOOL {
    let Some(h) = server(p) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    if not_ssl(h) {
        return FALSE;
    }
    let Some(pem) = pem(files, cert, key, password, ca) else {
        h.err.set(
            se::SE_SSL_ENV_NOT_READY,
            "cannot read the certificate, key or CA",
            libc::EINVAL,
        );
        return FALSE;
    };
    let Some(id) = identity(&pem) else {
        h.err.set(
            se::SE_SSL_ENV_NOT_READY,
            "bad certificate or key",
            libc::EINVAL,
        );
        return FALSE;
    };
    let auth = if mode & SSL_VM_PEER != 0 {
        let Some(roots) = pem.ca.as_deref().and_then(|c| roots_from_pem(c).ok()) else {
            h.err.set(
                se::SE_SSL_ENV_NOT_READY,
                "peer verification needs a CA",
                libc::EINVAL,
            );
            return FALSE;
        };
        Some(if mode & SSL_VM_FAIL_IF_NO_PEER_CERT != 0 {
            ClientAuth::Required(roots)
        } else {
            ClientAuth::Optional(roots)
        })
    } else {
        None
    };
    let mut st = ssl_state(h);
    *st = SslState {
        contexts: vec![id],
        client_auth: auth,
        names: Vec::new(),
        callback: cb,
        cipher_list: std::mem::take(&mut st.cipher_list),
    };
    b(server_config(h, &st, p))
}

/// Sets up the server's certificate (PEM files), client verification and SNI callback.
///
/// # Safety
/// Strings are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn HP_SSLServer_SetupSSLContext(
    p: PVOID,
    mode: c_int,
    cert: LPCTSTR,
    key: LPCTSTR,
    password: LPCTSTR,
    ca: LPCTSTR,
    cb: Option<FnServerName>,
) -> BOOL {
    guard(FALSE, || {
        setup_server(p, true, mode, cert, key, password, ca, cb)
    })
}

/// As `HP_SSLServer_SetupSSLContext` with the PEM text itself.
///
/// # Safety
/// Strings are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn HP_SSLServer_SetupSSLContextByMemory(
    p: PVOID,
    mode: c_int,
    cert: *const c_char,
    key: *const c_char,
    password: *const c_char,
    ca: *const c_char,
    cb: Option<FnServerName>,
) -> BOOL {
    guard(FALSE, || {
        setup_server(p, false, mode, cert, key, password, ca, cb)
    })
}

fn add_context(p: PVOID, files: bool, cert: LPCTSTR, key: LPCTSTR, password: LPCTSTR) -> c_int {
    let Some(h) = server(p) else {
        set_errno(libc::EINVAL);
        return -1;
    };
    let Some(id) = pem(files, cert, key, password, std::ptr::null()).and_then(|p| identity(&p))
    else {
        set_errno(libc::EINVAL);
        return -1;
    };
    let mut st = ssl_state(h);
    if st.contexts.is_empty() {
        set_errno(libc::EPERM); // SetupSSLContext first
        return -1;
    }
    st.contexts.push(id);
    let i = st.contexts.len() as c_int - 1;
    if !server_config(h, &st, p) {
        return -1;
    }
    i
}

/// Adds a certificate for SNI; returns its context index (> 0), or -1.
///
/// # Safety
/// Strings are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn HP_SSLServer_AddSSLContext(
    p: PVOID,
    _mode: c_int,
    cert: LPCTSTR,
    key: LPCTSTR,
    password: LPCTSTR,
    _ca: LPCTSTR,
) -> c_int {
    guard(-1, || add_context(p, true, cert, key, password))
}

/// As `HP_SSLServer_AddSSLContext` with the PEM text itself.
///
/// # Safety
/// Strings are NULL or C strings.
#[no_mangle]
pub unsafe extern "C" fn HP_SSLServer_AddSSLContextByMemory(
    p: PVOID,
    _mode: c_int,
    cert: *const c_char,
    key: *const c_char,
    password: *const c_char,
    _ca: *const c_char,
) -> c_int {
    guard(-1, || add_context(p, false, cert, key, password))
}

/// Serves context `index` to clients asking for `name` (`*.example.com` matches one label).
///
/// # Safety
/// `name` a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_SSLServer_BindSSLServerName(
    p: PVOID,
    name: LPCTSTR,
    index: c_int,
) -> BOOL {
    guard(FALSE, || {
        let Some(h) = server(p) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        // SAFETY: per the contract.
        let Some(name) = (unsafe { text(name) }) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        let mut st = ssl_state(h);
        if index < 0 || index as usize >= st.contexts.len() {
            set_errno(libc::EINVAL);
            return FALSE;
        }
        st.names.push((name.to_string(), index as usize));
        b(server_config(h, &st, p))
    })
}

/// HP's default server-name callback: the context bound to `name`, else 0. `ctx` is the
/// server handle.
///
/// # Safety
/// `name` a C string; `ctx` NULL or a live SSL server handle.
#[no_mangle]
pub unsafe extern "C" fn HP_SSL_DefaultServerNameCallback(name: LPCTSTR, ctx: PVOID) -> c_int {
    guard(0, || {
        // SAFETY: per the contract.
        let (Some(h), Some(name)) = (server(ctx), unsafe { text(name) }) else {
            return 0;
        };
        let st = ssl_state(h);
        // Exact names first, then `*.parent` for one label, as the built-in SNI path.
        let parent = name.split_once('.').map(|(_, p)| p);
        let exact = st.names.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
        let wild = || {
            st.names.iter().find(|(n, _)| {
                n.strip_prefix("*.").is_some_and(|p| {
                    Some(p)
                        .zip(parent)
                        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
                })
            })
        };
        exact.or_else(wild).map_or(0, |(_, i)| *i as c_int)
    })
}

/// Nothing to release: rustls keeps no per-thread state.
#[no_mangle]
pub extern "C" fn HP_SSL_RemoveThreadLocalState(_thread: UINT_PTR) {}

fn setup_connector<C, F>(
    h: Option<&Handle<C, F>>,
    files: bool,
    mode: c_int,
    cert: LPCTSTR,
    key: LPCTSTR,
    password: LPCTSTR,
    ca: LPCTSTR,
) -> BOOL {
    let Some(h) = h else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    if not_ssl(h) {
        return FALSE;
    }
    let Some(pem) = pem(files, cert, key, password, ca) else {
        h.err.set(
            se::SE_SSL_ENV_NOT_READY,
            "cannot read the certificate, key or CA",
            libc::EINVAL,
        );
        return FALSE;
    };
    let mut bld = ClientTlsConfig::builder();
    // HP's client default (SSL_VM_NONE) checks nothing; SSL_VM_PEER verifies the server.
    bld = if mode & SSL_VM_PEER != 0 {
        match &pem.ca {
            Some(ca) => bld.ca_pem(ca),
            None => bld.system_roots(),
        }
    } else {
        bld.dangerous_insecure_no_verify()
    };
    if pem.cert.is_some() {
        match identity(&pem) {
            Some(id) => bld = bld.identity(id),
            None => {
                h.err.set(
                    se::SE_SSL_ENV_NOT_READY,
                    "bad certificate or key",
                    libc::EINVAL,
                );
                return FALSE;
            }
        }
    }
    match bld.build() {
        Ok(c) => {
            h.cfg().tls = Some(TlsSettings::Client(c));
            TRUE
        }
        Err(e) => {
            h.err
                .set(se::SE_SSL_ENV_NOT_READY, &e.to_string(), libc::EINVAL);
            FALSE
        }
    }
}

macro_rules! connector_ssl {
    ($c:ty, $get:ident: $setup:ident, $setup_mem:ident, $cleanup:ident) => {
        fn $get<'a>(p: PVOID) -> Option<&'a Handle<$c, ConnectorFns>> {
            // SAFETY: the C contract: NULL or a live handle of this kind.
            unsafe { handle::<$c, ConnectorFns>(p) }
        }
        /// Sets up TLS: verification (SSL_VM_PEER with a CA file, else none, as HP) and an
        /// optional client certificate (PEM files).
        ///
        /// # Safety
        /// Strings are NULL or C strings.
        #[no_mangle]
        pub unsafe extern "C" fn $setup(
            p: PVOID,
            mode: c_int,
            cert: LPCTSTR,
            key: LPCTSTR,
            password: LPCTSTR,
            ca: LPCTSTR,
        ) -> BOOL {
            guard(FALSE, || {
                setup_connector($get(p), true, mode, cert, key, password, ca)
            })
        }
        /// As the file form, with the PEM text itself.
        ///
        /// # Safety
        /// Strings are NULL or C strings.
        #[no_mangle]
        pub unsafe extern "C" fn $setup_mem(
            p: PVOID,
            mode: c_int,
            cert: *const c_char,
            key: *const c_char,
            password: *const c_char,
            ca: *const c_char,
        ) -> BOOL {
            guard(FALSE, || {
                setup_connector($get(p), false, mode, cert, key, password, ca)
            })
        }
        /// Forgets the TLS settings (the component must be stopped to start again).
        #[no_mangle]
        pub extern "C" fn $cleanup(p: PVOID) {
            guard((), || {
                if let Some(h) = $get(p) {
                    h.cfg().tls = None;
                }
            })
        }
    };
}

connector_ssl!(TcpAgent, agent: HP_SSLAgent_SetupSSLContext, HP_SSLAgent_SetupSSLContextByMemory, HP_SSLAgent_CleanupSSLContext);
connector_ssl!(AnyClient, client: HP_SSLClient_SetupSSLContext, HP_SSLClient_SetupSSLContextByMemory, HP_SSLClient_CleanupSSLContext);

/// Forgets the certificates (the server must be stopped to start again).
#[no_mangle]
pub extern "C" fn HP_SSLServer_CleanupSSLContext(p: PVOID) {
    guard((), || {
        if let Some(h) = server(p) {
            *ssl_state(h) = SslState::default();
            h.cfg().tls = None;
        }
    })
}

macro_rules! common_ssl {
    ($get:ident, $c:ty: $auto:ident, $is_auto:ident, $set_ciphers:ident, $get_ciphers:ident) => {
        /// FALSE: the handshake waits for StartSSLHandShake (STARTTLS style).
        #[no_mangle]
        pub extern "C" fn $auto(p: PVOID, on: BOOL) {
            if let Some(h) = $get(p) {
                h.cfg().auto_handshake = on != 0;
            }
        }
        /// Whether the handshake starts by itself.
        #[no_mangle]
        pub extern "C" fn $is_auto(p: PVOID) -> BOOL {
            b($get(p).is_some_and(|h| h.cfg().auto_handshake))
        }
        /// Kept for the getter: rustls uses its own safe cipher suites.
        ///
        /// # Safety
        /// `list` NULL or a C string.
        #[no_mangle]
        pub unsafe extern "C" fn $set_ciphers(p: PVOID, list: LPCTSTR) {
            if let Some(h) = $get(p) {
                // SAFETY: per the contract.
                let s = unsafe { text(list) }.unwrap_or("");
                h.ssl.lock().unwrap_or_else(|e| e.into_inner()).cipher_list =
                    CString::new(s).unwrap_or_default();
            }
        }
        /// What `SetSSLCipherList` kept (valid until it is called again).
        #[no_mangle]
        pub extern "C" fn $get_ciphers(p: PVOID) -> LPCTSTR {
            $get(p).map_or(std::ptr::null(), |h| {
                h.ssl
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .cipher_list
                    .as_ptr()
            })
        }
    };
}

common_ssl!(server, AnyServer: HP_SSLServer_SetSSLAutoHandShake, HP_SSLServer_IsSSLAutoHandShake, HP_SSLServer_SetSSLCipherList, HP_SSLServer_GetSSLCipherList);
common_ssl!(agent, TcpAgent: HP_SSLAgent_SetSSLAutoHandShake, HP_SSLAgent_IsSSLAutoHandShake, HP_SSLAgent_SetSSLCipherList, HP_SSLAgent_GetSSLCipherList);
common_ssl!(client, AnyClient: HP_SSLClient_SetSSLAutoHandShake, HP_SSLClient_IsSSLAutoHandShake, HP_SSLClient_SetSSLCipherList, HP_SSLClient_GetSSLCipherList);

/// Starts the TLS handshake of a connection (with `SetSSLAutoHandShake(FALSE)`).
#[no_mangle]
pub extern "C" fn HP_SSLServer_StartSSLHandShake(p: PVOID, c: HP_CONNID) -> BOOL {
    guard(FALSE, || match server(p).and_then(|h| h.get()) {
        Some(s) => crate::error::done(s.start_handshake(crate::complex::conn(c))),
        None => {
            set_errno(libc::EPERM);
            FALSE
        }
    })
}

/// Starts the TLS handshake of a connection (with `SetSSLAutoHandShake(FALSE)`).
#[no_mangle]
pub extern "C" fn HP_SSLAgent_StartSSLHandShake(p: PVOID, c: HP_CONNID) -> BOOL {
    guard(FALSE, || match agent(p).and_then(|h| h.get()) {
        Some(a) => crate::error::done(a.start_handshake(crate::complex::conn(c))),
        None => {
            set_errno(libc::EPERM);
            FALSE
        }
    })
}

/// Starts the TLS handshake (with `SetSSLAutoHandShake(FALSE)`).
#[no_mangle]
pub extern "C" fn HP_SSLClient_StartSSLHandShake(p: PVOID) -> BOOL {
    guard(FALSE, || match client(p).and_then(|h| h.get()) {
        Some(c) => crate::error::done(c.start_handshake()),
        None => {
            set_errno(libc::EPERM);
            FALSE
        }
    })
}

macro_rules! no_session_info {
    ($($name:ident($($arg:ident: $t:ty),*);)*) => {$(
        /// FALSE with ENOTSUP: the session information HP returns are OpenSSL objects.
        #[no_mangle]
        pub extern "C" fn $name($($arg: $t),*) -> BOOL {
            $(let _ = $arg;)*
            set_errno(libc::ENOTSUP);
            FALSE
        }
    )*};
}
no_session_info! {
    HP_SSLServer_GetSSLSessionInfo(p: PVOID, c: HP_CONNID, info: c_int, out: *mut PVOID);
    HP_SSLAgent_GetSSLSessionInfo(p: PVOID, c: HP_CONNID, info: c_int, out: *mut PVOID);
    HP_SSLClient_GetSSLSessionInfo(p: PVOID, info: c_int, out: *mut PVOID);
}

pub(crate) type SslCell = Ssl;

macro_rules! ssl_life {
    ($module:ident, $c:ty, $f:ty: $($create:ident, $destroy:ident, $model:ident;)*) => {$(
        /// Creates the SSL form of the component: `SetupSSLContext` before `Start`.
        #[no_mangle]
        pub extern "C" fn $create(l: PVOID) -> PVOID {
            let p = crate::$module::create(l, crate::handle::Model::$model);
            // SAFETY: `p` is NULL or the handle just made.
            if let Some(h) = unsafe { handle::<$c, $f>(p) } {
                h.is_ssl.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            p
        }
        crate::handle::destroyers!($c, $f: $destroy);
    )*};
}

ssl_life! { server, AnyServer, ServerFns:
    Create_HP_SSLServer, Destroy_HP_SSLServer, Push;
    Create_HP_SSLPullServer, Destroy_HP_SSLPullServer, Pull;
    Create_HP_SSLPackServer, Destroy_HP_SSLPackServer, Pack;
}
ssl_life! { http_server, AnyServer, ServerFns:
    Create_HP_HttpsServer, Destroy_HP_HttpsServer, Http;
}
ssl_life! { http_client, AnyClient, ConnectorFns:
    Create_HP_HttpsClient, Destroy_HP_HttpsClient, Http;
    Create_HP_HttpsSyncClient, Destroy_HP_HttpsSyncClient, HttpSync;
}
ssl_life! { http_agent, TcpAgent, ConnectorFns:
    Create_HP_HttpsAgent, Destroy_HP_HttpsAgent, Http;
}
ssl_life! { agent, TcpAgent, ConnectorFns:
    Create_HP_SSLAgent, Destroy_HP_SSLAgent, Push;
    Create_HP_SSLPullAgent, Destroy_HP_SSLPullAgent, Pull;
    Create_HP_SSLPackAgent, Destroy_HP_SSLPackAgent, Pack;
}
ssl_life! { client, AnyClient, ConnectorFns:
    Create_HP_SSLClient, Destroy_HP_SSLClient, Push;
    Create_HP_SSLPullClient, Destroy_HP_SSLPullClient, Pull;
    Create_HP_SSLPackClient, Destroy_HP_SSLPackClient, Pack;
}
