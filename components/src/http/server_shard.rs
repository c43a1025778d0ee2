//! The per-shard half of [`HttpServer`]: the TCP listener of one shard, owning the request
//! decoders of that shard's connections, the keep-alive / slowloris sweeper, the files being
//! streamed, and the input held while one streams.

use super::file_stream::{FileStream, Pending, StreamEnd, Streams, CHUNK};
use super::server::{HttpConfig, HttpServer, HttpServerListener, RequestInfo};
use crate::{HandleResult, ServerListener, SocketOperation, TcpServer};
use shardnet_protocols::http::{
    BodyHandler, Feed, Flow, HeadAction, HttpError, RequestDecoder, RequestHandler, RequestHead,
    UpgradeKind,
};
use shardnet_runtime::{ConnId, ShardId};
use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::BorrowedFd;
use std::rc::{Rc, Weak};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// One connection's HTTP state on its shard.
struct ConnHttp {
    dec: RequestDecoder,
    /// The current request's head, reused by the requests of one pipelined burst and freed
    /// when the connection goes idle (boxed: an idle connection pays one pointer).
    info: Option<Box<RequestInfo>>,
    /// Requests begun on this connection.
    requests: u32,
    /// A request that ends the connection completed: what follows is not read.
    finished: bool,
    /// When the current head's first byte arrived (shard clock, ms; 0 = no head pending).
    head_since: u64,
    /// Since when no request has been in progress (shard clock, ms; 0 = one is).
    idle_since: u64,
    /// When body bytes last arrived while a request body is in progress (ms; 0 = none is).
    body_since: u64,
    upgraded: bool,
    /// Input received while a file streams: fed once it has been queued (`None`: not held;
    /// boxed so that the common case costs one pointer per connection, not a `Vec`'s three
    /// words: it grows while held, so a boxed slice would not do).
    #[allow(clippy::box_collection)]
    held: Option<Box<Vec<u8>>>,
}

/// State shared by a shard's listener, its sweeper, its file streams and the server handle
/// (found from the shard's thread through [`Shared::local`]).
pub(crate) struct Shared {
    core_id: u64,
    shard: ShardId,
    conns: RefCell<shardnet_runtime::ConnMap<ConnHttp>>,
    pub(crate) server: HttpServer,
    pub(crate) streams: Rc<Streams>,
    /// Connections with complete requests whose answers have not been sent (how many): not
    /// idle.
    awaiting: RefCell<shardnet_runtime::ConnMap<u32>>,
    /// The shard's listener, which resumes held connections.
    end: RefCell<Option<Weak<dyn StreamEnd>>>,
}

thread_local! {
    /// The HTTP servers' shard states on this thread.
    static SHARDS: RefCell<Vec<Weak<Shared>>> = const { RefCell::new(Vec::new()) };
    /// Final answers sent on this thread (a callback that sent none leaves its request
    /// awaiting).
    static ANSWERS: Cell<u64> = const { Cell::new(0) };
    /// The connection `HttpServer::release` was last called for on this thread (raw id; 0 =
    /// none): a feed stops reading a connection its listener released.
    pub(crate) static RELEASED: Cell<u64> = const { Cell::new(0) };
}

impl Shared {
    /// The state of `conn`'s shard of server `core_id`, if the calling thread is that shard.
    pub(crate) fn local(core_id: u64, conn: ConnId) -> Option<Rc<Shared>> {
        SHARDS.with(|v| {
            v.borrow()
                .iter()
                .filter_map(Weak::upgrade)
                .find(|s| s.core_id == core_id && s.shard == conn.shard())
        })
    }

    /// A final answer for `conn` was sent.
    pub(crate) fn answered(&self, conn: ConnId) {
        ANSWERS.with(|a| a.set(a.get() + 1));
        let mut w = self.awaiting.borrow_mut();
        if let Some(n) = w.get_mut(&conn) {
            *n -= 1;
            if *n == 0 {
                w.remove(&conn);
            }
        }
    }

    /// Sends `parts` on `conn` from its shard: behind the file streaming on it, if any.
    pub(crate) fn emit(&self, conn: ConnId, parts: &[&[u8]], answer: bool) -> crate::Result<()> {
        if answer {
            self.answered(conn);
        }
        if let Some(s) = self.streams.get(conn) {
            return s.push_tail(Pending::Bytes(parts.concat()), self.max_pending());
        }
        self.server.tcp.send_packets(conn, parts)
    }

    fn max_pending(&self) -> usize {
        self.server.tcp.core.cfg.max_pending_bytes
    }

    /// Sends `head` and the file `map` on `conn` from its shard: the first [`CHUNK`] now, the
    /// rest pumped (see [`super::file_stream`]). Behind a file already streaming, it waits.
    /// `counted`: the server's streaming count already includes this one.
    pub(crate) fn start_file(
        &self,
        conn: ConnId,
        head: Vec<u8>,
        map: memmap2::Mmap,
        counted: bool,
    ) -> crate::Result<()> {
        let streaming = &self.server.streaming;
        if let Some(s) = self.streams.get(conn) {
            let r = s.push_tail(Pending::File { head, map }, self.max_pending());
            match (&r, counted) {
                (Ok(()), false) => {
                    streaming.fetch_add(1, Ordering::Relaxed);
                }
                (Err(_), true) => {
                    streaming.fetch_sub(1, Ordering::Relaxed);
                }
                _ => {}
            }
            return r;
        }
        let Some(end) = self.end.borrow().clone() else {
            return Err(crate::Error::NotConnected);
        };
        self.answered(conn);
        if !counted {
            streaming.fetch_add(1, Ordering::Relaxed);
        }
        let first = CHUNK.min(map.len());
        let handed = (head.len() + first) as u64;
        let s = self
            .streams
            .start(end, &self.server.tcp, conn, map, first, handed);
        let r = self.server.tcp.send_packets(conn, &[&head, s.first(first)]);
        if r.is_err() {
            let n = self.streams.closed(conn);
            streaming.fetch_sub(n, Ordering::Relaxed);
        }
        r
    }
}

/// True when `data` holds the ends of two heads, i.e. more than one request (looked for in
/// the first 16 KiB; a body that happens to contain a blank line only costs a held write).
fn pipelined(data: &[u8]) -> bool {
    // Built once: `memmem::find` would build its searcher on every call.
    static HEAD_END: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
        std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\r\n\r\n"));
    let d = &data[..data.len().min(16 << 10)];
    match HEAD_END.find(d) {
        // A lone request ends where the read ends.
        Some(i) => i + 4 < d.len() && HEAD_END.find(&d[i + 4..]).is_some(),
        None => false,
    }
}

/// The TCP listener of one shard.
pub(crate) struct HttpShard<L> {
    inner: Rc<Inner<L>>,
}

pub(crate) struct Inner<L> {
    l: L,
    cfg: Arc<HttpConfig>,
    shared: Rc<Shared>,
}

impl<L: HttpServerListener> HttpShard<L> {
    /// Builds one shard's listener on that shard's thread and registers its state.
    pub(crate) fn new(l: L, cfg: Arc<HttpConfig>, server: HttpServer, shard: ShardId) -> Self {
        let tls = server.tcp.core.cfg.tls.is_some();
        let shared = Rc::new(Shared {
            core_id: server.tcp.core.id,
            shard,
            conns: RefCell::new(Default::default()),
            server,
            streams: Rc::default(),
            awaiting: RefCell::new(Default::default()),
            end: RefCell::new(None),
        });
        shared.streams.set_tls(tls);
        SHARDS.with(|v| {
            let mut v = v.borrow_mut();
            v.retain(|w| w.strong_count() > 0);
            v.push(Rc::downgrade(&shared));
        });
        spawn_sweeper(Rc::downgrade(&shared), &cfg);
        let inner = Rc::new(Inner { l, cfg, shared });
        let as_end: Rc<dyn StreamEnd> = inner.clone();
        *inner.shared.end.borrow_mut() = Some(Rc::downgrade(&as_end));
        HttpShard { inner }
    }
}

/// Every shard runs one sweeper: a head not complete `header_timeout` after its first byte, or
/// a body without progress for `body_timeout`, is answered 408 and closed (slowloris, slow
/// bodies); a connection with no request in progress, no answer owed and nothing left to send
/// for `keep_alive_timeout` is closed.
fn spawn_sweeper(shared: Weak<Shared>, cfg: &HttpConfig) {
    let (head, body, idle) = (cfg.header_timeout, cfg.body_timeout, cfg.keep_alive_timeout);
    let shortest = [head, body, idle]
        .into_iter()
        .filter(|t| !t.is_zero())
        .min();
    let Some(shortest) = shortest else {
        return;
    };
    let period = (shortest / 4).clamp(Duration::from_millis(10), Duration::from_secs(1));
    let ms = |t: Duration| t.as_millis() as u64;
    let (head, body, idle) = (ms(head), ms(body), ms(idle));
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(period).await;
            let Some(sh) = shared.upgrade() else { break };
            let server = sh.server.clone();
            if matches!(
                server.state(),
                crate::ServiceState::Stopping | crate::ServiceState::Stopped
            ) {
                break;
            }
            let now = shardnet_shard::clock_ms();
            let mut late = Vec::new();
            let mut idle_conns = Vec::new();
            {
                let awaiting = sh.awaiting.borrow();
                for (id, c) in sh.conns.borrow_mut().iter_mut() {
                    let slow_head =
                        head != 0 && c.head_since != 0 && now.saturating_sub(c.head_since) >= head;
                    let slow_body =
                        body != 0 && c.body_since != 0 && now.saturating_sub(c.body_since) >= body;
                    if slow_head || slow_body {
                        c.head_since = 0;
                        c.body_since = 0;
                        c.finished = true; // nothing more is read from it
                        late.push(*id);
                    } else if idle != 0
                        && c.idle_since != 0
                        && now.saturating_sub(c.idle_since) >= idle
                        && c.held.is_none()
                        && !awaiting.contains_key(id)
                    {
                        idle_conns.push(*id);
                    }
                }
            }
            let streams = sh.streams.clone();
            drop(sh);
            for conn in late {
                server.refuse(conn, 408);
            }
            for conn in idle_conns {
                // Still sending a response is not idle.
                if server.pending_data_length(conn) == Some(0) && !streams.active(conn) {
                    let _ = server.release(conn);
                }
            }
        }
    })
    .detach();
}

/// The codec's callbacks for one `feed`, turned into the listener's.
struct Dispatch<'a, L> {
    l: &'a L,
    s: &'a HttpServer,
    sh: &'a Shared,
    conn: ConnId,
    info: &'a mut Option<Box<RequestInfo>>,
    requests: &'a mut u32,
    max_requests: u32,
    /// A callback returned Error.
    failed: bool,
    /// A request that ends the connection completed.
    finished: bool,
    /// A file streams on the connection: the rest of the input waits for it.
    hold: bool,
}

impl<L: HttpServerListener> Dispatch<'_, L> {
    /// After a listener callback: Error fails the connection; a `release` of it ends the
    /// reading (what was answered still leaves: the close is graceful).
    fn check(&mut self, r: HandleResult) -> Flow {
        if r == HandleResult::Error {
            self.failed = true;
        } else if RELEASED.with(|x| x.get()) == self.conn.as_u64() {
            self.finished = true;
        }
        if self.stopped() {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    fn stopped(&self) -> bool {
        self.failed || self.finished || self.hold
    }
}

impl<L: HttpServerListener> RequestHandler for Dispatch<'_, L> {
    fn on_message_begin(&mut self) {
        *self.requests = self.requests.saturating_add(1);
        if !self.stopped() {
            let r = self.l.on_message_begin(self.s, self.conn);
            self.check(r);
        }
    }
    fn on_head(&mut self, head: &RequestHead<'_>) -> HeadAction {
        if self.stopped() {
            return HeadAction::Error;
        }
        let (s, c) = (self.s, self.conn);
        let mut ok = self.l.on_request_line(s, c, head.method, head.target) != HandleResult::Error;
        for f in head.headers {
            ok = ok && self.l.on_header(s, c, f.name, f.value) != HandleResult::Error;
        }
        if !ok {
            self.failed = true;
            return HeadAction::Error;
        }
        let info = self
            .info
            .get_or_insert_with(|| Box::new(RequestInfo::empty()));
        info.fill(head, *self.requests);
        if self.max_requests != 0 && *self.requests >= self.max_requests {
            info.keep_alive = false;
        }
        let action = self.l.on_headers_complete(s, c, head);
        if action == HeadAction::Error {
            self.failed = true;
        }
        if self.check(HandleResult::Ok) == Flow::Stop {
            return HeadAction::Error;
        }
        let has_body = !matches!(
            head.framing,
            shardnet_protocols::http::BodyFraming::None
                | shardnet_protocols::http::BodyFraming::Length(0)
        );
        // 100 Continue only for HTTP/1.1 clients (RFC 9110 §10.1.1).
        if action == HeadAction::Continue && head.expect_continue && has_body && head.version == 1 {
            let _ = s.tcp.send(c, b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        action
    }
}

impl<L: HttpServerListener> BodyHandler for Dispatch<'_, L> {
    fn on_chunk_header(&mut self, len: u64) {
        if !self.stopped() {
            let r = self.l.on_chunk_header(self.s, self.conn, len);
            self.check(r);
        }
    }
    fn on_body(&mut self, data: &[u8]) -> Flow {
        if self.stopped() {
            return Flow::Stop;
        }
        let r = self.l.on_body(self.s, self.conn, data);
        self.check(r)
    }
    fn on_chunk_complete(&mut self) {
        if !self.stopped() {
            let r = self.l.on_chunk_complete(self.s, self.conn);
            self.check(r);
        }
    }
    fn on_message_complete(&mut self) -> Flow {
        if self.stopped() {
            return Flow::Stop;
        }
        let info = self.info.as_deref().expect("a head came first");
        let keep_alive = info.keep_alive;
        let answers = ANSWERS.with(|a| a.get());
        let r = self.l.on_message_complete(self.s, self.conn, info);
        if ANSWERS.with(|a| a.get()) == answers && r != HandleResult::Error {
            // Not answered inside the callback: owed (the keep-alive sweeper must wait).
            *self.sh.awaiting.borrow_mut().entry(self.conn).or_insert(0) += 1;
        }
        if !keep_alive && r != HandleResult::Error {
            // The connection ends with this exchange: pipelined requests after it are not
            // answered (the client learns from `Connection: close`).
            self.finished = true;
        }
        if self.sh.streams.active(self.conn) {
            self.hold = true;
        }
        self.check(r)
    }
}

impl<L: HttpServerListener> Inner<L> {
    fn http(&self) -> &HttpServer {
        &self.shared.server
    }

    fn receive(&self, conn: ConnId, data: &[u8]) -> HandleResult {
        let s = self.http();
        // Taken out while callbacks run: they may call anything, including on this shard.
        let Some(mut c) = self.shared.conns.borrow_mut().remove(&conn) else {
            return HandleResult::Error;
        };
        if c.finished {
            self.shared.conns.borrow_mut().insert(conn, c);
            return HandleResult::Ok;
        }
        if let Some(held) = &mut c.held {
            held.extend_from_slice(data);
            self.shared.conns.borrow_mut().insert(conn, c);
            return HandleResult::Ok;
        }
        if c.upgraded {
            let r = self.l.on_upgraded_data(s, conn, data);
            self.shared.conns.borrow_mut().insert(conn, c);
            return r;
        }
        RELEASED.with(|x| x.set(0));
        let mut d = Dispatch {
            l: &self.l,
            s,
            sh: &self.shared,
            conn,
            info: &mut c.info,
            requests: &mut c.requests,
            max_requests: self.cfg.max_requests,
            failed: false,
            finished: false,
            hold: false,
        };
        let fed = c.dec.feed(data, &mut d);
        let (failed, hold) = (d.failed, d.hold);
        c.finished |= d.finished || RELEASED.with(|x| x.get()) == conn.as_u64();
        let result = match fed {
            Err(e) => {
                self.parse_error(conn, &e);
                HandleResult::Ok
            }
            Ok(_) if failed => HandleResult::Error,
            Ok(Feed::Upgraded { consumed }) => {
                c.upgraded = true;
                // HTTP is over on this connection: its request copy is not needed any more.
                let kind = c
                    .info
                    .take()
                    .and_then(|i| i.upgrade)
                    .unwrap_or(UpgradeKind::Other);
                if self.l.on_upgrade(s, conn, kind) == HandleResult::Error {
                    HandleResult::Error
                } else if consumed < data.len() {
                    self.l.on_upgraded_data(s, conn, &data[consumed..])
                } else {
                    HandleResult::Ok
                }
            }
            Ok(fed) if hold && !c.finished => {
                // A file streams: the rest waits, and nothing more is read meanwhile.
                let consumed = match fed {
                    Feed::Stopped { consumed } => consumed,
                    _ => data.len(),
                };
                c.held = Some(Box::new(data[consumed..].to_vec()));
                let _ = s.tcp.pause_receive(conn, true);
                HandleResult::Ok
            }
            Ok(_) => HandleResult::Ok,
        };
        c.body_since = if c.dec.in_body() && !c.finished {
            shardnet_shard::clock_ms()
        } else {
            0
        };
        if c.dec.in_head() {
            if c.head_since == 0 {
                c.head_since = shardnet_shard::clock_ms();
            }
            c.idle_since = 0;
        } else {
            c.head_since = 0;
            c.idle_since = if c.dec.is_idle() && !c.upgraded {
                // Between requests nothing is kept but the counters: the head's copy is freed
                // (the requests of one pipelined burst share it).
                c.info = None;
                shardnet_shard::clock_ms()
            } else {
                0
            };
        }
        self.shared.conns.borrow_mut().insert(conn, c);
        result
    }

    fn parse_error(&self, conn: ConnId, e: &HttpError) {
        let s = self.http();
        let _ = self.l.on_parse_error(s, conn, e.status(), e.description());
        s.refuse(conn, e.status());
    }
}

impl<L: HttpServerListener> StreamEnd for Inner<L> {
    fn stream_done(&self, conn: ConnId, s: Rc<FileStream>) {
        let server = self.http();
        server.streaming.fetch_sub(1, Ordering::Relaxed);
        // Answers that waited behind the file leave now; a file among them streams next.
        while let Some(p) = s.pop_tail() {
            match p {
                Pending::Bytes(b) => {
                    if server.tcp.send(conn, &b).is_err() {
                        // The connection is failing: the files still waiting are not sent.
                        server
                            .streaming
                            .fetch_sub(s.files_waiting(), Ordering::Relaxed);
                        return;
                    }
                }
                Pending::File { head, map } => {
                    // Counted when it was queued behind this one.
                    match self.shared.start_file(conn, head, map, true) {
                        Ok(()) => match self.shared.streams.get(conn) {
                            Some(next) => next.inherit(&s),
                            // Sent whole at once: what waited behind it follows.
                            None => continue,
                        },
                        Err(_) => {
                            server
                                .streaming
                                .fetch_sub(s.files_waiting(), Ordering::Relaxed);
                        }
                    }
                    return;
                }
            }
        }
        if s.release_after.get() {
            let _ = server.tcp.disconnect(conn, false);
            return;
        }
        // Feed what arrived meanwhile and read again.
        let held = self
            .shared
            .conns
            .borrow_mut()
            .get_mut(&conn)
            .and_then(|c| c.held.take());
        if let Some(held) = held {
            let _ = server.tcp.pause_receive(conn, false);
            if !held.is_empty() && self.receive(conn, &held) == HandleResult::Error {
                let _ = server.tcp.disconnect(conn, true);
            }
        }
    }
}

impl<L: HttpServerListener> ServerListener for HttpShard<L> {
    fn on_prepare_listen(
        &self,
        _tcp: &TcpServer,
        socket: BorrowedFd<'_>,
        addr: SocketAddr,
    ) -> HandleResult {
        self.inner
            .l
            .on_prepare_listen(self.inner.http(), socket, addr)
    }

    fn on_accept(
        &self,
        _tcp: &TcpServer,
        conn: ConnId,
        peer: SocketAddr,
        fd: BorrowedFd<'_>,
    ) -> HandleResult {
        let me = &*self.inner;
        let r = me.l.on_accept_socket(me.http(), conn, peer, fd);
        if r != HandleResult::Error {
            me.shared.conns.borrow_mut().insert(
                conn,
                ConnHttp {
                    dec: RequestDecoder::new(me.cfg.limits),
                    info: None,
                    requests: 0,
                    finished: false,
                    head_since: 0,
                    idle_since: shardnet_shard::clock_ms(),
                    body_since: 0,
                    upgraded: false,
                    held: None,
                },
            );
        }
        r
    }

    fn on_handshake(&self, _tcp: &TcpServer, conn: ConnId) -> HandleResult {
        self.inner.l.on_handshake(self.inner.http(), conn)
    }

    fn on_receive(&self, tcp: &TcpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        if pipelined(data) {
            // The answers to the requests of one read leave in one write (hyper's
            // `pipeline_flush`), the first one included. A lone request is answered at once.
            tcp.core.cork_all(conn);
        }
        self.inner.receive(conn, data)
    }

    fn on_send(&self, tcp: &TcpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        let me = &*self.inner;
        if !me.shared.streams.is_empty() {
            me.shared.streams.on_sent(me, tcp, conn, data.len());
        }
        me.l.on_send(me.http(), conn, data)
    }

    fn on_close(
        &self,
        _tcp: &TcpServer,
        conn: ConnId,
        op: SocketOperation,
        e: i32,
    ) -> HandleResult {
        let me = &*self.inner;
        me.shared.conns.borrow_mut().remove(&conn);
        me.shared.awaiting.borrow_mut().remove(&conn);
        let dropped = me.shared.streams.closed(conn);
        if dropped > 0 {
            me.http().streaming.fetch_sub(dropped, Ordering::Relaxed);
        }
        me.l.on_close(me.http(), conn, op, e)
    }

    fn on_shutdown(&self, _tcp: &TcpServer) -> HandleResult {
        self.inner.l.on_shutdown(self.inner.http())
    }
}

#[cfg(test)]
mod tests {
    /// What an idle keep-alive connection pays in its shard's map (the `idle_memory` bench
    /// measures the whole: 10,000 of them after one request each).
    #[test]
    fn per_connection_state_stays_small() {
        let n = std::mem::size_of::<super::ConnHttp>();
        assert!(n <= 136, "ConnHttp is {n} bytes");
    }
}
