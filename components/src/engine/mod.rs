//! The shard engine: what every transport's per-shard driver shares.
//!
//! A component runs one driver task per shard. The **engine** owns that task's loop and knows
//! nothing of sockets: each turn it reads the shard clock, takes a batch of commands from the
//! shard's inbox (sends and disconnects posted by other threads, sockets handed over, …),
//! lets the transport do its I/O, expires deadlines and runs the scheduled closes (each
//! `on_close` exactly once). It turns again while there is work — yielding to glommio every
//! [`TURNS_PER_YIELD`] turns or when its preemption timer asks — and otherwise parks until the
//! inbox, the transport's poller, its next deadline, local work or `stop()` wakes it. When the
//! component stops it lets the transport close everything, and the last shard to finish marks
//! the component stopped ([`Lifecycle`]).
//!
//! A **transport** ([`Transport`]) is the rest: TCP and TLS (`crate::tcp::driver`), UDP
//! (`crate::udp::driver`). Each keeps its own connection table and socket ring.

mod lifecycle;

pub(crate) use lifecycle::Lifecycle;

use shardnet_runtime::InboxReceiver;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

/// Commands taken from the inbox per turn.
pub const INBOX_BATCH: usize = 1024;

/// Busy turns in a row before the driver yields to glommio's scheduler (other tasks and
/// components on the shard, the reactor). Yielding after every turn cost ~45 instructions per
/// ping-pong message in glommio's task switch and ring bookkeeping; eight turns stay well under
/// a millisecond of work at the per-turn budgets of the transports.
pub const TURNS_PER_YIELD: u32 = 8;

/// One transport's part of a shard driver. The engine calls these in this order every turn:
/// [`Transport::begin_turn`], [`Transport::command`] for each inbox command, then
/// [`Transport::end_commands`], [`Transport::io`], [`Transport::timers_and_closes`].
pub(crate) trait Transport {
    /// The inbox's command type.
    type Cmd;
    /// The component's lifecycle (stop flag, the count of running drivers).
    fn lifecycle(&self) -> &Lifecycle;
    /// Size of the shard's one receive scratch buffer.
    fn scratch_len(&self) -> usize;
    /// A turn starts (read the clock once here).
    fn begin_turn(&self);
    /// One command from the inbox.
    fn command(&self, cmd: Self::Cmd);
    /// The inbox batch is done (write what the commands queued).
    fn end_commands(&self);
    /// Socket readiness and I/O; true if anything happened.
    fn io(&self, scratch: &mut [u8]) -> bool;
    /// Expired deadlines, then the scheduled closes; true if anything happened.
    fn timers_and_closes(&self) -> bool;
    /// After a turn: true if the transport has work that must not wait for an event.
    fn busy(&self) -> bool;
    /// The shard clock (ms) at which a timer must wake the driver (`u64::MAX`: none).
    fn next_wakeup(&self) -> u64;
    /// Work queued on this shard outside a turn (a close, a resumed read) that no event will
    /// announce.
    fn has_local_work(&self) -> bool;
    /// Registers `cx` with the transport's poller; ready if an I/O event is pending.
    fn poll_io(&self, cx: &mut Context<'_>) -> Poll<()>;
    /// Stop: close every connection and listener, and release what the inbox still holds.
    fn close_all(&self, inbox: &InboxReceiver<Self::Cmd>);
    /// The driver is done on this shard (after [`Transport::close_all`]); `last` is true on
    /// the last shard to finish, which reports the shutdown.
    fn finished(&self, last: bool);
}

/// Waits for each shard's "driver started" reply and keeps the first error in `first` (a shard
/// that dropped its reply counts as stopped).
pub(crate) fn first_start_error(
    replies: &[crossbeam_channel::Receiver<crate::Result<()>>],
    first: &mut Option<crate::Error>,
) {
    for r in replies {
        let e = match r.recv() {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e,
            Err(_) => crate::Error::IllegalState(crate::ServiceState::Stopped),
        };
        first.get_or_insert(e);
    }
}

/// One turn; returns whether anything happened (or work is pending).
fn turn<T: Transport>(t: &T, inbox: &InboxReceiver<T::Cmd>, scratch: &mut [u8]) -> bool {
    t.begin_turn();
    let mut work = false;
    for _ in 0..INBOX_BATCH {
        match inbox.try_recv() {
            Some(cmd) => {
                work = true;
                t.command(cmd);
            }
            None => break,
        }
    }
    t.end_commands();
    work |= t.io(scratch);
    work |= t.timers_and_closes();
    work || t.busy()
}

/// The driver task: turns until the component stops, then closes everything; the last shard to
/// finish reports the shutdown and marks the component stopped.
pub(crate) async fn run<T: Transport>(t: Rc<T>, inbox: InboxReceiver<T::Cmd>) {
    // One scratch buffer per (component, shard), so it can be large at no per-connection cost.
    let mut scratch = vec![0u8; t.scratch_len()].into_boxed_slice();
    let mut timer: Option<(u64, glommio::timer::Timer)> = None;
    let mut busy = 0u32;
    while !t.lifecycle().is_stopping() {
        if turn(&*t, &inbox, &mut scratch) {
            busy += 1;
            if busy >= TURNS_PER_YIELD || glommio::executor().need_preempt() {
                busy = 0;
                futures_lite::future::yield_now().await;
            }
            continue;
        }
        busy = 0;
        let deadline = t.next_wakeup();
        if deadline != u64::MAX && timer.as_ref().map(|x| x.0) != Some(deadline) {
            let wait = deadline.saturating_sub(shardnet_shard::clock_ms()).max(1);
            timer = Some((
                deadline,
                glommio::timer::Timer::new(Duration::from_millis(wait)),
            ));
        }
        std::future::poll_fn(|cx| {
            // Register first (`poll_ready`), then look at every flag a waker-less wake could
            // have set: stop(), work queued on this shard outside a turn, or a deadline set
            // outside a turn earlier than the armed timer (turn, so the loop arms it).
            let due = t.next_wakeup();
            if inbox.poll_ready(cx).is_ready()
                || t.lifecycle().is_stopping()
                || t.has_local_work()
                || (due != u64::MAX && timer.as_ref().is_none_or(|x| due < x.0))
            {
                return Poll::Ready(());
            }
            if let Some((_, x)) = timer.as_mut() {
                if Pin::new(x).poll(cx).is_ready() {
                    timer = None;
                    return Poll::Ready(());
                }
            }
            t.poll_io(cx)
        })
        .await;
    }
    t.close_all(&inbox);
    let last = t.lifecycle().driver_finished();
    t.finished(last);
    if last {
        t.lifecycle().mark_stopped();
    }
}
