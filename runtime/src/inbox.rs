//! Shard inboxes: how other threads hand work to a shard.
//!
//! An inbox is a bounded multi-producer crossbeam channel plus an [`AtomicWaker`] holding the
//! waker of the task that drains it on the owning shard. Producers push and then wake; the waker
//! is *taken* by the first wake, so a burst of messages costs one wake-up of the target executor
//! per batch, not one per message (glommio routes a foreign wake through its sleep notifier and
//! an eventfd write only when the executor is parked).
//!
//! Two ways to send:
//! - [`InboxSender::try_send`] never blocks: used from shard threads, so that two shards that
//!   send to each other can never wait on each other in a cycle. A full inbox is reported to the
//!   caller as back-pressure.
//! - [`InboxSender::send_blocking`] waits for room: used from foreign (non-shard) threads, which
//!   a shard never waits on.

use atomic_waker::AtomicWaker;
use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

struct Shared {
    waker: AtomicWaker,
    closed: AtomicBool,
    wakeups: AtomicU64,
}

/// Why a send did not go through.
#[derive(Debug, PartialEq, Eq)]
pub enum SendError<T> {
    /// The inbox is full (only from [`InboxSender::try_send`]); the message is handed back.
    Full(T),
    /// The receiving side is gone; the message is handed back.
    Closed(T),
}

/// Producer end of an inbox; `Clone + Send + Sync`.
pub struct InboxSender<T> {
    tx: Sender<T>,
    shared: Arc<Shared>,
}

impl<T> Clone for InboxSender<T> {
    fn clone(&self) -> Self {
        InboxSender {
            tx: self.tx.clone(),
            shared: self.shared.clone(),
        }
    }
}

/// Consumer end of an inbox, drained by one task on the owning shard.
pub struct InboxReceiver<T> {
    rx: Receiver<T>,
    shared: Arc<Shared>,
}

/// Creates an inbox that holds up to `capacity` messages.
pub fn inbox<T>(capacity: usize) -> (InboxSender<T>, InboxReceiver<T>) {
    let (tx, rx) = crossbeam_channel::bounded(capacity.max(1));
    let shared = Arc::new(Shared {
        waker: AtomicWaker::new(),
        closed: AtomicBool::new(false),
        wakeups: AtomicU64::new(0),
    });
    (
        InboxSender {
            tx,
            shared: shared.clone(),
        },
        InboxReceiver { rx, shared },
    )
}

impl<T> InboxSender<T> {
    /// Queues `msg` without blocking.
    pub fn try_send(&self, msg: T) -> Result<(), SendError<T>> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(SendError::Closed(msg));
        }
        match self.tx.try_send(msg) {
            Ok(()) => {
                self.wake();
                Ok(())
            }
            Err(TrySendError::Full(m)) => {
                // Make sure the consumer is running so that room frees up.
                self.wake();
                Err(SendError::Full(m))
            }
            Err(TrySendError::Disconnected(m)) => Err(SendError::Closed(m)),
        }
    }

    /// Queues `msg`, waiting for room when the inbox is full. Never call it on a shard thread.
    pub fn send_blocking(&self, msg: T) -> Result<(), SendError<T>> {
        match self.try_send(msg) {
            // Full: try_send woke the consumer; wait on the channel until it frees room.
            Err(SendError::Full(m)) => match self.tx.send(m) {
                Ok(()) => {
                    self.wake();
                    Ok(())
                }
                Err(crossbeam_channel::SendError(m)) => Err(SendError::Closed(m)),
            },
            other => other,
        }
    }

    /// Wakes the consumer task (if it is parked waiting for messages).
    pub fn wake(&self) {
        if let Some(w) = self.shared.waker.take() {
            self.shared.wakeups.fetch_add(1, Ordering::Relaxed);
            w.wake();
        }
    }

    /// Number of wake-ups actually delivered so far (for measuring batching).
    pub fn wakeups(&self) -> u64 {
        self.shared.wakeups.load(Ordering::Relaxed)
    }

    /// Messages currently queued.
    pub fn len(&self) -> usize {
        self.tx.len()
    }

    /// True when no message is queued.
    pub fn is_empty(&self) -> bool {
        self.tx.is_empty()
    }
}

impl<T> InboxReceiver<T> {
    /// Takes one message if any is queued.
    pub fn try_recv(&self) -> Option<T> {
        match self.rx.try_recv() {
            Ok(m) => Some(m),
            Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => None,
        }
    }

    /// Ready when a message is queued; otherwise registers the task's waker and is pending.
    pub fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        if !self.rx.is_empty() {
            return Poll::Ready(());
        }
        self.shared.waker.register(cx.waker());
        if !self.rx.is_empty() {
            return Poll::Ready(());
        }
        Poll::Pending
    }

    /// Waits for and takes the next message.
    pub async fn recv(&self) -> T {
        loop {
            if let Some(m) = self.try_recv() {
                return m;
            }
            std::future::poll_fn(|cx| self.poll_ready(cx)).await;
        }
    }
}

impl<T> Drop for InboxReceiver<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_and_closed_hand_the_message_back() {
        let (tx, rx) = inbox::<u32>(2);
        tx.try_send(1).unwrap();
        tx.try_send(2).unwrap();
        assert_eq!(tx.try_send(3), Err(SendError::Full(3)));
        assert_eq!(rx.try_recv(), Some(1));
        assert_eq!(rx.try_recv(), Some(2));
        assert_eq!(rx.try_recv(), None);
        drop(rx);
        assert_eq!(tx.try_send(4), Err(SendError::Closed(4)));
        assert_eq!(tx.send_blocking(5), Err(SendError::Closed(5)));
    }

    #[test]
    fn blocking_send_waits_for_room() {
        let (tx, rx) = inbox::<u32>(1);
        tx.try_send(0).unwrap();
        let tx2 = tx.clone();
        let h = std::thread::spawn(move || tx2.send_blocking(1));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!h.is_finished(), "must wait while the inbox is full");
        assert_eq!(rx.try_recv(), Some(0));
        assert_eq!(h.join().unwrap(), Ok(()));
        assert_eq!(rx.try_recv(), Some(1));
    }

    #[test]
    fn one_wakeup_per_batch() {
        use std::task::{Wake, Waker};
        struct Count(AtomicU64);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicU64::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (tx, rx) = inbox::<u32>(1024);
        assert!(rx.poll_ready(&mut cx).is_pending());
        for i in 0..100 {
            tx.try_send(i).unwrap();
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(tx.wakeups(), 1);
        let got: Vec<u32> = std::iter::from_fn(|| rx.try_recv()).collect();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
        assert!(rx.poll_ready(&mut cx).is_pending());
        tx.try_send(7).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 2);
    }
}
