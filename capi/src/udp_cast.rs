//! `HP_UdpCast`: HP's multicast / broadcast member shaped as a client (`HP_Client_Start` with
//! the group or broadcast address, `HP_Client_Send` to the group, `OnReceive` per datagram,
//! `HP_UdpCast_GetRemoteAddress` for its sender) on shardnet's `UdpNode` in a cast mode.
//!
//! As HP's: the socket binds the group's port on any address; the bind address given to
//! `HP_Client_StartWithBindAddress` is the interface the group is joined on and sent from
//! (`127.0.0.1` keeps a group on this host). OnPrepareConnect gets the socket, then OnConnect
//! and OnHandShake follow once the member is up; OnClose (SO_CLOSE, 0) comes with the stop.

use crate::any_client::AnyClient;
use crate::error::guard;
use crate::handle::{handle, Handle, Model};
use crate::listener::{call, ConnectorFns};
use crate::types::*;
use shardnet_components::udp::{CastMode, UdpNode, UdpNodeListener};
use shardnet_components::{HandleResult, SocketOperation};
use shardnet_runtime::{ConnId, ShardId};
use std::cell::Cell;
use std::ffi::{c_char, c_int};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::Arc;

crate::handle::creators!(AnyClient, ConnectorFns: Create_HP_UdpCast => Cast);
crate::handle::destroyers!(AnyClient, ConnectorFns: Destroy_HP_UdpCast);

// The cast's listener is a client listener (`Create_HP_UdpCastListener` in listener.rs).

fn cast<'a>(p: PVOID) -> Option<&'a Handle<AnyClient, ConnectorFns>> {
    // SAFETY: the C contract: NULL or a live client handle.
    unsafe { handle::<AnyClient, ConnectorFns>(p) }.filter(|h| h.model == Model::Cast)
}

thread_local! {
    /// The sender of the datagram whose OnReceive runs on this thread.
    static SENDER: Cell<Option<SocketAddr>> = const { Cell::new(None) };
}

struct CastBridge {
    fns: ConnectorFns,
    sender: PVOID,
    id: HP_CONNID,
    conn: ConnId,
}

// SAFETY: as the other bridges: a copy of the table, a handle that outlives the component,
// callbacks on the node's shard thread.
unsafe impl Send for CastBridge {}
// SAFETY: as above.
unsafe impl Sync for CastBridge {}

impl UdpNodeListener for CastBridge {
    fn on_prepare_listen(&self, n: &UdpNode, s: BorrowedFd<'_>, _: SocketAddr) -> HandleResult {
        if let Some(h) = cast(self.sender) {
            h.adopt_with(|| AnyClient::Cast(n.clone(), self.conn));
        }
        call::socket(
            self.fns.prepare_connect,
            self.sender,
            self.id,
            s.as_raw_fd(),
        )
    }
    fn on_receive(&self, _: &UdpNode, from: SocketAddr, d: &[u8]) -> HandleResult {
        SENDER.with(|s| s.set(Some(from)));
        let r = call::data(self.fns.receive, self.sender, self.id, d);
        SENDER.with(|s| s.set(None));
        r
    }
    fn on_send(&self, _: &UdpNode, _: SocketAddr, d: &[u8]) -> HandleResult {
        call::data(self.fns.send, self.sender, self.id, d)
    }
    fn on_shutdown(&self, _: &UdpNode) -> HandleResult {
        call::close(
            self.fns.close,
            self.sender,
            self.id,
            SocketOperation::Close as c_int,
            0,
        );
        HandleResult::Ok
    }
}

/// `HP_Client_Start*` for a cast handle: `host` is the group (CM_MULTICAST) or the broadcast
/// address (CM_BROADCAST), `port` the group's port, `bind` the interface.
pub(crate) fn start(
    h: &Handle<AnyClient, ConnectorFns>,
    p: PVOID,
    host: &str,
    port: USHORT,
    bind: Option<SocketAddr>,
) -> BOOL {
    let (mode, ttl, loopback) = {
        let k = h.knobs();
        (k.cast_mode, k.multicast_ttl, k.multicast_loop)
    };
    let Ok(ip) = host.parse::<IpAddr>() else {
        h.err
            .set(se::SE_INVALID_PARAM, "not a group address", libc::EINVAL);
        return FALSE;
    };
    let cast_mode = match (mode, ip) {
        (cm::CM_BROADCAST, IpAddr::V4(b)) => CastMode::Broadcast(b),
        (cm::CM_MULTICAST, group) if group.is_multicast() => CastMode::Multicast {
            group,
            ttl: ttl.clamp(0, 255) as u32,
            loopback,
        },
        _ => {
            h.err
                .set(se::SE_INVALID_PARAM, "not a group address", libc::EINVAL);
            return FALSE;
        }
    };
    let mut b = UdpNode::builder()
        .shards(1)
        .cast(cast_mode)
        .max_datagram(h.udp().max_datagram);
    if let Some(SocketAddr::V4(a)) = bind {
        if !a.ip().is_unspecified() {
            b = b.multicast_interface(*a.ip());
        }
    }
    let any = if ip.is_ipv6() {
        format!("[::]:{port}")
    } else {
        format!("{}:{port}", Ipv4Addr::UNSPECIFIED)
    };
    // One id per run, as a client's connection id: shard 0, slot 0, the run's sequence.
    let run = h.runs_started() as u64 + 1;
    let conn = ConnId::new(ShardId(0), 0, run);
    let bridge = CastBridge {
        // SAFETY: the listener is live at Start (HP's life cycle).
        fns: unsafe { *h.fns },
        sender: p,
        id: conn.as_u64() as HP_CONNID,
        conn,
    };
    let fns = bridge.fns;
    h.clear_running();
    match b.start(&any, Arc::new(bridge)) {
        Ok(n) => {
            h.adopt_with(|| AnyClient::Cast(n.clone(), conn));
            h.err.set(se::SE_OK, "SUCCESS", 0);
            let id = conn.as_u64() as HP_CONNID;
            if call::conn(fns.connect, p, id) == HandleResult::Error
                || call::conn(fns.handshake, p, id) == HandleResult::Error
            {
                n.stop();
            }
            TRUE
        }
        Err(e) => {
            h.err.from(&e);
            FALSE
        }
    }
}

/// Largest datagram (before Start; HP: 1432).
#[no_mangle]
pub extern "C" fn HP_UdpCast_SetMaxDatagramSize(p: PVOID, v: DWORD) {
    guard((), || {
        if let Some(h) = cast(p) {
            h.udp().max_datagram = v as usize;
        }
    })
}

/// What `HP_UdpCast_SetMaxDatagramSize` set.
#[no_mangle]
pub extern "C" fn HP_UdpCast_GetMaxDatagramSize(p: PVOID) -> DWORD {
    guard(0, || cast(p).map_or(0, |h| h.udp().max_datagram as DWORD))
}

/// CM_MULTICAST (HP's default) or CM_BROADCAST (before Start).
#[no_mangle]
pub extern "C" fn HP_UdpCast_SetCastMode(p: PVOID, v: c_int) {
    guard((), || {
        if let Some(h) = cast(p) {
            h.knobs().cast_mode = v;
        }
    })
}

/// The cast mode.
#[no_mangle]
pub extern "C" fn HP_UdpCast_GetCastMode(p: PVOID) -> c_int {
    guard(cm::CM_MULTICAST, || {
        cast(p).map_or(cm::CM_MULTICAST, |h| h.knobs().cast_mode)
    })
}

/// Multicast TTL (0–255; HP: 1).
#[no_mangle]
pub extern "C" fn HP_UdpCast_SetMultiCastTtl(p: PVOID, v: c_int) {
    guard((), || {
        if let Some(h) = cast(p) {
            h.knobs().multicast_ttl = v.clamp(0, 255);
        }
    })
}

/// The multicast TTL.
#[no_mangle]
pub extern "C" fn HP_UdpCast_GetMultiCastTtl(p: PVOID) -> c_int {
    guard(0, || cast(p).map_or(0, |h| h.knobs().multicast_ttl))
}

/// Whether our own group datagrams come back to this host's members (HP: FALSE).
#[no_mangle]
pub extern "C" fn HP_UdpCast_SetMultiCastLoop(p: PVOID, v: BOOL) {
    guard((), || {
        if let Some(h) = cast(p) {
            h.knobs().multicast_loop = v != 0;
        }
    })
}

/// The multicast loop setting.
#[no_mangle]
pub extern "C" fn HP_UdpCast_IsMultiCastLoop(p: PVOID) -> BOOL {
    guard(FALSE, || {
        b(cast(p).is_some_and(|h| h.knobs().multicast_loop))
    })
}

/// The sender of the datagram being received (inside OnReceive; FALSE/ENOENT elsewhere).
///
/// # Safety
/// `buf` has `*len` writable bytes; `len` and `port` valid.
#[no_mangle]
pub unsafe extern "C" fn HP_UdpCast_GetRemoteAddress(
    p: PVOID,
    buf: *mut c_char,
    len: *mut c_int,
    port: *mut USHORT,
) -> BOOL {
    guard(FALSE, || {
        if cast(p).is_none() {
            crate::error::set_errno(libc::EINVAL);
            return FALSE;
        }
        crate::complex::addr_of(SENDER.with(|s| s.get()), buf, len, port)
    })
}
