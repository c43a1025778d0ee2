//! UDP component settings, HP-Socket's defaults.

use shardnet_protocols::arq::ArqConfig;
use shardnet_protocols::udp::{
    DEFAULT_DETECT_ATTEMPTS, DEFAULT_DETECT_INTERVAL_MS, DEFAULT_MAX_DATAGRAM,
};
use std::time::Duration;

/// Settings of a [`crate::udp::UdpServer`] or [`crate::udp::UdpClient`].
#[derive(Clone, Debug)]
pub struct UdpConfig {
    /// Largest datagram (HP's MaxDatagramSize, default 1432; at most 65507).
    pub max_datagram: usize,
    /// Heartbeat interval (HP's DetectInterval, default 60 s).
    pub detect_interval: Duration,
    /// Heartbeat misses before a close (HP's DetectAttempts, default 3; 0 = no detection).
    pub detect_attempts: u32,
    /// Most open connections per component (HP's default 10,000; 0 = no limit). A new
    /// address beyond it gets the close datagram.
    pub max_connections: usize,
    /// Datagrams received per `recvmmsg` (default 64).
    pub recv_batch: usize,
    /// Bytes of datagrams queued for `sendmmsg` on one shard before sends are refused
    /// (`QueueFull`; default 8 MiB).
    pub max_queued_bytes: usize,
    /// IPv6 wildcard sockets also take IPv4 (default true).
    pub dual_stack: bool,
    /// Shards (default: one per CPU).
    pub shards: Option<usize>,
    /// Reliable UDP (HP's UdpArqServer / UdpArqClient): the 12-byte handshake, then KCP.
    pub arq: Option<ArqConfig>,
    /// UDP GSO (default false): datagrams of one size to one peer queued in one turn leave as
    /// one `UDP_SEGMENT` send (up to 64, each at most 1452 bytes); it turns itself off where
    /// the kernel or the device refuses it. Off by default because on loopback, to peers
    /// without GRO, it measured slower (`benches/udp.rs`, depth-8 cells: 0.93–0.95× the
    /// datagrams/s without it): the kernel splits each send again on the way in. Try it where
    /// the NIC segments in hardware (USO) and many datagrams go to each peer.
    pub gso: bool,
}

impl Default for UdpConfig {
    fn default() -> Self {
        UdpConfig {
            max_datagram: DEFAULT_MAX_DATAGRAM,
            detect_interval: Duration::from_millis(u64::from(DEFAULT_DETECT_INTERVAL_MS)),
            detect_attempts: DEFAULT_DETECT_ATTEMPTS,
            max_connections: 10_000,
            recv_batch: 64,
            max_queued_bytes: 8 << 20,
            dual_stack: true,
            shards: None,
            arq: None,
            gso: false,
        }
    }
}

impl UdpConfig {
    /// Checks the settings (HP's rules for the ARQ ones).
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: &str| Err(crate::Error::InvalidParam(m.to_string()));
        if self.max_datagram == 0 || self.max_datagram > 65_507 {
            return bad("max_datagram must be within 1..=65507");
        }
        if self.recv_batch == 0 || self.recv_batch > 1024 {
            return bad("recv_batch must be within 1..=1024");
        }
        if let Some(a) = self.arq_effective() {
            a.validate(self.max_datagram).or_else(bad)?;
        }
        Ok(())
    }

    /// The ARQ settings with the MTU at most the maximum datagram size (HP: MaxTransUnit 0
    /// means MaxDatagramSize).
    pub(crate) fn arq_effective(&self) -> Option<ArqConfig> {
        self.arq.map(|mut a| {
            a.kcp.mtu = a.kcp.mtu.min(self.max_datagram);
            a
        })
    }
}
