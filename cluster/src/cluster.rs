//! The handle an application holds: sends, groups and liveness across nodes.

use crate::bus::{self, Cmd};
use crate::config::ClusterConfig;
use crate::endpoint::Endpoint;
use crate::error::ClusterError;
use crate::id::{NodeConnId, NodeId};
use crate::liveness::{Liveness, NodeState};
use shardnet_components::groups::GroupId;
use shardnet_protocols::cluster::{Envelope, Target};
use shardnet_protocols::ws::Message;
use shardnet_runtime::ConnId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc;

/// Counts since the adapter started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterStats {
    /// Envelopes handed to the bus (sends, group sends, heartbeats not included).
    pub published: u64,
    /// Envelopes received for this node and handed to the local server.
    pub delivered: u64,
    /// Received for a connection that is gone (closed since, or its queue full).
    pub undeliverable: u64,
    /// Received for an id of an earlier run of this node.
    pub stale: u64,
    /// Received bytes that were not an envelope.
    pub malformed: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) published: AtomicU64,
    pub(crate) delivered: AtomicU64,
    pub(crate) undeliverable: AtomicU64,
    pub(crate) stale: AtomicU64,
    pub(crate) malformed: AtomicU64,
}

pub(crate) struct Inner {
    pub(crate) cfg: ClusterConfig,
    pub(crate) epoch: u32,
    pub(crate) endpoint: Arc<dyn Endpoint>,
    pub(crate) liveness: Liveness,
    pub(crate) counters: Counters,
    /// Groups this node subscribed to, with when a local member last joined (the sweep drops
    /// only subscriptions older than its own start).
    pub(crate) subscribed: Mutex<HashMap<GroupId, Instant>>,
    pub(crate) out: mpsc::Sender<Cmd>,
}

/// One node's cluster adapter: [`Cluster::send`] to a [`NodeConnId`] anywhere in the cluster,
/// [`Cluster::join`] / [`Cluster::send_group`] for groups with members on several nodes.
///
/// The NATS client runs on a thread of its own (a tokio current-thread runtime); calls on this
/// handle never wait for it: they queue an envelope in a bounded outbox and return (a full
/// outbox is [`ClusterError::Backlog`]). Messages for this node arrive on that thread and are
/// handed to the server's cross-thread API, i.e. to the owning shard's inbox.
///
/// Subjects, under the cluster's name (`shardnet` by default): `NAME.node.N` carries sends to
/// node N's connections; `NAME.group.G` carries broadcasts to group G and is subscribed by the
/// nodes with members in G; `NAME.alive` carries heartbeats. The envelope is
/// [`shardnet_protocols::cluster`].
///
/// Delivery is core NATS's: at most once, no acknowledgement. A send to a node that is down
/// fails at once ([`ClusterError::NodeDown`]); one published in the `dead_after` window before
/// its node was seen down, or to a connection that closed meanwhile, is lost (counted by the
/// receiver as `undeliverable` when it got there). JetStream would add at-least-once delivery
/// with acknowledgements and replay for a node that comes back; the price is a stream's
/// storage and a per-message ack, and duplicates the application must tolerate.
#[derive(Clone)]
pub struct Cluster {
    inner: Arc<Inner>,
    thread: Arc<Mutex<Option<bus::BusThread>>>,
}

impl Cluster {
    /// Connects to NATS, subscribes this node's subject, starts the heartbeats and returns once
    /// the subscriptions are in place (or fails after `connect_timeout`).
    pub fn start<E: Endpoint>(
        cfg: ClusterConfig,
        endpoint: Arc<E>,
    ) -> Result<Cluster, ClusterError> {
        let (out, rx) = mpsc::channel(cfg.outbox.max(1));
        let inner = Arc::new(Inner {
            epoch: draw_epoch(),
            liveness: crate::liveness::Liveness::new(cfg.dead_after),
            cfg,
            endpoint,
            counters: Counters::default(),
            subscribed: Mutex::new(HashMap::new()),
            out,
        });
        let thread = bus::start(inner.clone(), rx)?;
        tracing::info!(
            node = inner.cfg.node,
            epoch = inner.epoch,
            nats = %inner.cfg.nats_url,
            "cluster node started"
        );
        Ok(Cluster {
            inner,
            thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    /// This node's number.
    pub fn node(&self) -> NodeId {
        self.inner.cfg.node
    }

    /// This node's epoch (drawn at start).
    pub fn epoch(&self) -> u32 {
        self.inner.epoch
    }

    /// The cluster-wide id of a connection of this node.
    pub fn id(&self, conn: ConnId) -> NodeConnId {
        NodeConnId {
            node: self.inner.cfg.node,
            epoch: self.inner.epoch,
            conn,
        }
    }

    /// The nodes heard from within `dead_after`, this one included once its own first
    /// heartbeat came back from the bus.
    pub fn live_nodes(&self) -> Vec<NodeId> {
        self.inner.liveness.alive(Instant::now())
    }

    /// Sends `msg` to the connection `to`, on this node or another. `Ok` means handed over
    /// (to the shard here, to the bus otherwise); see the type's docs for what can still be
    /// lost.
    pub fn send(&self, to: NodeConnId, msg: Message<'_>) -> Result<(), ClusterError> {
        let me = &self.inner;
        if to.node == me.cfg.node {
            if to.epoch != me.epoch {
                return Err(ClusterError::StaleId(to));
            }
            return Ok(me.endpoint.deliver(to.conn, msg)?);
        }
        match me.liveness.state(to.node, Instant::now()) {
            NodeState::Down => return Err(ClusterError::NodeDown(to.node)),
            NodeState::Alive(epoch) if epoch != to.epoch => return Err(ClusterError::StaleId(to)),
            NodeState::Alive(_) => {}
        }
        let (text, payload) = split(&msg);
        let env = Envelope::Send {
            origin: me.cfg.node,
            epoch: to.epoch,
            conn: to.conn.as_u64(),
            text,
            payload,
        };
        self.publish(me.cfg.node_subject(to.node), env.to_vec())
    }

    /// Adds this node's connection `conn` to `group`, and subscribes this node to the group's
    /// subject if it was not yet.
    pub fn join(&self, group: GroupId, conn: NodeConnId) -> Result<(), ClusterError> {
        self.check_local(conn)?;
        self.inner.endpoint.join(group, conn.conn)?;
        let newly = {
            let mut s = self
                .inner
                .subscribed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            s.insert(group, Instant::now()).is_none()
        };
        if newly {
            if let Err(e) = self.inner.out.try_send(Cmd::Subscribe(group)) {
                // Not subscribed after all: the next join tries again.
                let mut s = self
                    .inner
                    .subscribed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                s.remove(&group);
                return Err(outbox_error(e));
            }
        }
        Ok(())
    }

    /// Removes this node's connection `conn` from `group` (a closed connection leaves by
    /// itself; the group's subscription goes at the next sweep once no member is left here).
    pub fn leave(&self, group: GroupId, conn: NodeConnId) -> Result<(), ClusterError> {
        self.check_local(conn)?;
        Ok(self.inner.endpoint.leave(group, conn.conn)?)
    }

    /// Sends `msg` to every member of `group` on every node, but `except`: this node's members
    /// directly, the other nodes' through one publish on the group's subject (received only by
    /// nodes with members in it; each delivers to its own members once per shard).
    pub fn send_group(
        &self,
        group: GroupId,
        msg: Message<'_>,
        except: Option<NodeConnId>,
    ) -> Result<(), ClusterError> {
        let me = &self.inner;
        let local_except = except
            .filter(|e| e.node == me.cfg.node && e.epoch == me.epoch)
            .map(|e| e.conn);
        me.endpoint.deliver_group(group, msg, local_except)?;
        let (text, payload) = split(&msg);
        let env = Envelope::Group {
            origin: me.cfg.node,
            group,
            except: except.map(|e| Target {
                node: e.node,
                epoch: e.epoch,
                conn: e.conn.as_u64(),
            }),
            text,
            payload,
        };
        self.publish(me.cfg.group_subject(group), env.to_vec())
    }

    /// Counts since start.
    pub fn stats(&self) -> ClusterStats {
        let c = &self.inner.counters;
        ClusterStats {
            published: c.published.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            undeliverable: c.undeliverable.load(Ordering::Relaxed),
            stale: c.stale.load(Ordering::Relaxed),
            malformed: c.malformed.load(Ordering::Relaxed),
        }
    }

    /// Says goodbye on the bus (the other nodes see this one down at once), flushes, and ends
    /// the cluster's thread. Idempotent.
    pub fn stop(&self) {
        let t = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(t) = t {
            t.stop();
        }
    }

    fn publish(&self, subject: String, payload: Vec<u8>) -> Result<(), ClusterError> {
        self.inner
            .out
            .try_send(Cmd::Publish(subject, payload.into()))
            .map_err(outbox_error)?;
        self.inner
            .counters
            .published
            .fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn check_local(&self, id: NodeConnId) -> Result<(), ClusterError> {
        if id.node != self.inner.cfg.node {
            return Err(ClusterError::NotLocal(id));
        }
        if id.epoch != self.inner.epoch {
            return Err(ClusterError::StaleId(id));
        }
        Ok(())
    }
}

fn outbox_error<T>(e: mpsc::error::TrySendError<T>) -> ClusterError {
    match e {
        mpsc::error::TrySendError::Full(_) => ClusterError::Backlog,
        mpsc::error::TrySendError::Closed(_) => ClusterError::Stopped,
    }
}

fn split<'a>(msg: &Message<'a>) -> (bool, &'a [u8]) {
    match *msg {
        Message::Text(t) => (true, t.as_bytes()),
        Message::Binary(b) => (false, b),
    }
}

/// A node's epoch: different on each start (time and process id mixed), never zero.
fn draw_epoch() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut z = t ^ (u64::from(std::process::id()) << 32);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    (((z ^ (z >> 31)) as u32) | 1).max(1)
}

impl shardnet_components::metrics::MetricSource for Cluster {
    fn samples(&self, out: &mut Vec<shardnet_components::metrics::Sample>) {
        use shardnet_components::metrics::Sample;
        let s = self.stats();
        for (name, help, v) in [
            (
                "shardnet_cluster_published_total",
                "Envelopes handed to the bus (sends and group sends).",
                s.published,
            ),
            (
                "shardnet_cluster_delivered_total",
                "Envelopes from the bus handed to this node's server.",
                s.delivered,
            ),
            (
                "shardnet_cluster_undeliverable_total",
                "Envelopes for a connection gone (closed, or its queue full).",
                s.undeliverable,
            ),
            (
                "shardnet_cluster_stale_total",
                "Envelopes for an id of an earlier run of this node.",
                s.stale,
            ),
            (
                "shardnet_cluster_malformed_total",
                "Bus messages that were not an envelope.",
                s.malformed,
            ),
        ] {
            out.push(Sample::total(name, "counter", help, v));
        }
        out.push(Sample::total(
            "shardnet_cluster_live_nodes",
            "gauge",
            "Nodes heard within dead_after, this one included.",
            self.live_nodes().len() as u64,
        ));
    }
}
