//! WebSocketServer: the handle, its builder, its listener trait and settings.

use super::conns::WsShared;
use super::shard::WsShard;
use crate::http::handler::HandlerListener;
use crate::http::{HttpServer, HttpServerBuilder, Request, Response};
use crate::{HandleResult, Result, SocketOperation};
use shardnet_protocols::http::RequestHead;
use shardnet_protocols::ws::{opcode, DeflateConfig, FrameHeader, Message, WsLimits};
use shardnet_runtime::{ConnId, ShardId};
use std::sync::Arc;
use std::time::Duration;

/// WebSocket settings.
#[derive(Clone, Debug)]
pub struct WsConfig {
    /// Frame and message size limits (16 MiB / 64 MiB): a bigger one closes with 1009.
    pub limits: WsLimits,
    /// permessage-deflate when a client offers it (default on, level 1, messages of 64 bytes
    /// or more compressed); `None` never negotiates it.
    pub deflate: Option<DeflateConfig>,
    /// After sending a close frame, how long to wait for the peer's before dropping the
    /// connection (default 5 s).
    pub close_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            limits: WsLimits::default(),
            deflate: Some(DeflateConfig::default()),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// The answer to an upgrade request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpgradeDecision {
    /// Switch to WebSocket, with this subprotocol (one the client offered) if any.
    Accept {
        /// The chosen `Sec-WebSocket-Protocol`.
        protocol: Option<String>,
    },
    /// Refuse with this HTTP status (the connection closes after it).
    Reject(u16),
}

/// Callbacks of a [`WebSocketServer`]. `on_message` and `on_close` are required.
/// [`HandleResult::Error`] from a callback closes the connection (`on_close(Receive,
/// ECANCELED)`).
#[allow(unused_variables)]
pub trait WebSocketListener: 'static {
    /// An upgrade request arrived (valid: GET, version 13, a key). Accept (default) or refuse.
    fn on_upgrade(
        &self,
        ws: &WebSocketServer,
        conn: ConnId,
        head: &RequestHead<'_>,
        protocols: &[String],
    ) -> UpgradeDecision {
        UpgradeDecision::Accept { protocol: None }
    }
    /// The `101` was sent: the connection speaks WebSocket.
    fn on_open(&self, ws: &WebSocketServer, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// A whole message (reassembled, inflated, text checked).
    fn on_message(&self, ws: &WebSocketServer, conn: ConnId, msg: Message<'_>) -> HandleResult;
    /// A ping (a pong with the same payload has already been sent).
    fn on_ping(&self, ws: &WebSocketServer, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// A pong.
    fn on_pong(&self, ws: &WebSocketServer, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The peer's close frame (code None: it sent none, 1005). The server answers it and
    /// closes; `on_close` follows.
    fn on_ws_close(&self, ws: &WebSocketServer, conn: ConnId, code: Option<u16>, reason: &str) {}
    /// HP-Socket's `OnWSMessageHeader`: every frame's header, before the message layer.
    fn on_ws_message_header(
        &self,
        ws: &WebSocketServer,
        conn: ConnId,
        header: &FrameHeader,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// HP-Socket's `OnWSMessageBody`: the frame's payload, unmasked, as it arrives.
    fn on_ws_message_body(&self, ws: &WebSocketServer, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// HP-Socket's `OnWSMessageComplete`: the frame ended.
    fn on_ws_message_complete(&self, ws: &WebSocketServer, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection closed (exactly once; also for plain HTTP connections). A protocol
    /// error reports `(Receive, EPROTO)`, invalid text `(Receive, EILSEQ)`, a message over
    /// the limits `(Receive, EMSGSIZE)`, each after the close frame with its code was sent.
    fn on_close(
        &self,
        ws: &WebSocketServer,
        conn: ConnId,
        operation: SocketOperation,
        errno: i32,
    ) -> HandleResult;
    /// The server stopped.
    fn on_shutdown(&self, ws: &WebSocketServer) -> HandleResult {
        HandleResult::Ignore
    }
}

/// Handle to a running WebSocket server: the [`HttpServer`] API (`Deref`) plus WebSocket
/// sends. `Clone + Send + Sync`.
#[derive(Clone)]
pub struct WebSocketServer {
    pub(crate) http: HttpServer,
}

impl std::ops::Deref for WebSocketServer {
    type Target = HttpServer;
    fn deref(&self) -> &HttpServer {
        &self.http
    }
}

/// The fallback for requests that are not upgrades.
pub(crate) type HttpHandler = Box<dyn Fn(&Request) -> Response + Send + Sync>;

/// Configures and starts a [`WebSocketServer`].
pub struct WebSocketServerBuilder {
    http: HttpServerBuilder,
    ws: WsConfig,
    handler: Option<Arc<HttpHandler>>,
}

impl WebSocketServer {
    /// A builder with the HTTP server's defaults and [`WsConfig::default`].
    pub fn builder() -> WebSocketServerBuilder {
        WebSocketServerBuilder {
            http: HttpServer::builder(),
            ws: WsConfig::default(),
            handler: None,
        }
    }

    fn send_op(&self, conn: ConnId, op: u8, data: &[u8], raw: Option<(bool, u8)>) -> Result<()> {
        let core = &self.http.tcp.core;
        if let Some(sh) = WsShared::local(core.id, conn) {
            return sh.send(core, conn, op, data, raw);
        }
        // From another thread: framed (and compressed) on the connection's shard, in order.
        super::conns::check_room(core, conn, data.len())?;
        let (data, me) = (data.to_vec(), self.clone());
        let core_id = core.id;
        core.send_hooked(
            conn,
            &[],
            Box::new(move || {
                if let Some(sh) = WsShared::local(core_id, conn) {
                    let r = sh.send(&me.http.tcp.core, conn, op, &data, raw);
                    if matches!(r, Err(crate::Error::QueueFull(_))) {
                        // The queue filled while this waited in the inbox: the peer is not
                        // reading; a message cannot be dropped silently.
                        let _ = me.http.disconnect(conn, true);
                    }
                }
            }),
        )
    }

    /// Sends a text message (compressed when negotiated and at least the configured size).
    pub fn send_text(&self, conn: ConnId, text: &str) -> Result<()> {
        self.send_op(conn, opcode::TEXT, text.as_bytes(), None)
    }
    /// Sends a binary message.
    pub fn send_binary(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.send_op(conn, opcode::BINARY, data, None)
    }
    /// Sends a ping (at most 125 bytes).
    pub fn send_ping(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.check_control(data)?;
        self.send_op(conn, opcode::PING, data, None)
    }
    /// Sends an unsolicited pong (at most 125 bytes).
    pub fn send_pong(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.check_control(data)?;
        self.send_op(conn, opcode::PONG, data, None)
    }
    /// HP-Socket's `SendWSMessage`: one frame exactly as given (no compression; `rsv` as
    /// given, so RSV1 only with data the peer can inflate).
    pub fn send_frame(&self, conn: ConnId, fin: bool, rsv: u8, op: u8, data: &[u8]) -> Result<()> {
        if opcode::is_control(op) {
            self.check_control(data)?;
        }
        self.send_op(conn, op, data, Some((fin, rsv)))
    }
    /// Sends one message to many connections (a chat room, a game lobby). The frame is built
    /// once per shard and its bytes handed to each connection there; only connections that
    /// negotiated compression get their own (their deflate context differs). Connections on
    /// other shards are reached with one inbox command per shard, not one per connection.
    /// Returns how many connections the message was queued for (on other shards: handed to
    /// their shard).
    pub fn broadcast(&self, conns: &[ConnId], msg: Message<'_>) -> usize {
        let (op, data) = match msg {
            Message::Text(t) => (opcode::TEXT, t.as_bytes()),
            Message::Binary(b) => (opcode::BINARY, b),
        };
        let core = &self.http.tcp.core;
        let mut by_shard: Vec<Vec<ConnId>> = vec![Vec::new(); core.links.len()];
        for &c in conns {
            if let Some(v) = by_shard.get_mut(c.shard().0) {
                v.push(c);
            }
        }
        let mut frame = Vec::with_capacity(data.len() + 10);
        shardnet_protocols::ws::write_frame(&mut frame, true, 0, op, data, None);
        let frame: Arc<[u8]> = frame.into();
        let mut sent = 0;
        for group in by_shard.into_iter().filter(|g| !g.is_empty()) {
            let first = group[0];
            if let Some(sh) = WsShared::local(core.id, first) {
                sent += sh.broadcast(core, &group, op, data, &frame);
                continue;
            }
            let (core2, frame2, payload) = (core.clone(), frame.clone(), data.to_vec());
            let core_id = core.id;
            let n = group.len();
            let posted = core.send_hooked(
                first,
                &[],
                Box::new(move || {
                    if let Some(sh) = WsShared::local(core_id, group[0]) {
                        sh.broadcast(&core2, &group, op, &payload, &frame2);
                    }
                }),
            );
            if posted.is_ok() {
                sent += n;
            }
        }
        sent
    }

    /// Sends one message to every member of `group` (joined with [`crate::TcpServer::join`],
    /// reached through `Deref`) but `except`: one job per shard carrying the frame, built once
    /// and shared; each shard hands those bytes to its members that did not negotiate
    /// compression and frames the message anew only for those that did. Members over their
    /// send-queue bound, or closing, are skipped and counted in `group_stats`. Ok means every
    /// shard got the job.
    pub fn send_group(
        &self,
        group: crate::groups::GroupId,
        msg: Message<'_>,
        except: Option<ConnId>,
    ) -> Result<()> {
        let (op, data) = match msg {
            Message::Text(t) => (opcode::TEXT, t.as_bytes()),
            Message::Binary(b) => (opcode::BINARY, b),
        };
        let mut frame = Vec::with_capacity(data.len() + 10);
        shardnet_protocols::ws::write_frame(&mut frame, true, 0, op, data, None);
        let frame: Arc<[u8]> = frame.into();
        let payload: Arc<[u8]> = data.into();
        let core = &self.http.tcp.core;
        let mut first_err = None;
        for i in 0..core.links.len() {
            let (core2, frame, payload) = (core.clone(), frame.clone(), payload.clone());
            let r = crate::groups::on_shard(core, ShardId(i), move || {
                let members = crate::groups::members_here(core2.id, group, except);
                let Some(&first) = members.first() else {
                    return;
                };
                let sent = WsShared::local(core2.id, first)
                    .map_or(0, |sh| sh.broadcast(&core2, &members, op, &payload, &frame));
                core2
                    .groups
                    .count(sent as u64, (members.len() - sent) as u64);
            });
            if let Err(e) = r {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Starts the close handshake: a close frame with `code` and `reason`; the connection
    /// closes when the peer answers, or after `close_timeout`.
    pub fn close(&self, conn: ConnId, code: u16, reason: &str) -> Result<()> {
        let mut p = code.to_be_bytes().to_vec();
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        p.extend_from_slice(&reason.as_bytes()[..end]);
        self.send_op(conn, opcode::CLOSE, &p, None)
    }

    fn check_control(&self, data: &[u8]) -> Result<()> {
        if data.len() > 125 {
            return Err(crate::Error::InvalidParam(
                "a control frame carries at most 125 bytes".into(),
            ));
        }
        Ok(())
    }
}

impl WebSocketServerBuilder {
    /// Configures the underlying HTTP server (its TCP settings through `.tcp(..)`).
    pub fn http(mut self, f: impl FnOnce(HttpServerBuilder) -> HttpServerBuilder) -> Self {
        self.http = f(self.http);
        self
    }
    /// Replaces the WebSocket settings.
    pub fn ws_config(mut self, cfg: WsConfig) -> Self {
        self.ws = cfg;
        self
    }
    /// Frame and message limits.
    pub fn limits(mut self, l: WsLimits) -> Self {
        self.ws.limits = l;
        self
    }
    /// permessage-deflate settings (`None`: never negotiated).
    pub fn deflate(mut self, d: Option<DeflateConfig>) -> Self {
        self.ws.deflate = d;
        self
    }
    /// Shards of the server's own runtime.
    pub fn shards(mut self, n: usize) -> Self {
        self.http = self.http.shards(n);
        self
    }
    /// Runs on an existing runtime.
    pub fn runtime(mut self, rt: shardnet_runtime::Runtime) -> Self {
        self.http = self.http.runtime(rt);
        self
    }
    /// wss:// (give the TLS configuration ALPN `http/1.1`).
    pub fn tls(mut self, cfg: crate::tls::ServerTlsConfig) -> Self {
        self.http = self.http.tls(cfg);
        self
    }
    /// Answers requests that are not WebSocket upgrades with `f` (whole requests, as
    /// `HttpServerBuilder::serve`); without it they get 426 Upgrade Required.
    pub fn http_handler(
        mut self,
        f: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> Self {
        self.handler = Some(Arc::new(Box::new(f)));
        self
    }

    /// Starts with one shared listener.
    pub fn start<L>(self, addr: &str, listener: Arc<L>) -> Result<WebSocketServer>
    where
        L: WebSocketListener + Send + Sync,
    {
        self.start_with(addr, move |_| super::shard::ArcWs(listener.clone()))
    }

    /// Starts with one listener per shard, built on that shard's thread.
    pub fn start_with<L, F>(self, addr: &str, factory: F) -> Result<WebSocketServer>
    where
        L: WebSocketListener,
        F: Fn(ShardId) -> L + Send + Sync + 'static,
    {
        // A whole message of the maximum size must fit in a connection's send queue (an echo
        // of a 16 MiB message would otherwise be refused with QueueFull and the connection
        // closed): raise the TCP bound to it unless it is off (0) or already larger.
        let need = super::queue_bound_for(&self.ws.limits);
        let http = self.http.tcp(|t| {
            let cur = t.settings().max_pending_bytes;
            if cur != 0 && cur < need {
                t.max_pending_bytes(need)
            } else {
                t
            }
        });
        let ws = Arc::new(self.ws);
        let handler = self.handler;
        let http_cfg = http.http_settings().clone();
        let http = http.start_with_handle(addr, move |shard, server| {
            let fallback = handler
                .as_ref()
                .map(|f| HandlerListener::<HttpHandler>::new(f.clone(), &http_cfg));
            WsShard::new(factory(shard), fallback, ws.clone(), server, shard)
        })?;
        Ok(WebSocketServer { http })
    }
}
