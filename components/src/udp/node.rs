//! `UdpNode` (HP's `UdpNode`, and its `UdpCast` when started with a cast group): a
//! connectionless UDP endpoint. `send_to(addr, data)` to anyone, `on_receive(from, data)` from
//! anyone, errors through `on_error`; with [`CastMode::Multicast`] it joins a group (TTL and
//! loopback set) and [`UdpNode::send_cast`] sends to it, with [`CastMode::Broadcast`] it sends
//! to a broadcast address. One socket per shard (SO_REUSEPORT; a cast node uses one shard, so
//! each group datagram is seen once). A send from a thread that is not one of the node's
//! shards goes through the inbox of the shard chosen by the destination's hash, so datagrams
//! to one destination keep their order.

use super::core::UdpCmd;
use super::socket::DatagramSocket;
use crate::engine::{Lifecycle, Transport};
use crate::{Error, HandleResult, Result, ServiceState, SocketOperation};
use shardnet_runtime::{InboxReceiver, InboxSender, Poller, Runtime, SendError, ShardId};
use std::cell::{Cell, RefCell};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Where `send_cast` goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CastMode {
    /// No group: `send_cast` is refused.
    Unicast,
    /// Join `group` (IPv4 or IPv6) on the interface of the bind address; datagrams sent to the
    /// group leave with `ttl` (HP: 1) and are looped back to this host if `loopback` (HP: off).
    Multicast {
        /// The group address.
        group: IpAddr,
        /// Multicast TTL / hop limit.
        ttl: u32,
        /// Deliver our own group datagrams to this host's members too.
        loopback: bool,
    },
    /// Send to this broadcast address (SO_BROADCAST on).
    Broadcast(Ipv4Addr),
}

/// Callbacks of a [`UdpNode`] (HP's `IUdpNodeListener`).
#[allow(unused_variables)]
pub trait UdpNodeListener: 'static {
    /// The shard's socket is bound; `Error` fails `start`.
    fn on_prepare_listen(
        &self,
        node: &UdpNode,
        socket: BorrowedFd<'_>,
        addr: SocketAddr,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// One datagram from `from` (valid during the call only).
    fn on_receive(&self, node: &UdpNode, from: SocketAddr, data: &[u8]) -> HandleResult;
    /// A datagram was queued for `to`.
    fn on_send(&self, node: &UdpNode, to: SocketAddr, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// A send or receive failed (`peer`: the destination, when known).
    fn on_error(
        &self,
        node: &UdpNode,
        op: SocketOperation,
        errno: i32,
        peer: Option<SocketAddr>,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// The node stopped.
    fn on_shutdown(&self, node: &UdpNode) -> HandleResult {
        HandleResult::Ignore
    }
}

impl<L: UdpNodeListener + ?Sized> UdpNodeListener for Arc<L> {
    fn on_prepare_listen(&self, n: &UdpNode, f: BorrowedFd<'_>, a: SocketAddr) -> HandleResult {
        (**self).on_prepare_listen(n, f, a)
    }
    fn on_receive(&self, n: &UdpNode, from: SocketAddr, d: &[u8]) -> HandleResult {
        (**self).on_receive(n, from, d)
    }
    fn on_send(&self, n: &UdpNode, to: SocketAddr, d: &[u8]) -> HandleResult {
        (**self).on_send(n, to, d)
    }
    fn on_error(
        &self,
        n: &UdpNode,
        op: SocketOperation,
        e: i32,
        p: Option<SocketAddr>,
    ) -> HandleResult {
        (**self).on_error(n, op, e, p)
    }
    fn on_shutdown(&self, n: &UdpNode) -> HandleResult {
        (**self).on_shutdown(n)
    }
}

struct NodeLink {
    inbox: InboxSender<UdpCmd>,
}

struct NodeCore {
    id: u64,
    runtime: Runtime,
    links: Vec<NodeLink>,
    life: Lifecycle,
    local: Mutex<Option<SocketAddr>>,
    cast: CastMode,
    cast_to: Option<SocketAddr>,
    max_datagram: usize,
}

/// A connectionless UDP endpoint (see the module docs). Cheap to clone; any thread.
#[derive(Clone)]
pub struct UdpNode {
    core: Arc<NodeCore>,
}

/// Builds a [`UdpNode`].
pub struct UdpNodeBuilder {
    shards: Option<usize>,
    runtime: Option<Runtime>,
    cast: CastMode,
    max_datagram: usize,
    recv_batch: usize,
    interface: Option<Ipv4Addr>,
}

impl Default for UdpNodeBuilder {
    fn default() -> Self {
        UdpNodeBuilder {
            shards: None,
            runtime: None,
            cast: CastMode::Unicast,
            max_datagram: shardnet_protocols::udp::DEFAULT_MAX_DATAGRAM,
            recv_batch: 64,
            interface: None,
        }
    }
}

thread_local! {
    static LOCAL: RefCell<Vec<(u64, Rc<NodeShard>)>> = const { RefCell::new(Vec::new()) };
}

fn local(id: u64, shard: ShardId) -> Option<Rc<NodeShard>> {
    LOCAL.with(|l| {
        l.borrow()
            .iter()
            .find(|(i, s)| *i == id && s.shard == shard)
            .map(|(_, s)| s.clone())
    })
}

impl UdpNodeBuilder {
    /// Shards of a new runtime (default: one per CPU; a cast node uses one).
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n);
        self
    }
    /// Runs on this runtime.
    pub fn runtime(mut self, rt: Runtime) -> Self {
        self.runtime = Some(rt);
        self
    }
    /// Multicast or broadcast (HP's CastMode; default unicast).
    pub fn cast(mut self, mode: CastMode) -> Self {
        self.cast = mode;
        self
    }
    /// The IPv4 interface (its address) to join the multicast group on and send group
    /// datagrams from (default: the bind address if it is a unicast one, else the system's
    /// choice). `127.0.0.1` keeps a group on this host.
    pub fn multicast_interface(mut self, ip: Ipv4Addr) -> Self {
        self.interface = Some(ip);
        self
    }
    /// Datagrams per `recvmmsg` (default 64; 1..=1024).
    pub fn recv_batch(mut self, n: usize) -> Self {
        self.recv_batch = n.clamp(1, 1024);
        self
    }
    /// Largest datagram sent or received whole (default 1432; larger ones received are
    /// reported through `on_error(Receive, EMSGSIZE)`).
    pub fn max_datagram(mut self, n: usize) -> Self {
        self.max_datagram = n;
        self
    }

    /// Binds `addr` (`"0.0.0.0:9000"`; for a group, the group's port) and starts.
    pub fn start<L>(self, addr: &str, listener: Arc<L>) -> Result<UdpNode>
    where
        L: UdpNodeListener + Send + Sync,
    {
        if self.max_datagram == 0 || self.max_datagram > 65_507 {
            return Err(Error::InvalidParam(
                "max_datagram must be within 1..=65507".into(),
            ));
        }
        let addr = super::server::resolve(addr)?;
        let mut cfg = super::UdpConfig {
            shards: self.shards,
            ..Default::default()
        };
        if self.cast != CastMode::Unicast {
            cfg.shards = Some(1);
        }
        let runtime = match self.runtime {
            Some(rt) => rt,
            None => super::server::runtime_for(&cfg, None)?,
        };
        if runtime.current_shard().is_some() {
            return Err(Error::WouldDeadlock);
        }
        let shards = if self.cast == CastMode::Unicast {
            runtime.shard_count()
        } else {
            1
        };
        let first = super::server::bind_udp(addr, true)?;
        let bound = socket2::SockRef::from(&first)
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(addr);
        let cast_to = match self.cast {
            CastMode::Unicast => None,
            CastMode::Multicast {
                group,
                ttl,
                loopback,
            } => {
                let s = socket2::SockRef::from(&first);
                match (group, addr.ip()) {
                    (IpAddr::V4(g), ip) => {
                        let iface = match (self.interface, ip) {
                            (Some(i), _) => i,
                            (None, IpAddr::V4(v)) if !v.is_unspecified() && !v.is_multicast() => v,
                            _ => Ipv4Addr::UNSPECIFIED,
                        };
                        s.join_multicast_v4(&g, &iface)
                            .map_err(Error::SocketCreate)?;
                        s.set_multicast_ttl_v4(ttl).map_err(Error::SocketCreate)?;
                        s.set_multicast_loop_v4(loopback)
                            .map_err(Error::SocketCreate)?;
                        if !iface.is_unspecified() {
                            s.set_multicast_if_v4(&iface).map_err(Error::SocketCreate)?;
                        }
                    }
                    (IpAddr::V6(g), _) => {
                        s.join_multicast_v6(&g, 0).map_err(Error::SocketCreate)?;
                        s.set_multicast_hops_v6(ttl).map_err(Error::SocketCreate)?;
                        s.set_multicast_loop_v6(loopback)
                            .map_err(Error::SocketCreate)?;
                    }
                }
                Some(SocketAddr::new(group, bound.port()))
            }
            CastMode::Broadcast(b) => {
                socket2::SockRef::from(&first)
                    .set_broadcast(true)
                    .map_err(Error::SocketCreate)?;
                Some(SocketAddr::new(IpAddr::V4(b), bound.port()))
            }
        };
        let mut socks = vec![Some(first)];
        for _ in 1..shards {
            socks.push(Some(super::server::bind_udp(bound, true)?));
        }
        let mut links = Vec::new();
        let mut rxs = Vec::new();
        for _ in 0..shards {
            let (tx, rx) = shardnet_runtime::inbox::<UdpCmd>(8192);
            links.push(NodeLink { inbox: tx });
            rxs.push(rx);
        }
        let core = Arc::new(NodeCore {
            id: crate::core::next_component_id(),
            runtime: runtime.clone(),
            links,
            life: Lifecycle::new(shards),
            local: Mutex::new(Some(bound)),
            cast: self.cast,
            cast_to,
            max_datagram: self.max_datagram,
        });
        let node = UdpNode { core: core.clone() };
        let mut replies = Vec::new();
        let mut first_err = None;
        for (i, rx) in rxs.into_iter().enumerate() {
            if first_err.is_some() {
                core.driver_failed();
                continue;
            }
            let sock = socks[i].take().expect("one socket per shard");
            let (h, l) = (node.clone(), listener.clone());
            let (tx, reply) = crossbeam_channel::bounded::<Result<()>>(1);
            replies.push(reply);
            let (batch, max) = (self.recv_batch, self.max_datagram);
            let started = runtime.run_on(ShardId(i), move || {
                if l.on_prepare_listen(&h, sock.as_fd(), bound) == HandleResult::Error {
                    let _ = tx.send(Err(Error::SocketPrepare));
                    h.core.driver_failed();
                    return;
                }
                let poller = match Poller::new(64) {
                    Ok(p) => p,
                    Err(e) => {
                        let _ = tx.send(Err(Error::Io(e)));
                        h.core.driver_failed();
                        return;
                    }
                };
                if let Err(e) = poller.add_readable(sock.as_raw_fd(), 1) {
                    let _ = tx.send(Err(Error::Io(e)));
                    h.core.driver_failed();
                    return;
                }
                let sh = Rc::new(NodeShard {
                    shard: ShardId(i),
                    sock: DatagramSocket::new(sock, batch, max, false),
                    poller: RefCell::new(poller),
                    l: Box::new(l),
                    h: h.clone(),
                    now: Cell::new(shardnet_shard::clock_ms()),
                });
                LOCAL.with(|x| x.borrow_mut().push((h.core.id, sh.clone())));
                let _ = tx.send(Ok(()));
                glommio::spawn_local(crate::engine::run(sh, rx)).detach();
            });
            if let Err(e) = started {
                first_err = Some(Error::from(e));
                core.driver_failed();
            }
        }
        crate::engine::first_start_error(&replies, &mut first_err);
        if let Some(e) = first_err {
            core.stop();
            let _ = core.life.wait(false, Some(Duration::from_secs(10)));
            return Err(e);
        }
        core.life.set_started();
        Ok(node)
    }
}

impl NodeCore {
    fn stop(&self) {
        self.life
            .stop(|| self.links.iter().for_each(|l| l.inbox.wake()));
    }
    fn driver_failed(&self) {
        self.life
            .driver_failed(|| self.links.iter().for_each(|l| l.inbox.wake()));
    }
}

/// One shard of a node.
struct NodeShard {
    shard: ShardId,
    sock: DatagramSocket,
    poller: RefCell<Poller>,
    l: Box<dyn UdpNodeListener>,
    h: UdpNode,
    now: Cell<u64>,
}

impl NodeShard {
    fn send(&self, to: SocketAddr, parts: &[&[u8]]) {
        self.sock.queue(&to, parts);
        if parts.len() == 1 {
            self.l.on_send(&self.h, to, parts[0]);
        } else {
            self.l.on_send(&self.h, to, &parts.concat());
        }
        self.h.core.links[self.shard.0].inbox.wake();
    }

    fn flush(&self) -> bool {
        let (any, errors) = self.sock.flush(self.now.get());
        for e in errors {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            self.l.on_error(&self.h, SocketOperation::Send, errno, None);
        }
        any
    }
}

impl Transport for NodeShard {
    type Cmd = UdpCmd;

    fn lifecycle(&self) -> &Lifecycle {
        &self.h.core.life
    }
    fn scratch_len(&self) -> usize {
        0
    }
    fn begin_turn(&self) {
        let now = shardnet_shard::clock_ms();
        self.now.set(now);
        self.sock.begin_turn(now);
    }
    fn command(&self, cmd: UdpCmd) {
        if let UdpCmd::SendTo { to, data } = cmd {
            self.send(to, &[&data]);
        }
    }
    fn end_commands(&self) {}
    fn io(&self, _scratch: &mut [u8]) -> bool {
        let mut work = false;
        if let Ok(n) = self.poller.borrow_mut().poll_now(|ev| {
            if ev.readable {
                self.sock.mark_readable();
            }
        }) {
            work |= n > 0;
        }
        let max = self.h.core.max_datagram;
        let (read, err) = self.sock.read(|from, data| {
            if data.len() > max {
                self.l.on_error(
                    &self.h,
                    SocketOperation::Receive,
                    libc::EMSGSIZE,
                    Some(from),
                );
            } else {
                self.l.on_receive(&self.h, from, data);
            }
        });
        if let Some(e) = err {
            let errno = e.raw_os_error().unwrap_or(libc::EIO);
            self.l
                .on_error(&self.h, SocketOperation::Receive, errno, None);
        }
        work |= read;
        work | self.flush()
    }
    fn timers_and_closes(&self) -> bool {
        self.flush()
    }
    fn busy(&self) -> bool {
        self.sock.wants_turn()
    }
    fn next_wakeup(&self) -> u64 {
        match self.sock.blocked_until() {
            0 => u64::MAX,
            t => t,
        }
    }
    fn has_local_work(&self) -> bool {
        self.sock.has_output()
    }
    fn poll_io(&self, cx: &mut Context<'_>) -> Poll<()> {
        self.poller.borrow_mut().poll_wakeup(cx)
    }
    fn close_all(&self, inbox: &InboxReceiver<UdpCmd>) {
        while let Some(cmd) = inbox.try_recv() {
            self.command(cmd);
        }
        self.sock.drain(shardnet_shard::clock_ms() + 1_000);
    }
    fn finished(&self, last: bool) {
        LOCAL.with(|x| x.borrow_mut().retain(|(id, _)| *id != self.h.core.id));
        if last {
            self.l.on_shutdown(&self.h);
        }
    }
}

impl UdpNode {
    /// A builder with HP-Socket's defaults (unicast, 1432-byte datagrams).
    pub fn builder() -> UdpNodeBuilder {
        UdpNodeBuilder::default()
    }

    /// Sends one datagram to `to`.
    pub fn send_to(&self, to: SocketAddr, data: &[u8]) -> Result<()> {
        self.send_packets_to(to, &[data])
    }

    /// Sends `parts` as one datagram to `to`.
    pub fn send_packets_to(&self, to: SocketAddr, parts: &[&[u8]]) -> Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        if len > self.core.max_datagram {
            return Err(Error::InvalidParam(format!(
                "{len} bytes exceed the maximum datagram of {}",
                self.core.max_datagram
            )));
        }
        if self.core.life.is_stopping() {
            return Err(Error::IllegalState(self.core.life.state()));
        }
        let n = self.core.links.len();
        // On one of the node's shards: its own socket. Elsewhere: the shard the destination
        // hashes to, so one destination's datagrams keep their order.
        if let Some(shard) = self.core.runtime.current_shard() {
            if let Some(sh) = local(self.core.id, shard) {
                sh.send(to, parts);
                return Ok(());
            }
        }
        let shard = {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            to.hash(&mut h);
            (h.finish() as usize) % n
        };
        let cmd = UdpCmd::SendTo {
            to,
            data: parts.concat(),
        };
        let link = &self.core.links[shard];
        let r = if Runtime::current().is_some() {
            link.inbox.try_send(cmd)
        } else {
            link.inbox.send_blocking(cmd)
        };
        r.map_err(|e| match e {
            SendError::Full(_) => Error::Backpressure,
            SendError::Closed(_) => Error::IllegalState(self.core.life.state()),
        })
    }

    /// Sends one datagram to the cast group or broadcast address (`InvalidParam` in unicast
    /// mode).
    pub fn send_cast(&self, data: &[u8]) -> Result<()> {
        match self.core.cast_to {
            Some(to) => self.send_to(to, data),
            None => Err(Error::InvalidParam("not a cast node".into())),
        }
    }

    /// The bound address.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        *self.core.local.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Where `send_cast` goes (None in unicast mode).
    pub fn cast_addr(&self) -> Option<SocketAddr> {
        self.core.cast_to
    }

    /// The cast mode.
    pub fn cast_mode(&self) -> CastMode {
        self.core.cast
    }

    /// Lifecycle state.
    pub fn state(&self) -> ServiceState {
        self.core.life.state()
    }

    /// Stops (queued datagrams are sent first); returns at once.
    pub fn stop(&self) {
        self.core.stop()
    }

    /// Waits until stopped (`WouldDeadlock` on one of the node's shards).
    pub fn wait(&self) -> Result<()> {
        self.core
            .life
            .wait(self.core.runtime.current_shard().is_some(), None)
            .map(|_| ())
    }

    /// Waits up to `timeout`; true if stopped.
    pub fn wait_timeout(&self, timeout: std::time::Duration) -> Result<bool> {
        self.core
            .life
            .wait(self.core.runtime.current_shard().is_some(), Some(timeout))
    }
}
