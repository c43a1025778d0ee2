//! HTTP/1.1 over the TCP components (HP-Socket's `CHttpServerT<CTcpServer>`).
//!
//! # Overview
//! An [`HttpServer`] is a [`TcpServer`](crate::TcpServer) whose per-shard listener owns the
//! request decoders (`shardnet_protocols::http`) of the connections on that shard: no lock is
//! taken per request and the TCP driver knows nothing of HTTP. Two ways to use it:
//!
//! - **Callbacks** ([`HttpServerListener`], HP-Socket's `IHttpListener`): `on_message_begin`,
//!   `on_request_line`, `on_header`, `on_headers_complete` (→ continue / skip body / upgrade /
//!   error), `on_body` (de-chunked, streamed), `on_chunk_header`, `on_chunk_complete`,
//!   `on_message_complete`, `on_upgrade`, `on_parse_error`, plus accept/handshake/close/shutdown.
//!   Answer with [`HttpServer::send_response`] (or `send_chunk` / `send_last_chunk`) and, as in
//!   HP-Socket, [`HttpServer::release`] a connection whose request was not keep-alive.
//! - **A handler** ([`HttpServerBuilder::serve`]): a function from a whole [`Request`] (head +
//!   body up to `max_body`) to a [`Response`]; keep-alive, HEAD, pipelining order, `Expect:
//!   100-continue` and `Connection: close` are handled for it.
//!
//! Requests that break RFC 9112 never reach either: the server answers the status the codec
//! gives (400, 413, 414, 431, 501, 505) with `Connection: close` and closes. A head that does
//! not complete within `header_timeout` (slowloris) is answered 408 and closed.
//!
//! [`HttpAgent`] (many connections, the agent shape) and [`HttpClient`] (one connection on its
//! own thread) send requests from any thread (`send_request`, `send_get`, …, chunked bodies,
//! `send_local_file`) and report responses through [`HttpClientListener`]: `on_status_line`,
//! `on_header`, `on_headers_complete`, streamed `on_body`, `on_message_complete` (HEAD, 1xx,
//! 204, 304 and read-until-close bodies framed right), upgrades and CONNECT tunnels. Each
//! connection's response decoder lives on its shard; a [`CookieJar`] stores `Set-Cookie` and
//! adds `Cookie`.
//!
//! [`HttpSyncClient`] makes blocking requests (`open_url`, `get`) over a `TcpClient`, reusing
//! its connection while the origin stays the same, `https://` through rustls, redirects when
//! asked; its responses are framed by `shardnet_protocols::http::ResponseDecoder`.
//!
//! An idle keep-alive connection holds its TCP record, its directory cell and a small entry in
//! its shard's map (request count, timers) — no parser buffer.

mod agent;
mod client;
mod cookies;
mod file_stream;
pub(crate) mod handler;
mod requester;
mod server;
mod server_shard;
mod sync_client;

pub use agent::{HttpAgent, HttpAgentBuilder};
pub use client::{HttpClient, HttpClientBuilder};
pub use cookies::{unix_now, CookieJar, SameSite, StoredCookie};
pub use requester::{HttpClientConfig, HttpClientListener, ResponseInfo};

pub use handler::{Request, Response};
pub use server::{HttpConfig, HttpServer, HttpServerBuilder, HttpServerListener, RequestInfo};
pub use shardnet_protocols::http::{
    reason_phrase, BodyFraming, HeadAction, HttpError, Limits, RequestHead, ResponseFraming,
    ResponseHead, UpgradeKind, UrlParts,
};
pub use sync_client::{HttpResponse, HttpSyncClient};
