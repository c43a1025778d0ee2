//! Groups of connections (game rooms, chat channels) on a TCP-family server: `join`, `leave`,
//! automatic leave on close, and `send_group`, whose fan-out goes to each shard once — one
//! job per shard carrying the message's bytes shared (`Arc<[u8]>`), not one copy and one inbox
//! post per member — and then to that shard's members from the shard itself.
//!
//! Membership lives with the members: each shard keeps the groups of its own connections
//! (a thread-local table per component, so nothing is locked and a close removes its
//! connection from its groups in O(groups it joined)). A member whose send queue is over its
//! bound is skipped and counted ([`GroupStats::skipped`]), not waited for.

use crate::core::Core;
use shardnet_runtime::{ConnId, ConnMap, ShardId};
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// A group's id (the application's choice: a room number, a hash of a channel name).
pub type GroupId = u64;

#[derive(Default)]
struct Group {
    members: Vec<ConnId>,
    /// Where each member sits in `members` (swap-remove in O(1)).
    pos: ConnMap<usize>,
}

#[derive(Default)]
struct ShardGroups {
    groups: HashMap<GroupId, Group>,
    /// The groups each connection joined (for the leave on close).
    joined: ConnMap<Vec<GroupId>>,
}

thread_local! {
    /// Per component id: this shard's groups.
    static TABLES: RefCell<Vec<(u64, ShardGroups)>> = const { RefCell::new(Vec::new()) };
}

fn with_table<R>(component: u64, f: impl FnOnce(&mut ShardGroups) -> R) -> R {
    TABLES.with(|t| {
        let mut t = t.borrow_mut();
        let i = match t.iter().position(|(id, _)| *id == component) {
            Some(i) => i,
            None => {
                t.push((component, ShardGroups::default()));
                t.len() - 1
            }
        };
        f(&mut t[i].1)
    })
}

/// Delivery counts of `send_group` (all shards, since the server started).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GroupStats {
    /// Messages handed to members' send queues.
    pub delivered: u64,
    /// Members skipped: their queue was over its bound, or they were closing.
    pub skipped: u64,
}

#[derive(Default)]
pub(crate) struct GroupCounters {
    delivered: AtomicU64,
    skipped: AtomicU64,
}

impl GroupCounters {
    pub(crate) fn count(&self, delivered: u64, skipped: u64) {
        self.delivered.fetch_add(delivered, Ordering::Relaxed);
        self.skipped.fetch_add(skipped, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> GroupStats {
        GroupStats {
            delivered: self.delivered.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
        }
    }
}

/// On the member's shard: adds `conn` to `group` (no-op if already in).
pub(crate) fn join_local(component: u64, group: GroupId, conn: ConnId) {
    with_table(component, |t| {
        let g = t.groups.entry(group).or_default();
        if g.pos.contains_key(&conn) {
            return;
        }
        g.pos.insert(conn, g.members.len());
        g.members.push(conn);
        t.joined.entry(conn).or_default().push(group);
    })
}

fn remove_member(t: &mut ShardGroups, group: GroupId, conn: ConnId) {
    let Some(g) = t.groups.get_mut(&group) else {
        return;
    };
    let Some(i) = g.pos.remove(&conn) else {
        return;
    };
    g.members.swap_remove(i);
    if let Some(&moved) = g.members.get(i) {
        g.pos.insert(moved, i);
    }
    if g.members.is_empty() {
        t.groups.remove(&group);
    }
}

/// On the member's shard: removes `conn` from `group`.
pub(crate) fn leave_local(component: u64, group: GroupId, conn: ConnId) {
    with_table(component, |t| {
        remove_member(t, group, conn);
        if let Some(v) = t.joined.get_mut(&conn) {
            v.retain(|g| *g != group);
            if v.is_empty() {
                t.joined.remove(&conn);
            }
        }
    })
}

/// On the connection's shard, when it closes: leaves every group it joined.
pub(crate) fn forget(component: u64, conn: ConnId) {
    TABLES.with(|t| {
        let mut t = t.borrow_mut();
        let Some((_, tab)) = t.iter_mut().find(|(id, _)| *id == component) else {
            return;
        };
        if let Some(groups) = tab.joined.remove(&conn) {
            for g in groups {
                remove_member(tab, g, conn);
            }
        }
    })
}

/// On one shard: sends `data` to that shard's members of `group` (but `except`).
pub(crate) fn fan_out(
    core: &Core,
    counters: &GroupCounters,
    group: GroupId,
    data: &[u8],
    except: Option<ConnId>,
) {
    let members = members_here(core.id, group, except);
    let (mut ok, mut skipped) = (0u64, 0u64);
    for c in members {
        match core.send(c, &[data]) {
            Ok(()) => ok += 1,
            Err(_) => skipped += 1,
        }
    }
    counters.count(ok, skipped);
}

/// On one shard: that shard's members of `group` but `except`, copied out (so the sends that
/// follow, which may run callbacks, hold no borrow of the table).
pub(crate) fn members_here(component: u64, group: GroupId, except: Option<ConnId>) -> Vec<ConnId> {
    with_table(component, |t| match t.groups.get(&group) {
        Some(g) => g
            .members
            .iter()
            .copied()
            .filter(|c| Some(*c) != except)
            .collect(),
        None => Vec::new(),
    })
}

/// On one shard: the groups with at least one member there.
pub(crate) fn groups_here(component: u64) -> Vec<GroupId> {
    with_table(component, |t| t.groups.keys().copied().collect())
}

/// Runs `job` on `shard` of `core`'s runtime (inline when already there).
pub(crate) fn on_shard(
    core: &Arc<Core>,
    shard: ShardId,
    job: impl FnOnce() + Send + 'static,
) -> crate::Result<()> {
    if core.runtime.current_shard() == Some(shard) {
        job();
        return Ok(());
    }
    core.runtime.run_on(shard, job)?;
    Ok(())
}
