//! Outgoing connections (Agent, Client): non-blocking connect, its completion and failure.

use super::*;

impl ShardCtx {
    pub(super) fn start_connect(
        &self,
        conn: ConnId,
        addr: SocketAddr,
        local: Option<SocketAddr>,
        server_name: Option<String>,
    ) {
        use socket2::{Domain, Protocol, Socket, Type};
        let abort = |this: &Self| {
            this.core.load.closed(this.shard);
            this.dir.release(conn);
        };
        let domain = if addr.is_ipv6() {
            Domain::IPV6
        } else {
            Domain::IPV4
        };
        let sock = match Socket::new(
            domain,
            Type::STREAM.nonblocking().cloexec(),
            Some(Protocol::TCP),
        ) {
            Ok(s) => s,
            Err(e) => {
                // The socket never existed: report as a failed connect so the caller learns.
                self.open_failed(conn, errno_of(&e));
                return;
            }
        };
        if let Some(l) = local {
            if self.core.cfg.reuse_address != ReuseAddress::None {
                let _ = sock.set_reuse_address(true);
            }
            if let Err(e) = sock.bind(&l.into()) {
                self.open_failed(conn, errno_of(&e));
                return;
            }
        }
        let fd: OwnedFd = sock.into();
        apply_conn_options(fd.as_fd_borrowed(), &self.core.cfg);
        if self.events.prepare_connect(conn, fd.as_fd_borrowed()) == HandleResult::Error {
            abort(self);
            return;
        }
        let r = socket2::SockRef::from(&fd).connect(&addr.into());
        let raw = fd.into_raw_fd();
        if let Err(e) = self.open_record(conn, raw, ConnState::Connecting) {
            self.schedule_close(conn, SocketOperation::Connect, errno_of(&e));
            return;
        }
        if self.core.cfg.tls.is_some() {
            let name = server_name
                .and_then(|n| rustls_pki_types::ServerName::try_from(n).ok())
                .unwrap_or_else(|| addr.ip().into());
            if !self.core.cfg.auto_handshake {
                // STARTTLS: the session is made when the application starts it.
                self.tls_names.borrow_mut().insert(conn, name);
            } else if !self.new_tls_session(conn, SocketOperation::Connect, Some(name)) {
                return;
            }
        }
        match r {
            Ok(()) => self.finish_connect(conn),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {
                let deadline = self.now_ms() + self.core.cfg.connect_timeout.as_millis() as u64;
                let mut st = self.st.borrow_mut();
                if let Some(rec) = st.table.get(conn) {
                    rec.deadline_ms = deadline;
                }
                st.next_deadline = st.next_deadline.min(deadline);
            }
            Err(e) => self.schedule_close(conn, SocketOperation::Connect, errno_of(&e)),
        }
    }

    /// A connect that failed before it had a socket: give it a record so on_close reports it.
    pub(super) fn open_failed(&self, conn: ConnId, errno: i32) {
        let now = self.now_ms();
        let mut st = self.st.borrow_mut();
        // No socket: fd -1 (run_closes closes only real fds).
        st.table.insert(conn, -1, ConnState::Connecting, now);
        Self::schedule_close_in(&mut st, &self.dir, conn, SocketOperation::Connect, errno);
    }

    pub(super) fn finish_connect(&self, conn: ConnId) {
        let fd = {
            let mut st = self.st.borrow_mut();
            match st.table.get(conn) {
                Some(r) if r.state == ConnState::Connecting => r.fd,
                _ => return,
            }
        };
        // SAFETY: borrowed only for the getsockopt call; the record owns the fd.
        let b = unsafe { BorrowedFd::borrow_raw(fd) };
        let err = match socket2::SockRef::from(&b).take_error() {
            Ok(None) => 0,
            Ok(Some(e)) => errno_of(&e),
            Err(e) => errno_of(&e),
        };
        if err != 0 {
            self.schedule_close(conn, SocketOperation::Connect, err);
            return;
        }
        // A writable edge without an error can still mean "not yet" for some stacks: confirm.
        if socket2::SockRef::from(&b).peer_addr().is_err() {
            return;
        }
        {
            let mut st = self.st.borrow_mut();
            let Some(rec) = st.table.get(conn) else {
                return;
            };
            rec.state = ConnState::Open;
            rec.deadline_ms = 0;
            rec.set(flags::COUNTED | flags::WRITABLE);
            rec.created_ms = self.now_ms();
            rec.last_recv_ms = rec.created_ms;
            if let Some(c) = self.dir.lookup(conn) {
                c.mark_opened(rec.created_ms);
                c.set_state(SlotState::Open);
            }
        }
        self.stats.conn_opened();
        if self.events.connect(conn) == HandleResult::Error {
            self.schedule_close(conn, SocketOperation::Connect, CALLBACK_ERROR);
            return;
        }
        self.begin_handshake(conn);
    }
}
