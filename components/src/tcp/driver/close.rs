//! Closing: the close-once queue (`on_close` exactly once with operation and errno),
//! graceful and forced disconnects, the idle sweep, and stop.

use super::*;

impl ShardCtx {
    pub(super) fn schedule_close_in(
        st: &mut State,
        dir: &SlotDirectory,
        conn: ConnId,
        op: SocketOperation,
        errno: i32,
    ) {
        if let Some(rec) = st.table.get(conn) {
            if rec.state != ConnState::Closing {
                rec.state = ConnState::Closing;
                if let Some(c) = dir.lookup(conn) {
                    c.set_state(SlotState::Closing);
                }
                st.closing.push_back((conn, op, errno));
            }
        }
    }

    pub(super) fn schedule_close(&self, conn: ConnId, op: SocketOperation, errno: i32) {
        Self::schedule_close_in(&mut self.st.borrow_mut(), &self.dir, conn, op, errno);
    }

    /// Closes `conn` with `on_close(op, errno)` after one more try at writing its queue.
    pub(crate) fn close_with(&self, conn: ConnId, op: SocketOperation, errno: i32) {
        let flushing = {
            let mut st = self.st.borrow_mut();
            match st.table.get(conn) {
                Some(rec) => {
                    // The peer may still be sending (it is why we close): linger, so that the
                    // last frame is not destroyed by a reset.
                    rec.set(flags::LINGER);
                    rec.has(flags::FLUSHING)
                }
                None => return,
            }
        };
        if !flushing {
            self.flush(conn);
        }
        self.schedule_close(conn, op, errno);
        self.kick();
    }

    pub(crate) fn disconnect(&self, conn: ConnId, force: bool) {
        if force {
            if let Some(rec) = self.st.borrow_mut().table.get(conn) {
                rec.clear(flags::LINGER);
            }
            self.schedule_close(conn, SocketOperation::Close, 0);
        } else {
            if let Some(rec) = self.st.borrow_mut().table.get(conn) {
                rec.set(flags::LINGER);
            }
            self.close_when_flushed(conn);
        }
        self.kick();
    }

    /// A graceful close: at once if nothing waits to be sent, otherwise once the send queue
    /// (and TLS's ciphertext) has left — `on_close(Close, 0)` — or, if that takes longer than
    /// `flush_timeout`, `on_close(Send, ETIMEDOUT)`. Sends keep being accepted meanwhile.
    pub(super) fn close_when_flushed(&self, conn: ConnId) {
        let tls_pending = self
            .tls
            .borrow()
            .get(&conn)
            .is_some_and(|t| t.wants_write() || t.unflushed > 0);
        let mut st = self.st.borrow_mut();
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        if rec.state != ConnState::Open || (!rec.has_unsent() && !tls_pending) {
            Self::schedule_close_in(&mut st, &self.dir, conn, SocketOperation::Close, 0);
            return;
        }
        if rec.has(flags::CLOSE_AFTER_FLUSH) {
            return;
        }
        rec.set(flags::CLOSE_AFTER_FLUSH);
        let t = self.core.cfg.flush_timeout;
        if !t.is_zero() {
            let d = self.now_ms() + (t.as_millis() as u64).max(1);
            rec.deadline_ms = if rec.deadline_ms == 0 {
                d
            } else {
                rec.deadline_ms.min(d)
            };
            st.next_deadline = st.next_deadline.min(d);
        }
    }

    /// `recv` reported the peer's end-of-stream. The peer sends no more but may still read:
    /// nothing is read again, and the connection closes once what was queued has been sent.
    pub(super) fn peer_finished(&self, conn: ConnId) {
        if let Some(rec) = self.st.borrow_mut().table.get(conn) {
            rec.set(flags::EOF_READ);
            rec.clear(flags::READABLE);
        }
        self.close_when_flushed(conn);
    }

    /// Performs scheduled closes: the record goes, the fd is closed, `on_close` runs (the extra
    /// value is still readable there), then the slot is released.
    pub(super) fn run_closes(&self) -> bool {
        let mut any = false;
        loop {
            let item = self.st.borrow_mut().closing.pop_front();
            let Some((conn, op, errno)) = item else { break };
            let rec = {
                let mut st = self.st.borrow_mut();
                st.partial.remove(&conn);
                st.table.remove(conn)
            };
            if let Some(p) = &self.pull {
                p.remove(conn);
            }
            let session = self.tls.borrow_mut().remove(&conn);
            self.tls_names.borrow_mut().remove(&conn);
            let Some(mut rec) = rec else { continue };
            any = true;
            // What is dropped unsent leaves the pending counts here (bytes still in flight in
            // the inbox are released when their send is refused).
            let dropped = rec.queue.pending() as u64 + session.as_ref().map_or(0, |t| t.unflushed);
            if dropped > 0 {
                if let Some(c) = self.dir.lookup(conn) {
                    self.dir.release_pending(c, dropped);
                }
            }
            rec.queue.clear();
            if let Some(mut t) = session {
                if op == SocketOperation::Close && errno == 0 && rec.fd >= 0 && !t.is_handshaking()
                {
                    // A graceful close tells the peer with close_notify (best effort).
                    t.close_notify();
                    let _ = t.flush(rec.fd);
                }
            }
            if rec.has(flags::COUNTED) {
                self.stats.conn_closed();
            }
            self.core.load.closed(self.shard);
            self.core.events.closed(self.shard.0, op, errno);
            // The socket stays open during on_close, so its addresses are still readable there
            // (HP-Socket's contract); the directory forgets the fd before it is closed, so no
            // other thread can read a reused fd number under this id.
            self.events.close(conn, op, errno);
            if let Some(c) = self.dir.lookup(conn) {
                c.set_fd(-1);
            }
            if rec.fd >= 0 {
                // SAFETY: the record owned this fd; closing it also removes it from epoll.
                let fd = unsafe { OwnedFd::from_raw_fd(rec.fd) };
                let linger = self.core.cfg.lingering_close;
                // A graceful disconnect (or a layer's protocol-error close) while the peer may
                // still send: linger (the peer's end-of-stream or a forced close do not).
                if !linger.is_zero()
                    && rec.has(flags::LINGER)
                    && !rec.has(flags::EOF_READ)
                    && !rec.has(flags::READ_CLOSED)
                    && !self.core.is_stopping()
                    && self.poller.borrow().delete(rec.fd).is_ok()
                {
                    let deadline = self.now_ms() + linger.as_millis() as u64;
                    self.linger.adopt(fd, deadline);
                } else {
                    drop(fd);
                }
            }
            self.dir.release(conn);
        }
        any
    }

    /// Closes every connection and listener (stop).
    pub(super) fn close_all(&self, inbox: &InboxReceiver<Cmd>) {
        {
            let mut st = self.st.borrow_mut();
            st.listeners.clear();
            for id in st.table.ids() {
                Self::schedule_close_in(&mut st, &self.dir, id, SocketOperation::Close, 0);
            }
        }
        while let Some(cmd) = inbox.try_recv() {
            match cmd {
                Cmd::Adopt { .. } => self.core.load.closed(self.shard),
                Cmd::Connect { conn, .. } => {
                    self.core.load.closed(self.shard);
                    self.dir.release(conn);
                }
                Cmd::Send { conn, data } | Cmd::SendHooked { conn, data, .. } => {
                    match self.dir.lookup(conn) {
                        Some(c) => self.dir.release_pending(c, data.len() as u64),
                        None => self.dir.release_orphan(data.len() as u64),
                    }
                }
                _ => {}
            }
        }
        self.run_closes();
    }

    /// Closes connections silent for longer than the idle timeout (if one is set).
    pub(super) fn sweep_idle(&self) {
        let Some(t) = self.core.cfg.idle_timeout else {
            return;
        };
        let limit = t.as_millis() as u64;
        let now = self.turn_now();
        let mut st = self.st.borrow_mut();
        if st.next_sweep > now {
            return;
        }
        st.next_sweep = now + (limit / 4).max(1);
        for id in st.table.ids() {
            let rec = st.table.get(id).expect("listed id");
            if rec.state == ConnState::Open && now.saturating_sub(rec.last_recv_ms) >= limit {
                Self::schedule_close_in(
                    &mut st,
                    &self.dir,
                    id,
                    SocketOperation::Close,
                    libc::ETIMEDOUT,
                );
            }
        }
    }
}
