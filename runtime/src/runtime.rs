//! The runtime: one pinned glommio executor thread per shard.
//!
//! [`Runtime::builder`] picks the CPUs (all the process may use, an explicit list, or one NUMA
//! node's), starts one OS thread per shard, pins it with glommio's `Placement::Fixed`, and runs
//! a small loop there that executes jobs sent with [`Runtime::run_on`]. Components start their
//! per-shard drivers through those jobs, so several components (say a TcpServer and a TcpAgent)
//! can share one runtime's shards.
//!
//! A `Runtime` is a cheap `Clone + Send + Sync` handle; the threads stop when the last handle is
//! dropped (after the jobs already queued have run).

use crate::inbox::{inbox, InboxSender, SendError};
use crate::{cpus, ShardId};
use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A job run on a shard thread, inside its executor (it may `glommio::spawn_local`).
pub type Job = Box<dyn FnOnce() + Send + 'static>;

enum ShardMsg {
    Job(Job),
    Exit,
}

/// Errors from building or using a runtime.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// No CPU matched the requested list or NUMA node.
    #[error("no usable CPU: {0}")]
    NoCpu(String),
    /// More shards than a connection id can name.
    #[error("too many shards: {0} (max {max})", max = crate::ConnId::MAX_SHARDS)]
    TooManyShards(usize),
    /// A shard thread or executor could not be started.
    #[error("cannot start shard {shard}: {reason}")]
    Spawn {
        /// The shard index.
        shard: usize,
        /// What failed.
        reason: String,
    },
    /// The shard index is out of range.
    #[error("no such shard: {0}")]
    NoSuchShard(usize),
    /// The shard has stopped.
    #[error("shard {0} has stopped")]
    Stopped(usize),
    /// A blocking call was made from a shard thread of the same runtime (it could wait on
    /// itself).
    #[error("blocking call from a shard thread of the same runtime would deadlock")]
    WouldDeadlock,
}

thread_local! {
    static CURRENT: Cell<(u64, usize)> = const { Cell::new((0, usize::MAX)) };
}

static NEXT_RUNTIME_ID: AtomicU64 = AtomicU64::new(1);

/// Builder for a [`Runtime`].
#[derive(Debug, Clone, Default)]
pub struct RuntimeBuilder {
    shards: Option<usize>,
    cpus: Option<Vec<usize>>,
    numa_node: Option<usize>,
    pinned: Option<bool>,
    name: Option<String>,
    spin_before_park: Option<Duration>,
}

impl RuntimeBuilder {
    /// Number of shards (default: one per CPU the process may run on). More shards than CPUs
    /// wrap around the CPU list.
    pub fn shards(mut self, n: usize) -> Self {
        self.shards = Some(n);
        self
    }

    /// Pins shards to these CPUs, in order (default: every CPU the process may run on).
    pub fn cpus(mut self, cpus: impl IntoIterator<Item = usize>) -> Self {
        self.cpus = Some(cpus.into_iter().collect());
        self
    }

    /// Keeps every shard on NUMA node `node`'s CPUs. Where the system describes no such node,
    /// falls back to every allowed CPU.
    pub fn numa_node(mut self, node: usize) -> Self {
        self.numa_node = Some(node);
        self
    }

    /// Pin each shard thread to its CPU (default true). Unpinned shards float (used by
    /// TcpClient's private thread).
    pub fn pinned(mut self, pinned: bool) -> Self {
        self.pinned = Some(pinned);
        self
    }

    /// Thread name prefix (default `shardnet`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Lets an idle executor spin this long before parking (glommio's `spin_before_park`).
    pub fn spin_before_park(mut self, d: Duration) -> Self {
        self.spin_before_park = Some(d);
        self
    }

    /// The CPUs the shards will be pinned to, in shard order.
    pub fn resolve_cpus(&self) -> Result<Vec<usize>, RuntimeError> {
        let allowed = cpus::allowed_cpus();
        let mut base = match (&self.cpus, self.numa_node) {
            (Some(list), _) => {
                let l: Vec<usize> = list
                    .iter()
                    .copied()
                    .filter(|c| allowed.contains(c))
                    .collect();
                if l.is_empty() {
                    return Err(RuntimeError::NoCpu(format!(
                        "none of {list:?} is in the allowed set {allowed:?}"
                    )));
                }
                l
            }
            (None, Some(node)) => match cpus::numa_node_cpus(node) {
                Some(l) => {
                    let l: Vec<usize> = l.into_iter().filter(|c| allowed.contains(c)).collect();
                    if l.is_empty() {
                        allowed.clone()
                    } else {
                        l
                    }
                }
                None => allowed.clone(),
            },
            (None, None) => allowed.clone(),
        };
        let n = self.shards.unwrap_or(base.len()).max(1);
        if n > crate::ConnId::MAX_SHARDS {
            return Err(RuntimeError::TooManyShards(n));
        }
        let src = base.clone();
        base = (0..n).map(|i| src[i % src.len()]).collect();
        Ok(base)
    }

    /// Starts the shard threads.
    pub fn build(self) -> Result<Runtime, RuntimeError> {
        let cpus = self.resolve_cpus()?;
        let id = NEXT_RUNTIME_ID.fetch_add(1, Ordering::Relaxed);
        let name = self.name.clone().unwrap_or_else(|| "shardnet".into());
        let pinned = self.pinned.unwrap_or(true);
        let mut shards = Vec::with_capacity(cpus.len());
        let mut threads = Vec::with_capacity(cpus.len());
        for (i, &cpu) in cpus.iter().enumerate() {
            let (tx, rx) = inbox::<ShardMsg>(1024);
            let placement = if pinned {
                glommio::Placement::Fixed(cpu)
            } else {
                glommio::Placement::Unbound
            };
            let mut b = glommio::LocalExecutorBuilder::new(placement)
                .name(&format!("{name}-{i}"))
                // We do no DMA file I/O through glommio: keep its registered buffer small so
                // shards start under a low RLIMIT_MEMLOCK.
                .io_memory(512 << 10);
            if let Some(d) = self.spin_before_park {
                b = b.spin_before_park(d);
            }
            let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
            let handle = b
                .spawn(move || async move {
                    CURRENT.with(|c| c.set((id, i)));
                    let _ = ready_tx.send(Ok(()));
                    while let ShardMsg::Job(job) = rx.recv().await {
                        job();
                    }
                })
                .map_err(|e| RuntimeError::Spawn {
                    shard: i,
                    reason: e.to_string(),
                })?;
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    return Err(RuntimeError::Spawn {
                        shard: i,
                        reason: e,
                    })
                }
                Err(_) => {
                    return Err(RuntimeError::Spawn {
                        shard: i,
                        reason: "executor did not start".into(),
                    })
                }
            }
            shards.push(tx);
            threads.push(handle);
        }
        Ok(Runtime {
            inner: Arc::new(Inner {
                id,
                cpus,
                shards,
                threads: Mutex::new(threads),
            }),
        })
    }
}

struct Inner {
    id: u64,
    cpus: Vec<usize>,
    shards: Vec<InboxSender<ShardMsg>>,
    threads: Mutex<Vec<glommio::ExecutorJoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for tx in &self.shards {
            let _ = tx.send_blocking(ShardMsg::Exit);
        }
        let on_own_shard = CURRENT.with(|c| c.get().0) == self.id;
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        if !on_own_shard {
            for t in threads {
                let _ = t.join();
            }
        }
        // On one of our own shard threads (the last handle was dropped inside a job): the
        // threads exit by themselves after the Exit message; joining here would wait on itself.
    }
}

/// Handle to a set of running shards. `Clone + Send + Sync`.
#[derive(Clone)]
pub struct Runtime {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("id", &self.inner.id)
            .field("cpus", &self.inner.cpus)
            .finish()
    }
}

impl Runtime {
    /// A builder with the defaults (one pinned shard per allowed CPU).
    pub fn builder() -> RuntimeBuilder {
        RuntimeBuilder::default()
    }

    /// Unique id of this runtime within the process.
    pub fn id(&self) -> u64 {
        self.inner.id
    }

    /// Number of shards.
    pub fn shard_count(&self) -> usize {
        self.inner.shards.len()
    }

    /// CPU each shard is pinned to, by shard index.
    pub fn cpus(&self) -> &[usize] {
        &self.inner.cpus
    }

    /// The shard of this runtime the calling thread is, if any.
    pub fn current_shard(&self) -> Option<ShardId> {
        let (rid, idx) = CURRENT.with(|c| c.get());
        (rid == self.inner.id).then_some(ShardId(idx))
    }

    /// The shard (of any runtime) the calling thread is, as (runtime id, shard).
    pub fn current() -> Option<(u64, ShardId)> {
        let (rid, idx) = CURRENT.with(|c| c.get());
        (rid != 0).then_some((rid, ShardId(idx)))
    }

    /// Runs `f` on `shard`'s thread. Never blocks a shard thread: from a shard thread a full job
    /// queue is reported as an error; a foreign thread waits for room.
    pub fn run_on(
        &self,
        shard: ShardId,
        f: impl FnOnce() + Send + 'static,
    ) -> Result<(), RuntimeError> {
        let tx = self
            .inner
            .shards
            .get(shard.0)
            .ok_or(RuntimeError::NoSuchShard(shard.0))?;
        let msg = ShardMsg::Job(Box::new(f));
        let r = if Self::current().is_some() {
            tx.try_send(msg)
        } else {
            tx.send_blocking(msg)
        };
        r.map_err(|e| match e {
            SendError::Full(_) => RuntimeError::Spawn {
                shard: shard.0,
                reason: "job queue full".into(),
            },
            SendError::Closed(_) => RuntimeError::Stopped(shard.0),
        })
    }

    /// Runs `f` on `shard` and waits for its result. Refused on this runtime's own shard
    /// threads, where waiting could deadlock.
    pub fn call_on<R: Send + 'static>(
        &self,
        shard: ShardId,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, RuntimeError> {
        if self.current_shard().is_some() {
            return Err(RuntimeError::WouldDeadlock);
        }
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.run_on(shard, move || {
            let _ = tx.send(f());
        })?;
        rx.recv().map_err(|_| RuntimeError::Stopped(shard.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_run_jobs_on_their_cpu() {
        let rt = Runtime::builder().shards(2).build().unwrap();
        assert_eq!(rt.shard_count(), 2);
        for s in 0..2 {
            let (rid, shard) = rt
                .call_on(ShardId(s), || Runtime::current().unwrap())
                .unwrap();
            assert_eq!(rid, rt.id());
            assert_eq!(shard, ShardId(s));
            let cpu = rt
                // SAFETY: sched_getcpu has no preconditions.
                .call_on(ShardId(s), || unsafe { libc::sched_getcpu() })
                .unwrap();
            assert_eq!(cpu as usize, rt.cpus()[s]);
        }
        assert!(rt.current_shard().is_none());
        assert!(matches!(
            rt.run_on(ShardId(5), || {}),
            Err(RuntimeError::NoSuchShard(5))
        ));
    }

    #[test]
    fn call_on_from_own_shard_is_refused() {
        let rt = Runtime::builder().shards(1).build().unwrap();
        let rt2 = rt.clone();
        let r = rt
            .call_on(ShardId(0), move || {
                matches!(
                    rt2.call_on(ShardId(0), || ()),
                    Err(RuntimeError::WouldDeadlock)
                )
            })
            .unwrap();
        assert!(r);
    }

    #[test]
    fn explicit_cpus_and_numa_fallback() {
        let allowed = cpus::allowed_cpus();
        let b = Runtime::builder().cpus([allowed[0]]).shards(3);
        assert_eq!(b.resolve_cpus().unwrap(), vec![allowed[0]; 3]);
        assert!(Runtime::builder().cpus([100_000]).resolve_cpus().is_err());
        // A node that does not exist falls back to every allowed CPU.
        assert_eq!(
            Runtime::builder().numa_node(4096).resolve_cpus().unwrap(),
            allowed
        );
    }
}
