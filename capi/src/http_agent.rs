//! `HP_HttpAgent` / `HP_HttpsAgent` on shardnet's `HttpAgent`: `Create_`/`Destroy_`, the
//! listener with its `HP_Set_FN_HttpAgent_*` callbacks, requests per connection, and the
//! response getters per connection.
//!
//! An HTTP agent handle is an agent handle (`Handle<TcpAgent, ConnectorFns>`, model `Http`)
//! whose running component is the HTTP agent's `TcpAgent`, so every `HP_Agent_*` call and the
//! `HP_SSLAgent_*` set-up work on it; `HP_Agent_Connect*` goes through the HTTP agent, which
//! records each connection's Host. The callback bridge is the clients' (`http_client.rs`),
//! with each connection's messages filed under its id.

use crate::error::guard;
use crate::handle::{handle, Handle, HttpGuard, Model};
use crate::http_callbacks::HttpRun;
use crate::http_client::{Bridge, HttpClientFns, Side};
use crate::listener::{ConnectorFns, FnClose, FnConn, FnConnSocket, FnData, FnLength};
use crate::types::*;
use shardnet_components::http::HttpAgent;
use shardnet_components::{TcpAgent, TcpAgentBuilder};
use shardnet_runtime::ConnId;
use std::ffi::c_int;
use std::net::SocketAddr;
use std::sync::Arc;

crate::listener::listener_life! { HttpClientFns:
    Create_HP_HttpAgentListener, Destroy_HP_HttpAgentListener;
}

crate::listener::setters! { HttpClientFns:
    HP_Set_FN_HttpAgent_OnMessageBegin => http.message_begin: FnConn;
    HP_Set_FN_HttpAgent_OnStatusLine => status_line: crate::http_callbacks::FnHttpStatus;
    HP_Set_FN_HttpAgent_OnHeader => http.header: crate::http_callbacks::FnHttpText;
    HP_Set_FN_HttpAgent_OnHeadersComplete => http.headers_complete: FnConn;
    HP_Set_FN_HttpAgent_OnBody => http.body: FnData;
    HP_Set_FN_HttpAgent_OnChunkHeader => http.chunk_header: FnLength;
    HP_Set_FN_HttpAgent_OnChunkComplete => http.chunk_complete: FnConn;
    HP_Set_FN_HttpAgent_OnMessageComplete => http.message_complete: FnConn;
    HP_Set_FN_HttpAgent_OnUpgrade => http.upgrade: FnLength;
    HP_Set_FN_HttpAgent_OnParseError => http.parse_error: crate::http_callbacks::FnHttpError;
    HP_Set_FN_HttpAgent_OnWSMessageHeader => http.ws_header: crate::http_callbacks::FnWsHeader;
    HP_Set_FN_HttpAgent_OnWSMessageBody => http.ws_body: FnData;
    HP_Set_FN_HttpAgent_OnWSMessageComplete => http.ws_complete: FnConn;
    HP_Set_FN_HttpAgent_OnPrepareConnect => base.prepare_connect: FnConnSocket;
    HP_Set_FN_HttpAgent_OnConnect => base.connect: FnConn;
    HP_Set_FN_HttpAgent_OnHandShake => base.handshake: FnConn;
    HP_Set_FN_HttpAgent_OnReceive => base.receive: FnData;
    HP_Set_FN_HttpAgent_OnSend => base.send: FnData;
    HP_Set_FN_HttpAgent_OnClose => base.close: FnClose;
    HP_Set_FN_HttpAgent_OnShutdown => base.shutdown: crate::listener::FnSender;
}

type Run = HttpRun<HttpAgent>;
type AgentC = Handle<TcpAgent, ConnectorFns>;

impl Side for HttpAgent {
    const PER_CONN: bool = true;
    fn adopt(&self, sender: PVOID) {
        // SAFETY: the C contract: the handle is live while its component runs.
        if let Some(h) = unsafe { handle::<TcpAgent, ConnectorFns>(sender) } {
            h.adopt_with(|| (**self).clone());
        }
    }
    fn connect_outcome(sender: PVOID, conn: ConnId, errno: c_int) {
        // SAFETY: as above.
        if let Some(h) = unsafe { handle::<TcpAgent, ConnectorFns>(sender) } {
            h.connect_outcome(conn.as_u64(), errno);
        }
    }
    fn forget(sender: PVOID, conn: ConnId) {
        // SAFETY: as above.
        if let Some(h) = unsafe { handle::<TcpAgent, ConnectorFns>(sender) } {
            h.forget(conn.as_u64());
        }
    }
}

/// Starts an HTTP(S) agent handle with the TCP agent builder `HP_Agent_Start` made.
pub(crate) fn start(h: &AgentC, p: PVOID, tcp: TcpAgentBuilder) -> BOOL {
    // SAFETY: an HTTP agent handle was made by `Create_HP_Http(s)Agent` with an HTTP agent
    // listener (HP's contract), whose table begins with the connector table `h.fns` names.
    let fns = unsafe { *(h.fns as *const HttpClientFns) };
    let run = Arc::new(Run::default());
    let bridge = Bridge::<HttpAgent> {
        fns,
        sender: p,
        run: run.clone(),
        sync: false,
    };
    let mut b = HttpAgent::builder().tcp(|_| tcp);
    if let Some(t) = h.client_tls() {
        b = b.tls(t);
    }
    if h.knobs().use_cookie {
        b = b.cookies(crate::http_client::jar().clone());
    }
    h.start_http(run, || b.start(Arc::new(bridge)), |a| (**a).clone())
}

/// Connects through the HTTP agent (so requests carry the host), from `local` if given; the
/// extra value is set before any callback of the connection runs.
pub(crate) fn connect(
    h: &AgentC,
    host: &str,
    port: u16,
    local: Option<SocketAddr>,
    extra: Option<PVOID>,
) -> shardnet_components::Result<ConnId> {
    let Some(a) = h.http_run::<Run>().and_then(|r| r.side.get().cloned()) else {
        return Err(shardnet_components::Error::Io(
            std::io::Error::from_raw_os_error(libc::EPERM),
        ));
    };
    let tcp: TcpAgent = (*a).clone();
    a.connect_from(host, port, local, move |c| {
        if let Some(x) = extra {
            tcp.set_extra(c, x as usize as u64);
        }
    })
}

pub(crate) fn create(l: PVOID, model: Model) -> PVOID {
    crate::handle::create::<TcpAgent, ConnectorFns>(l, model)
}

crate::handle::creators!(TcpAgent, ConnectorFns: Create_HP_HttpAgent => Http);
crate::handle::destroyers!(TcpAgent, ConnectorFns: Destroy_HP_HttpAgent);

/// The HTTP agent handle behind `p` (None, errno EINVAL, for NULL or another component).
fn http_handle<'a>(p: PVOID) -> Option<&'a AgentC> {
    // SAFETY: the C contract: NULL or a live agent handle.
    unsafe { crate::handle::handle_of(p, |m| m == Model::Http) }
}

fn run(p: PVOID) -> Option<HttpGuard<Run>> {
    http_handle(p)?.started_http::<Run>()
}

/// The agent's run and connection `c`.
fn requester(p: PVOID, c: HP_CONNID) -> Option<(HttpGuard<Run>, ConnId)> {
    Some((run(p)?, crate::complex::conn(c)))
}

/// The run and message key of connection `c`.
fn message(p: PVOID, c: HP_CONNID) -> Option<(HttpGuard<Run>, u64)> {
    Some((run(p)?, crate::complex::conn(c).as_u64()))
}

crate::http_requests::request_exports!(requester, (c: HP_CONNID) {
    request: HP_HttpAgent_SendRequest, local_file: HP_HttpAgent_SendLocalFile,
    chunk: HP_HttpAgent_SendChunkData, ws: HP_HttpAgent_SendWSMessage,
    start_http: HP_HttpAgent_StartHttp,
    with_body: [HP_HttpAgent_SendPost => "POST", HP_HttpAgent_SendPut => "PUT",
        HP_HttpAgent_SendPatch => "PATCH"],
    bodyless: [HP_HttpAgent_SendGet => "GET", HP_HttpAgent_SendDelete => "DELETE",
        HP_HttpAgent_SendHead => "HEAD", HP_HttpAgent_SendTrace => "TRACE",
        HP_HttpAgent_SendOptions => "OPTIONS", HP_HttpAgent_SendConnect => "CONNECT"],
});

crate::http_requests::http_knobs! { http_handle:
    HP_HttpAgent_SetHttpAutoStart, HP_HttpAgent_IsHttpAutoStart => http_auto_start;
    HP_HttpAgent_SetUseCookie, HP_HttpAgent_IsUseCookie => use_cookie;
}
crate::http_requests::local_version!(http_handle: HP_HttpAgent_SetLocalVersion, HP_HttpAgent_GetLocalVersion);

/// The last response's status code on connection `c` (0 before one).
#[no_mangle]
pub extern "C" fn HP_HttpAgent_GetStatusCode(p: PVOID, c: HP_CONNID) -> USHORT {
    guard(0, || {
        message(p, c)
            .and_then(|(r, k)| r.msgs.read(k, |m| m.status))
            .unwrap_or(0)
    })
}

crate::http_getters::message_getters!(message, (c: HP_CONNID) {
    is_upgrade: HP_HttpAgent_IsUpgrade, is_keep_alive: HP_HttpAgent_IsKeepAlive,
    version: HP_HttpAgent_GetVersion, content_length: HP_HttpAgent_GetContentLength,
    content_type: HP_HttpAgent_GetContentType, content_encoding: HP_HttpAgent_GetContentEncoding,
    transfer_encoding: HP_HttpAgent_GetTransferEncoding, upgrade_type: HP_HttpAgent_GetUpgradeType,
    parse_error: HP_HttpAgent_GetParseErrorCode, header: HP_HttpAgent_GetHeader,
    headers: HP_HttpAgent_GetHeaders, all_headers: HP_HttpAgent_GetAllHeaders,
    all_header_names: HP_HttpAgent_GetAllHeaderNames, cookie: HP_HttpAgent_GetCookie,
    all_cookies: HP_HttpAgent_GetAllCookies, ws_state: HP_HttpAgent_GetWSMessageState,
});
