//! The UDP transport of the shard engine: one socket per shard (a server's are bound with
//! SO_REUSEPORT to one address, so the kernel keeps each peer on one shard; a client's is
//! connected), a logical connection per peer address, datagrams in with `recvmmsg` and out with
//! `sendmmsg` (the answers a turn's callbacks make leave together), HP's heartbeat and close
//! datagrams ([`shardnet_protocols::udp`]) and, for ARQ, one [`ArqSession`] per connection
//! whose timers sit in one ordered set per shard.
//!
//! # The path of one datagram
//! epoll says the socket is readable → `recvmmsg` (`DatagramSocket::read`) fills up to `recv_batch` datagrams →
//! for each, [`shardnet_protocols::udp::server_action`] against the peer table: a heartbeat is
//! answered, the close datagram closes, an oversize one closes the connection (or is ignored
//! from a new address), data goes to `on_receive` (ARQ: through the session, whole messages
//! only) → the sends made meanwhile were queued in the shard's `SendBatch` → one `sendmmsg`
//! at the end of the I/O step.

use super::core::{counter, UdpCmd, UdpCore};
use super::socket::DatagramSocket;
use crate::listener::{HandleResult, SocketOperation, CALLBACK_ERROR};
use crate::{Error, Result};
use shardnet_protocols::arq::{handshake::ConvIds, ArqConfig, ArqError, ArqSession, Received};
use shardnet_protocols::udp::{
    self as rules, ClientHeartbeat, Existing, HeartbeatAction, ServerAction,
};
use shardnet_runtime::{ConnId, ConnMap, InboxReceiver, Poller, ShardId};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};

const SOCKET_TOKEN: u64 = 1;

/// The callbacks a UDP driver makes, with the component's handle bound.
pub(crate) trait UdpEvents {
    /// Server: a new address (Error refuses it). Client: the socket is ready (`on_connect`).
    fn accept(&self, conn: ConnId, peer: SocketAddr) -> HandleResult;
    fn handshake(&self, conn: ConnId) -> HandleResult;
    fn receive(&self, conn: ConnId, data: &[u8]) -> HandleResult;
    fn send(&self, conn: ConnId, data: &[u8]);
    fn close(&self, conn: ConnId, op: SocketOperation, errno: i32);
    fn shutdown(&self);
}

/// What the shard's socket is for.
pub(crate) enum Role {
    /// Accepts any address; answers heartbeats; closes silent peers.
    Server,
    /// Connected to one server; sends heartbeats.
    Client { peer: SocketAddr },
}

thread_local! {
    static LOCAL: RefCell<Vec<(u64, Rc<UdpShard>)>> = const { RefCell::new(Vec::new()) };
}

/// The UDP driver of component `component` if the calling thread is its shard `shard`.
pub(crate) fn local(component: u64, shard: ShardId) -> Option<Rc<UdpShard>> {
    LOCAL.with(|l| {
        l.borrow()
            .iter()
            .find(|(id, s)| *id == component && s.shard == shard)
            .map(|(_, s)| s.clone())
    })
}

struct Peer {
    addr: SocketAddr,
    last_heard: u64,
    closing: bool,
    /// ARQ: the session (None while lent to a callback's turn, or without ARQ).
    arq: Option<Box<ArqSession>>,
    /// ARQ sends made while the session was lent out; applied when it comes back.
    deferred: Vec<Vec<u8>>,
    /// ARQ: `drop_unsent` / `flush` asked for while the session was lent out.
    pending_drop: bool,
    pending_flush: bool,
    /// ARQ: the session's next tick (shard clock, ms; 0 = none) as filed in `timers`.
    due: u64,
}

struct State {
    by_addr: HashMap<SocketAddr, ConnId>,
    peers: ConnMap<Peer>,
    /// Scheduled closes: (conn, operation, errno, send the close datagram).
    closing: VecDeque<(ConnId, SocketOperation, i32, bool)>,
    free_slots: Vec<u32>,
    next_slot: u32,
    seq: u64,
    next_sweep: u64,
    /// ARQ session ticks, ordered by due time.
    timers: BTreeSet<(u64, ConnId)>,
}

/// One UDP component's state on one shard.
pub(crate) struct UdpShard {
    shard: ShardId,
    core: Arc<UdpCore>,
    sock: DatagramSocket,
    role: Role,
    heartbeat: Cell<Option<ClientHeartbeat>>,
    events: Rc<dyn UdpEvents>,
    poller: RefCell<Poller>,
    st: RefCell<State>,
    now: Cell<u64>,
    /// ARQ: datagram assembly and message reassembly (one per shard).
    scratch: RefCell<Vec<u8>>,
    convs: Cell<ConvIds>,
    arq: Option<ArqConfig>,
}

fn ms32(ms: u64) -> u32 {
    ms as u32
}

impl UdpShard {
    pub(crate) fn new(
        shard: ShardId,
        core: Arc<UdpCore>,
        fd: OwnedFd,
        role: Role,
        events: Rc<dyn UdpEvents>,
    ) -> std::io::Result<Rc<UdpShard>> {
        let poller = Poller::new(64)?;
        poller.add_readable(fd.as_raw_fd(), SOCKET_TOKEN)?;
        let now = shardnet_shard::clock_ms();
        let cfg = &core.cfg;
        let seed = (now as u32) ^ ((shard.0 as u32) << 24);
        let sh = Rc::new(UdpShard {
            shard,
            sock: DatagramSocket::new(fd, cfg.recv_batch, cfg.max_datagram, cfg.gso),
            arq: cfg.arq_effective(),
            heartbeat: Cell::new(None),
            core,
            role,
            events,
            poller: RefCell::new(poller),
            st: RefCell::new(State {
                by_addr: HashMap::new(),
                peers: ConnMap::default(),
                closing: VecDeque::new(),
                free_slots: Vec::new(),
                next_slot: 0,
                seq: 0,
                next_sweep: now,
                timers: BTreeSet::new(),
            }),
            now: Cell::new(now),
            scratch: RefCell::new(Vec::new()),
            convs: Cell::new(ConvIds::new(seed)),
        });
        LOCAL.with(|l| l.borrow_mut().push((sh.core.id, sh.clone())));
        Ok(sh)
    }

    fn kick(&self) {
        self.core.links[self.shard.0].inbox.wake();
    }

    fn queue(&self, to: &SocketAddr, parts: &[&[u8]]) {
        self.count(counter::DATAGRAMS_OUT, 1);
        let n: usize = parts.iter().map(|p| p.len()).sum();
        self.count(counter::BYTES_OUT, n as u64);
        self.sock.queue(to, parts);
    }

    /// Counted on this shard's own row (no locked add).
    fn count(&self, i: usize, n: u64) {
        self.core.counters.bump(self.shard.0, i, n);
    }

    /// Sends the queued datagrams.
    fn flush_out(&self) -> bool {
        let gso_before = self.sock.gso_datagrams();
        let (any, errors) = self.sock.flush(self.now.get());
        self.count(
            counter::GSO_DATAGRAMS,
            self.sock.gso_datagrams() - gso_before,
        );
        // A connected client's socket reports ICMP errors (ECONNREFUSED) on send too.
        for e in errors {
            self.socket_error(e);
        }
        any
    }

    // ----- connections --------------------------------------------------------------------------

    /// Opens a connection for `addr` (calls `accept`); None if refused.
    fn open(&self, addr: SocketAddr) -> Option<ConnId> {
        let conn = {
            let mut st = self.st.borrow_mut();
            let slot = match st.free_slots.pop() {
                Some(s) => s,
                None => {
                    if st.next_slot as usize >= ConnId::MAX_SLOTS {
                        return None;
                    }
                    st.next_slot += 1;
                    st.next_slot - 1
                }
            };
            st.seq += 1;
            ConnId::new(self.shard, slot, st.seq)
        };
        let now = self.now.get();
        let arq = self.arq.map(|cfg| {
            let mut c = self.convs.get();
            let conv = c.next();
            self.convs.set(c);
            let mut s = Box::new(ArqSession::new(cfg, conv, ms32(now)));
            // Acks wait for the replies `on_receive` makes (flushed in `arq_input`).
            s.hold_acks(true);
            s
        });
        let is_arq = arq.is_some();
        // In the tables before `on_accept`, so that the callback can send (plain UDP; ARQ
        // refuses sends until its handshake completes) and ask for the peer's address.
        {
            let mut st = self.st.borrow_mut();
            st.by_addr.insert(addr, conn);
            st.peers.insert(
                conn,
                Peer {
                    addr,
                    last_heard: now,
                    closing: false,
                    arq,
                    deferred: Vec::new(),
                    pending_drop: false,
                    pending_flush: false,
                    due: 0,
                },
            );
        }
        // Ready for other threads' sends at once, or (ARQ) when the handshake completes.
        self.core.links[self.shard.0]
            .peers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(conn, (addr, !is_arq));
        if self.events.accept(conn, addr) == HandleResult::Error {
            {
                let mut st = self.st.borrow_mut();
                st.peers.remove(&conn);
                if st.by_addr.get(&addr) == Some(&conn) {
                    st.by_addr.remove(&addr);
                }
                st.free_slots.push(conn.slot());
            }
            self.core.links[self.shard.0]
                .peers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&conn);
            // What the callback queued for the refused peer still leaves; nothing else does.
            return None;
        }
        self.core.open.fetch_add(1, Ordering::AcqRel);
        self.count(counter::ACCEPTED, 1);
        if is_arq {
            // The first handshake packet leaves at once.
            self.with_session(conn, |s, sh, scratch, out| {
                s.tick(ms32(sh.now.get()), scratch, out).map(|_| ())
            });
        } else if self.events.handshake(conn) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Close, CALLBACK_ERROR, true);
        }
        Some(conn)
    }

    /// Schedules `on_close` (once); `notify`: send the close datagram first.
    fn schedule_close(&self, conn: ConnId, op: SocketOperation, errno: i32, notify: bool) {
        let mut st = self.st.borrow_mut();
        let Some(p) = st.peers.get_mut(&conn) else {
            return;
        };
        if p.closing {
            return;
        }
        p.closing = true;
        st.closing.push_back((conn, op, errno, notify));
    }

    fn run_closes(&self) -> bool {
        let mut any = false;
        loop {
            let item = self.st.borrow_mut().closing.pop_front();
            let Some((conn, op, errno, notify)) = item else {
                break;
            };
            any = true;
            let peer = {
                let mut st = self.st.borrow_mut();
                let Some(p) = st.peers.remove(&conn) else {
                    continue;
                };
                if st.by_addr.get(&p.addr) == Some(&conn) {
                    st.by_addr.remove(&p.addr);
                }
                if p.due != 0 {
                    st.timers.remove(&(p.due, conn));
                }
                p
            };
            if notify {
                self.queue(&peer.addr, &[&rules::CLOSE_DATAGRAM]);
            }
            self.core.links[self.shard.0]
                .peers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&conn);
            self.core.open.fetch_sub(1, Ordering::AcqRel);
            self.core.closes.closed(self.shard.0, op, errno);
            self.events.close(conn, op, errno);
            self.st.borrow_mut().free_slots.push(conn.slot());
        }
        any
    }

    /// Runs `f` with the connection's ARQ session lent out (sends made by callbacks meanwhile
    /// are deferred), then files the session back with its next tick.
    fn with_session(
        &self,
        conn: ConnId,
        f: impl FnOnce(
            &mut ArqSession,
            &UdpShard,
            &mut Vec<u8>,
            &mut dyn FnMut(&[u8]),
        ) -> std::result::Result<(), ArqError>,
    ) {
        let (mut s, addr) = {
            let mut st = self.st.borrow_mut();
            let Some(p) = st.peers.get_mut(&conn) else {
                return;
            };
            let Some(s) = p.arq.take() else {
                return;
            };
            (s, p.addr)
        };
        let mut scratch = std::mem::take(&mut *self.scratch.borrow_mut());
        let resent_before = s.retransmits();
        let mut result = f(&mut s, self, &mut scratch, &mut |d: &[u8]| {
            self.queue(&addr, &[d])
        });
        // A `drop_unsent` made while the session was out applies to what it held then.
        let drop_now = self
            .st
            .borrow_mut()
            .peers
            .get_mut(&conn)
            .is_some_and(|p| std::mem::take(&mut p.pending_drop));
        if drop_now {
            s.drop_unsent();
        }
        // Sends the callbacks made while the session was out, in order.
        loop {
            let deferred = match self.st.borrow_mut().peers.get_mut(&conn) {
                Some(p) => std::mem::take(&mut p.deferred),
                None => break,
            };
            if deferred.is_empty() || result.is_err() {
                break;
            }
            for m in deferred {
                let now = ms32(self.now.get());
                if let Err(e) = s.send(now, &m, &mut scratch, &mut |d: &[u8]| {
                    self.queue(&addr, &[d])
                }) {
                    result = Err(e);
                    break;
                }
                self.events.send(conn, &m);
            }
        }
        let flush_now = self
            .st
            .borrow_mut()
            .peers
            .get_mut(&conn)
            .is_some_and(|p| std::mem::take(&mut p.pending_flush));
        if flush_now && result.is_ok() {
            s.flush(
                ms32(shardnet_shard::clock_ms()),
                &mut scratch,
                &mut |d: &[u8]| self.queue(&addr, &[d]),
            );
        }
        *self.scratch.borrow_mut() = scratch;
        self.count(
            counter::ARQ_RETRANSMITS,
            s.retransmits().wrapping_sub(resent_before) as u64,
        );
        let failed = result.is_err();
        if let Err(e) = result {
            tracing::debug!(%conn, error = %e, "ARQ session closed");
            // A server replaces a session whose peer restarted (see `arq_input`): the close
            // datagram would reach the new peer, not the old one.
            let notify = !(e == ArqError::NewConversation && matches!(self.role, Role::Server));
            self.schedule_close(conn, SocketOperation::Receive, e.errno(), notify);
        }
        let now = self.now.get();
        // 0 = no tick needed (an idle ready session): no timer until the next datagram or send.
        let due = s.next_deadline(ms32(now)).map_or(0, |d| {
            now + (d.wrapping_sub(ms32(now)) as i32).max(0) as u64
        });
        let mut st = self.st.borrow_mut();
        let State { peers, timers, .. } = &mut *st;
        if let Some(p) = peers.get_mut(&conn) {
            // A failed session closes this turn: no more ticks.
            let due = if failed { 0 } else { due };
            if due == 0 {
                // Idle (nothing to send, acknowledge or probe): give the queues' memory back,
                // so an idle session holds only its struct (a few allocations per message
                // when it wakes, against ~1.3 KB held per idle session).
                s.trim();
            }
            if p.due != due {
                if p.due != 0 {
                    timers.remove(&(p.due, conn));
                }
                if due != 0 {
                    timers.insert((due, conn));
                }
                p.due = due;
            }
            p.arq = Some(s);
        }
    }

    // ----- the handle's operations (on the owner shard) -------------------------------------

    pub(crate) fn send(&self, conn: ConnId, parts: &[&[u8]]) -> Result<()> {
        let addr = {
            let st = self.st.borrow();
            match st.peers.get(&conn) {
                Some(p) if !p.closing => p.addr,
                Some(_) => return Err(Error::NotConnected),
                None => return Err(Error::NotFound),
            }
        };
        if self.arq.is_some() {
            // A bound on what waits for a slow peer (or one whose window is closed).
            let limit = (self.core.cfg.max_queued_bytes / 1024).max(256);
            if self.arq_waiting(conn).unwrap_or(0) >= limit {
                return Err(Error::QueueFull(self.core.cfg.max_queued_bytes));
            }
            // One part (the usual case) is sent from the caller's slice: KCP copies it into
            // its segments anyway; only a deferred send needs its own copy.
            let joined;
            let msg: &[u8] = match parts {
                [one] => one,
                _ => {
                    joined = parts.concat();
                    &joined
                }
            };
            let lent = {
                let mut st = self.st.borrow_mut();
                let p = st.peers.get_mut(&conn).expect("checked above");
                match &p.arq {
                    Some(s) if !s.is_ready() => return Err(Error::NotConnected),
                    Some(_) => false,
                    None => {
                        p.deferred.push(msg.to_vec());
                        true
                    }
                }
            };
            if !lent {
                let mut r = Ok(());
                let now = ms32(shardnet_shard::clock_ms());
                self.with_session(conn, |s, _, scratch, out| {
                    r = s
                        .send(now, msg, scratch, out)
                        .map_err(|e| Error::InvalidParam(e.to_string()));
                    Ok(())
                });
                r?;
                self.events.send(conn, msg);
            }
        } else {
            let max = self.core.cfg.max_queued_bytes;
            if self.sock.queued_bytes() + parts.iter().map(|p| p.len()).sum::<usize>() > max {
                return Err(Error::QueueFull(max));
            }
            self.queue(&addr, parts);
            if parts.len() == 1 {
                self.events.send(conn, parts[0]);
            } else {
                self.events.send(conn, &parts.concat());
            }
        }
        self.kick();
        Ok(())
    }

    pub(crate) fn disconnect(&self, conn: ConnId) -> Result<()> {
        if !self.st.borrow().peers.contains_key(&conn) {
            return Err(Error::NotFound);
        }
        self.schedule_close(conn, SocketOperation::Close, 0, true);
        self.kick();
        Ok(())
    }

    pub(crate) fn arq_flush(&self, conn: ConnId) -> Result<()> {
        if self.arq.is_none() {
            return Err(Error::InvalidParam("not an ARQ component".into()));
        }
        {
            let mut st = self.st.borrow_mut();
            let p = st.peers.get_mut(&conn).ok_or(Error::NotFound)?;
            if p.arq.is_none() {
                // Lent to a callback of this connection: flushed when it comes back.
                p.pending_flush = true;
                return Ok(());
            }
        }
        let now = ms32(shardnet_shard::clock_ms());
        self.with_session(conn, |s, _, scratch, out| {
            s.flush(now, scratch, out);
            Ok(())
        });
        self.kick();
        Ok(())
    }

    pub(crate) fn arq_drop_unsent(&self, conn: ConnId) -> Result<usize> {
        let mut st = self.st.borrow_mut();
        let p = st.peers.get_mut(&conn).ok_or(Error::NotFound)?;
        let mut n = p.deferred.len();
        p.deferred.clear();
        match p.arq.as_mut() {
            Some(s) => n += s.drop_unsent(),
            // Lent to a callback of this connection: dropped when it comes back.
            None => p.pending_drop = true,
        }
        Ok(n)
    }

    /// ARQ: messages' segments waiting to be sent or acknowledged.
    pub(crate) fn arq_waiting(&self, conn: ConnId) -> Option<usize> {
        let st = self.st.borrow();
        let p = st.peers.get(&conn)?;
        Some(p.arq.as_ref().map_or(0, |s| s.waiting()) + p.deferred.len())
    }

    /// Client: opens its one connection (the server's address).
    pub(crate) fn connect(&self, peer: SocketAddr) -> Option<ConnId> {
        let now = self.now.get();
        let cfg = &self.core.cfg;
        self.heartbeat.set(Some(ClientHeartbeat::new(
            now,
            cfg.detect_interval.as_millis() as u32,
            cfg.detect_attempts,
        )));
        self.open(peer)
    }

    // ----- datagrams in -----------------------------------------------------------------------

    fn on_datagram(&self, from: SocketAddr, data: &[u8]) {
        self.count(counter::DATAGRAMS_IN, 1);
        self.count(counter::BYTES_IN, data.len() as u64);
        let (known, open) = {
            let st = self.st.borrow();
            let conn = st.by_addr.get(&from).copied();
            (conn, self.core.open.load(Ordering::Acquire))
        };
        if let Role::Client { peer } = self.role {
            if from != peer {
                return; // a connected socket only gets its peer's datagrams; be sure
            }
        }
        let cfg = &self.core.cfg;
        let action = rules::server_action(
            data,
            cfg.max_datagram,
            known.is_some(),
            open,
            cfg.max_connections,
        );
        let (conn, what) = match action {
            ServerAction::Ignore => return,
            ServerAction::Refuse => {
                self.count(counter::REFUSED, 1);
                tracing::debug!(%from, "UDP connection limit reached: close datagram sent");
                self.queue(&from, &[&rules::CLOSE_DATAGRAM]);
                return;
            }
            ServerAction::Open(what) => {
                if matches!(self.role, Role::Client { .. }) {
                    return;
                }
                match self.open(from) {
                    Some(c) => (c, what),
                    None => return,
                }
            }
            ServerAction::Existing(what) => (known.expect("known"), what),
        };
        let now = self.now.get();
        {
            let mut st = self.st.borrow_mut();
            match st.peers.get_mut(&conn) {
                Some(p) if !p.closing => p.last_heard = now,
                _ => return,
            }
        }
        if let Some(h) = self.heartbeat.get().as_mut() {
            h.heard();
            self.heartbeat.set(Some(*h));
        }
        match what {
            Existing::AnswerHeartbeat => {
                self.count(counter::HEARTBEATS, 1);
                if matches!(self.role, Role::Server) {
                    self.queue(&from, &[]);
                }
            }
            Existing::PeerClosed => self.schedule_close(conn, SocketOperation::Close, 0, false),
            Existing::TooLarge(_) => {
                self.count(counter::OVERSIZE, 1);
                self.schedule_close(conn, SocketOperation::Receive, libc::EMSGSIZE, true)
            }
            Existing::Receive(bytes) => {
                if self.arq.is_some() {
                    self.arq_input(conn, from, bytes);
                } else if self.events.receive(conn, bytes) == HandleResult::Error {
                    self.schedule_close(conn, SocketOperation::Receive, CALLBACK_ERROR, true);
                }
            }
        }
    }

    fn arq_input(&self, conn: ConnId, from: SocketAddr, bytes: &[u8]) {
        let events = self.events.clone();
        let mut ready = false;
        let mut new_conversation = false;
        self.with_session(conn, |s, sh, scratch, out| {
            let now = ms32(sh.now.get());
            let r = s.on_datagram(now, bytes, scratch, out, &mut |m| {
                events.receive(conn, m) != HandleResult::Error
            });
            new_conversation = r == Err(ArqError::NewConversation);
            let r = r?;
            ready = r == Received::Ready;
            if matches!(r, Received::Messages(_)) {
                // The held acks leave after the sends `on_receive` made (with_session), with
                // the first of them.
                if let Some(p) = sh.st.borrow_mut().peers.get_mut(&conn) {
                    p.pending_flush = true;
                }
            }
            Ok(())
        });
        if new_conversation && matches!(self.role, Role::Server) {
            // The peer restarted, or a new client has the address of one that left without
            // its close datagram arriving (lost, or a NAT reusing the port): close the old
            // session now (on_close(Receive, ECONNRESET)) and open one for this handshake,
            // instead of HP's reset that would refuse the new client too.
            self.count(counter::ARQ_REPLACED, 1);
            self.run_closes();
            if let Some(c) = self.open(from) {
                self.arq_input(c, from, bytes);
            }
            return;
        }
        if ready {
            self.count(counter::ARQ_HANDSHAKES, 1);
            if let Some(v) = self.core.links[self.shard.0]
                .peers
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .get_mut(&conn)
            {
                v.1 = true;
            }
            // As without ARQ (and TCP): an `on_handshake` error closes with (Close, ECANCELED).
            if self.events.handshake(conn) == HandleResult::Error {
                self.schedule_close(conn, SocketOperation::Close, CALLBACK_ERROR, true);
            }
        }
    }

    fn read_some(&self) -> bool {
        let (work, err) = self.sock.read(|from, data| self.on_datagram(from, data));
        if let Some(e) = err {
            // A client's connected socket reports ICMP errors here (ECONNREFUSED).
            self.socket_error(e);
        }
        work
    }

    fn socket_error(&self, e: std::io::Error) {
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        if let Role::Client { .. } = self.role {
            let conns: Vec<ConnId> = self.st.borrow().peers.keys().copied().collect();
            for c in conns {
                self.schedule_close(c, SocketOperation::Receive, errno, false);
            }
        }
    }

    // ----- timers ---------------------------------------------------------------------------

    fn expire(&self) {
        let now = self.now.get();
        // ARQ ticks that are due (taken first: a tick may file the next one at `now`, which
        // waits for the next turn).
        let due: Vec<ConnId> = {
            let mut st = self.st.borrow_mut();
            let State { peers, timers, .. } = &mut *st;
            let mut v = Vec::new();
            while let Some(&(at, conn)) = timers.first() {
                if at > now {
                    break;
                }
                timers.remove(&(at, conn));
                if let Some(p) = peers.get_mut(&conn) {
                    p.due = 0;
                }
                v.push(conn);
            }
            v
        };
        for conn in due {
            self.with_session(conn, |s, sh, scratch, out| {
                s.tick(ms32(sh.now.get()), scratch, out)
            });
        }
        // Heartbeats: the client's clock, or the server's silent-peer sweep.
        let cfg = &self.core.cfg;
        let interval = cfg.detect_interval.as_millis() as u32;
        if let Some(mut h) = self.heartbeat.get() {
            let action = h.poll(now);
            self.heartbeat.set(Some(h));
            let peer = self
                .st
                .borrow()
                .peers
                .iter()
                .next()
                .map(|(c, p)| (*c, p.addr));
            if let Some((conn, addr)) = peer {
                match action {
                    HeartbeatAction::Send => self.queue(&addr, &[]),
                    HeartbeatAction::Dead => {
                        self.schedule_close(conn, SocketOperation::Close, libc::ETIMEDOUT, false)
                    }
                    HeartbeatAction::Wait => {}
                }
            }
        } else if interval != 0 && cfg.detect_attempts != 0 {
            let mut st = self.st.borrow_mut();
            if now >= st.next_sweep {
                st.next_sweep = now + u64::from(interval / 4).max(10);
                let dead: Vec<ConnId> = st
                    .peers
                    .iter()
                    .filter(|(_, p)| {
                        !p.closing
                            && rules::server_peer_expired(
                                p.last_heard,
                                now,
                                interval,
                                cfg.detect_attempts,
                            )
                    })
                    .map(|(c, _)| *c)
                    .collect();
                drop(st);
                for c in dead {
                    self.schedule_close(c, SocketOperation::Close, libc::ETIMEDOUT, false);
                }
            }
        }
    }

    fn handle(&self, cmd: UdpCmd) {
        match cmd {
            UdpCmd::Send { conn, data } => {
                let _ = self.send(conn, &[&data]);
            }
            UdpCmd::Disconnect { conn } => {
                let _ = self.disconnect(conn);
            }
            UdpCmd::Flush { conn } => {
                let _ = self.arq_flush(conn);
            }
            UdpCmd::DropUnsent { conn } => {
                let _ = self.arq_drop_unsent(conn);
            }
            UdpCmd::SendTo { .. } => {} // a UdpNode's command; never posted to a connection shard
        }
    }
}

impl crate::engine::Transport for UdpShard {
    type Cmd = UdpCmd;

    fn lifecycle(&self) -> &crate::engine::Lifecycle {
        &self.core.life
    }

    fn scratch_len(&self) -> usize {
        0 // datagrams land in the shard's RecvBatch
    }

    fn begin_turn(&self) {
        let now = shardnet_shard::clock_ms();
        self.now.set(now);
        self.sock.begin_turn(now);
    }

    fn command(&self, cmd: UdpCmd) {
        self.handle(cmd);
    }

    fn end_commands(&self) {}

    fn io(&self, _scratch: &mut [u8]) -> bool {
        let mut work = false;
        let polled = self.poller.borrow_mut().poll_now(|ev| {
            if ev.readable || ev.read_closed {
                self.sock.mark_readable();
            }
        });
        if let Ok(n) = polled {
            work |= n > 0;
        }
        work |= self.read_some();
        work |= self.flush_out();
        work
    }

    fn timers_and_closes(&self) -> bool {
        self.expire();
        let work = self.run_closes();
        self.flush_out() || work
    }

    fn busy(&self) -> bool {
        self.sock.wants_turn()
    }

    fn next_wakeup(&self) -> u64 {
        let st = self.st.borrow();
        let mut next = st.timers.first().map_or(u64::MAX, |t| t.0);
        let cfg = &self.core.cfg;
        if let Some(h) = self.heartbeat.get() {
            next = next.min(h.next_deadline().unwrap_or(u64::MAX));
        } else if cfg.detect_attempts != 0
            && cfg.detect_interval.as_millis() != 0
            && !st.peers.is_empty()
        {
            next = next.min(st.next_sweep);
        }
        if self.sock.blocked_until() != 0 {
            next = next.min(self.sock.blocked_until());
        }
        next
    }

    fn has_local_work(&self) -> bool {
        !self.st.borrow().closing.is_empty() || self.sock.has_output()
    }

    fn poll_io(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.poller.borrow_mut().poll_wakeup(cx)
    }

    fn close_all(&self, inbox: &InboxReceiver<UdpCmd>) {
        self.now.set(shardnet_shard::clock_ms());
        // What other threads posted before the stop still goes out, then the closes.
        while let Some(cmd) = inbox.try_recv() {
            self.handle(cmd);
        }
        let conns: Vec<ConnId> = self.st.borrow().peers.keys().copied().collect();
        for c in conns {
            // HP sends the close datagram to every peer on stop (a client to its server).
            self.schedule_close(c, SocketOperation::Close, 0, true);
        }
        self.run_closes();
        // Every close datagram leaves (HP sends one to each peer on stop): wait for room in
        // the socket's buffer, up to a second.
        self.sock.drain(shardnet_shard::clock_ms() + 1_000);
    }

    fn finished(&self, last: bool) {
        LOCAL.with(|l| l.borrow_mut().retain(|(id, _)| *id != self.core.id));
        if last {
            self.events.shutdown();
        }
    }
}

/// Starts this shard's driver task.
pub(crate) fn run(
    sh: Rc<UdpShard>,
    inbox: InboxReceiver<UdpCmd>,
) -> impl std::future::Future<Output = ()> {
    crate::engine::run(sh, inbox)
}
