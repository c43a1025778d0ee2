//! HttpClient: one HTTP connection served by its own thread over a TcpClient (HP-Socket's
//! `CHttpClientT<CTcpClient>`), with the agent's callbacks.

use super::agent::{forward_client, ArcListener};
use super::cookies::CookieJar;
use super::requester::{host_value, HttpClientConfig, HttpClientListener, Requester, ShardState};
use crate::core::Core;
use crate::{ClientListener, HandleResult, Result, SocketOperation, TcpClient, TcpClientBuilder};
use shardnet_protocols::http::Limits;
use shardnet_runtime::{ConnId, ShardId};
use std::cell::OnceCell;
use std::rc::Rc;
use std::sync::Arc;

/// Handle to a running HTTP client: the [`TcpClient`] API (`Deref`) plus requests.
/// `Clone + Send + Sync`. The callbacks are [`HttpClientListener<HttpClient>`]; their `conn`
/// is [`TcpClient::conn_id`].
#[derive(Clone)]
pub struct HttpClient {
    tcp: TcpClient,
    req: Arc<Requester>,
}

impl std::ops::Deref for HttpClient {
    type Target = TcpClient;
    fn deref(&self) -> &TcpClient {
        &self.tcp
    }
}

/// Configures and starts an [`HttpClient`].
pub struct HttpClientBuilder {
    tcp: TcpClientBuilder,
    http: HttpClientConfig,
    tls: bool,
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        HttpClientBuilder {
            // Pipelined requests leave in several writes: no Nagle delay between them.
            tcp: TcpClientBuilder::default().no_delay(true),
            http: HttpClientConfig::default(),
            tls: false,
        }
    }
}

impl HttpClientBuilder {
    /// Configures the underlying TCP client.
    pub fn tcp(mut self, f: impl FnOnce(TcpClientBuilder) -> TcpClientBuilder) -> Self {
        self.tcp = f(self.tcp);
        self
    }
    /// Response head limits.
    pub fn limits(mut self, l: Limits) -> Self {
        self.http.limits = l;
        self
    }
    /// A cookie jar (may be shared with other components).
    pub fn cookies(mut self, jar: Arc<CookieJar>) -> Self {
        self.http.cookies = Some(jar);
        self
    }
    /// HTTPS.
    pub fn tls(mut self, cfg: crate::tls::ClientTlsConfig) -> Self {
        self.tcp = self.tcp.tls(cfg);
        self.tls = true;
        self
    }

    /// Connects to `host:port` (waiting for the connection unless `async_connect`, as
    /// [`TcpClientBuilder::start`]); requests carry `Host: host[:port]`.
    pub fn start<L>(
        self,
        host: &str,
        port: u16,
        async_connect: bool,
        listener: L,
    ) -> Result<HttpClient>
    where
        L: HttpClientListener<HttpClient> + Send + Sync,
    {
        let tls = self.tls;
        let cfg = self.http;
        let host_v = host_value(host, port, tls);
        let cell: Arc<std::sync::OnceLock<Arc<Requester>>> = Arc::default();
        let cell2 = cell.clone();
        let listener = ArcListener(Arc::new(listener));
        let tcp = self
            .tcp
            .start_made(host, port, async_connect, move |core: &Arc<Core>| {
                let req = cell2
                    .get_or_init(|| {
                        Arc::new(Requester::new(
                            core.id,
                            tls,
                            cfg.cookies.clone(),
                            Some(host_v),
                        ))
                    })
                    .clone();
                ClientShard {
                    l: listener,
                    state: ShardState::new(core.id, ShardId(0), cfg.limits),
                    req,
                    handle: OnceCell::new(),
                }
            })?;
        let req = cell
            .get()
            .cloned()
            .expect("the client's shard made its listener before start returned");
        Ok(HttpClient { tcp, req })
    }
}

impl HttpClient {
    /// A builder with HP-Socket's TCP defaults.
    pub fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    /// The cookie jar, if any.
    pub fn cookies(&self) -> Option<&CookieJar> {
        self.req.jar()
    }

    /// Sends a request (see [`super::HttpAgent::send_request`]).
    pub fn send_request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<()> {
        self.req.send_request(
            &self.tcp.core,
            self.tcp.conn_id(),
            method,
            target,
            headers,
            body,
        )
    }
    /// `GET target`.
    pub fn send_get(&self, target: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request("GET", target, headers, &[])
    }
    /// `HEAD target`.
    pub fn send_head(&self, target: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request("HEAD", target, headers, &[])
    }
    /// `POST target` with `body`.
    pub fn send_post(&self, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<()> {
        self.send_request("POST", target, headers, body)
    }
    /// `PUT target` with `body`.
    pub fn send_put(&self, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<()> {
        self.send_request("PUT", target, headers, body)
    }
    /// `PATCH target` with `body`.
    pub fn send_patch(&self, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<()> {
        self.send_request("PATCH", target, headers, body)
    }
    /// `DELETE target`.
    pub fn send_delete(&self, target: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request("DELETE", target, headers, &[])
    }
    /// `OPTIONS target`.
    pub fn send_options(&self, target: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request("OPTIONS", target, headers, &[])
    }
    /// `CONNECT authority` (a 2xx answer makes the connection a tunnel).
    pub fn send_connect(&self, authority: &str, headers: &[(&str, &str)]) -> Result<()> {
        self.send_request("CONNECT", authority, headers, &[])
    }
    /// Sends a request whose body is the file at `path` (see
    /// [`super::HttpAgent::send_local_file`]).
    pub fn send_local_file(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        path: &std::path::Path,
    ) -> Result<()> {
        let file = std::fs::File::open(path)?;
        if file.metadata()?.len() == 0 {
            return self.send_request(method, target, headers, &[]);
        }
        // SAFETY: read-only map that lives only for this call; a file truncated by another
        // process meanwhile could fault, the documented caveat of mapping files.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        self.send_request(method, target, headers, &map)
    }
    /// One chunk of a chunked request body (empty sends nothing).
    pub fn send_chunk(&self, data: &[u8]) -> Result<()> {
        Requester::send_chunk(&self.tcp.core, self.tcp.conn_id(), data)
    }
    /// Ends a chunked request body.
    pub fn send_last_chunk(&self, trailers: &[(&str, &str)]) -> Result<()> {
        Requester::send_last_chunk(&self.tcp.core, self.tcp.conn_id(), trailers)
    }
}

/// The client's TCP listener: owns the response decoder.
struct ClientShard<L> {
    l: L,
    state: Rc<ShardState>,
    req: Arc<Requester>,
    handle: OnceCell<HttpClient>,
}

impl<L> ClientShard<L> {
    fn h(&self, tcp: &TcpClient) -> &HttpClient {
        self.handle.get_or_init(|| HttpClient {
            tcp: tcp.clone(),
            req: self.req.clone(),
        })
    }
}

impl<L: HttpClientListener<HttpClient>> ClientListener for ClientShard<L> {
    fn on_prepare_connect(
        &self,
        tcp: &TcpClient,
        socket: std::os::fd::BorrowedFd<'_>,
    ) -> HandleResult {
        self.l
            .on_prepare_connect(self.h(tcp), tcp.conn_id(), socket)
    }
    fn on_send(&self, tcp: &TcpClient, data: &[u8]) -> HandleResult {
        self.l.on_send(self.h(tcp), tcp.conn_id(), data)
    }
    fn on_connect(&self, tcp: &TcpClient) -> HandleResult {
        let conn: ConnId = tcp.conn_id();
        self.state.opened(conn);
        self.l.on_connect(self.h(tcp), conn)
    }
    fn on_handshake(&self, tcp: &TcpClient) -> HandleResult {
        self.l.on_handshake(self.h(tcp), tcp.conn_id())
    }
    fn on_receive(&self, tcp: &TcpClient, data: &[u8]) -> HandleResult {
        let h = self.h(tcp);
        self.state
            .receive(&self.l, h, &tcp.core, self.req.jar(), tcp.conn_id(), data)
    }
    fn on_close(&self, tcp: &TcpClient, op: SocketOperation, e: i32) -> HandleResult {
        let h = self.h(tcp);
        let conn = tcp.conn_id();
        self.state.closed(&self.l, h, self.req.jar(), conn);
        self.l.on_close(h, conn, op, e)
    }
    fn on_shutdown(&self, tcp: &TcpClient) -> HandleResult {
        self.l.on_shutdown(self.h(tcp))
    }
}

forward_client!(HttpClient);
