//! One shard's WebSocket connections (either role): the send sides, the receive sides, the
//! unmasking buffer, and the close-timeout sweeper. Shared by the server and the agent.

use super::server::WsConfig;
use crate::core::Core;
use crate::tcp::event_counts::layer;
use crate::Result;
use crate::{HandleResult, SocketOperation};
use shardnet_protocols::ws::{
    opcode, write_frame, Deflate, Endpoint, FrameHeader, Message, Role, WsHandler,
};
use shardnet_runtime::{ConnId, ShardId};
use std::cell::RefCell;
use std::rc::{Rc, Weak};
use std::sync::Arc;

/// The send side of one connection.
pub(crate) struct WsTx {
    /// Compressor state (permessage-deflate negotiated; boxed: one pointer without it).
    pub(crate) deflate: Option<Box<Deflate>>,
    /// When our close frame left (shard clock ms; 0: not sent).
    pub(crate) close_sent_at: u64,
    /// The peer's close frame arrived.
    pub(crate) peer_closed: bool,
}

/// One shard's WebSocket connections.
pub(crate) struct WsShared {
    core_id: u64,
    shard: ShardId,
    /// Server frames go unmasked, client frames masked.
    pub(crate) role: Role,
    pub(crate) cfg: Arc<WsConfig>,
    /// Receive sides; an entry is taken out while its bytes are fed.
    pub(crate) rx: RefCell<shardnet_runtime::ConnMap<Endpoint>>,
    /// Send sides; borrowed only while a frame is built.
    pub(crate) tx: RefCell<shardnet_runtime::ConnMap<WsTx>>,
    /// Unmasking buffer shared by the shard's connections.
    pub(crate) scratch: RefCell<Vec<u8>>,
}

thread_local! {
    static SHARDS: RefCell<Vec<Weak<WsShared>>> = const { RefCell::new(Vec::new()) };
    /// Frames are built here and copied out by the send.
    static FRAME: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl WsShared {
    /// A shard's state, registered on the calling (shard) thread, with its close sweeper.
    pub(crate) fn new(
        core: &Arc<Core>,
        shard: ShardId,
        role: Role,
        cfg: Arc<WsConfig>,
    ) -> Rc<WsShared> {
        let sh = Rc::new(WsShared {
            core_id: core.id,
            shard,
            role,
            cfg,
            rx: RefCell::new(Default::default()),
            tx: RefCell::new(Default::default()),
            scratch: RefCell::new(Vec::new()),
        });
        SHARDS.with(|v| {
            let mut v = v.borrow_mut();
            v.retain(|w| w.strong_count() > 0);
            v.push(Rc::downgrade(&sh));
        });
        spawn_close_sweeper(Rc::downgrade(&sh), core.clone());
        sh
    }

    /// A connection became WebSocket: its receive and send sides.
    pub(crate) fn open(
        &self,
        conn: ConnId,
        deflate: Option<shardnet_protocols::ws::DeflateParams>,
    ) {
        let (rx_d, tx_d) = match deflate {
            Some(p) => (
                Some(Deflate::new(p, self.role)),
                Some(Deflate::new(p, self.role)),
            ),
            None => (None, None),
        };
        self.rx
            .borrow_mut()
            .insert(conn, Endpoint::new(self.role, self.cfg.limits, rx_d));
        self.tx.borrow_mut().insert(
            conn,
            WsTx {
                deflate: tx_d.map(Box::new),
                close_sent_at: 0,
                peer_closed: false,
            },
        );
    }

    /// The connection closed.
    pub(crate) fn closed(&self, conn: ConnId) {
        self.rx.borrow_mut().remove(&conn);
        self.tx.borrow_mut().remove(&conn);
    }
    /// The state of `conn`'s shard of server `core_id`, if the calling thread is that shard.
    pub(crate) fn local(core_id: u64, conn: ConnId) -> Option<Rc<WsShared>> {
        SHARDS.with(|v| {
            v.borrow()
                .iter()
                .filter_map(Weak::upgrade)
                .find(|s| s.core_id == core_id && s.shard == conn.shard())
        })
    }

    /// Frames and sends `data` with `op` on `conn` (on its shard). `raw`: HP's frame API
    /// (fin, rsv as given, no compression).
    pub(crate) fn send(
        &self,
        core: &Core,
        conn: ConnId,
        op: u8,
        data: &[u8],
        raw: Option<(bool, u8)>,
    ) -> Result<()> {
        FRAME.with(|buf| {
            let mut fresh = Vec::new();
            let mut guard = buf.try_borrow_mut();
            let out: &mut Vec<u8> = match guard.as_deref_mut() {
                Ok(b) => b,
                Err(_) => &mut fresh,
            };
            out.clear();
            let close_now = {
                let mut tx = self.tx.borrow_mut();
                let t = tx.get_mut(&conn).ok_or(crate::Error::NotFound)?;
                if t.close_sent_at != 0 {
                    return Err(crate::Error::NotConnected); // nothing after our close frame
                }
                let mask = (self.role == Role::Client).then(super::random::mask_key);
                match raw {
                    Some((fin, rsv)) => write_frame(out, fin, rsv, op, data, mask),
                    None => match t.deflate.as_mut() {
                        Some(d) if !opcode::is_control(op) && d.worth(data.len()) => {
                            let mut z = Vec::with_capacity(data.len() / 2 + 16);
                            d.compress(data, &mut z);
                            write_frame(out, true, 4, op, &z, mask);
                        }
                        _ => write_frame(out, true, 0, op, data, mask),
                    },
                }
                let counter = match op {
                    opcode::CLOSE => layer::WS_CLOSES_OUT,
                    _ if !opcode::is_control(op) => layer::WS_MESSAGES_OUT,
                    _ => usize::MAX,
                };
                core.layer.bump(conn.shard().0, counter, 1);
                if op == opcode::CLOSE {
                    t.close_sent_at = shardnet_shard::clock_ms().max(1);
                    // The server ends TCP once both close frames passed (RFC 6455 §7.1.1); a
                    // client waits for it (bounded by the close sweeper).
                    t.peer_closed && self.role == Role::Server
                } else {
                    false
                }
            };
            let r = core.send(conn, &[out]);
            if out.capacity() > 64 << 10 {
                *out = Vec::new();
            }
            if close_now {
                // Both close frames have passed: the server ends the TCP connection.
                let _ = core.disconnect(conn, false);
            }
            r
        })
    }
}

impl WsShared {
    /// [`super::WebSocketServer::broadcast`] on this shard: `frame` (built once, unmasked,
    /// uncompressed) to every connection in `conns` that has no compression; those with it get
    /// `payload` framed (compressed) for them. Returns how many accepted it.
    pub(crate) fn broadcast(
        &self,
        core: &Core,
        conns: &[ConnId],
        op: u8,
        payload: &[u8],
        frame: &[u8],
    ) -> usize {
        let mut sent = 0;
        for &c in conns {
            let plain = match self.tx.borrow().get(&c) {
                Some(t) if t.close_sent_at == 0 => t.deflate.is_none(),
                _ => continue,
            };
            let ok = if plain {
                core.layer.bump(c.shard().0, layer::WS_MESSAGES_OUT, 1);
                core.send(c, &[frame]).is_ok()
            } else {
                self.send(core, c, op, payload, None).is_ok()
            };
            sent += usize::from(ok);
        }
        sent
    }
}

/// A send from another thread is framed on the owner shard, so its bytes are not reserved when
/// posted: refuse it here when the connection's queue could not take it (`QueueFull`, as a send
/// on the shard would), instead of failing later where nobody sees the error.
pub(crate) fn check_room(core: &Core, conn: ConnId, len: usize) -> Result<()> {
    let max = core.cfg.max_pending_bytes;
    let pending = core.pending(conn).ok_or(crate::Error::NotFound)?;
    if max != 0 && pending.saturating_add(len + 14) > max {
        return Err(crate::Error::QueueFull(max));
    }
    Ok(())
}

/// Drops connections whose peer did not answer our close frame within `close_timeout`.
fn spawn_close_sweeper(sh: Weak<WsShared>, core: Arc<Core>) {
    glommio::spawn_local(async move {
        loop {
            let period = match sh.upgrade() {
                Some(s) => (s.cfg.close_timeout / 4).clamp(
                    std::time::Duration::from_millis(10),
                    std::time::Duration::from_secs(1),
                ),
                None => break,
            };
            glommio::timer::sleep(period).await;
            let Some(s) = sh.upgrade() else { break };
            if core.is_stopping() {
                break;
            }
            let limit = s.cfg.close_timeout.as_millis() as u64;
            let now = shardnet_shard::clock_ms();
            let late: Vec<ConnId> =
                s.tx.borrow()
                    .iter()
                    .filter(|(_, t)| {
                        t.close_sent_at != 0 && now.saturating_sub(t.close_sent_at) >= limit
                    })
                    .map(|(c, _)| *c)
                    .collect();
            drop(s);
            for c in late {
                let _ = core.disconnect(c, true);
            }
        }
    })
    .detach();
}

/// A role's listener seen from the shared receive path: the server's and the agent's
/// listeners each implement this once (`ws/shard.rs`, `ws/agent.rs`).
pub(crate) trait WsEvents {
    fn frame_header(&self, conn: ConnId, h: &FrameHeader) -> HandleResult;
    fn frame_body(&self, conn: ConnId, data: &[u8]) -> HandleResult;
    fn frame_end(&self, conn: ConnId) -> HandleResult;
    fn message(&self, conn: ConnId, m: Message<'_>) -> HandleResult;
    fn ping(&self, conn: ConnId, data: &[u8]) -> HandleResult;
    fn pong(&self, conn: ConnId, data: &[u8]) -> HandleResult;
    fn ws_close(&self, conn: ConnId, code: Option<u16>, reason: &str);
}

/// The endpoint's events, turned into the listener's (pongs answered here).
struct Dispatch<'a> {
    ev: &'a dyn WsEvents,
    sh: &'a WsShared,
    core: &'a Core,
    conn: ConnId,
    result: HandleResult,
    peer_close: Option<Option<u16>>,
}

impl Dispatch<'_> {
    /// Counted on the shard that runs it (its own row: no locked add).
    fn count(&self, i: usize) {
        self.core.layer.bump(self.conn.shard().0, i, 1);
    }
    fn check(&mut self, r: HandleResult) {
        if r == HandleResult::Error {
            self.result = HandleResult::Error;
        }
    }
}

impl WsHandler for Dispatch<'_> {
    fn on_frame_header(&mut self, h: &FrameHeader) {
        let r = self.ev.frame_header(self.conn, h);
        self.check(r);
    }
    fn on_frame_payload(&mut self, data: &[u8]) {
        let r = self.ev.frame_body(self.conn, data);
        self.check(r);
    }
    fn on_frame_end(&mut self) {
        let r = self.ev.frame_end(self.conn);
        self.check(r);
    }
    fn on_message(&mut self, m: Message<'_>) -> bool {
        if self.result == HandleResult::Error {
            return false;
        }
        self.count(layer::WS_MESSAGES_IN);
        let r = self.ev.message(self.conn, m);
        self.check(r);
        self.result != HandleResult::Error
    }
    fn on_ping(&mut self, data: &[u8]) {
        self.count(layer::WS_PINGS_IN);
        let _ = self.sh.send(self.core, self.conn, opcode::PONG, data, None);
        let r = self.ev.ping(self.conn, data);
        self.check(r);
    }
    fn on_pong(&mut self, data: &[u8]) {
        let r = self.ev.pong(self.conn, data);
        self.check(r);
    }
    fn on_close(&mut self, code: Option<u16>, reason: &str) {
        self.count(layer::WS_CLOSES_IN);
        self.ev.ws_close(self.conn, code, reason);
        self.peer_close = Some(code);
    }
}

/// The errno `on_close` reports for a close code we sent because of the peer.
fn errno_for(code: u16) -> i32 {
    match code {
        1007 => libc::EILSEQ,
        1009 => libc::EMSGSIZE,
        _ => libc::EPROTO,
    }
}

impl WsShared {
    /// Bytes of `conn` after the upgrade (either role): fed to its endpoint, events to `ev`.
    /// A protocol error sends the close frame with its code and ends the connection
    /// (`close_with(Receive, errno)`); the peer's close frame is echoed, and a server whose
    /// close was already answered ends TCP.
    pub(crate) fn feed(
        &self,
        core: &Core,
        conn: ConnId,
        data: &[u8],
        ev: &dyn WsEvents,
    ) -> HandleResult {
        let Some(mut ep) = self.rx.borrow_mut().remove(&conn) else {
            return HandleResult::Ok; // closing: what follows is not read
        };
        let mut scratch = self.scratch.take();
        let mut d = Dispatch {
            ev,
            sh: self,
            core,
            conn,
            result: HandleResult::Ok,
            peer_close: None,
        };
        let fed = ep.feed(data, &mut scratch, &mut d);
        let (result, peer_close) = (d.result, d.peer_close);
        if scratch.capacity() > 256 << 10 {
            scratch = Vec::new();
        }
        self.scratch.replace(scratch);
        match fed {
            Err(e) => {
                core.layer
                    .bump(conn.shard().0, layer::WS_PROTOCOL_ERRORS, 1);
                let mut p = e.code.to_be_bytes().to_vec();
                p.extend_from_slice(e.reason.as_bytes());
                let _ = self.send(core, conn, opcode::CLOSE, &p, None);
                let _ = core.close_with(conn, SocketOperation::Receive, errno_for(e.code));
                HandleResult::Ok
            }
            Ok(_) => {
                let Some(code) = peer_close else {
                    self.rx.borrow_mut().insert(conn, ep);
                    return result;
                };
                let answered = match self.tx.borrow_mut().get_mut(&conn) {
                    Some(t) => {
                        t.peer_closed = true;
                        t.close_sent_at != 0
                    }
                    None => true,
                };
                if !answered {
                    // Echo the code (RFC 6455 §5.5.1); an empty close gets an empty one. A
                    // server then ends TCP (in `send`); a client waits for it.
                    let p = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
                    let _ = self.send(core, conn, opcode::CLOSE, &p, None);
                } else if self.role == Role::Server {
                    let _ = core.disconnect(conn, false);
                }
                result
            }
        }
    }
}
