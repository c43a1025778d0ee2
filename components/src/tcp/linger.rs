//! Lingering close: sockets a graceful disconnect closed, kept a little longer with their
//! write side shut while what the peer still sends is discarded.
//!
//! Closing a socket that has unread input makes the kernel send a reset, and a reset makes the
//! peer's kernel drop what it had received but not yet delivered — such as the last response
//! to a client that pipelined more requests than the server answers (nginx's
//! `lingering_close` exists for this). A lingering socket is already closed for the
//! application (`on_close` has run, its id is free); one timer task per shard drains them every
//! 50 ms and closes each at the peer's end-of-stream, an error, or its deadline.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsRawFd, OwnedFd};
use std::rc::Rc;
use std::time::Duration;

/// Most sockets lingering on one shard at once; beyond it sockets close at once.
const MAX_LINGERING: usize = 1024;
/// How often lingering sockets are drained.
const DRAIN_PERIOD: Duration = Duration::from_millis(50);

/// One shard's lingering sockets.
#[derive(Default)]
pub(crate) struct Lingering {
    socks: RefCell<Vec<(OwnedFd, u64)>>,
    draining: Cell<bool>,
}

impl Lingering {
    /// Takes `fd` (already out of the poller): shuts its write side and lingers until
    /// `deadline_ms` (shard clock). Over the cap it is closed at once.
    pub(crate) fn adopt(self: &Rc<Self>, fd: OwnedFd, deadline_ms: u64) {
        if self.socks.borrow().len() >= MAX_LINGERING {
            return; // dropped: closed now
        }
        // SAFETY: shutdown(2) on a socket this function owns; no memory is passed.
        if unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_WR) } != 0 {
            return;
        }
        self.socks.borrow_mut().push((fd, deadline_ms));
        if !self.draining.replace(true) {
            let me = self.clone();
            glommio::spawn_local(async move {
                loop {
                    glommio::timer::sleep(DRAIN_PERIOD).await;
                    if me.drain(shardnet_shard::clock_ms()) == 0 {
                        me.draining.set(false);
                        break;
                    }
                }
            })
            .detach();
        }
    }

    /// Reads and discards what each socket holds; closes those at end-of-stream, in error or
    /// past their deadline. Returns how many still linger.
    fn drain(&self, now: u64) -> usize {
        let mut scratch = [0u8; 4096];
        let mut socks = self.socks.borrow_mut();
        socks.retain(|(fd, deadline)| {
            if now >= *deadline {
                return false;
            }
            // At most 64 KiB per socket per pass: a fast sender cannot hold the shard.
            for _ in 0..16 {
                let n =
                    shardnet_runtime::sys::recv(fd.as_raw_fd(), &mut scratch, libc::MSG_DONTWAIT);
                if n > 0 {
                    continue;
                }
                if n == 0 {
                    return false; // the peer closed: done
                }
                let e = std::io::Error::last_os_error().raw_os_error();
                return matches!(e, Some(libc::EAGAIN) | Some(libc::EINTR));
            }
            true
        });
        socks.len()
    }
}
