//! WebSocketAgent: WebSocket client connections over an [`HttpAgent`]: the upgrade request
//! sent when the connection is ready, the `101` checked, then frames masked with fresh keys.

use super::conns::{WsEvents, WsShared};
use super::server::WsConfig;
use crate::http::{HttpAgent, HttpAgentBuilder, HttpClientListener, ResponseInfo};
use crate::{HandleResult, Result, SocketOperation};
use shardnet_protocols::http::{HeadAction, ResponseHead, UpgradeKind, UrlParts};
use shardnet_protocols::ws::{handshake, opcode, DeflateConfig, FrameHeader, Message, Role};
use shardnet_runtime::{ConnId, ShardId};
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// Callbacks of a [`WebSocketAgent`]. `on_message` and `on_close` are required.
#[allow(unused_variables)]
pub trait WebSocketClientListener: 'static {
    /// The server accepted the upgrade: the connection speaks WebSocket.
    fn on_open(&self, ws: &WebSocketAgent, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The server refused the upgrade (`status` ≠ 101) or answered it wrongly; the connection
    /// closes after this.
    fn on_upgrade_failed(&self, ws: &WebSocketAgent, conn: ConnId, status: u16, reason: &str) {}
    /// A whole message.
    fn on_message(&self, ws: &WebSocketAgent, conn: ConnId, msg: Message<'_>) -> HandleResult;
    /// A ping (the pong has been sent).
    fn on_ping(&self, ws: &WebSocketAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// A pong.
    fn on_pong(&self, ws: &WebSocketAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The server's close frame (answered; the server then closes the connection).
    fn on_ws_close(&self, ws: &WebSocketAgent, conn: ConnId, code: Option<u16>, reason: &str) {}
    /// Every frame's header (HP-Socket's `OnWSMessageHeader`).
    fn on_ws_message_header(
        &self,
        ws: &WebSocketAgent,
        conn: ConnId,
        h: &FrameHeader,
    ) -> HandleResult {
        HandleResult::Ignore
    }
    /// Frame payload as it arrives (`OnWSMessageBody`).
    fn on_ws_message_body(&self, ws: &WebSocketAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        HandleResult::Ignore
    }
    /// The frame ended (`OnWSMessageComplete`).
    fn on_ws_message_complete(&self, ws: &WebSocketAgent, conn: ConnId) -> HandleResult {
        HandleResult::Ignore
    }
    /// The connection closed (exactly once; also when the connect or the upgrade failed).
    fn on_close(
        &self,
        ws: &WebSocketAgent,
        conn: ConnId,
        operation: SocketOperation,
        errno: i32,
    ) -> HandleResult;
    /// The agent stopped.
    fn on_shutdown(&self, ws: &WebSocketAgent) -> HandleResult {
        HandleResult::Ignore
    }
}

/// What a connection asks for in its upgrade request.
#[derive(Clone)]
struct Upgrade {
    target: String,
    protocols: Vec<String>,
}

/// Handle to a running WebSocket agent: the [`HttpAgent`] API (`Deref`) plus WebSocket sends.
/// `Clone + Send + Sync`.
#[derive(Clone)]
pub struct WebSocketAgent {
    http: HttpAgent,
    pending: Arc<Mutex<HashMap<ConnId, Upgrade>>>,
    tls: bool,
}

impl std::ops::Deref for WebSocketAgent {
    type Target = HttpAgent;
    fn deref(&self) -> &HttpAgent {
        &self.http
    }
}

/// Configures and starts a [`WebSocketAgent`].
pub struct WebSocketAgentBuilder {
    http: HttpAgentBuilder,
    ws: WsConfig,
    tls: bool,
}

impl WebSocketAgent {
    /// A builder: the HTTP agent's defaults, no compression offered (see
    /// [`WebSocketAgentBuilder::deflate`]).
    pub fn builder() -> WebSocketAgentBuilder {
        WebSocketAgentBuilder {
            http: HttpAgent::builder(),
            ws: WsConfig {
                deflate: None,
                ..WsConfig::default()
            },
            tls: false,
        }
    }

    /// Connects to a `ws://` URL (or `wss://` with [`WebSocketAgentBuilder::tls`]) offering
    /// `protocols`; `on_open` follows the server's `101`.
    pub fn connect(&self, url: &str, protocols: &[&str]) -> Result<ConnId> {
        let u = UrlParts::parse(url, false);
        let secure = match u.scheme {
            Some(s) if s.eq_ignore_ascii_case("ws") => false,
            Some(s) if s.eq_ignore_ascii_case("wss") => true,
            _ => {
                return Err(crate::Error::InvalidParam(format!(
                    "not a ws:// URL: {url}"
                )))
            }
        };
        if secure != self.tls {
            return Err(crate::Error::InvalidParam(format!(
                "{url}: the agent was built {} TLS",
                if self.tls { "with" } else { "without" }
            )));
        }
        let host = u
            .host
            .filter(|h| !h.is_empty())
            .ok_or_else(|| crate::Error::InvalidParam(format!("no host in {url}")))?;
        let port = u.port.unwrap_or(if secure { 443 } else { 80 });
        let mut target = if u.path.is_empty() {
            "/".to_string()
        } else {
            u.path.to_string()
        };
        if let Some(q) = u.query {
            target.push('?');
            target.push_str(q);
        }
        let up = Upgrade {
            target,
            protocols: protocols.iter().map(|p| p.to_string()).collect(),
        };
        let pending = &self.pending;
        let conn = self.http.connect_then(host, port, |conn| {
            // Recorded before the connect is posted: on_handshake may run at once.
            pending
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(conn, up);
        });
        conn
    }

    fn send_op(&self, conn: ConnId, op: u8, data: &[u8], raw: Option<(bool, u8)>) -> Result<()> {
        let core = &self.http.core;
        if let Some(sh) = WsShared::local(core.id, conn) {
            return sh.send(core, conn, op, data, raw);
        }
        super::conns::check_room(core, conn, data.len())?;
        let (data, core2) = (data.to_vec(), core.clone());
        let core_id = core.id;
        core.send_hooked(
            conn,
            &[],
            Box::new(move || {
                if let Some(sh) = WsShared::local(core_id, conn) {
                    let r = sh.send(&core2, conn, op, &data, raw);
                    if matches!(r, Err(crate::Error::QueueFull(_))) {
                        let _ = core2.disconnect(conn, true);
                    }
                }
            }),
        )
    }

    /// Sends a text message (masked; compressed when negotiated).
    pub fn send_text(&self, conn: ConnId, text: &str) -> Result<()> {
        self.send_op(conn, opcode::TEXT, text.as_bytes(), None)
    }
    /// Sends a binary message.
    pub fn send_binary(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        self.send_op(conn, opcode::BINARY, data, None)
    }
    /// Sends a ping (at most 125 bytes).
    pub fn send_ping(&self, conn: ConnId, data: &[u8]) -> Result<()> {
        if data.len() > 125 {
            return Err(crate::Error::InvalidParam(
                "a ping carries at most 125 bytes".into(),
            ));
        }
        self.send_op(conn, opcode::PING, data, None)
    }
    /// One frame exactly as given (HP-Socket's `SendWSMessage`; masked).
    pub fn send_frame(&self, conn: ConnId, fin: bool, rsv: u8, op: u8, data: &[u8]) -> Result<()> {
        self.send_op(conn, op, data, Some((fin, rsv)))
    }
    /// Starts the close handshake with `code` and `reason`.
    pub fn close(&self, conn: ConnId, code: u16, reason: &str) -> Result<()> {
        let mut p = code.to_be_bytes().to_vec();
        let mut end = reason.len().min(123);
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        p.extend_from_slice(&reason.as_bytes()[..end]);
        self.send_op(conn, opcode::CLOSE, &p, None)
    }
}

impl WebSocketAgentBuilder {
    /// Configures the underlying HTTP agent.
    pub fn http(mut self, f: impl FnOnce(HttpAgentBuilder) -> HttpAgentBuilder) -> Self {
        self.http = f(self.http);
        self
    }
    /// Offer permessage-deflate with these settings (`None`: do not offer; the default).
    pub fn deflate(mut self, d: Option<DeflateConfig>) -> Self {
        self.ws.deflate = d;
        self
    }
    /// Frame and message limits.
    pub fn limits(mut self, l: shardnet_protocols::ws::WsLimits) -> Self {
        self.ws.limits = l;
        self
    }
    /// Shards of the agent's own runtime.
    pub fn shards(mut self, n: usize) -> Self {
        self.http = self.http.shards(n);
        self
    }
    /// wss:// with this TLS configuration.
    pub fn tls(mut self, cfg: crate::tls::ClientTlsConfig) -> Self {
        self.http = self.http.tls(cfg);
        self.tls = true;
        self
    }

    /// Starts with one shared listener.
    pub fn start<L>(self, listener: Arc<L>) -> Result<WebSocketAgent>
    where
        L: WebSocketClientListener + Send + Sync,
    {
        self.start_with(move |_| ArcClient(listener.clone()))
    }

    /// Starts with one listener per shard, built on that shard's thread.
    pub fn start_with<L, F>(self, factory: F) -> Result<WebSocketAgent>
    where
        L: WebSocketClientListener,
        F: Fn(ShardId) -> L + Send + Sync + 'static,
    {
        // As the server: a whole message of the maximum size fits in the send queue.
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
        let pending: Arc<Mutex<HashMap<ConnId, Upgrade>>> = Arc::default();
        let (pending2, tls) = (pending.clone(), self.tls);
        let http = http.start_with_core(move |shard, core| ClientShard {
            l: factory(shard),
            sh: WsShared::new(core, shard, Role::Client, ws.clone()),
            keys: RefCell::new(Default::default()),
            pending: pending2.clone(),
            tls,
            handle: OnceCell::new(),
        })?;
        Ok(WebSocketAgent { http, pending, tls })
    }
}

/// One shard's listener: sends the upgrade, checks the answer, feeds the endpoints.
struct ClientShard<L> {
    l: L,
    sh: Rc<WsShared>,
    /// The key of each upgrade request sent and not answered.
    /// Per connection awaiting its `101`: the key sent and the subprotocols offered.
    keys: RefCell<shardnet_runtime::ConnMap<(String, Vec<String>)>>,
    pending: Arc<Mutex<HashMap<ConnId, Upgrade>>>,
    tls: bool,
    handle: OnceCell<WebSocketAgent>,
}

impl<L> ClientShard<L> {
    fn ws(&self, a: &HttpAgent) -> &WebSocketAgent {
        self.handle.get_or_init(|| WebSocketAgent {
            http: a.clone(),
            pending: self.pending.clone(),
            tls: self.tls,
        })
    }
}

/// The client listener as the shared receive path sees it.
struct Ev<'a, L> {
    l: &'a L,
    ws: &'a WebSocketAgent,
}

impl<L: WebSocketClientListener> WsEvents for Ev<'_, L> {
    fn frame_header(&self, conn: ConnId, h: &FrameHeader) -> HandleResult {
        self.l.on_ws_message_header(self.ws, conn, h)
    }
    fn frame_body(&self, conn: ConnId, data: &[u8]) -> HandleResult {
        self.l.on_ws_message_body(self.ws, conn, data)
    }
    fn frame_end(&self, conn: ConnId) -> HandleResult {
        self.l.on_ws_message_complete(self.ws, conn)
    }
    fn message(&self, conn: ConnId, m: Message<'_>) -> HandleResult {
        self.l.on_message(self.ws, conn, m)
    }
    fn ping(&self, conn: ConnId, data: &[u8]) -> HandleResult {
        self.l.on_ping(self.ws, conn, data)
    }
    fn pong(&self, conn: ConnId, data: &[u8]) -> HandleResult {
        self.l.on_pong(self.ws, conn, data)
    }
    fn ws_close(&self, conn: ConnId, code: Option<u16>, reason: &str) {
        self.l.on_ws_close(self.ws, conn, code, reason)
    }
}

impl<L: WebSocketClientListener> HttpClientListener<HttpAgent> for ClientShard<L> {
    fn on_handshake(&self, a: &HttpAgent, conn: ConnId) -> HandleResult {
        let up = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&conn);
        let Some(up) = up else {
            return HandleResult::Error;
        };
        let key = handshake::client_key(super::random::key_bytes());
        let protocols: Vec<&str> = up.protocols.iter().map(String::as_str).collect();
        let headers = handshake::request_headers(&key, &protocols, self.sh.cfg.deflate.as_ref());
        let refs: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        self.keys
            .borrow_mut()
            .insert(conn, (key.clone(), up.protocols.clone()));
        if a.send_get(conn, &up.target, &refs).is_err() {
            return HandleResult::Error;
        }
        HandleResult::Ok
    }

    fn on_headers_complete(
        &self,
        a: &HttpAgent,
        conn: ConnId,
        head: &ResponseHead<'_>,
    ) -> HeadAction {
        let Some((key, offered)) = self.keys.borrow_mut().remove(&conn) else {
            return HeadAction::Error;
        };
        if head.status != 101 {
            self.l.on_upgrade_failed(
                self.ws(a),
                conn,
                head.status,
                "the server did not switch protocols",
            );
            return HeadAction::Error;
        }
        let offered: Vec<&str> = offered.iter().map(String::as_str).collect();
        match handshake::check_accept(head.headers, &key, &offered, self.sh.cfg.deflate.as_ref()) {
            Ok(deflate) => {
                self.sh.open(conn, deflate);
                HeadAction::Continue
            }
            Err(reason) => {
                self.l.on_upgrade_failed(self.ws(a), conn, 101, reason);
                HeadAction::Error
            }
        }
    }

    fn on_message_complete(&self, _: &HttpAgent, _: ConnId, _: &ResponseInfo) -> HandleResult {
        HandleResult::Ok
    }

    fn on_upgrade(&self, a: &HttpAgent, conn: ConnId, _kind: UpgradeKind) -> HandleResult {
        self.l.on_open(self.ws(a), conn)
    }

    fn on_upgraded_data(&self, a: &HttpAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        let ev = Ev {
            l: &self.l,
            ws: self.ws(a),
        };
        self.sh.feed(&a.core, conn, data, &ev)
    }

    fn on_close(
        &self,
        a: &HttpAgent,
        conn: ConnId,
        op: SocketOperation,
        errno: i32,
    ) -> HandleResult {
        self.sh.closed(conn);
        self.keys.borrow_mut().remove(&conn);
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&conn);
        self.l.on_close(self.ws(a), conn, op, errno)
    }

    fn on_shutdown(&self, a: &HttpAgent) -> HandleResult {
        self.l.on_shutdown(self.ws(a))
    }
}

/// `start`'s shared listener.
struct ArcClient<L>(Arc<L>);

impl<L: WebSocketClientListener> WebSocketClientListener for ArcClient<L> {
    fn on_open(&self, ws: &WebSocketAgent, conn: ConnId) -> HandleResult {
        self.0.on_open(ws, conn)
    }
    fn on_upgrade_failed(&self, ws: &WebSocketAgent, conn: ConnId, status: u16, reason: &str) {
        self.0.on_upgrade_failed(ws, conn, status, reason)
    }
    fn on_message(&self, ws: &WebSocketAgent, conn: ConnId, msg: Message<'_>) -> HandleResult {
        self.0.on_message(ws, conn, msg)
    }
    fn on_ping(&self, ws: &WebSocketAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        self.0.on_ping(ws, conn, data)
    }
    fn on_pong(&self, ws: &WebSocketAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        self.0.on_pong(ws, conn, data)
    }
    fn on_ws_close(&self, ws: &WebSocketAgent, conn: ConnId, code: Option<u16>, reason: &str) {
        self.0.on_ws_close(ws, conn, code, reason)
    }
    fn on_ws_message_header(
        &self,
        ws: &WebSocketAgent,
        conn: ConnId,
        h: &FrameHeader,
    ) -> HandleResult {
        self.0.on_ws_message_header(ws, conn, h)
    }
    fn on_ws_message_body(&self, ws: &WebSocketAgent, conn: ConnId, data: &[u8]) -> HandleResult {
        self.0.on_ws_message_body(ws, conn, data)
    }
    fn on_ws_message_complete(&self, ws: &WebSocketAgent, conn: ConnId) -> HandleResult {
        self.0.on_ws_message_complete(ws, conn)
    }
    fn on_close(
        &self,
        ws: &WebSocketAgent,
        conn: ConnId,
        op: SocketOperation,
        errno: i32,
    ) -> HandleResult {
        self.0.on_close(ws, conn, op, errno)
    }
    fn on_shutdown(&self, ws: &WebSocketAgent) -> HandleResult {
        self.0.on_shutdown(ws)
    }
}
