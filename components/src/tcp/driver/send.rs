//! Sending: the per-connection send queue, gather writes, flushing under a budget, the
//! cork that joins a receive callback's sends, and runs of posted sends.

use super::*;

impl ShardCtx {
    /// Send on the owning shard. `total` pending bytes are already reserved in the directory.
    pub(crate) fn send_local(
        &self,
        conn: ConnId,
        parts: &[&[u8]],
        total: usize,
    ) -> crate::Result<()> {
        let cell = match self.dir.lookup(conn) {
            Some(c) => c,
            None => {
                // Closed while this send waited in the inbox: its reservation goes back.
                self.dir.release_orphan(total as u64);
                return Err(crate::Error::NotFound);
            }
        };
        self.send_local_in(cell, conn, parts, total)
    }

    /// [`Self::send_local`] with `conn`'s directory cell already looked up (by `Core::send`).
    pub(crate) fn send_local_in(
        &self,
        cell: &shardnet_shard::SlotCell,
        conn: ConnId,
        parts: &[&[u8]],
        total: usize,
    ) -> crate::Result<()> {
        let mut st = self.st.borrow_mut();
        let rec = match st.table.get(conn) {
            Some(r) if r.state == ConnState::Open => r,
            _ => {
                self.dir.release_pending(cell, total as u64);
                return Err(crate::Error::NotConnected);
            }
        };
        if self.core.cfg.tls.is_some() && self.tls.borrow().contains_key(&conn) {
            drop(st);
            return self.tls_send(conn, cell, parts, total);
        }
        let mut written = 0;
        // Inside this connection's receive callback, only the first send is written at once.
        let (corked, sends) = self.cork.get();
        let in_cork = corked == conn.as_u64();
        if in_cork {
            self.cork.set((corked, sends + 1));
        }
        let tried = !(rec.has_unsent() || in_cork && sends > 0);
        if tried {
            match write_gather(rec.fd, parts) {
                Ok(n) => written = n,
                Err(e) => return Err(self.send_failed(&mut st, cell, conn, total, e)),
            }
        }
        if written < total {
            let mut skip = written;
            let mut rest: Vec<&[u8]> = Vec::with_capacity(parts.len());
            for p in parts {
                if skip >= p.len() {
                    skip -= p.len();
                } else {
                    rest.push(&p[skip..]);
                    skip = 0;
                }
            }
            let rec = st.table.get(conn).expect("record checked above");
            match rec.queue.push(&self.pool, &rest, 0) {
                Ok(()) => {}
                Err(PushError::QueueFull) => unreachable!("queue pushed without a bound"),
                Err(PushError::Alloc(e)) => {
                    return Err(self.send_failed(&mut st, cell, conn, total - written, e))
                }
            }
            let rec = st.table.get(conn).expect("record checked above");
            let corked_full = in_cork && rec.queue.pending() >= CORK_LIMIT;
            if tried {
                // A short non-blocking write means the socket is full: EPOLLOUT follows when
                // there is room, so no flush attempt (an EAGAIN) until then.
                rec.clear(flags::WRITABLE);
            } else if corked_full && rec.has(flags::WRITABLE) && !rec.has(flags::FLUSHING) {
                // Answers held by the cork passed CORK_LIMIT: write them now rather than let
                // them count against the pending bounds until the callback returns.
                drop(st);
                self.flush(conn);
                st = self.st.borrow_mut();
            } else if !rec.has(flags::QUEUED) && rec.has(flags::WRITABLE) {
                // Queued behind older data: flush it even if the writable edge was consumed.
                rec.set(flags::QUEUED);
                st.ready.push_back(conn);
            }
        }
        if written > 0 {
            let rec = st.table.get(conn).expect("record checked above");
            rec.bytes_out += written as u64;
            drop(st);
            self.dir.release_pending(cell, written as u64);
            self.stats.add_bytes_out(written as u64);
            let mut left = written;
            for p in parts {
                if left == 0 {
                    break;
                }
                let n = left.min(p.len());
                if n > 0 {
                    self.events.send(conn, &p[..n]);
                }
                left -= n;
            }
        }
        Ok(())
    }

    /// A send failed with `e`: releases the `unsent` reserved bytes and schedules
    /// `on_close(Send, errno)`.
    pub(super) fn send_failed(
        &self,
        st: &mut State,
        cell: &shardnet_shard::SlotCell,
        conn: ConnId,
        unsent: usize,
        e: std::io::Error,
    ) -> crate::Error {
        self.dir.release_pending(cell, unsent as u64);
        Self::schedule_close_in(st, &self.dir, conn, SocketOperation::Send, errno_of(&e));
        crate::Error::Io(e)
    }

    /// Writes queued data of `conn` (writable edge, or budget left over from the last turn).
    pub(super) fn flush(&self, conn: ConnId) {
        self.flush_in(conn, false);
    }

    /// [`Self::flush`]; with `closing`, also for a connection whose close is scheduled (a
    /// callback that answered and then returned Error: its answers still get one try).
    pub(super) fn flush_in(&self, conn: ConnId, closing: bool) {
        let (fd, mut q) = {
            let mut st = self.st.borrow_mut();
            let rec = match st.table.get(conn) {
                Some(r) if r.state == ConnState::Open => r,
                Some(r) if closing && r.state == ConnState::Closing => r,
                _ => return,
            };
            if rec.queue.is_empty() {
                if rec.has(flags::CLOSE_AFTER_FLUSH) {
                    Self::schedule_close_in(&mut st, &self.dir, conn, SocketOperation::Close, 0);
                }
                return;
            }
            rec.set(flags::FLUSHING);
            (rec.fd, std::mem::take(&mut rec.queue))
        };
        let before = q.pending();
        let res = q.flush(fd, self.core.cfg.send_policy, FLUSH_BUDGET, &mut |b| {
            self.events.send(conn, b)
        });
        let after = q.pending();
        let mut st = self.st.borrow_mut();
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        rec.clear(flags::FLUSHING);
        let mut newer = std::mem::take(&mut rec.queue);
        q.append(&mut newer);
        rec.queue = q;
        match res {
            Err(e) => {
                // Bytes the kernel took before the error left the queue: they are no longer
                // pending (what is still queued is returned when the close drops it).
                let written = before.saturating_sub(after) as u64;
                if written > 0 {
                    if let Some(c) = self.dir.lookup(conn) {
                        self.dir.release_pending(c, written);
                    }
                }
                Self::schedule_close_in(
                    &mut st,
                    &self.dir,
                    conn,
                    SocketOperation::Send,
                    errno_of(&e),
                )
            }
            Ok(out) => {
                rec.bytes_out += out.written as u64;
                if let Some(c) = self.dir.lookup(conn) {
                    self.dir.release_pending(c, out.written as u64);
                }
                self.stats.add_bytes_out(out.written as u64);
                if out.would_block {
                    rec.clear(flags::WRITABLE);
                } else if rec.queue.is_empty() {
                    if rec.has(flags::CLOSE_AFTER_FLUSH) {
                        Self::schedule_close_in(
                            &mut st,
                            &self.dir,
                            conn,
                            SocketOperation::Close,
                            0,
                        );
                    }
                } else if !rec.has(flags::QUEUED) {
                    rec.set(flags::QUEUED);
                    st.ready.push_back(conn);
                }
            }
        }
    }

    // ----- control ---------------------------------------------------------------------------

    /// Inside `conn`'s receive callback: its first send waits in the queue too, so that every
    /// answer of the callback leaves in the one write made when it returns (a layer that
    /// answers several pipelined requests per read asks for this; for one answer the write
    /// is only moved to the callback's end).
    pub(crate) fn cork_all(&self, conn: ConnId) {
        let (corked, sends) = self.cork.get();
        if corked == conn.as_u64() && sends == 0 {
            self.cork.set((corked, 1));
        }
    }

    /// The receive callback of `conn` returned: what it sent after its first send waited in the
    /// queue, so that the answers to many pipelined requests read at once leave in one gather
    /// write instead of one `send` each. Write them now.
    pub(super) fn cork_end(&self, conn: ConnId) {
        let (_, sends) = self.cork.replace((0, 0));
        if sends > 1 {
            let ready = matches!(
                self.st.borrow_mut().table.get(conn),
                Some(r) if r.state != ConnState::Empty
                    && r.has(flags::WRITABLE)
                    && !r.has(flags::FLUSHING)
                    && !r.queue.is_empty()
            );
            if ready {
                // Also when the callback failed the connection: it answered before it did, and
                // without the cork those answers would have been written already.
                self.flush_in(conn, true);
            }
        }
    }

    /// Writes the pending run of posted sends (their pending bytes were reserved one by one):
    /// one `send_local`, so one gather write, for all of them.
    pub(super) fn flush_run(&self, run: &mut SendRun) {
        let Some(conn) = run.conn.take() else {
            return;
        };
        match run.datas.as_slice() {
            [one] => {
                let _ = self.send_local(conn, &[one], one.len());
            }
            many => {
                let parts: Vec<&[u8]> = many.iter().map(|d| &d[..]).collect();
                let total = parts.iter().map(|p| p.len()).sum();
                let _ = self.send_local(conn, &parts, total);
            }
        }
        run.datas.clear();
    }
}
