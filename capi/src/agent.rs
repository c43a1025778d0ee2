//! `HP_TcpAgent`, `HP_TcpPullAgent`, `HP_TcpPackAgent`: many outgoing connections on the
//! shards, HP's `HP_Agent_*` / `HP_TcpAgent_*` calls and the callback bridge.

use crate::complex::{self as cx, running_or_false};
use crate::error::{guard, set_errno};
use crate::handle::{handle, Handle, Model};
use crate::listener::{call, ConnectorFns};
use crate::server::complex_exports;
use crate::types::*;
use shardnet_components::{AgentListener, HandleResult, SocketOperation, TcpAgent};
use shardnet_runtime::ConnId;
use std::ffi::{c_char, c_int};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::time::Duration;

type AgentC = Handle<TcpAgent, ConnectorFns>;

struct Bridge {
    /// A copy of the listener's table made at Start (HP: callbacks are set before Start),
    /// so destroying the listener while the component winds down frees nothing it reads.
    fns: ConnectorFns,
    sender: PVOID,
}

// SAFETY: as the server's bridge: the table and the handle outlive the component and are only
// read; HP's callbacks run on its worker threads too.
unsafe impl Send for Bridge {}
// SAFETY: as above.
unsafe impl Sync for Bridge {}

impl Bridge {
    fn fns(&self) -> &ConnectorFns {
        &self.fns
    }
}

fn id(c: ConnId) -> HP_CONNID {
    c.as_u64() as HP_CONNID
}

impl AgentListener for Bridge {
    fn on_prepare_connect(&self, _: &TcpAgent, c: ConnId, s: BorrowedFd<'_>) -> HandleResult {
        let r = call::socket(
            self.fns().prepare_connect,
            self.sender,
            id(c),
            s.as_raw_fd(),
        );
        if r == HandleResult::Error {
            // Abandoned without an on_close: a synchronous Connect fails now (HP's
            // ERROR_CANCELLED).
            if let Some(h) = agent(self.sender) {
                h.connect_outcome(c.as_u64(), libc::ECANCELED);
            }
        }
        r
    }
    fn on_connect(&self, _: &TcpAgent, c: ConnId) -> HandleResult {
        if let Some(h) = agent(self.sender) {
            h.connect_outcome(c.as_u64(), 0);
        }
        call::conn(self.fns().connect, self.sender, id(c))
    }
    fn on_handshake(&self, _: &TcpAgent, c: ConnId) -> HandleResult {
        call::conn(self.fns().handshake, self.sender, id(c))
    }
    fn on_receive(&self, _: &TcpAgent, c: ConnId, d: &[u8]) -> HandleResult {
        call::data(self.fns().receive, self.sender, id(c), d)
    }
    fn on_pull_receive(&self, _: &TcpAgent, c: ConnId, total: usize) -> HandleResult {
        call::length(self.fns().pull_receive, self.sender, id(c), total)
    }
    fn on_send(&self, _: &TcpAgent, c: ConnId, d: &[u8]) -> HandleResult {
        call::data(self.fns().send, self.sender, id(c), d)
    }
    fn on_close(&self, _: &TcpAgent, c: ConnId, op: SocketOperation, e: i32) -> HandleResult {
        call::close(self.fns().close, self.sender, id(c), op as c_int, e);
        if let Some(h) = agent(self.sender) {
            h.forget(c.as_u64());
            if op == SocketOperation::Connect {
                h.connect_outcome(c.as_u64(), e);
            }
        }
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpAgent) -> HandleResult {
        call::sender(self.fns().shutdown, self.sender);
        HandleResult::Ok
    }
}

pub(crate) fn create(l: PVOID, model: Model) -> PVOID {
    crate::handle::create::<TcpAgent, ConnectorFns>(l, model)
}

crate::handle::creators!(TcpAgent, ConnectorFns:
    Create_HP_TcpAgent => Push,
    Create_HP_TcpPullAgent => Pull,
    Create_HP_TcpPackAgent => Pack
);

crate::handle::destroyers!(TcpAgent, ConnectorFns:
    Destroy_HP_TcpAgent,
    Destroy_HP_TcpPullAgent,
    Destroy_HP_TcpPackAgent
);

fn agent<'a>(p: PVOID) -> Option<&'a AgentC> {
    // SAFETY: the C contract: NULL or a live agent handle.
    unsafe { handle::<TcpAgent, ConnectorFns>(p) }
}

/// Starts the agent (`bind`: the local address connections leave from; NULL or "" = any).
/// `async_connect` FALSE makes `HP_Agent_Connect` wait for the outcome.
///
/// # Safety
/// `p` is a live agent; `bind` NULL or a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_Agent_Start(p: PVOID, bind: LPCTSTR, async_connect: BOOL) -> BOOL {
    guard(FALSE, || {
        let Some(h) = agent(p) else {
            set_errno(libc::EINVAL);
            return FALSE;
        };
        if h.get()
            .is_some_and(|a| !matches!(a.state(), shardnet_components::ServiceState::Stopped))
        {
            h.err
                .set(se::SE_ILLEGAL_STATE, "already started", libc::EPERM);
            return FALSE;
        }
        if h.ssl_missing() {
            return FALSE;
        }
        let mut b = TcpAgent::builder().config(h.cfg().clone());
        // SAFETY: per the contract.
        match unsafe { text(bind) } {
            None | Some("") => {}
            Some(ip) => match ip.parse() {
                Ok(ip) => b = b.bind_address(ip),
                Err(_) => {
                    h.err
                        .set(se::SE_INVALID_PARAM, "bad bind address", libc::EINVAL);
                    return FALSE;
                }
            },
        }
        b = match h.model {
            // (UDP handles never reach here: they start in udp.rs.)
            Model::Push | Model::Udp | Model::Arq | Model::Cast | Model::Http | Model::HttpSync => {
                b
            }
            Model::Pull => b.pull(),
            Model::Pack => b.pack(*h.pack_cfg()),
        };
        h.knobs().async_connect = async_connect != 0;
        if h.model == Model::Http {
            return crate::http_agent::start(h, p, b);
        }
        let bridge = Bridge {
            // SAFETY: the listener is live at Start (HP's life cycle).
            fns: unsafe { *h.fns },
            sender: p,
        };
        h.clear_running();
        match b.start(std::sync::Arc::new(bridge)) {
            Ok(a) => {
                h.install(a);
                h.err.set(se::SE_OK, "SUCCESS", 0);
                TRUE
            }
            Err(e) => {
                h.err.from(&e);
                FALSE
            }
        }
    })
}

/// Connects, with the options of HP's `Connect*` family.
fn connect(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    out: *mut HP_CONNID,
    extra: Option<PVOID>,
    local: Option<(LPCTSTR, USHORT)>,
) -> BOOL {
    let Some(h) = agent(p) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    let a = running_or_false!(TcpAgent, ConnectorFns, p);
    // SAFETY: the C contract: a C string.
    let Some(host) = (unsafe { text(host) }) else {
        set_errno(libc::EINVAL);
        return FALSE;
    };
    let local = match local {
        None => None,
        // NULL or "" is the agent's bind address (any, if it has none), with `lport`.
        Some((ip, lport)) => match crate::client::bind_of(ip, lport) {
            Some(l) => Some(l),
            None => {
                set_errno(libc::EINVAL);
                return FALSE;
            }
        },
    };
    let r = if h.model == Model::Http {
        crate::http_agent::connect(h, host, port, local, extra)
    } else {
        // The extra is set before the connect is posted: every callback of it reads it.
        a.connect_from_then(host, port, local, host, |c| {
            if let Some(x) = extra {
                a.set_extra(c, x as usize as u64);
            }
        })
    };
    let c = match r {
        Ok(c) => c,
        Err(e) => {
            set_errno(crate::error::errno_of(&e));
            return FALSE;
        }
    };
    if !out.is_null() {
        // SAFETY: writable per the C contract.
        unsafe { *out = id(c) };
    }
    if h.knobs().async_connect {
        return TRUE;
    }
    if shardnet_runtime::Runtime::current().is_some() {
        h.unwaited(c.as_u64()); // a shard cannot wait for itself: asynchronous from here
        return TRUE;
    }
    // Synchronous connect: wait for the outcome the callbacks file (connected, or the errno
    // of the failure).
    let t = h.cfg().connect_timeout + Duration::from_secs(1);
    match h.wait_outcome(c.as_u64(), t) {
        Some(0) => TRUE,
        Some(e) => {
            set_errno(e);
            FALSE
        }
        None => {
            h.unwaited(c.as_u64());
            set_errno(libc::ETIMEDOUT);
            FALSE
        }
    }
}

/// Connects to `host:port`; the new id goes to `*out` (may be NULL).
///
/// # Safety
/// `host` a C string; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn HP_Agent_Connect(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    out: *mut HP_CONNID,
) -> BOOL {
    guard(FALSE, || connect(p, host, port, out, None, None))
}
/// Connects with an application value attached.
///
/// # Safety
/// As `HP_Agent_Connect`.
#[no_mangle]
pub unsafe extern "C" fn HP_Agent_ConnectWithExtra(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    out: *mut HP_CONNID,
    extra: PVOID,
) -> BOOL {
    guard(FALSE, || connect(p, host, port, out, Some(extra), None))
}
/// Connects from a local port.
///
/// # Safety
/// As `HP_Agent_Connect`.
#[no_mangle]
pub unsafe extern "C" fn HP_Agent_ConnectWithLocalPort(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    out: *mut HP_CONNID,
    local_port: USHORT,
) -> BOOL {
    guard(FALSE, || {
        connect(
            p,
            host,
            port,
            out,
            None,
            Some((std::ptr::null(), local_port)),
        )
    })
}
/// Connects from a local address.
///
/// # Safety
/// As `HP_Agent_Connect`; `local` a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_Agent_ConnectWithLocalAddress(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    out: *mut HP_CONNID,
    local: LPCTSTR,
) -> BOOL {
    guard(FALSE, || {
        connect(p, host, port, out, None, Some((local, 0)))
    })
}
/// Connects with an application value, from a local port.
///
/// # Safety
/// As `HP_Agent_Connect`.
#[no_mangle]
pub unsafe extern "C" fn HP_Agent_ConnectWithExtraAndLocalPort(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    out: *mut HP_CONNID,
    extra: PVOID,
    local_port: USHORT,
) -> BOOL {
    guard(FALSE, || {
        connect(
            p,
            host,
            port,
            out,
            Some(extra),
            Some((std::ptr::null(), local_port)),
        )
    })
}
/// Connects with an application value, from a local address and port.
///
/// # Safety
/// As `HP_Agent_Connect`; `local` a C string.
#[no_mangle]
pub unsafe extern "C" fn HP_Agent_ConnectWithExtraAndLocalAddressPort(
    p: PVOID,
    host: LPCTSTR,
    port: USHORT,
    out: *mut HP_CONNID,
    extra: PVOID,
    local_port: USHORT,
    local: LPCTSTR,
) -> BOOL {
    guard(FALSE, || {
        connect(p, host, port, out, Some(extra), Some((local, local_port)))
    })
}

complex_exports!(TcpAgent, ConnectorFns, agent:
    stop: HP_Agent_Stop, wait: HP_Agent_Wait, send: HP_Agent_Send,
    send_part: HP_Agent_SendPart, send_packets: HP_Agent_SendPackets,
    pause: HP_Agent_PauseReceive, is_paused: HP_Agent_IsPauseReceive,
    disconnect: HP_Agent_Disconnect,
    long: HP_Agent_DisconnectLongConnections, silence: HP_Agent_DisconnectSilenceConnections,
    set_extra: HP_Agent_SetConnectionExtra, get_extra: HP_Agent_GetConnectionExtra,
    has_started: HP_Agent_HasStarted, state: HP_Agent_GetState,
    last_error: HP_Agent_GetLastError, last_error_desc: HP_Agent_GetLastErrorDesc,
    pending: HP_Agent_GetPendingDataLength, is_connected: HP_Agent_IsConnected,
    count: HP_Agent_GetConnectionCount, all_ids: HP_Agent_GetAllConnectionIDs,
    connect_period: HP_Agent_GetConnectPeriod, silence_period: HP_Agent_GetSilencePeriod,
    local: HP_Agent_GetLocalAddress, remote: HP_Agent_GetRemoteAddress,
    small_file: HP_TcpAgent_SendSmallFile, fetch: HP_TcpPullAgent_Fetch,
    peek: HP_TcpPullAgent_Peek,
);

/// The peer's address (shardnet keeps addresses, not the host names they came from).
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn HP_Agent_GetRemoteHost(
    p: PVOID,
    c: HP_CONNID,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    guard(FALSE, || {
        let a = running_or_false!(TcpAgent, ConnectorFns, p);
        cx::addr_of(a.remote_addr(cx::conn(c)), buf, len, port)
    })
}

/// Whether connections use TLS.
#[no_mangle]
pub extern "C" fn HP_Agent_IsSecure(p: PVOID) -> BOOL {
    guard(FALSE, || b(agent(p).is_some_and(|h| h.cfg().tls.is_some())))
}

crate::settings::settings!(agent:
    reuse(HP_Agent_SetReuseAddressPolicy, HP_Agent_GetReuseAddressPolicy);
    send_policy(HP_Agent_SetSendPolicy, HP_Agent_GetSendPolicy);
    knob_on_send_sync(HP_Agent_SetOnSendSyncPolicy, HP_Agent_GetOnSendSyncPolicy);
    knob_lock_time(HP_Agent_SetFreeSocketObjLockTime, HP_Agent_GetFreeSocketObjLockTime);
    knob_socket_pool(HP_Agent_SetFreeSocketObjPool, HP_Agent_GetFreeSocketObjPool);
    knob_buffer_pool(HP_Agent_SetFreeBufferObjPool, HP_Agent_GetFreeBufferObjPool);
    knob_socket_hold(HP_Agent_SetFreeSocketObjHold, HP_Agent_GetFreeSocketObjHold);
    knob_buffer_hold(HP_Agent_SetFreeBufferObjHold, HP_Agent_GetFreeBufferObjHold);
    max_connections(HP_Agent_SetMaxConnectionCount, HP_Agent_GetMaxConnectionCount);
    workers(HP_Agent_SetWorkerThreadCount, HP_Agent_GetWorkerThreadCount);
    mark_silence(HP_Agent_SetMarkSilence, HP_Agent_IsMarkSilence);
    buffer_size(HP_TcpAgent_SetSocketBufferSize, HP_TcpAgent_GetSocketBufferSize);
    keepalive_time(HP_TcpAgent_SetKeepAliveTime, HP_TcpAgent_GetKeepAliveTime);
    keepalive_interval(HP_TcpAgent_SetKeepAliveInterval, HP_TcpAgent_GetKeepAliveInterval);
    no_delay(HP_TcpAgent_SetNoDelay, HP_TcpAgent_IsNoDelay);
    max_pack(HP_TcpPackAgent_SetMaxPackSize, HP_TcpPackAgent_GetMaxPackSize);
    pack_flag(HP_TcpPackAgent_SetPackHeaderFlag, HP_TcpPackAgent_GetPackHeaderFlag);
);
