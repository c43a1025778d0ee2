//! Which nodes are alive: heartbeats heard on the bus, and the epoch each node announced.

use crate::id::NodeId;
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

#[derive(Clone, Copy)]
struct Peer {
    epoch: u32,
    last_seen: Instant,
    left: bool,
}

/// What a send to a node finds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NodeState {
    /// Heard within `dead_after`, with this epoch.
    Alive(u32),
    /// Never heard, silent for longer than `dead_after`, or said it was leaving.
    Down,
}

/// Heartbeats per node. Written by the cluster's thread (one heartbeat per node per interval),
/// read by senders: a read lock, uncontended in practice.
pub(crate) struct Liveness {
    peers: RwLock<HashMap<NodeId, Peer>>,
    dead_after: Duration,
}

impl Liveness {
    pub(crate) fn new(dead_after: Duration) -> Liveness {
        Liveness {
            peers: RwLock::new(HashMap::new()),
            dead_after,
        }
    }

    /// A heartbeat of `node` with `epoch`; true when the node is new (or back, or restarted).
    pub(crate) fn heard(&self, node: NodeId, epoch: u32, now: Instant) -> bool {
        let mut p = self.peers.write().unwrap_or_else(|e| e.into_inner());
        let fresh = match p.get(&node) {
            Some(old) => old.left || old.epoch != epoch || now - old.last_seen > self.dead_after,
            None => true,
        };
        p.insert(
            node,
            Peer {
                epoch,
                last_seen: now,
                left: false,
            },
        );
        fresh
    }

    /// `node` said it is stopping (only its current epoch counts).
    pub(crate) fn left(&self, node: NodeId, epoch: u32) {
        let mut p = self.peers.write().unwrap_or_else(|e| e.into_inner());
        if let Some(peer) = p.get_mut(&node) {
            if peer.epoch == epoch {
                peer.left = true;
            }
        }
    }

    pub(crate) fn state(&self, node: NodeId, now: Instant) -> NodeState {
        let p = self.peers.read().unwrap_or_else(|e| e.into_inner());
        match p.get(&node) {
            Some(peer)
                if !peer.left
                    && now.saturating_duration_since(peer.last_seen) <= self.dead_after =>
            {
                NodeState::Alive(peer.epoch)
            }
            _ => NodeState::Down,
        }
    }

    /// The nodes alive now, sorted.
    pub(crate) fn alive(&self, now: Instant) -> Vec<NodeId> {
        let p = self.peers.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<NodeId> = p
            .iter()
            .filter(|(_, peer)| {
                !peer.left && now.saturating_duration_since(peer.last_seen) <= self.dead_after
            })
            .map(|(n, _)| *n)
            .collect();
        v.sort_unstable();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_leaving_and_restart() {
        let l = Liveness::new(Duration::from_secs(2));
        let t0 = Instant::now();
        assert_eq!(l.state(1, t0), NodeState::Down);
        assert!(l.heard(1, 7, t0));
        assert!(!l.heard(1, 7, t0 + Duration::from_secs(1)));
        assert_eq!(l.state(1, t0 + Duration::from_secs(3)), NodeState::Alive(7));
        assert_eq!(
            l.state(1, t0 + Duration::from_millis(3001)),
            NodeState::Down
        );
        assert_eq!(l.alive(t0 + Duration::from_secs(2)), vec![1]);
        assert!(l.alive(t0 + Duration::from_secs(4)).is_empty());
        // A restart: a new epoch is news, and wins.
        assert!(l.heard(1, 8, t0 + Duration::from_secs(2)));
        assert_eq!(l.state(1, t0 + Duration::from_secs(2)), NodeState::Alive(8));
        // A goodbye of an older epoch is ignored; of the current one, taken.
        l.left(1, 7);
        assert_eq!(l.state(1, t0 + Duration::from_secs(2)), NodeState::Alive(8));
        l.left(1, 8);
        assert_eq!(l.state(1, t0 + Duration::from_secs(2)), NodeState::Down);
        assert!(l.heard(1, 8, t0 + Duration::from_secs(3)));
    }
}
