//! `HP_UdpServer`, `HP_UdpArqServer`, `HP_UdpClient` and `HP_UdpArqClient`: `Create_`/`Destroy_`,
//! their `HP_Udp*_*` settings, and the bridges from shardnet's UDP listeners to the C
//! callbacks. Everything else they do goes through the shared `HP_Server_*` / `HP_Client_*`
//! functions (`server.rs`, `client.rs`), which take a TCP or a UDP component alike
//! ([`AnyServer`], [`AnyClient`]).
//!
//! As HP-Socket's: a connection per peer address, opened by its first datagram (`OnAccept`
//! with the socket of the server; then `OnHandShake`: at once for plain UDP, when HP's ARQ
//! handshake completes for ARQ); one datagram (ARQ: one whole message) per `OnReceive`;
//! `HP_Server_Send` sends one datagram (ARQ: one message); the settings' units are HP's
//! (milliseconds, bytes, segments).

use crate::any_client::AnyClient;
use crate::any_server::{AnyServer, UdpConns};
use crate::error::guard;
use crate::handle::{handle, Handle, Model};
use crate::listener::{call, ConnectorFns, ServerFns};
use crate::server::{hr_of, server};
use crate::types::*;
use shardnet_components::udp::{UdpClient, UdpClientListener, UdpServer, UdpServerListener};
use shardnet_components::{HandleResult, SocketOperation};
use shardnet_runtime::ConnId;
use std::ffi::c_int;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;
use std::time::Duration;

/// The listener shardnet calls for a UDP server: each call goes to the C callback.
struct UdpBridge {
    fns: ServerFns,
    sender: PVOID,
    conns: Arc<UdpConns>,
}

// SAFETY: as the TCP bridge's (`server.rs`): the table is a copy, the handle outlives the
// component, and HP's callbacks run on its worker threads too.
unsafe impl Send for UdpBridge {}
// SAFETY: as above.
unsafe impl Sync for UdpBridge {}

fn id(c: ConnId) -> HP_CONNID {
    c.as_u64() as HP_CONNID
}

impl UdpBridge {
    fn adopt(&self, s: &UdpServer) {
        if let Some(h) = server(self.sender) {
            h.adopt_with(|| AnyServer::Udp(s.clone(), self.conns.clone()));
        }
    }
}

impl UdpServerListener for UdpBridge {
    fn on_prepare_listen(&self, s: &UdpServer, f: BorrowedFd<'_>, _: SocketAddr) -> HandleResult {
        self.adopt(s);
        match self.fns.prepare_listen {
            // SAFETY: a C callback with HP's signature.
            Some(cb) => hr_of(unsafe { cb(self.sender, f.as_raw_fd() as UINT_PTR) }),
            None => HandleResult::Ignore,
        }
    }
    fn on_accept(&self, s: &UdpServer, c: ConnId, peer: SocketAddr) -> HandleResult {
        self.adopt(s);
        self.conns.opened(c);
        // HP's UDP server passes a pointer to the peer's SOCKADDR where TCP passes the socket.
        let addr = socket2::SockAddr::from(peer);
        let r = match self.fns.accept {
            // SAFETY: a C callback with HP's signature; the address lives for the call.
            Some(f) => hr_of(unsafe { f(self.sender, id(c), addr.as_ptr() as UINT_PTR) }),
            None => HandleResult::Ignore,
        };
        if r == HandleResult::Error {
            self.conns.closed(c);
        }
        r
    }
    fn on_handshake(&self, _: &UdpServer, c: ConnId) -> HandleResult {
        call::conn(self.fns.handshake, self.sender, id(c))
    }
    fn on_receive(&self, _: &UdpServer, c: ConnId, d: &[u8]) -> HandleResult {
        self.conns.received(c);
        call::data(self.fns.receive, self.sender, id(c), d)
    }
    fn on_send(&self, _: &UdpServer, c: ConnId, d: &[u8]) -> HandleResult {
        call::data(self.fns.send, self.sender, id(c), d)
    }
    fn on_close(&self, _: &UdpServer, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        call::close(self.fns.close, self.sender, id(c), op as c_int, e);
        self.conns.closed(c);
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &UdpServer) -> HandleResult {
        call::sender(self.fns.shutdown, self.sender);
        HandleResult::Ok
    }
}

/// `HP_Server_Start` for a UDP handle: the settings made so far, then the server.
pub(crate) fn start_server(h: &Handle<AnyServer, ServerFns>, p: PVOID, bind: &str) -> BOOL {
    let mut cfg = h.udp().clone();
    {
        let tcp = h.cfg();
        cfg.max_connections = tcp.max_connections;
        cfg.shards = tcp.shards;
    }
    let bridge = UdpBridge {
        // SAFETY: the listener is live at Start (HP's life cycle).
        fns: unsafe { *h.fns },
        sender: p,
        conns: Arc::new(UdpConns::default()),
    };
    let conns = bridge.conns.clone();
    h.clear_running();
    match UdpServer::builder()
        .config(cfg)
        .start(bind, Arc::new(bridge))
    {
        Ok(s) => {
            h.install(AnyServer::Udp(s, conns));
            h.err.set(se::SE_OK, "SUCCESS", 0);
            TRUE
        }
        Err(e) => {
            h.err.from(&e);
            FALSE
        }
    }
}

crate::handle::creators!(AnyServer, ServerFns:
    Create_HP_UdpServer => Udp,
    Create_HP_UdpArqServer => Arq
);

crate::handle::destroyers!(AnyServer, ServerFns:
    Destroy_HP_UdpServer,
    Destroy_HP_UdpArqServer
);

/// A UDP server handle (plain or ARQ), or None.
fn udp_server<'a>(p: PVOID) -> Option<&'a Handle<AnyServer, ServerFns>> {
    // SAFETY: the C contract: NULL or a live server handle.
    unsafe { handle::<AnyServer, ServerFns>(p) }
        .filter(|h| matches!(h.model, Model::Udp | Model::Arq))
}

/// Getter and setter pairs over the handle's `UdpConfig` (set before Start, as HP's).
macro_rules! udp_settings {
    ($handle:ident: $($set:ident, $get:ident: |$c:ident| $field:expr, $from:expr, $to:expr;)*) => {$(
        /// Setting (before Start).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: DWORD) {
            guard((), || {
                if let Some(h) = $handle(p) {
                    let $c = &mut *h.udp();
                    #[allow(clippy::redundant_closure_call)]
                    let x = ($from)(v);
                    $field = x;
                }
            })
        }
        /// What the matching setter set (HP's default before).
        #[no_mangle]
        pub extern "C" fn $get(p: PVOID) -> DWORD {
            guard(0, || {
                $handle(p).map_or(0, |h| {
                    let $c = &*h.udp();
                    #[allow(clippy::redundant_closure_call)]
                    ($to)(&$field)
                })
            })
        }
    )*};
}

fn ms(v: DWORD) -> Duration {
    Duration::from_millis(u64::from(v))
}

udp_settings! { udp_server:
    HP_UdpServer_SetMaxDatagramSize, HP_UdpServer_GetMaxDatagramSize:
        |c| c.max_datagram, |v: DWORD| v as usize, |x: &usize| *x as DWORD;
    HP_UdpServer_SetPostReceiveCount, HP_UdpServer_GetPostReceiveCount:
        |c| c.recv_batch, |v: DWORD| (v as usize).clamp(1, 1024), |x: &usize| *x as DWORD;
    HP_UdpServer_SetDetectAttempts, HP_UdpServer_GetDetectAttempts:
        |c| c.detect_attempts, |v: DWORD| v, |x: &u32| *x;
    HP_UdpServer_SetDetectInterval, HP_UdpServer_GetDetectInterval:
        |c| c.detect_interval, ms, |x: &Duration| x.as_millis().min(u32::MAX as u128) as DWORD;
}

/// ARQ settings: each over the handle's `ArqConfig` (an ARQ handle always has one).
macro_rules! arq_settings {
    ($handle:ident: $($set:ident, $get:ident: $ty:ty, |$a:ident| $field:expr, $from:expr, $to:expr;)*) => {$(
        /// ARQ setting (before Start).
        #[no_mangle]
        pub extern "C" fn $set(p: PVOID, v: $ty) {
            guard((), || {
                if let Some(h) = $handle(p) {
                    if let Some($a) = h.udp().arq.as_mut() {
                        #[allow(clippy::redundant_closure_call)]
                        let x = ($from)(v);
                        $field = x;
                    }
                }
            })
        }
        /// What the matching setter set (HP's default before).
        #[no_mangle]
        pub extern "C" fn $get(p: PVOID) -> $ty {
            guard(Default::default(), || {
                $handle(p)
                    .and_then(|h| {
                        h.udp().arq.as_ref().map(|$a| {
                            #[allow(clippy::redundant_closure_call)]
                            ($to)(&$field)
                        })
                    })
                    .unwrap_or_default()
            })
        }
    )*};
}

fn dword(v: DWORD) -> u32 {
    v
}
fn get_u32(x: &u32) -> DWORD {
    *x
}
fn window(v: DWORD) -> u16 {
    v.min(u32::from(u16::MAX)) as u16
}
fn get_window(x: &u16) -> DWORD {
    DWORD::from(*x)
}

arq_settings! { udp_server:
    HP_UdpArqServer_SetNoDelay, HP_UdpArqServer_IsNoDelay: BOOL,
        |a| a.kcp.nodelay, |v: BOOL| u8::from(v != 0), |x: &u8| b(*x != 0);
    HP_UdpArqServer_SetTurnoffCongestCtrl, HP_UdpArqServer_IsTurnoffCongestCtrl: BOOL,
        |a| a.kcp.no_congestion_control, |v: BOOL| v != 0, |x: &bool| b(*x);
    HP_UdpArqServer_SetFlushInterval, HP_UdpArqServer_GetFlushInterval: DWORD,
        |a| a.kcp.interval, dword, get_u32;
    HP_UdpArqServer_SetResendByAcks, HP_UdpArqServer_GetResendByAcks: DWORD,
        |a| a.kcp.fast_resend, dword, get_u32;
    HP_UdpArqServer_SetSendWndSize, HP_UdpArqServer_GetSendWndSize: DWORD,
        |a| a.kcp.send_window, window, get_window;
    HP_UdpArqServer_SetRecvWndSize, HP_UdpArqServer_GetRecvWndSize: DWORD,
        |a| a.kcp.recv_window, window, get_window;
    HP_UdpArqServer_SetMinRto, HP_UdpArqServer_GetMinRto: DWORD,
        |a| a.kcp.min_rto, dword, get_u32;
    HP_UdpArqServer_SetFastLimit, HP_UdpArqServer_GetFastLimit: DWORD,
        |a| a.kcp.fast_limit, dword, get_u32;
    HP_UdpArqServer_SetMaxMessageSize, HP_UdpArqServer_GetMaxMessageSize: DWORD,
        |a| a.max_message, |v: DWORD| v as usize, |x: &usize| *x as DWORD;
    HP_UdpArqServer_SetHandShakeTimeout, HP_UdpArqServer_GetHandShakeTimeout: DWORD,
        |a| a.handshake_timeout, dword, get_u32;
}

fn set_mtu<C, F>(h: &Handle<C, F>, v: DWORD) {
    let mut c = h.udp();
    let max = c.max_datagram;
    if let Some(a) = c.arq.as_mut() {
        a.kcp.mtu = if v == 0 { max } else { v as usize };
    }
}

fn get_mtu<C, F>(h: &Handle<C, F>) -> Option<DWORD> {
    let c = h.udp();
    c.arq.map(|a| a.kcp.mtu.min(c.max_datagram) as DWORD)
}

/// HP's MaxTransUnit: 0 means the maximum datagram size.
#[no_mangle]
pub extern "C" fn HP_UdpArqServer_SetMaxTransUnit(p: PVOID, v: DWORD) {
    guard((), || {
        if let Some(h) = udp_server(p) {
            set_mtu(h, v)
        }
    })
}

/// The KCP MTU (the maximum datagram size unless set).
#[no_mangle]
pub extern "C" fn HP_UdpArqServer_GetMaxTransUnit(p: PVOID) -> DWORD {
    guard(0, || udp_server(p).and_then(get_mtu).unwrap_or(0))
}

/// HP's MaxTransUnit: 0 means the maximum datagram size.
#[no_mangle]
pub extern "C" fn HP_UdpArqClient_SetMaxTransUnit(p: PVOID, v: DWORD) {
    guard((), || {
        if let Some(h) = udp_client(p) {
            set_mtu(h, v)
        }
    })
}

/// The KCP MTU (the maximum datagram size unless set).
#[no_mangle]
pub extern "C" fn HP_UdpArqClient_GetMaxTransUnit(p: PVOID) -> DWORD {
    guard(0, || udp_client(p).and_then(get_mtu).unwrap_or(0))
}

/// An ARQ connection's messages waiting to be sent or acknowledged (HP: segments). Answered
/// on the connection's shard thread (inside its callbacks); elsewhere FALSE with errno EAGAIN
/// (the count lives on the shard and is not shared), ENOENT for an unknown connection.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpArqServer_GetWaitingSendMessageCount(
    p: PVOID,
    c: HP_CONNID,
    out: *mut c_int,
) -> BOOL {
    guard(FALSE, || {
        let g = udp_server(p).and_then(|h| h.get());
        let s = match g.as_deref().and_then(|s| s.udp()) {
            Some(s) => s,
            None => {
                crate::error::set_errno(libc::EPERM);
                return FALSE;
            }
        };
        let conn = crate::complex::conn(c);
        if s.remote_addr(conn).is_none() {
            crate::error::set_errno(libc::ENOENT);
            return FALSE;
        }
        match s.waiting_send(conn) {
            Some(n) => crate::complex::put(Some(n.min(c_int::MAX as usize) as c_int), out),
            None => {
                crate::error::set_errno(libc::EAGAIN);
                FALSE
            }
        }
    })
}

// ----- clients ---------------------------------------------------------------------------------

/// The listener shardnet calls for a UDP client: each call goes to the C callback.
struct UdpClientBridge {
    fns: ConnectorFns,
    sender: PVOID,
}

// SAFETY: as UdpBridge's.
unsafe impl Send for UdpClientBridge {}
// SAFETY: as above.
unsafe impl Sync for UdpClientBridge {}

fn client_id(c: &UdpClient) -> HP_CONNID {
    c.conn_id().as_u64() as HP_CONNID
}

impl UdpClientListener for UdpClientBridge {
    fn on_connect(&self, c: &UdpClient) -> HandleResult {
        if let Some(h) = crate::client::client(self.sender) {
            h.adopt_with(|| AnyClient::Udp(c.clone()));
        }
        call::conn(self.fns.connect, self.sender, client_id(c))
    }
    fn on_handshake(&self, c: &UdpClient) -> HandleResult {
        call::conn(self.fns.handshake, self.sender, client_id(c))
    }
    fn on_receive(&self, c: &UdpClient, d: &[u8]) -> HandleResult {
        call::data(self.fns.receive, self.sender, client_id(c), d)
    }
    fn on_send(&self, c: &UdpClient, d: &[u8]) -> HandleResult {
        call::data(self.fns.send, self.sender, client_id(c), d)
    }
    fn on_close(&self, c: &UdpClient, op: SocketOperation, e: i32) -> HandleResult {
        call::close(self.fns.close, self.sender, client_id(c), op as c_int, e);
        HandleResult::Ok
    }
}

/// `HP_Client_Start*` for a UDP handle (a UDP "connect" is immediate: HP's async flag does
/// not change anything; ARQ's OnHandShake follows when the handshake completes).
pub(crate) fn start_client(
    h: &Handle<AnyClient, ConnectorFns>,
    p: PVOID,
    host: &str,
    port: USHORT,
    bind: Option<SocketAddr>,
) -> BOOL {
    let cfg = h.udp().clone();
    let mut b = UdpClient::builder()
        .max_datagram(cfg.max_datagram)
        .detect(cfg.detect_interval, cfg.detect_attempts)
        .gso(cfg.gso);
    if let Some(a) = cfg.arq {
        b = b.arq(a);
    }
    if let Some(a) = bind {
        b = b.bind_address(a);
    }
    let bridge = UdpClientBridge {
        // SAFETY: the listener is live at Start (HP's life cycle).
        fns: unsafe { *h.fns },
        sender: p,
    };
    h.clear_running();
    match b.start(host, port, bridge) {
        Ok(c) => {
            h.adopt_with(|| AnyClient::Udp(c));
            h.err.set(se::SE_OK, "SUCCESS", 0);
            TRUE
        }
        Err(e) => {
            h.err.from(&e);
            FALSE
        }
    }
}

crate::handle::creators!(AnyClient, ConnectorFns:
    Create_HP_UdpClient => Udp,
    Create_HP_UdpArqClient => Arq
);

crate::handle::destroyers!(AnyClient, ConnectorFns:
    Destroy_HP_UdpClient,
    Destroy_HP_UdpArqClient
);

/// A UDP client handle (plain or ARQ), or None.
fn udp_client<'a>(p: PVOID) -> Option<&'a Handle<AnyClient, ConnectorFns>> {
    // SAFETY: the C contract: NULL or a live client handle.
    unsafe { handle::<AnyClient, ConnectorFns>(p) }
        .filter(|h| matches!(h.model, Model::Udp | Model::Arq))
}

udp_settings! { udp_client:
    HP_UdpClient_SetMaxDatagramSize, HP_UdpClient_GetMaxDatagramSize:
        |c| c.max_datagram, |v: DWORD| v as usize, |x: &usize| *x as DWORD;
    HP_UdpClient_SetDetectAttempts, HP_UdpClient_GetDetectAttempts:
        |c| c.detect_attempts, |v: DWORD| v, |x: &u32| *x;
    HP_UdpClient_SetDetectInterval, HP_UdpClient_GetDetectInterval:
        |c| c.detect_interval, ms, |x: &Duration| x.as_millis().min(u32::MAX as u128) as DWORD;
}

arq_settings! { udp_client:
    HP_UdpArqClient_SetNoDelay, HP_UdpArqClient_IsNoDelay: BOOL,
        |a| a.kcp.nodelay, |v: BOOL| u8::from(v != 0), |x: &u8| b(*x != 0);
    HP_UdpArqClient_SetTurnoffCongestCtrl, HP_UdpArqClient_IsTurnoffCongestCtrl: BOOL,
        |a| a.kcp.no_congestion_control, |v: BOOL| v != 0, |x: &bool| b(*x);
    HP_UdpArqClient_SetFlushInterval, HP_UdpArqClient_GetFlushInterval: DWORD,
        |a| a.kcp.interval, dword, get_u32;
    HP_UdpArqClient_SetResendByAcks, HP_UdpArqClient_GetResendByAcks: DWORD,
        |a| a.kcp.fast_resend, dword, get_u32;
    HP_UdpArqClient_SetSendWndSize, HP_UdpArqClient_GetSendWndSize: DWORD,
        |a| a.kcp.send_window, window, get_window;
    HP_UdpArqClient_SetRecvWndSize, HP_UdpArqClient_GetRecvWndSize: DWORD,
        |a| a.kcp.recv_window, window, get_window;
    HP_UdpArqClient_SetMinRto, HP_UdpArqClient_GetMinRto: DWORD,
        |a| a.kcp.min_rto, dword, get_u32;
    HP_UdpArqClient_SetFastLimit, HP_UdpArqClient_GetFastLimit: DWORD,
        |a| a.kcp.fast_limit, dword, get_u32;
    HP_UdpArqClient_SetMaxMessageSize, HP_UdpArqClient_GetMaxMessageSize: DWORD,
        |a| a.max_message, |v: DWORD| v as usize, |x: &usize| *x as DWORD;
    HP_UdpArqClient_SetHandShakeTimeout, HP_UdpArqClient_GetHandShakeTimeout: DWORD,
        |a| a.handshake_timeout, dword, get_u32;
}

/// The client's messages waiting to be sent or acknowledged. Answered on the client's thread
/// (inside its callbacks); elsewhere FALSE with errno EAGAIN.
///
/// # Safety
/// `out` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpArqClient_GetWaitingSendMessageCount(
    p: PVOID,
    out: *mut c_int,
) -> BOOL {
    guard(FALSE, || {
        let g = udp_client(p).and_then(|h| h.get());
        let c = match g.as_deref().and_then(|c| c.udp()) {
            Some(c) => c,
            None => {
                crate::error::set_errno(libc::EPERM);
                return FALSE;
            }
        };
        if !c.is_connected() {
            crate::error::set_errno(libc::ENOTCONN);
            return FALSE;
        }
        match c.waiting_send() {
            Some(n) => crate::complex::put(Some(n.min(c_int::MAX as usize) as c_int), out),
            None => {
                crate::error::set_errno(libc::EAGAIN);
                FALSE
            }
        }
    })
}
