//! The per-shard half of [`WebSocketServer`]: the HTTP listener that answers upgrades, owns
//! the connections' WebSocket endpoints and frames what is sent.

use super::conns::{WsEvents, WsShared};
use super::server::{HttpHandler, UpgradeDecision, WebSocketListener, WebSocketServer, WsConfig};
use crate::http::handler::HandlerListener;
use crate::http::{HttpServer, HttpServerListener, RequestInfo};
use crate::{HandleResult, SocketOperation};
use shardnet_protocols::http::{HeadAction, RequestHead, UpgradeKind};
use shardnet_protocols::ws::{handshake, FrameHeader, Message, Role};
use shardnet_runtime::{ConnId, ShardId};
use std::cell::OnceCell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;

/// The HTTP listener of one shard.
pub(crate) struct WsShard<L> {
    l: L,
    fallback: Option<HandlerListener<HttpHandler>>,
    sh: Rc<WsShared>,
    handle: OnceCell<WebSocketServer>,
}

impl<L: WebSocketListener> WsShard<L> {
    pub(crate) fn new(
        l: L,
        fallback: Option<HandlerListener<HttpHandler>>,
        cfg: Arc<WsConfig>,
        server: &HttpServer,
        shard: ShardId,
    ) -> Self {
        let sh = WsShared::new(&server.tcp.core, shard, Role::Server, cfg);
        WsShard {
            l,
            fallback,
            sh,
            handle: OnceCell::new(),
        }
    }

    fn ws(&self, s: &HttpServer) -> &WebSocketServer {
        self.handle
            .get_or_init(|| WebSocketServer { http: s.clone() })
    }

    fn refuse(&self, s: &HttpServer, conn: ConnId, status: u16, extra: &[(&str, &str)]) {
        let mut h: Vec<(&str, &str)> = vec![("Connection", "close")];
        h.extend_from_slice(extra);
        let _ = s.send_response(conn, status, None, &h, b"");
        let _ = s.release(conn);
    }
}

/// The server listener as the shared receive path sees it.
struct Ev<'a, L> {
    l: &'a L,
    ws: &'a WebSocketServer,
}

impl<L: WebSocketListener> WsEvents for Ev<'_, L> {
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

impl<L: WebSocketListener> HttpServerListener for WsShard<L> {
    fn on_accept(&self, s: &HttpServer, conn: ConnId, peer: SocketAddr) -> HandleResult {
        match &self.fallback {
            Some(f) => f.on_accept(s, conn, peer),
            None => HandleResult::Ignore,
        }
    }

    fn on_headers_complete(
        &self,
        s: &HttpServer,
        conn: ConnId,
        head: &RequestHead<'_>,
    ) -> HeadAction {
        if head.upgrade != Some(UpgradeKind::WebSocket) {
            return match &self.fallback {
                Some(f) => f.on_headers_complete(s, conn, head),
                None => {
                    self.refuse(s, conn, 426, &[("Upgrade", "websocket")]);
                    HeadAction::SkipBody
                }
            };
        }
        let cfg = &self.sh.cfg;
        let req = match handshake::check_request(head, cfg.deflate.as_ref()) {
            Ok(r) => r,
            Err(e) => {
                let extra: &[(&str, &str)] = if e.status == 426 {
                    &[("Sec-WebSocket-Version", "13")]
                } else {
                    &[]
                };
                self.refuse(s, conn, e.status, extra);
                return HeadAction::SkipBody;
            }
        };
        let protocol = match self.l.on_upgrade(self.ws(s), conn, head, &req.protocols) {
            UpgradeDecision::Accept { protocol } => protocol,
            UpgradeDecision::Reject(status) => {
                self.refuse(s, conn, status, &[]);
                return HeadAction::SkipBody;
            }
        };
        let mut out = Vec::with_capacity(256);
        handshake::write_accept(
            &mut out,
            &req.accept,
            protocol.as_deref(),
            req.deflate.as_ref(),
            &[],
        );
        if s.tcp.send(conn, &out).is_err() {
            return HeadAction::Error;
        }
        self.sh.open(conn, req.deflate);
        HeadAction::Upgrade
    }

    fn on_body(&self, s: &HttpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        match &self.fallback {
            Some(f) => f.on_body(s, conn, data),
            None => HandleResult::Ignore,
        }
    }

    fn on_message_complete(
        &self,
        s: &HttpServer,
        conn: ConnId,
        request: &RequestInfo,
    ) -> HandleResult {
        match &self.fallback {
            Some(f) => f.on_message_complete(s, conn, request),
            None => HandleResult::Ok,
        }
    }

    fn on_upgrade(&self, s: &HttpServer, conn: ConnId, _kind: UpgradeKind) -> HandleResult {
        self.l.on_open(self.ws(s), conn)
    }

    fn on_upgraded_data(&self, s: &HttpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        let ev = Ev {
            l: &self.l,
            ws: self.ws(s),
        };
        self.sh.feed(&s.tcp.core, conn, data, &ev)
    }

    fn on_close(
        &self,
        s: &HttpServer,
        conn: ConnId,
        op: SocketOperation,
        errno: i32,
    ) -> HandleResult {
        self.sh.closed(conn);
        if let Some(f) = &self.fallback {
            let _ = f.on_close(s, conn, op, errno);
        }
        self.l.on_close(self.ws(s), conn, op, errno)
    }

    fn on_shutdown(&self, s: &HttpServer) -> HandleResult {
        self.l.on_shutdown(self.ws(s))
    }
}

/// `start`'s shared listener.
pub(crate) struct ArcWs<L>(pub(crate) Arc<L>);

impl<L: WebSocketListener> WebSocketListener for ArcWs<L> {
    fn on_upgrade(
        &self,
        ws: &WebSocketServer,
        conn: ConnId,
        head: &RequestHead<'_>,
        protocols: &[String],
    ) -> UpgradeDecision {
        self.0.on_upgrade(ws, conn, head, protocols)
    }
    fn on_open(&self, ws: &WebSocketServer, conn: ConnId) -> HandleResult {
        self.0.on_open(ws, conn)
    }
    fn on_message(&self, ws: &WebSocketServer, conn: ConnId, msg: Message<'_>) -> HandleResult {
        self.0.on_message(ws, conn, msg)
    }
    fn on_ping(&self, ws: &WebSocketServer, conn: ConnId, data: &[u8]) -> HandleResult {
        self.0.on_ping(ws, conn, data)
    }
    fn on_pong(&self, ws: &WebSocketServer, conn: ConnId, data: &[u8]) -> HandleResult {
        self.0.on_pong(ws, conn, data)
    }
    fn on_ws_close(&self, ws: &WebSocketServer, conn: ConnId, code: Option<u16>, reason: &str) {
        self.0.on_ws_close(ws, conn, code, reason)
    }
    fn on_ws_message_header(
        &self,
        ws: &WebSocketServer,
        conn: ConnId,
        h: &FrameHeader,
    ) -> HandleResult {
        self.0.on_ws_message_header(ws, conn, h)
    }
    fn on_ws_message_body(&self, ws: &WebSocketServer, conn: ConnId, data: &[u8]) -> HandleResult {
        self.0.on_ws_message_body(ws, conn, data)
    }
    fn on_ws_message_complete(&self, ws: &WebSocketServer, conn: ConnId) -> HandleResult {
        self.0.on_ws_message_complete(ws, conn)
    }
    fn on_close(
        &self,
        ws: &WebSocketServer,
        conn: ConnId,
        op: SocketOperation,
        errno: i32,
    ) -> HandleResult {
        self.0.on_close(ws, conn, op, errno)
    }
    fn on_shutdown(&self, ws: &WebSocketServer) -> HandleResult {
        self.0.on_shutdown(ws)
    }
}
