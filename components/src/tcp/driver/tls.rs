//! TLS glue: sessions per connection, the handshake, records in and out of the socket.

use super::*;

impl ShardCtx {
    /// Creates `conn`'s TLS session (server role, or client role for `name` — else the name
    /// kept for a STARTTLS connection); false, with a close scheduled with `op`, when it cannot.
    pub(super) fn new_tls_session(
        &self,
        conn: ConnId,
        op: SocketOperation,
        name: Option<rustls_pki_types::ServerName<'static>>,
    ) -> bool {
        let made = match &self.core.cfg.tls {
            Some(TlsSettings::Server(cfg)) => TlsSession::server(&cfg.rustls),
            Some(TlsSettings::Client(cfg)) => {
                match name.or_else(|| self.tls_names.borrow_mut().remove(&conn)) {
                    Some(name) => TlsSession::client(&cfg.rustls, name),
                    None => Err(crate::tls::rustls::Error::General("no server name".into())),
                }
            }
            None => Err(crate::tls::rustls::Error::General(
                "not a TLS component".into(),
            )),
        };
        match made {
            Ok(t) => {
                self.tls.borrow_mut().insert(conn, Box::new(t));
                true
            }
            Err(_) => {
                self.schedule_close(conn, op, ERRNO_TLS);
                false
            }
        }
    }

    /// STARTTLS (`auto_handshake(false)` with TLS): the connection so far spoke plain TCP; its
    /// TLS handshake starts now and `on_handshake` follows when it completes.
    pub(crate) fn start_tls(&self, conn: ConnId) {
        if self.tls.borrow().contains_key(&conn) {
            return;
        }
        let open = matches!(
            self.st.borrow_mut().table.get(conn),
            Some(r) if r.state == ConnState::Open
        );
        if open && self.new_tls_session(conn, SocketOperation::Receive, None) {
            self.begin_handshake(conn);
        }
    }

    /// The listener layer has read the plaintext preamble (the PROXY header): from now on
    /// reads go through TLS (which starts here, unless the application runs STARTTLS itself)
    /// and the receive model; `rest`, the bytes that followed the preamble in the same read,
    /// go first.
    pub(crate) fn end_preamble(&self, conn: ConnId, rest: &[u8]) {
        {
            let mut st = self.st.borrow_mut();
            match st.table.get(conn) {
                Some(r) if r.has(flags::PREAMBLE) => r.clear(flags::PREAMBLE),
                _ => return,
            }
        }
        if self.core.cfg.tls.is_some() && self.core.cfg.auto_handshake {
            self.start_tls(conn);
            if !rest.is_empty() && self.tls.borrow().contains_key(&conn) {
                self.tls_input(conn, rest);
            }
        } else if !rest.is_empty() {
            self.deliver(conn, rest);
        }
    }

    /// The connection is up. TLS: its handshake starts (bounded by the handshake timeout) and
    /// `on_handshake` follows when rustls finishes it; STARTTLS waits for `start_tls`. Plain
    /// TCP: with `auto_handshake` the handshake completes at once, otherwise it waits for
    /// [`Self::complete_handshake`], bounded by `handshake_timeout`.
    pub(super) fn begin_handshake(&self, conn: ConnId) {
        if let Some(tls) = &self.core.cfg.tls {
            if !self.tls.borrow().contains_key(&conn) {
                return; // STARTTLS: plain until `start_tls`
            }
            // TLS: the handshake runs now; on_handshake follows when rustls finishes it.
            let timeout = self
                .core
                .cfg
                .handshake_timeout
                .unwrap_or_else(|| tls.handshake_timeout());
            let d = self.now_ms() + (timeout.as_millis() as u64).max(1);
            {
                let mut st = self.st.borrow_mut();
                let Some(rec) = st.table.get(conn) else {
                    return;
                };
                rec.set(flags::HANDSHAKING);
                rec.deadline_ms = d;
                st.next_deadline = st.next_deadline.min(d);
            }
            self.tls_flush(conn); // the client's ClientHello
            return;
        }
        if self.core.cfg.auto_handshake {
            if self.events.handshake(conn) == HandleResult::Error {
                self.schedule_close(conn, SocketOperation::Close, CALLBACK_ERROR);
            }
            return;
        }
        let mut st = self.st.borrow_mut();
        let deadline = self
            .core
            .cfg
            .handshake_timeout
            .map(|t| self.now_ms() + (t.as_millis() as u64).max(1));
        let Some(rec) = st.table.get(conn) else {
            return;
        };
        rec.set(flags::HANDSHAKING);
        if let Some(d) = deadline {
            rec.deadline_ms = d;
            st.next_deadline = st.next_deadline.min(d);
        }
    }

    /// The deadline a record keeps when its handshake ends: none, unless a graceful close is
    /// waiting for its queue (the two share `deadline_ms`), whose flush window then restarts.
    pub(super) fn flush_deadline_after_handshake(&self, rec_flags: u16) -> u64 {
        let t = self.core.cfg.flush_timeout;
        if rec_flags & flags::CLOSE_AFTER_FLUSH != 0 && !t.is_zero() {
            self.now_ms() + (t.as_millis() as u64).max(1)
        } else {
            0
        }
    }

    /// Ends a pending handshake: clears its deadline and calls `on_handshake`.
    pub(crate) fn complete_handshake(&self, conn: ConnId) {
        {
            let mut st = self.st.borrow_mut();
            match st.table.get(conn) {
                Some(r) if r.state == ConnState::Open && r.has(flags::HANDSHAKING) => {
                    r.clear(flags::HANDSHAKING);
                    r.deadline_ms = self.flush_deadline_after_handshake(r.flags);
                    let d = r.deadline_ms;
                    if d != 0 {
                        st.next_deadline = st.next_deadline.min(d);
                    }
                }
                _ => return,
            }
        }
        if self.events.handshake(conn) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Close, CALLBACK_ERROR);
            self.kick();
        }
    }

    /// Feeds ciphertext to `conn`'s session; completes the handshake, delivers the plaintext
    /// through the receive model. False when the connection is closing.
    pub(super) fn tls_input(&self, conn: ConnId, cipher: &[u8]) -> bool {
        let mut plain = std::mem::take(&mut *self.plain.borrow_mut());
        plain.clear();
        let fed = {
            let mut map = self.tls.borrow_mut();
            let Some(t) = map.get_mut(&conn) else {
                return false;
            };
            t.feed(cipher, &mut plain)
        };
        let open = match fed {
            Err(e) => {
                tracing::debug!(%conn, error = %e, "TLS error; closing");
                if self
                    .tls
                    .borrow()
                    .get(&conn)
                    .is_some_and(|t| t.is_handshaking())
                {
                    self.core
                        .events
                        .tls_failed(self.shard.0, crate::tcp::event_counts::TlsFailure::of(&e));
                }
                // Close with the TLS errno (first, so no later close reason wins), then send
                // the alert rustls queued, best effort.
                self.schedule_close(conn, SocketOperation::Receive, ERRNO_TLS);
                let fd = self.st.borrow_mut().table.get(conn).map_or(-1, |r| r.fd);
                if let (true, Some(t)) = (fd >= 0, self.tls.borrow_mut().get_mut(&conn)) {
                    let _ = t.flush(fd);
                }
                false
            }
            Ok(fed) => {
                let mut open = self.tls_flush(conn);
                if open && fed.handshake_done {
                    open = self.tls_handshake_done(conn);
                }
                if open && !plain.is_empty() {
                    open = self.deliver(conn, &plain);
                }
                if open && fed.peer_closed {
                    // close_notify: like a FIN, the peer sends no more; what is queued goes.
                    self.peer_finished(conn);
                    open = false;
                }
                open
            }
        };
        // Give the buffer back for the next record; a burst's large buffer is not kept.
        if plain.capacity() <= 64 << 10 {
            *self.plain.borrow_mut() = plain;
        }
        open
    }

    /// The TLS handshake finished: the record leaves HANDSHAKING, `on_handshake` runs, and
    /// data sent before it goes out.
    pub(super) fn tls_handshake_done(&self, conn: ConnId) -> bool {
        {
            let mut st = self.st.borrow_mut();
            let Some(r) = st.table.get(conn) else {
                return false;
            };
            if r.state != ConnState::Open {
                return false;
            }
            r.clear(flags::HANDSHAKING);
            r.deadline_ms = self.flush_deadline_after_handshake(r.flags);
            let d = r.deadline_ms;
            if d != 0 {
                st.next_deadline = st.next_deadline.min(d);
            }
        }
        self.core.events.tls_ok(self.shard.0);
        if self.events.handshake(conn) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Close, CALLBACK_ERROR);
            return false;
        }
        self.tls_flush(conn)
    }

    /// Encrypts a send into the session and writes what the socket takes.
    pub(super) fn tls_send(
        &self,
        conn: ConnId,
        cell: &shardnet_shard::SlotCell,
        parts: &[&[u8]],
        total: usize,
    ) -> crate::Result<()> {
        let r = {
            let mut map = self.tls.borrow_mut();
            match map.get_mut(&conn) {
                Some(t) => t.write_plain(parts).map(|()| t.unflushed += total as u64),
                None => {
                    self.dir.release_pending(cell, total as u64);
                    return Err(crate::Error::NotConnected);
                }
            }
        };
        if let Err(e) = r {
            let mut st = self.st.borrow_mut();
            return Err(self.send_failed(&mut st, cell, conn, total, e));
        }
        self.tls_flush(conn);
        for p in parts {
            if !p.is_empty() {
                self.events.send(conn, p);
            }
        }
        Ok(())
    }

    /// Writes the session's pending ciphertext. When all is written, the plaintext it carried
    /// leaves the pending count (and a graceful disconnect proceeds). False when closing.
    pub(super) fn tls_flush(&self, conn: ConnId) -> bool {
        let fd = match self.st.borrow_mut().table.get(conn) {
            // Plain bytes queued before a STARTTLS go first; `serve` flushes TLS after them.
            Some(r) if r.state == ConnState::Open && r.has_unsent() => return true,
            Some(r) if r.state == ConnState::Open => r.fd,
            _ => return false,
        };
        if fd < 0 {
            return false;
        }
        let (res, released, drained) = {
            let mut map = self.tls.borrow_mut();
            let Some(t) = map.get_mut(&conn) else {
                return true;
            };
            let res = t.flush(fd);
            // Before the handshake ends rustls only holds the plaintext: nothing is sent yet.
            // After it, plaintext is released as ciphertext leaves (record overhead makes this
            // release slightly early), and all of it once the session is drained.
            let released = match res {
                Ok((all, written)) if !t.is_handshaking() => {
                    let n = if all {
                        t.unflushed
                    } else {
                        t.unflushed.min(written as u64)
                    };
                    t.unflushed -= n;
                    n
                }
                _ => 0,
            };
            (res, released, t.unflushed == 0)
        };
        if released > 0 {
            if let Some(c) = self.dir.lookup(conn) {
                self.dir.release_pending(c, released);
            }
        }
        match res {
            Ok((all, written)) => {
                self.stats.add_bytes_out(written as u64);
                let mut st = self.st.borrow_mut();
                if let Some(rec) = st.table.get(conn) {
                    rec.bytes_out += written as u64;
                    if !all {
                        rec.clear(flags::WRITABLE);
                    } else if drained && rec.has(flags::CLOSE_AFTER_FLUSH) {
                        Self::schedule_close_in(
                            &mut st,
                            &self.dir,
                            conn,
                            SocketOperation::Close,
                            0,
                        );
                        return false;
                    }
                }
                true
            }
            Err(e) => {
                self.schedule_close(conn, SocketOperation::Send, errno_of(&e));
                false
            }
        }
    }

    /// TLS details of `conn` (None for plain connections).
    pub(crate) fn tls_info(&self, conn: ConnId) -> Option<TlsInfo> {
        self.tls.borrow().get(&conn).map(|t| t.info())
    }
}
