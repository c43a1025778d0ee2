//! Accepting: listen sockets, the accept loop and its back-off, placing accepted sockets on
//! shards, and opening connection records.

use super::*;

impl ShardCtx {
    /// Calls `on_prepare_listen`, then listens and registers the socket.
    pub(crate) fn add_listener(&self, fd: OwnedFd, addr: SocketAddr) -> crate::Result<()> {
        if self.events.prepare_listen(fd.as_fd_borrowed(), addr) == HandleResult::Error {
            return Err(crate::Error::SocketPrepare);
        }
        socket2::SockRef::from(&fd)
            .listen(self.core.cfg.listen_backlog)
            .map_err(crate::Error::SocketListen)?;
        let mut st = self.st.borrow_mut();
        let token = LISTEN_TOKEN_BASE + st.listeners.len() as u64;
        self.poller.borrow().add_readable(fd.as_raw_fd(), token)?;
        st.listeners.push(fd);
        st.listen_ready = true;
        Ok(())
    }

    // ----- sending -------------------------------------------------------------------------

    pub(super) fn open_record(
        &self,
        conn: ConnId,
        fd: RawFd,
        state: ConnState,
    ) -> std::io::Result<()> {
        let now = self.now_ms();
        {
            let mut st = self.st.borrow_mut();
            let rec = st.table.insert(conn, fd, state, now);
            if state == ConnState::Open {
                rec.set(flags::COUNTED);
            }
            if let Some(c) = self.dir.lookup(conn) {
                c.set_fd(fd);
                if state == ConnState::Open {
                    c.mark_opened(now);
                    c.set_state(SlotState::Open);
                } else {
                    c.set_state(SlotState::Reserved);
                }
            }
        }
        if state == ConnState::Open {
            self.stats.conn_opened();
        }
        self.poller.borrow().add(fd, conn.as_u64())
    }

    // ----- accepting ----------------------------------------------------------------------------

    pub(super) fn accept_some(&self) -> bool {
        let fds: Vec<RawFd> = {
            let mut st = self.st.borrow_mut();
            if !st.listen_ready {
                return false;
            }
            if st.accept_retry_at != 0 {
                if self.turn_now() < st.accept_retry_at {
                    return false;
                }
                st.accept_retry_at = 0;
            }
            st.listen_ready = false;
            st.listeners.iter().map(|l| l.as_raw_fd()).collect()
        };
        let mut any = false;
        for lfd in fds {
            for i in 0..ACCEPT_BATCH {
                // SAFETY: a zeroed sockaddr_storage is a valid out-buffer for accept4.
                let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                // SAFETY: ss/len describe a writable buffer of the stated size.
                let fd = unsafe {
                    libc::accept4(
                        lfd,
                        &mut ss as *mut _ as *mut libc::sockaddr,
                        &mut len,
                        libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                    )
                };
                if fd < 0 {
                    let e = std::io::Error::last_os_error();
                    match e.raw_os_error() {
                        Some(libc::EINTR) | Some(libc::ECONNABORTED) => continue,
                        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                            // Out of fds or memory: connections wait in the kernel's queue.
                            // No new edge will come for them, so retry on a timer (no spin).
                            self.accept_starved(e);
                            return any;
                        }
                        _ => break, // EAGAIN: drained; the next connection brings an edge
                    }
                }
                any = true;
                // SAFETY: accept4 returned a new fd we now own.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                // SAFETY: accept4 filled `len` bytes of a sockaddr_storage.
                let peer = unsafe { socket2::SockAddr::new(ss, len) }
                    .as_socket()
                    .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
                self.place_accepted(owned, peer);
                if i + 1 == ACCEPT_BATCH {
                    self.st.borrow_mut().listen_ready = true;
                }
            }
        }
        any
    }

    /// `accept` failed for want of resources: count it, log it (at most once per
    /// [`ACCEPT_LOG_EVERY_MS`]), and retry after [`ACCEPT_RETRY`].
    pub(super) fn accept_starved(&self, e: std::io::Error) {
        self.stats.inc_accept_errors();
        let now = self.now_ms();
        let mut st = self.st.borrow_mut();
        st.listen_ready = true;
        st.accept_retry_at = now + ACCEPT_RETRY.as_millis() as u64;
        st.accept_unlogged += 1;
        if st.accept_logged_at == 0 || now >= st.accept_logged_at + ACCEPT_LOG_EVERY_MS {
            tracing::warn!(
                shard = self.shard.0,
                failures = st.accept_unlogged,
                "accept failed: {e}; retrying every {} ms until it succeeds",
                ACCEPT_RETRY.as_millis()
            );
            st.accept_logged_at = now;
            st.accept_unlogged = 0;
        }
    }

    pub(super) fn place_accepted(&self, fd: OwnedFd, peer: SocketAddr) {
        if !self
            .core
            .load
            .try_open(self.shard, self.core.cfg.max_connections)
        {
            self.stats.inc_rejected();
            // The limit is an operator's concern: say so, at most once per interval per shard.
            let now = self.now_ms();
            let mut st = self.st.borrow_mut();
            st.limit_unlogged += 1;
            if st.limit_logged_at == 0 || now >= st.limit_logged_at + ACCEPT_LOG_EVERY_MS {
                tracing::warn!(
                    shard = self.shard.0,
                    refused = st.limit_unlogged,
                    max_connections = self.core.cfg.max_connections,
                    "connection limit reached: refusing new connections"
                );
                st.limit_logged_at = now;
                st.limit_unlogged = 0;
            }
            return; // dropping `fd` closes it: the peer sees the connection end at once
        }
        if self.core.cfg.accept_placement == shardnet_runtime::AcceptPlacement::Balanced {
            let target = self.core.load.least_loaded();
            if target != self.shard {
                // Count the hand-off at once so a burst of accepts spreads evenly.
                self.core.load.moved(self.shard, target);
                let inbox = &self.core.links[target.0].inbox;
                match inbox.try_send(Cmd::Adopt { fd, peer }) {
                    Ok(()) => return,
                    Err(shardnet_runtime::SendError::Full(Cmd::Adopt { fd, peer }))
                    | Err(shardnet_runtime::SendError::Closed(Cmd::Adopt { fd, peer })) => {
                        self.core.load.moved(target, self.shard);
                        self.adopt(fd, peer);
                        return;
                    }
                    Err(_) => unreachable!("try_send hands back the Adopt it was given"),
                }
            }
        }
        self.adopt(fd, peer);
    }

    /// Takes ownership of an accepted socket (already counted in the shard load).
    pub(super) fn adopt(&self, fd: OwnedFd, peer: SocketAddr) {
        let Some(conn) = self.dir.reserve() else {
            self.core.load.closed(self.shard);
            self.stats.inc_rejected();
            return;
        };
        apply_conn_options(fd.as_fd_borrowed(), &self.core.cfg);
        if self.events.accept(conn, peer, fd.as_fd_borrowed()) == HandleResult::Error {
            self.core.load.closed(self.shard);
            self.dir.release(conn);
            return; // no on_close: the connection never passed on_accept
        }
        self.stats.inc_accepted();
        let raw = fd.into_raw_fd();
        if let Err(e) = self.open_record(conn, raw, ConnState::Open) {
            self.schedule_close(conn, SocketOperation::Accept, errno_of(&e));
            return;
        }
        if self.preamble_layer.get() {
            if let Some(rec) = self.st.borrow_mut().table.get(conn) {
                rec.set(flags::PREAMBLE);
            }
        }
        if self.core.cfg.tls.is_some()
            && self.core.cfg.auto_handshake
            && !self.preamble_layer.get()
            && !self.new_tls_session(conn, SocketOperation::Accept, None)
        {
            return;
        }
        self.begin_handshake(conn);
    }
}
