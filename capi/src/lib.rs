//! # HPSocket4C on shardnet
//!
//! `libhpsocket4c.so` / `libhpsocket4c.a` export HP-Socket's C API (`HPSocket4C.h`, the Linux
//! headers of HP-Socket 5.8) over shardnet's components: a C (or C#, Go, Python-ctypes…)
//! program written for HP-Socket builds against `capi/include/hpsocket/HPSocket4C.h` and links
//! this library unchanged, and runs on the thread-per-core runtime.
//!
//! This first part covers the TCP family: `HP_TcpServer`, `HP_TcpAgent`, `HP_TcpClient` in the
//! push, pull and pack models, their listeners and `HP_Set_FN_*` callbacks, every
//! `HP_Server_*` / `HP_Agent_*` / `HP_Client_*` / `HP_Tcp*_*` call of those components, their
//! SSL forms (`HPSocket4C-SSL.h`, on rustls), and `SYS_GetLastError`, `SYS_GetLastErrorStr`,
//! `HP_GetSocketErrorDesc`, HP's base64 / URL / zlib / gzip helpers (`codec.rs`) and address
//! helpers (`ip.rs`); `include/hpsocket/HPSocket.h` adds HP's C++ classes for the TCP, UDP
//! and HTTP components. The UDP and ARQ servers and clients (`HP_UdpServer`, `HP_UdpArqServer`,
//! `HP_UdpClient`, `HP_UdpArqClient`, and `HP_UdpCast`, a group member shaped as a client) share
//! the `HP_Server_*` / `HP_Client_*` functions with TCP: a handle holds either family
//! (`any_server.rs`, `any_client.rs`); `HP_UdpNode` has functions of its own (`udp_node.rs`).
//! `HP_HttpServer` / `HP_HttpsServer` (`http_server.rs`) are server handles too, and
//! `HP_HttpClient` / `HP_HttpSyncClient` and their HTTPS forms (`http_client.rs`) client
//! handles, `HP_HttpAgent` / `HP_HttpsAgent` (`http_agent.rs`) agent handles (the request calls
//! of agent and client in `http_requests.rs`), and HP's cookie manager over the jar they share
//! (`http_cookie.rs`) and HP's thread pool (`thread_pool.rs`), with HP's HTTP callbacks (`http_callbacks.rs`), calls, and getters over each
//! connection's last message (`http_message.rs`, `http_getters.rs`).
//! `capi/coverage/COVERAGE.md` lists every function of HP's headers and whether it is here.
//!
//! ## Threading rules
//! - Callbacks run on shard threads (one per core; a client's on its own thread), like
//!   HP-Socket's worker threads: several at once for different connections, never two at once
//!   for one connection. `pSender` is the component handle the program created.
//! - Every call may be made from any thread, callbacks included. `HP_*_Stop` inside a callback
//!   stops without waiting (HP-Socket deadlocks there); `Destroy_HP_*` inside a callback hands
//!   the stop-and-free to a thread of its own.
//! - Set a listener's callbacks before starting the component; destroy the component before
//!   its listener (HP-Socket's rule).
//! - A Rust panic never unwinds into C: the call returns FALSE (errno EFAULT).
//!
//! ## Errors
//! A FALSE return sets the thread's `errno` (`SYS_GetLastError`): ENOENT for an unknown
//! connection id, ENOTCONN for one not open, ENOBUFS for a full send queue or a buffer too
//! small, EINVAL for NULL or negative arguments, EPERM for a component not started. A failed
//! start also records `En_HP_SocketError` (`HP_*_GetLastError`, `HP_*_GetLastErrorDesc`).
//!
//! ## Ids
//! `HP_CONNID` is shardnet's `ConnId` (shard, slot, sequence in 64 bits): never 0, never
//! reused within a run.

#![allow(non_snake_case, non_camel_case_types)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod agent;
mod any_client;
mod any_server;
mod client;
mod codec;
mod complex;
mod error;
mod handle;
mod http_agent;
mod http_callbacks;
mod http_client;
mod http_cookie;
mod http_getters;
mod http_message;
mod http_requests;
mod http_server;
mod ip;
mod listener;
mod per_shard;
mod server;
mod settings;
mod ssl;
mod sys;
mod thread_pool;
pub mod types;
mod udp;
mod udp_cast;
mod udp_node;
