//! The cluster's thread: the NATS client on a tokio current-thread runtime, the heartbeats, the
//! subscriptions, and the hand-over of received envelopes to the local server.

use crate::cluster::Inner;
use crate::error::ClusterError;
use bytes::Bytes;
use futures_util::StreamExt;
use shardnet_components::groups::GroupId;
use shardnet_protocols::cluster::Envelope;
use shardnet_protocols::ws::Message;
use shardnet_runtime::ConnId;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;

/// What the handle asks of the cluster's thread.
pub(crate) enum Cmd {
    /// Publish a payload on a subject.
    Publish(String, Bytes),
    /// Subscribe to a group's subject (no-op if subscribed).
    Subscribe(GroupId),
}

/// The running thread; [`BusThread::stop`] ends it.
pub(crate) struct BusThread {
    stop: Arc<Notify>,
    handle: std::thread::JoinHandle<()>,
}

impl BusThread {
    pub(crate) fn stop(self) {
        self.stop.notify_one();
        if self.handle.thread().id() != std::thread::current().id() {
            let _ = self.handle.join();
        }
    }
}

/// Starts the thread and waits until it is connected and subscribed.
pub(crate) fn start(inner: Arc<Inner>, rx: mpsc::Receiver<Cmd>) -> Result<BusThread, ClusterError> {
    let stop = Arc::new(Notify::new());
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let timeout = inner.cfg.connect_timeout;
    let stop2 = stop.clone();
    let handle = std::thread::Builder::new()
        .name(format!("shardnet-cluster-{}", inner.cfg.node))
        .spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(run(inner, rx, stop2, ready_tx));
        })
        .map_err(|e| ClusterError::Connect(e.to_string()))?;
    match ready_rx.recv_timeout(timeout + std::time::Duration::from_secs(1)) {
        Ok(Ok(())) => Ok(BusThread { stop, handle }),
        Ok(Err(e)) => {
            let _ = handle.join();
            Err(ClusterError::Connect(e))
        }
        Err(_) => {
            stop.notify_one();
            Err(ClusterError::Connect("timed out".into()))
        }
    }
}

async fn run(
    inner: Arc<Inner>,
    mut rx: mpsc::Receiver<Cmd>,
    stop: Arc<Notify>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let cfg = &inner.cfg;
    let connect = async_nats::ConnectOptions::new()
        .name(format!("{}-node-{}", cfg.name, cfg.node))
        .connection_timeout(cfg.connect_timeout)
        .event_callback(|e| async move {
            match e {
                async_nats::Event::Connected => tracing::info!("cluster: NATS connected"),
                async_nats::Event::Disconnected => tracing::warn!("cluster: NATS disconnected"),
                other => tracing::warn!("cluster: NATS {other}"),
            }
        })
        .connect(cfg.nats_url.as_str());
    let client = match tokio::time::timeout(cfg.connect_timeout, connect).await {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
        Err(_) => {
            let _ = ready.send(Err("timed out".into()));
            return;
        }
    };
    let subs = async {
        let node = client.subscribe(cfg.node_subject(cfg.node)).await?;
        let alive = client.subscribe(cfg.alive_subject()).await?;
        client.flush().await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>((node, alive))
    };
    let (node_sub, alive_sub) = match subs.await {
        Ok(s) => s,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(()));

    let mut tasks: Vec<JoinHandle<()>> = vec![
        tokio::spawn(receive(inner.clone(), node_sub)),
        tokio::spawn(heard(inner.clone(), client.clone(), alive_sub)),
        tokio::spawn(heartbeat(inner.clone(), client.clone())),
        tokio::spawn(sweep(inner.clone())),
    ];
    let mut groups: HashMap<GroupId, JoinHandle<()>> = HashMap::new();
    let mut reconcile = tokio::time::interval(cfg.sweep / 2);
    reconcile.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let cmd = tokio::select! {
            c = rx.recv() => match c {
                Some(c) => c,
                None => break,
            },
            _ = stop.notified() => break,
            _ = reconcile.tick() => {
                // Subscriptions the sweep gave up (it removed them from `subscribed`) end
                // here, where the tasks are owned: dropping a subscriber unsubscribes.
                let wanted = inner.subscribed.lock().unwrap_or_else(|e| e.into_inner());
                groups.retain(|g, task| {
                    let keep = wanted.contains_key(g);
                    if !keep {
                        task.abort();
                    }
                    keep
                });
                continue;
            }
        };
        match cmd {
            Cmd::Publish(subject, payload) => {
                if let Err(e) = client.publish(subject, payload).await {
                    tracing::debug!("cluster: publish failed: {e}");
                }
            }
            Cmd::Subscribe(group) => {
                if groups.contains_key(&group) {
                    continue;
                }
                match client.subscribe(cfg.group_subject(group)).await {
                    Ok(sub) => {
                        groups.insert(group, tokio::spawn(receive(inner.clone(), sub)));
                    }
                    Err(e) => tracing::warn!("cluster: subscribe to group {group} failed: {e}"),
                }
            }
        }
    }
    let bye = Envelope::Leaving {
        node: cfg.node,
        epoch: inner.epoch,
    };
    let _ = client
        .publish(cfg.alive_subject(), bye.to_vec().into())
        .await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), client.flush()).await;
    for t in tasks.drain(..).chain(groups.into_values()) {
        t.abort();
    }
    tracing::info!(node = cfg.node, "cluster node stopped");
}

/// Hands envelopes received on a node or group subject to the local server.
async fn receive(inner: Arc<Inner>, mut sub: async_nats::Subscriber) {
    let me = inner.cfg.node;
    while let Some(m) = sub.next().await {
        let c = &inner.counters;
        let env = match Envelope::decode(&m.payload) {
            Ok(e) => e,
            Err(e) => {
                c.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::debug!("cluster: dropped a message on {}: {e}", m.subject);
                continue;
            }
        };
        let r = match env {
            Envelope::Send {
                epoch,
                conn,
                text,
                payload,
                ..
            } => {
                if epoch != inner.epoch {
                    c.stale.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                inner
                    .endpoint
                    .deliver(ConnId::from_u64(conn), message(text, payload))
            }
            Envelope::Group {
                origin,
                group,
                except,
                text,
                payload,
            } => {
                if origin == me {
                    continue; // delivered to our own members when it was sent
                }
                let except = except
                    .filter(|t| t.node == me && t.epoch == inner.epoch)
                    .map(|t| ConnId::from_u64(t.conn));
                inner
                    .endpoint
                    .deliver_group(group, message(text, payload), except)
            }
            Envelope::Alive { .. } | Envelope::Leaving { .. } => {
                c.malformed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        match r {
            Ok(()) => c.delivered.fetch_add(1, Ordering::Relaxed),
            Err(_) => c.undeliverable.fetch_add(1, Ordering::Relaxed),
        };
    }
}

fn message(text: bool, payload: &[u8]) -> Message<'_> {
    match text {
        // Checked to be UTF-8 by the decoder.
        true => Message::Text(std::str::from_utf8(payload).unwrap_or_default()),
        false => Message::Binary(payload),
    }
}

/// Heartbeats heard: the liveness table; a node seen for the first time (or back) gets our
/// heartbeat at once instead of at our next interval.
async fn heard(inner: Arc<Inner>, client: async_nats::Client, mut sub: async_nats::Subscriber) {
    while let Some(m) = sub.next().await {
        match Envelope::decode(&m.payload) {
            Ok(Envelope::Alive { node, epoch }) => {
                if inner.liveness.heard(node, epoch, Instant::now()) && node != inner.cfg.node {
                    tracing::info!(node, "cluster: node up");
                    let _ = client
                        .publish(inner.cfg.alive_subject(), alive(&inner).into())
                        .await;
                }
            }
            Ok(Envelope::Leaving { node, epoch }) => {
                tracing::info!(node, "cluster: node leaving");
                inner.liveness.left(node, epoch);
            }
            _ => {
                inner.counters.malformed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

fn alive(inner: &Inner) -> Vec<u8> {
    Envelope::Alive {
        node: inner.cfg.node,
        epoch: inner.epoch,
    }
    .to_vec()
}

async fn heartbeat(inner: Arc<Inner>, client: async_nats::Client) {
    let mut tick = tokio::time::interval(inner.cfg.heartbeat);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = client
            .publish(inner.cfg.alive_subject(), alive(&inner).into())
            .await
        {
            tracing::debug!("cluster: heartbeat not sent: {e}");
        }
    }
}

/// Drops group subscriptions with no member left on this node (closes leave groups without
/// telling the cluster): asks the server which groups have members, off the runtime's thread.
async fn sweep(inner: Arc<Inner>) {
    let mut tick = tokio::time::interval(inner.cfg.sweep);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let started = Instant::now();
        let ep = inner.endpoint.clone();
        let Ok(Ok(live)) = tokio::task::spawn_blocking(move || ep.groups_with_members()).await
        else {
            continue;
        };
        let mut s = inner.subscribed.lock().unwrap_or_else(|e| e.into_inner());
        s.retain(|g, joined| *joined >= started || live.binary_search(g).is_ok());
    }
}
