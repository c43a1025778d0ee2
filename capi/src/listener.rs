//! Listener handles: the C program's callbacks, one table per listener
//! (`Create_HP_Tcp*Listener`, `HP_Set_FN_*`, `Destroy_HP_Tcp*Listener`).
//!
//! As in HP-Socket, a listener is a plain table of function pointers: set them before the
//! component starts, and destroy the listener after the component.

use crate::types::{HP_CONNID, PVOID, UINT_PTR};
use std::ffi::c_int;

/// `HP_FN_Server_OnPrepareListen`.
pub type FnPrepareListen = unsafe extern "C" fn(PVOID, UINT_PTR) -> c_int;
/// `HP_FN_Server_OnAccept` / `HP_FN_*_OnPrepareConnect`: (sender, conn, socket).
pub type FnConnSocket = unsafe extern "C" fn(PVOID, HP_CONNID, UINT_PTR) -> c_int;
/// `OnHandShake`, `OnConnect`: (sender, conn).
pub type FnConn = unsafe extern "C" fn(PVOID, HP_CONNID) -> c_int;
/// `OnSend`, `OnReceive`: (sender, conn, data, length).
pub type FnData = unsafe extern "C" fn(PVOID, HP_CONNID, *const u8, c_int) -> c_int;
/// `OnPullReceive`: (sender, conn, length).
pub type FnLength = unsafe extern "C" fn(PVOID, HP_CONNID, c_int) -> c_int;
/// `OnClose`: (sender, conn, operation, error code).
pub type FnClose = unsafe extern "C" fn(PVOID, HP_CONNID, c_int, c_int) -> c_int;
/// `OnShutdown`: (sender).
pub type FnSender = unsafe extern "C" fn(PVOID) -> c_int;

/// A server listener's callbacks.
#[derive(Default, Clone, Copy)]
pub struct ServerFns {
    pub(crate) prepare_listen: Option<FnPrepareListen>,
    pub(crate) accept: Option<FnConnSocket>,
    pub(crate) handshake: Option<FnConn>,
    pub(crate) send: Option<FnData>,
    pub(crate) receive: Option<FnData>,
    pub(crate) pull_receive: Option<FnLength>,
    pub(crate) close: Option<FnClose>,
    pub(crate) shutdown: Option<FnSender>,
}

/// An agent's or client's callbacks (a client has no OnShutdown in HP's C API).
#[derive(Default, Clone, Copy)]
pub struct ConnectorFns {
    pub(crate) prepare_connect: Option<FnConnSocket>,
    pub(crate) connect: Option<FnConn>,
    pub(crate) handshake: Option<FnConn>,
    pub(crate) send: Option<FnData>,
    pub(crate) receive: Option<FnData>,
    pub(crate) pull_receive: Option<FnLength>,
    pub(crate) close: Option<FnClose>,
    pub(crate) shutdown: Option<FnSender>,
}

macro_rules! listener_life {
    ($table:ty: $($create:ident, $destroy:ident;)*) => {$(
        /// Creates a listener (a table of callbacks, all unset).
        #[no_mangle]
        pub extern "C" fn $create() -> PVOID {
            Box::into_raw(Box::<$table>::default()) as PVOID
        }
        /// Destroys a listener made by the matching `Create_` (NULL is ignored). Destroy the
        /// component first.
        ///
        /// # Safety
        /// `p` came from the matching `Create_` and is not used afterwards.
        #[no_mangle]
        pub unsafe extern "C" fn $destroy(p: PVOID) {
            if !p.is_null() {
                // SAFETY: made by Box::into_raw in the matching Create_, per the contract.
                drop(unsafe { Box::from_raw(p as *mut $table) });
            }
        }
    )*};
}

pub(crate) use listener_life;

listener_life! { ServerFns:
    Create_HP_TcpServerListener, Destroy_HP_TcpServerListener;
    Create_HP_TcpPullServerListener, Destroy_HP_TcpPullServerListener;
    Create_HP_TcpPackServerListener, Destroy_HP_TcpPackServerListener;
    Create_HP_UdpServerListener, Destroy_HP_UdpServerListener;
    Create_HP_UdpArqServerListener, Destroy_HP_UdpArqServerListener;
}

listener_life! { ConnectorFns:
    Create_HP_UdpClientListener, Destroy_HP_UdpClientListener;
    Create_HP_UdpCastListener, Destroy_HP_UdpCastListener;
    Create_HP_UdpArqClientListener, Destroy_HP_UdpArqClientListener;
    Create_HP_TcpAgentListener, Destroy_HP_TcpAgentListener;
    Create_HP_TcpPullAgentListener, Destroy_HP_TcpPullAgentListener;
    Create_HP_TcpPackAgentListener, Destroy_HP_TcpPackAgentListener;
    Create_HP_TcpClientListener, Destroy_HP_TcpClientListener;
    Create_HP_TcpPullClientListener, Destroy_HP_TcpPullClientListener;
    Create_HP_TcpPackClientListener, Destroy_HP_TcpPackClientListener;
}

macro_rules! setters {
    ($table:ty: $($name:ident => $($field:ident).+: $fn:ty;)*) => {$(
        /// Sets one callback of a listener (NULL unsets it). Call before the component starts.
        ///
        /// # Safety
        /// `l` is NULL or a live listener of the matching kind.
        #[no_mangle]
        pub unsafe extern "C" fn $name(l: PVOID, f: Option<$fn>) {
            if !l.is_null() {
                // SAFETY: a live listener of this kind, not being read concurrently (set
                // before start), per the contract.
                unsafe { (*(l as *mut $table)).$($field).+ = f };
            }
        }
    )*};
}

pub(crate) use setters;

setters! { ServerFns:
    HP_Set_FN_Server_OnPrepareListen => prepare_listen: FnPrepareListen;
    HP_Set_FN_Server_OnAccept => accept: FnConnSocket;
    HP_Set_FN_Server_OnHandShake => handshake: FnConn;
    HP_Set_FN_Server_OnSend => send: FnData;
    HP_Set_FN_Server_OnReceive => receive: FnData;
    HP_Set_FN_Server_OnPullReceive => pull_receive: FnLength;
    HP_Set_FN_Server_OnClose => close: FnClose;
    HP_Set_FN_Server_OnShutdown => shutdown: FnSender;
}

setters! { ConnectorFns:
    HP_Set_FN_Agent_OnPrepareConnect => prepare_connect: FnConnSocket;
    HP_Set_FN_Agent_OnConnect => connect: FnConn;
    HP_Set_FN_Agent_OnHandShake => handshake: FnConn;
    HP_Set_FN_Agent_OnSend => send: FnData;
    HP_Set_FN_Agent_OnReceive => receive: FnData;
    HP_Set_FN_Agent_OnPullReceive => pull_receive: FnLength;
    HP_Set_FN_Agent_OnClose => close: FnClose;
    HP_Set_FN_Agent_OnShutdown => shutdown: FnSender;
    HP_Set_FN_Client_OnPrepareConnect => prepare_connect: FnConnSocket;
    HP_Set_FN_Client_OnConnect => connect: FnConn;
    HP_Set_FN_Client_OnHandShake => handshake: FnConn;
    HP_Set_FN_Client_OnSend => send: FnData;
    HP_Set_FN_Client_OnReceive => receive: FnData;
    HP_Set_FN_Client_OnPullReceive => pull_receive: FnLength;
    HP_Set_FN_Client_OnClose => close: FnClose;
}

/// Calls an optional C callback; an unset one is HR_IGNORE.
pub(crate) mod call {
    use super::*;
    use crate::server::hr_of;
    use shardnet_components::HandleResult;

    fn len(n: usize) -> c_int {
        n.min(c_int::MAX as usize) as c_int
    }

    /// (sender, conn, socket).
    pub(crate) fn socket(f: Option<FnConnSocket>, s: PVOID, c: HP_CONNID, fd: i32) -> HandleResult {
        f.map_or(HandleResult::Ignore, |f| {
            // SAFETY: a C callback with HP's signature.
            hr_of(unsafe { f(s, c, fd as UINT_PTR) })
        })
    }
    /// (sender, conn).
    pub(crate) fn conn(f: Option<FnConn>, s: PVOID, c: HP_CONNID) -> HandleResult {
        // SAFETY: a C callback with HP's signature.
        f.map_or(HandleResult::Ignore, |f| hr_of(unsafe { f(s, c) }))
    }
    /// (sender, conn, data, length); `d` lives for the call.
    pub(crate) fn data(f: Option<FnData>, s: PVOID, c: HP_CONNID, d: &[u8]) -> HandleResult {
        f.map_or(HandleResult::Ignore, |f| {
            // SAFETY: a C callback with HP's signature; `d` is valid for the call.
            hr_of(unsafe { f(s, c, d.as_ptr(), len(d.len())) })
        })
    }
    /// (sender, conn, length).
    pub(crate) fn length(f: Option<FnLength>, s: PVOID, c: HP_CONNID, n: usize) -> HandleResult {
        // SAFETY: a C callback with HP's signature.
        f.map_or(HandleResult::Ignore, |f| hr_of(unsafe { f(s, c, len(n)) }))
    }
    /// (sender, conn, operation, errno); the result is ignored (HP's rule).
    pub(crate) fn close(f: Option<FnClose>, s: PVOID, c: HP_CONNID, op: c_int, e: c_int) {
        if let Some(f) = f {
            // SAFETY: a C callback with HP's signature.
            unsafe { f(s, c, op, e) };
        }
    }
    /// (sender); the result is ignored.
    pub(crate) fn sender(f: Option<FnSender>, s: PVOID) {
        if let Some(f) = f {
            // SAFETY: a C callback with HP's signature.
            unsafe { f(s) };
        }
    }
}
