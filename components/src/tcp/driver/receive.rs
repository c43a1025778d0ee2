//! Receiving: reading into the shard's scratch buffer and delivering through the receive
//! model (push, pack, pull), with pause and resume.

use super::*;

impl ShardCtx {
    /// Hands received bytes to the listener through the receive model. False when the
    /// connection is closing.
    pub(super) fn deliver(&self, conn: ConnId, data: &[u8]) -> bool {
        match &self.core.cfg.receive_model {
            // Bytes that did not come straight from the socket (TLS plaintext); plain Pull
            // reads go into the store directly (see `serve`).
            ReceiveModel::Pull => {
                let store = self.pull.as_ref().expect("a Pull component has a store");
                let total = store.append(conn, data);
                self.deliver_pull(conn, total)
            }
            ReceiveModel::Push => {
                self.stats.inc_msgs_in();
                if self.events.receive(conn, data) == HandleResult::Error {
                    self.schedule_close(conn, SocketOperation::Receive, CALLBACK_ERROR);
                    return false;
                }
                true
            }
            ReceiveModel::Pack(cfg) => {
                let mut dec = {
                    // Skip the hash lookup when no connection holds a partial message.
                    let mut st = self.st.borrow_mut();
                    if st.partial.is_empty() {
                        PackDecoder::new()
                    } else {
                        st.partial.remove(&conn).unwrap_or_default()
                    }
                };
                let r = dec.feed(cfg, data, &mut |msg| {
                    // A callback may have closed the connection: deliver nothing more.
                    let open = matches!(
                        self.st.borrow_mut().table.get(conn),
                        Some(r) if r.state == ConnState::Open
                    );
                    if !open {
                        return Flow::Stop;
                    }
                    self.stats.inc_msgs_in();
                    if self.events.receive(conn, msg) == HandleResult::Error {
                        Flow::Stop
                    } else {
                        Flow::Continue
                    }
                });
                match r {
                    Ok(Flow::Continue) => {
                        if !dec.is_idle() {
                            self.st.borrow_mut().partial.insert(conn, dec);
                        }
                        true
                    }
                    Ok(Flow::Stop) => {
                        self.schedule_close(conn, SocketOperation::Receive, CALLBACK_ERROR);
                        false
                    }
                    Err(e) => {
                        self.schedule_close(conn, SocketOperation::Receive, e.errno());
                        false
                    }
                }
            }
        }
    }

    /// Serves one ready connection within its budgets.
    pub(super) fn serve(&self, conn: ConnId, scratch: &mut [u8]) {
        let (connecting, writable_with_data) = {
            let mut st = self.st.borrow_mut();
            let Some(rec) = st.table.get(conn) else {
                return;
            };
            rec.clear(flags::QUEUED);
            (
                rec.state == ConnState::Connecting,
                rec.state == ConnState::Open && rec.has(flags::WRITABLE) && !rec.queue.is_empty(),
            )
        };
        if connecting {
            let ready = {
                let mut st = self.st.borrow_mut();
                st.table
                    .get(conn)
                    .is_some_and(|r| r.has(flags::WRITABLE) || r.has(flags::READ_CLOSED))
            };
            if ready {
                self.finish_connect(conn);
            }
            // The edge that completed the connect may also have carried data and even the
            // peer's FIN (a server that answers at once and closes): no later edge will
            // announce them, so serve the connection now if it is open.
            let open = matches!(
                self.st.borrow_mut().table.get(conn),
                Some(r) if r.state == ConnState::Open
            );
            if !open {
                return;
            }
        }
        if writable_with_data {
            self.flush(conn);
        }
        let tls_component = self.core.cfg.tls.is_some();
        if tls_component {
            let writable = self
                .st
                .borrow_mut()
                .table
                .get(conn)
                .is_some_and(|r| r.state == ConnState::Open && r.has(flags::WRITABLE));
            if writable
                && self
                    .tls
                    .borrow()
                    .get(&conn)
                    .is_some_and(|t| t.wants_write())
            {
                self.tls_flush(conn);
            }
        }
        let mut reads = 0;
        loop {
            let fd = {
                let mut st = self.st.borrow_mut();
                let Some(rec) = st.table.get(conn) else {
                    return;
                };
                if rec.state != ConnState::Open
                    || rec.has(flags::PAUSED)
                    || rec.has(flags::EOF_READ)
                    || !rec.has(flags::READABLE)
                {
                    return;
                }
                if reads == READ_BUDGET {
                    // More data may be waiting: come back next turn, after the others.
                    if !rec.has(flags::QUEUED) {
                        rec.set(flags::QUEUED);
                        st.ready.push_back(conn);
                    }
                    return;
                }
                (rec.fd, rec.has(flags::PREAMBLE))
            };
            let (fd, preamble) = fd;
            reads += 1;
            // Per read: a STARTTLS connection turns TLS inside a callback.
            let tls = tls_component && self.tls.borrow().contains_key(&conn);
            let got = match &self.pull {
                // A preamble (PROXY header) is read raw, whatever the receive model.
                _ if preamble => recv_scratch(fd, scratch),
                // TLS reads ciphertext into the scratch buffer; Pull stores the plaintext.
                Some(store) if tls => {
                    if store.is_full(conn) {
                        ReadOutcome::Full
                    } else {
                        recv_scratch(fd, scratch)
                    }
                }
                Some(store) => store.read(conn, fd),
                None => recv_scratch(fd, scratch),
            };
            match got {
                ReadOutcome::Data { n, total, drained } => {
                    {
                        let now = self.turn_now();
                        let mut st = self.st.borrow_mut();
                        if let Some(rec) = st.table.get(conn) {
                            if rec.last_recv_ms != now {
                                // The directory's copy (read by silence_period from any
                                // thread) changes at most once per clock tick.
                                if let Some(c) = self.dir.lookup(conn) {
                                    c.mark_received(now);
                                }
                                rec.last_recv_ms = now;
                            }
                            rec.bytes_in += n as u64;
                            // A short read drained the socket and the next arrival brings a new
                            // edge — unless the peer's end-of-stream is queued: epoll announced
                            // it once, so read on until recv reports it.
                            if drained && !rec.has(flags::READ_CLOSED) {
                                rec.clear(flags::READABLE);
                            }
                        }
                    }
                    self.stats.add_bytes_in(n as u64);
                    let open = if preamble {
                        // To the layer that reads the preamble; it ends it (or closes).
                        if self.events.receive(conn, &scratch[..n]) == HandleResult::Error {
                            self.schedule_close(conn, SocketOperation::Receive, CALLBACK_ERROR);
                            false
                        } else {
                            true
                        }
                    } else if tls {
                        self.tls_input(conn, &scratch[..n])
                    } else {
                        self.cork.set((conn.as_u64(), 0));
                        let open = if self.pull.is_some() {
                            self.deliver_pull(conn, total)
                        } else {
                            self.deliver(conn, &scratch[..n])
                        };
                        self.cork_end(conn);
                        open
                    };
                    if !open {
                        return;
                    }
                }
                // Back-pressure: stay READABLE; a fetch that makes room resumes the reads.
                ReadOutcome::Full => return,
                ReadOutcome::Eof => {
                    // A peer that hangs up mid TLS handshake failed it; otherwise a FIN is a
                    // normal close, once what is queued for the peer has been sent.
                    let failed = tls
                        && self
                            .tls
                            .borrow()
                            .get(&conn)
                            .is_some_and(|t| t.is_handshaking());
                    if failed {
                        self.core
                            .events
                            .tls_failed(self.shard.0, crate::tcp::event_counts::TlsFailure::Eof);
                        self.schedule_close(conn, SocketOperation::Receive, ERRNO_TLS);
                    } else {
                        self.peer_finished(conn);
                    }
                    return;
                }
                ReadOutcome::WouldBlock => {
                    let mut st = self.st.borrow_mut();
                    if let Some(rec) = st.table.get(conn) {
                        rec.clear(flags::READABLE);
                    }
                    return;
                }
                ReadOutcome::Error(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                ReadOutcome::Error(e) => {
                    self.schedule_close(conn, SocketOperation::Receive, errno_of(&e));
                    return;
                }
            }
        }
    }

    // ----- TLS ----------------------------------------------------------------------------------

    /// Pull model: tells the listener how many bytes `conn` now holds.
    pub(super) fn deliver_pull(&self, conn: ConnId, total: usize) -> bool {
        self.stats.inc_msgs_in();
        if self.events.pull_receive(conn, total) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Receive, CALLBACK_ERROR);
            return false;
        }
        true
    }

    /// Pull model: a fetch made room for `conn`; read it again.
    pub(super) fn resume_read(&self, conn: ConnId) {
        let mut st = self.st.borrow_mut();
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        rec.set(flags::READABLE);
        if !rec.has(flags::QUEUED) {
            rec.set(flags::QUEUED);
            st.ready.push_back(conn);
        }
    }

    // ----- connecting ---------------------------------------------------------------------------

    pub(crate) fn pause(&self, conn: ConnId, pause: bool) {
        let mut st = self.st.borrow_mut();
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        if pause {
            rec.set(flags::PAUSED);
        } else if rec.has(flags::PAUSED) {
            rec.clear(flags::PAUSED);
            // Data may have arrived while paused and its edge been consumed: try a read.
            rec.set(flags::READABLE);
            if !rec.has(flags::QUEUED) {
                rec.set(flags::QUEUED);
                st.ready.push_back(conn);
            }
        }
        drop(st);
        self.kick();
    }
}

/// Push and Pack: one `recv` into the shard's scratch buffer.
fn recv_scratch(fd: RawFd, scratch: &mut [u8]) -> ReadOutcome {
    let n = shardnet_runtime::sys::recv(fd, scratch, libc::MSG_DONTWAIT);
    match n {
        n if n > 0 => ReadOutcome::Data {
            n: n as usize,
            total: n as usize,
            drained: (n as usize) < scratch.len(),
        },
        0 => ReadOutcome::Eof,
        _ => {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EAGAIN) {
                ReadOutcome::WouldBlock
            } else {
                ReadOutcome::Error(e)
            }
        }
    }
}
