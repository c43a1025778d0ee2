//! What a UDP component's handle shares with its shard drivers: the shard inboxes, each
//! shard's peer addresses (readable from any thread), the lifecycle, and the routing of a send
//! or disconnect to the shard that owns the connection.

use super::driver::{self, UdpShard};
use super::UdpConfig;
use crate::engine::Lifecycle;
use crate::{Error, Result, ServiceState};
use shardnet_runtime::{ConnId, ConnMap, InboxReceiver, InboxSender, Runtime, SendError, ShardId};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock};

/// Work posted to a UDP shard by other threads.
pub(crate) enum UdpCmd {
    /// One datagram (ARQ: one message) for `conn`.
    Send { conn: ConnId, data: Vec<u8> },
    /// Close `conn` (sending the close datagram).
    Disconnect { conn: ConnId },
    /// ARQ: flush the connection's KCP now.
    Flush { conn: ConnId },
    /// ARQ: drop its messages not yet sent.
    DropUnsent { conn: ConnId },
    /// UdpNode: one datagram to an address.
    SendTo { to: SocketAddr, data: Vec<u8> },
}

pub(crate) struct UdpLink {
    pub inbox: InboxSender<UdpCmd>,
    /// Open connections of the shard: their peers, and whether they are ready for sends
    /// (ARQ: the handshake completed). Written on open, ready and close only.
    pub peers: RwLock<ConnMap<(SocketAddr, bool)>>,
}

/// Indexes of [`UdpCore::counters`].
pub(crate) mod counter {
    pub(crate) const DATAGRAMS_IN: usize = 0;
    pub(crate) const BYTES_IN: usize = 1;
    pub(crate) const DATAGRAMS_OUT: usize = 2;
    pub(crate) const BYTES_OUT: usize = 3;
    pub(crate) const ACCEPTED: usize = 4;
    pub(crate) const REFUSED: usize = 5;
    pub(crate) const HEARTBEATS: usize = 6;
    pub(crate) const OVERSIZE: usize = 7;
    pub(crate) const ARQ_HANDSHAKES: usize = 8;
    pub(crate) const ARQ_RETRANSMITS: usize = 9;
    pub(crate) const ARQ_REPLACED: usize = 10;
    pub(crate) const GSO_DATAGRAMS: usize = 11;
}

pub(crate) struct UdpCore {
    pub id: u64,
    pub runtime: Runtime,
    pub cfg: UdpConfig,
    pub links: Vec<UdpLink>,
    pub life: Lifecycle,
    /// Open connections over all shards (the `max_connections` bound).
    pub open: AtomicUsize,
    /// Datagrams, connections, heartbeats and ARQ events per shard (indexes in [`counter`]).
    pub counters: shardnet_shard::ShardCounters<12>,
    /// Closes by operation and errno class, per shard.
    pub closes: crate::tcp::event_counts::EventCounts,
    pub local_addr: Mutex<Option<SocketAddr>>,
}

impl UdpCore {
    pub fn new(
        runtime: Runtime,
        cfg: UdpConfig,
    ) -> (std::sync::Arc<UdpCore>, Vec<InboxReceiver<UdpCmd>>) {
        let n = runtime.shard_count();
        let mut links = Vec::with_capacity(n);
        let mut rxs = Vec::with_capacity(n);
        for _ in 0..n {
            let (tx, rx) = shardnet_runtime::inbox::<UdpCmd>(8192);
            links.push(UdpLink {
                inbox: tx,
                peers: RwLock::new(ConnMap::default()),
            });
            rxs.push(rx);
        }
        let core = std::sync::Arc::new(UdpCore {
            id: crate::core::next_component_id(),
            counters: shardnet_shard::ShardCounters::new(n),
            closes: crate::tcp::event_counts::EventCounts::new(n),
            runtime,
            cfg,
            links,
            life: Lifecycle::new(n),
            open: AtomicUsize::new(0),
            local_addr: Mutex::new(None),
        });
        (core, rxs)
    }

    pub fn stop(&self) {
        self.life
            .stop(|| self.links.iter().for_each(|l| l.inbox.wake()));
    }

    pub fn driver_failed(&self) {
        self.life
            .driver_failed(|| self.links.iter().for_each(|l| l.inbox.wake()));
    }

    pub fn wait(&self, timeout: Option<std::time::Duration>) -> Result<bool> {
        self.life
            .wait(self.runtime.current_shard().is_some(), timeout)
    }

    fn local(&self, shard: ShardId) -> Option<Rc<UdpShard>> {
        driver::local(self.id, shard)
    }

    fn post(&self, shard: ShardId, cmd: UdpCmd) -> Result<()> {
        let link = self.links.get(shard.0).ok_or(Error::NotFound)?;
        let r = if Runtime::current().is_some() {
            link.inbox.try_send(cmd)
        } else {
            link.inbox.send_blocking(cmd)
        };
        r.map_err(|e| match e {
            SendError::Full(_) => Error::Backpressure,
            SendError::Closed(_) => Error::IllegalState(self.life.state()),
        })
    }

    fn check_open(&self, conn: ConnId) -> Result<()> {
        if self.life.is_stopping() {
            return Err(Error::IllegalState(ServiceState::Stopping));
        }
        let link = self.links.get(conn.shard().0).ok_or(Error::NotFound)?;
        match link
            .peers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&conn)
        {
            None => Err(Error::NotFound),
            Some((_, false)) => Err(Error::NotConnected),
            Some((_, true)) => Ok(()),
        }
    }

    /// One datagram (ARQ: one message) made of `parts`.
    pub fn send(&self, conn: ConnId, parts: &[&[u8]]) -> Result<()> {
        let len: usize = parts.iter().map(|p| p.len()).sum();
        let max = match &self.cfg.arq {
            Some(a) => a.max_message,
            None => self.cfg.max_datagram,
        };
        if len > max {
            return Err(Error::InvalidParam(format!(
                "{len} bytes exceed the maximum of {max}"
            )));
        }
        if let Some(sh) = self.local(conn.shard()) {
            return sh.send(conn, parts);
        }
        self.check_open(conn)?;
        let data = if parts.len() == 1 {
            parts[0].to_vec()
        } else {
            parts.concat()
        };
        self.post(conn.shard(), UdpCmd::Send { conn, data })
    }

    pub fn disconnect(&self, conn: ConnId) -> Result<()> {
        if let Some(sh) = self.local(conn.shard()) {
            return sh.disconnect(conn);
        }
        self.check_open(conn)?;
        self.post(conn.shard(), UdpCmd::Disconnect { conn })
    }

    pub fn arq_flush(&self, conn: ConnId) -> Result<()> {
        if let Some(sh) = self.local(conn.shard()) {
            return sh.arq_flush(conn);
        }
        self.check_open(conn)?;
        self.post(conn.shard(), UdpCmd::Flush { conn })
    }

    pub fn arq_drop_unsent(&self, conn: ConnId) -> Result<()> {
        if let Some(sh) = self.local(conn.shard()) {
            return sh.arq_drop_unsent(conn).map(|_| ());
        }
        self.check_open(conn)?;
        self.post(conn.shard(), UdpCmd::DropUnsent { conn })
    }

    pub fn remote_addr(&self, conn: ConnId) -> Option<SocketAddr> {
        self.links
            .get(conn.shard().0)?
            .peers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&conn)
            .map(|v| v.0)
    }

    pub fn connection_count(&self) -> usize {
        self.open.load(Ordering::Acquire)
    }

    pub fn connection_ids(&self) -> Vec<ConnId> {
        let mut v = Vec::new();
        for l in &self.links {
            v.extend(l.peers.read().unwrap_or_else(|p| p.into_inner()).keys());
        }
        v
    }
}
