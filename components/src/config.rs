//! Component configuration with HP-Socket's defaults.

use shardnet_runtime::{AcceptPlacement, ConnectPlacement};
use shardnet_shard::SendPolicy;
use std::time::Duration;

/// Default per-connection bound on pending send bytes: 4 MiB plus 64 KiB, so that one largest
/// legal send always fits — a maximal Pack message (0x3FFFFF bytes + its 4-byte header) or a
/// 4 MiB `send_small_file` with up to 64 KiB of head and tail.
pub const DEFAULT_MAX_PENDING_BYTES: usize = (4 << 20) + (64 << 10);

/// Default [`TcpConfig::flush_timeout`]: how long a graceful close waits for queued bytes.
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_secs(30);

/// Which address-reuse options listen/bind sockets get (HP-Socket's `ReuseAddressPolicy`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReuseAddress {
    /// Neither SO_REUSEADDR nor SO_REUSEPORT (ReusePort placement still sets SO_REUSEPORT: it
    /// needs it to give each shard a listener).
    None,
    /// SO_REUSEADDR (default).
    #[default]
    Addr,
    /// SO_REUSEADDR and SO_REUSEPORT.
    AddrAndPort,
}

/// How received bytes reach `on_receive` (chosen once per component).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReceiveModel {
    /// Bytes as they arrive (HP-Socket's push model).
    #[default]
    Push,
    /// Whole messages framed by HP-Socket's 4-byte Pack header; `send` adds the header and
    /// `send_packets` sends all parts as one message.
    Pack(crate::pack::PackConfig),
    /// Bytes wait in the shard's blocks; `on_pull_receive(conn, total_buffered)` announces
    /// them and the application takes them with `fetch` / `peek` (HP-Socket's pull model).
    /// Reading pauses while a connection holds [`TcpConfig::pull_buffer_limit`] bytes.
    Pull,
}

/// Settings shared by TcpServer, TcpAgent and TcpClient.
#[derive(Clone, Debug)]
pub struct TcpConfig {
    /// Most connections the component holds at once (default 10,000). A server accepts and
    /// closes at once any connection over the limit, counting it in the shard stats.
    pub max_connections: usize,
    /// Bytes per pool buffer and Pull block (default 4096; HP-Socket's `SocketBufferSize`).
    /// Push/Pack/TLS receives go through one scratch buffer per shard of at least
    /// [`SCRATCH_MIN`](crate::SCRATCH_MIN) (64 KiB), so a pipelining peer's queued messages
    /// arrive in one `recv` (and one `on_receive` under Push).
    pub socket_buffer_size: usize,
    /// TCP keepalive idle time (default 60 s; zero disables keepalive).
    pub keepalive_time: Duration,
    /// TCP keepalive probe interval (default 20 s).
    pub keepalive_interval: Duration,
    /// TCP_NODELAY (default off).
    pub no_delay: bool,
    /// Address reuse policy (default [`ReuseAddress::Addr`]).
    pub reuse_address: ReuseAddress,
    /// Coalescing (Pack, default) or one write per buffer (Direct).
    pub send_policy: SendPolicy,
    /// Listen backlog (default SOMAXCONN, 4096).
    pub listen_backlog: i32,
    /// An IPv6 wildcard listener also accepts IPv4 (default true).
    pub dual_stack: bool,
    /// Bound on bytes accepted by `send` and not yet written, per connection (default
    /// [`DEFAULT_MAX_PENDING_BYTES`], 4 MiB + 64 KiB; 0 = unbounded). Past it `send` returns
    /// [`crate::Error::QueueFull`]. Under Pack it must admit one maximal message
    /// (`max_pack_size` + 4), else the builder refuses the configuration.
    pub max_pending_bytes: usize,
    /// Bound on pending send bytes of all the component's connections on one shard together
    /// (default 0 = none; the whole component holds at most `shards ×` this). Past it `send`
    /// returns [`crate::Error::QueueFull`] and the shard's `send_refused` counter grows: a
    /// crowd of slow readers cannot take all the memory, however many there are.
    pub shard_send_budget: usize,
    /// How long a graceful close waits for queued bytes to leave — after the peer's
    /// end-of-stream (a half-close: the peer still reads) or a non-forced `disconnect` — before
    /// it gives up and reports `on_close(Send, ETIMEDOUT)` (default [`DEFAULT_FLUSH_TIMEOUT`],
    /// 30 s; zero waits as long as the peer keeps the connection).
    pub flush_timeout: Duration,
    /// Lingering close (nginx's `lingering_close`): after a non-forced `disconnect` has sent
    /// everything, the socket's write side is shut and what the peer still sends is read and
    /// discarded for up to this long (until the peer closes), instead of closing at once —
    /// a peer that had pipelined more requests then receives the last answer, where a close
    /// with unread input would reset the connection and destroy it. `on_close` is not delayed;
    /// the socket outlives it. Default zero (off); `HttpServer` uses 5 s. At most
    /// 1024 sockets linger per shard; beyond that they close at once.
    pub lingering_close: Duration,
    /// Free pool buffers each shard keeps resident (default 1024, HP's `FreeBufferObjHold`).
    pub buffer_hold: usize,
    /// Agent/Client connect timeout (default 10 s; reported as on_close(Connect, ETIMEDOUT)).
    pub connect_timeout: Duration,
    /// How a server spreads accepted connections (default ReusePort).
    pub accept_placement: AcceptPlacement,
    /// How an agent places its connections (default round-robin).
    pub connect_placement: ConnectPlacement,
    /// Shards of the runtime the component creates for itself when none is given (default:
    /// one per allowed CPU).
    pub shards: Option<usize>,
    /// Push (default), Pack or Pull.
    pub receive_model: ReceiveModel,
    /// Close connections that received nothing for this long (default none; HP-Socket has
    /// none). Reported as `on_close(Close, ETIMEDOUT)`; checked about every `timeout / 4`.
    pub idle_timeout: Option<Duration>,
    /// Pull model: buffered bytes per connection at which reading pauses until the application
    /// fetches (default 4 MiB). Nothing is dropped; the peer is throttled by TCP.
    pub pull_buffer_limit: usize,
    /// Call `on_handshake` as soon as a connection is up (default true; with TLS: start the
    /// TLS handshake at once). When false, a plain connection stays in its handshake until
    /// `complete_handshake(conn)` (e.g. after an application-level login); a TLS connection
    /// speaks plain TCP until `start_handshake(conn)` (STARTTLS).
    pub auto_handshake: bool,
    /// Close connections whose handshake has not completed this long after accept/connect
    /// (default none for plain TCP, where the handshake is immediate unless
    /// `auto_handshake` is off). Reported as `on_close(Close, ETIMEDOUT)`.
    pub handshake_timeout: Option<Duration>,
    /// TLS (default none): set with `.tls(..)` on a builder.
    pub tls: Option<TlsSettings>,
}

/// The TLS side of a component.
#[derive(Clone, Debug)]
pub enum TlsSettings {
    /// A server: certificates, client authentication, ALPN, resumption.
    Server(crate::tls::ServerTlsConfig),
    /// An agent or client: trust roots, client certificate, ALPN.
    Client(crate::tls::ClientTlsConfig),
}

impl TlsSettings {
    /// The handshake timeout of this configuration.
    pub fn handshake_timeout(&self) -> Duration {
        match self {
            TlsSettings::Server(c) => c.handshake_timeout,
            TlsSettings::Client(c) => c.handshake_timeout,
        }
    }
}

impl Default for TcpConfig {
    fn default() -> Self {
        TcpConfig {
            max_connections: 10_000,
            socket_buffer_size: 4096,
            keepalive_time: Duration::from_secs(60),
            keepalive_interval: Duration::from_secs(20),
            no_delay: false,
            reuse_address: ReuseAddress::Addr,
            send_policy: SendPolicy::Pack,
            listen_backlog: 4096,
            dual_stack: true,
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            shard_send_budget: 0,
            flush_timeout: DEFAULT_FLUSH_TIMEOUT,
            lingering_close: Duration::ZERO,
            buffer_hold: 1024,
            connect_timeout: Duration::from_secs(10),
            accept_placement: AcceptPlacement::ReusePort,
            connect_placement: ConnectPlacement::RoundRobin,
            shards: None,
            receive_model: ReceiveModel::Push,
            idle_timeout: None,
            pull_buffer_limit: 4 << 20,
            auto_handshake: true,
            handshake_timeout: None,
            tls: None,
        }
    }
}

impl TcpConfig {
    pub(crate) fn validate(&self) -> crate::Result<()> {
        if self.socket_buffer_size < 88 {
            return Err(crate::Error::InvalidParam(format!(
                "socket_buffer_size {} < 88",
                self.socket_buffer_size
            )));
        }
        if self.max_connections == 0 {
            return Err(crate::Error::InvalidParam("max_connections is 0".into()));
        }
        if !self.keepalive_time.is_zero() && self.keepalive_interval.is_zero() {
            return Err(crate::Error::InvalidParam(
                "keepalive_interval must be > 0 when keepalive is on".into(),
            ));
        }
        if self.receive_model == ReceiveModel::Pull && self.pull_buffer_limit == 0 {
            return Err(crate::Error::InvalidParam(
                "pull_buffer_limit is 0: nothing could be received".into(),
            ));
        }
        if self.shards == Some(0) {
            return Err(crate::Error::InvalidParam("shards is 0".into()));
        }
        if let ReceiveModel::Pack(p) = &self.receive_model {
            p.validate().map_err(crate::Error::InvalidParam)?;
            let largest = p.max_pack_size as usize + crate::pack::HEADER_LEN;
            if self.max_pending_bytes != 0 && self.max_pending_bytes < largest {
                return Err(crate::Error::InvalidParam(format!(
                    "max_pending_bytes {} cannot hold one maximal pack message \
                     (max_pack_size {} + {}-byte header = {largest}): such a message could \
                     never be sent",
                    self.max_pending_bytes,
                    p.max_pack_size,
                    crate::pack::HEADER_LEN
                )));
            }
            if self.shard_send_budget != 0 && self.shard_send_budget < largest {
                return Err(crate::Error::InvalidParam(format!(
                    "shard_send_budget {} cannot hold one maximal pack message ({largest} bytes)",
                    self.shard_send_budget
                )));
            }
        }
        Ok(())
    }
}

/// Builder methods shared by the three component builders.
macro_rules! config_setters {
    () => {
        /// The TCP settings so far.
        pub fn settings(&self) -> &$crate::TcpConfig {
            &self.cfg
        }
        /// Replaces the whole configuration.
        pub fn config(mut self, cfg: $crate::TcpConfig) -> Self {
            self.cfg = cfg;
            self
        }
        /// Most simultaneous connections.
        pub fn max_connections(mut self, n: usize) -> Self {
            self.cfg.max_connections = n;
            self
        }
        /// Bytes per receive / pool buffer.
        pub fn socket_buffer_size(mut self, n: usize) -> Self {
            self.cfg.socket_buffer_size = n;
            self
        }
        /// Keepalive idle time and probe interval (zero time disables keepalive).
        pub fn keepalive(
            mut self,
            time: std::time::Duration,
            interval: std::time::Duration,
        ) -> Self {
            self.cfg.keepalive_time = time;
            self.cfg.keepalive_interval = interval;
            self
        }
        /// TCP_NODELAY.
        pub fn no_delay(mut self, on: bool) -> Self {
            self.cfg.no_delay = on;
            self
        }
        /// Address reuse policy.
        pub fn reuse_address(mut self, p: $crate::ReuseAddress) -> Self {
            self.cfg.reuse_address = p;
            self
        }
        /// Send policy (Pack coalesces, Direct writes each buffer).
        pub fn send_policy(mut self, p: shardnet_shard::SendPolicy) -> Self {
            self.cfg.send_policy = p;
            self
        }
        /// Bound on pending send bytes per connection (0 = unbounded).
        pub fn max_pending_bytes(mut self, n: usize) -> Self {
            self.cfg.max_pending_bytes = n;
            self
        }
        /// Bound on the pending send bytes of all connections of one shard together (0 =
        /// none); see [`TcpConfig::shard_send_budget`](crate::TcpConfig::shard_send_budget).
        pub fn shard_send_budget(mut self, n: usize) -> Self {
            self.cfg.shard_send_budget = n;
            self
        }
        /// How long a graceful close (peer end-of-stream, non-forced disconnect) waits for
        /// queued bytes before `on_close(Send, ETIMEDOUT)`; zero waits without a bound.
        pub fn flush_timeout(mut self, t: std::time::Duration) -> Self {
            self.cfg.flush_timeout = t;
            self
        }
        /// Lingering close after a graceful disconnect (zero: off); see
        /// [`TcpConfig::lingering_close`](crate::TcpConfig::lingering_close).
        pub fn lingering_close(mut self, t: std::time::Duration) -> Self {
            self.cfg.lingering_close = t;
            self
        }
        /// Free pool buffers kept resident per shard.
        pub fn buffer_hold(mut self, n: usize) -> Self {
            self.cfg.buffer_hold = n;
            self
        }
        /// Shards of the component's own runtime (ignored with [`Self::runtime`]).
        pub fn shards(mut self, n: usize) -> Self {
            self.cfg.shards = Some(n);
            self
        }
        /// Closes connections silent for `t` with `on_close(Close, ETIMEDOUT)`.
        pub fn idle_timeout(mut self, t: std::time::Duration) -> Self {
            self.cfg.idle_timeout = Some(t);
            self
        }
        /// Receive model (Push, Pack or Pull).
        pub fn receive_model(mut self, m: $crate::ReceiveModel) -> Self {
            self.cfg.receive_model = m;
            self
        }
        /// Pack model with this flag and maximum body size (HP-Socket's Pack components).
        pub fn pack(mut self, cfg: $crate::pack::PackConfig) -> Self {
            self.cfg.receive_model = $crate::ReceiveModel::Pack(cfg);
            self
        }
        /// Pull model (HP-Socket's Pull components): `on_pull_receive` + `fetch` / `peek`.
        pub fn pull(mut self) -> Self {
            self.cfg.receive_model = $crate::ReceiveModel::Pull;
            self
        }
        /// Pull model: buffered bytes per connection at which reading pauses.
        pub fn pull_buffer_limit(mut self, n: usize) -> Self {
            self.cfg.pull_buffer_limit = n;
            self
        }
        /// Whether `on_handshake` follows accept/connect at once (default true); when false
        /// the application calls `complete_handshake(conn)`.
        pub fn auto_handshake(mut self, on: bool) -> Self {
            self.cfg.auto_handshake = on;
            self
        }
        /// Closes connections still in their handshake after `t` with
        /// `on_close(Close, ETIMEDOUT)`.
        pub fn handshake_timeout(mut self, t: std::time::Duration) -> Self {
            self.cfg.handshake_timeout = Some(t);
            self
        }
        /// Runs on an existing runtime, sharing its shards with other components.
        pub fn runtime(mut self, rt: shardnet_runtime::Runtime) -> Self {
            self.runtime = Some(rt);
            self
        }
    };
}
pub(crate) use config_setters;
