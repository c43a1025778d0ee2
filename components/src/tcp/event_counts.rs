//! What a TCP-family component counts beyond traffic, per shard: closes by operation and errno
//! class, TLS handshakes completed and failed by reason. Written on the shard at the event
//! (never per message); read by a metrics scrape.

use crate::listener::{SocketOperation, CALLBACK_ERROR};
use crate::metrics::Sample;
use shardnet_shard::ShardCounters;

const OPS: [&str; 6] = ["unknown", "accept", "connect", "send", "receive", "close"];
const CLASSES: [&str; 8] = [
    "none", "reset", "timeout", "refused", "protocol", "callback", "resource", "other",
];
const TLS: [&str; 7] = [
    "ok",
    "certificate",
    "alert",
    "protocol",
    "timeout",
    "eof",
    "other",
];

/// Indexes of [`crate::core::Core::layer`]: what the HTTP and WebSocket layers count.
pub(crate) mod layer {
    /// HTTP responses 1xx … 5xx: `HTTP_1XX + status / 100 - 1`.
    pub(crate) const HTTP_1XX: usize = 0;
    /// WebSocket messages delivered to `on_message`.
    pub(crate) const WS_MESSAGES_IN: usize = 8;
    /// WebSocket data frames sent (text, binary; continuation frames of HP's raw API too).
    pub(crate) const WS_MESSAGES_OUT: usize = 9;
    /// Pings received (each answered).
    pub(crate) const WS_PINGS_IN: usize = 10;
    /// Close frames received.
    pub(crate) const WS_CLOSES_IN: usize = 11;
    /// Close frames sent.
    pub(crate) const WS_CLOSES_OUT: usize = 12;
    /// Connections failed for a protocol violation of the peer (a close code we sent).
    pub(crate) const WS_PROTOCOL_ERRORS: usize = 13;

    /// The status class counter of `status` (none for a status outside 100–599).
    pub(crate) fn http_status(status: u16) -> usize {
        match status {
            100..=599 => HTTP_1XX + status as usize / 100 - 1,
            _ => usize::MAX,
        }
    }
}

/// The errno class a close is counted under.
fn class(errno: i32) -> usize {
    match errno {
        0 => 0,
        libc::ECONNRESET | libc::EPIPE | libc::ECONNABORTED => 1,
        libc::ETIMEDOUT => 2,
        libc::ECONNREFUSED | libc::EHOSTUNREACH | libc::ENETUNREACH => 3,
        // EPROTO is also the TLS errno; EMSGSIZE an oversize Pack message or datagram.
        libc::EPROTO | libc::EBADMSG | libc::EMSGSIZE | libc::EINVAL => 4,
        CALLBACK_ERROR => 5,
        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => 6,
        _ => 7,
    }
}

/// Why a TLS handshake failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TlsFailure {
    /// The peer's certificate was refused, or none was presented where one is required.
    Certificate,
    /// The peer sent an alert.
    Alert,
    /// The peer broke the protocol (bad message, incompatible parameters).
    Protocol,
    /// The handshake timeout passed.
    Timeout,
    /// The peer hung up during the handshake.
    Eof,
    /// Anything else.
    Other,
}

impl TlsFailure {
    pub(crate) fn of(e: &rustls::Error) -> TlsFailure {
        use rustls::Error as E;
        match e {
            E::InvalidCertificate(_) | E::NoCertificatesPresented => TlsFailure::Certificate,
            E::AlertReceived(_) => TlsFailure::Alert,
            E::InappropriateMessage { .. }
            | E::InappropriateHandshakeMessage { .. }
            | E::InvalidMessage(_)
            | E::PeerIncompatible(_)
            | E::PeerMisbehaved(_)
            | E::DecryptError => TlsFailure::Protocol,
            _ => TlsFailure::Other,
        }
    }
}

/// Closes and TLS handshakes of one component, per shard.
pub(crate) struct EventCounts {
    closes: ShardCounters<48>,
    tls: ShardCounters<7>,
}

impl EventCounts {
    pub(crate) fn new(shards: usize) -> Self {
        EventCounts {
            closes: ShardCounters::new(shards),
            tls: ShardCounters::new(shards),
        }
    }

    /// A connection of `shard` closed (on that shard).
    pub(crate) fn closed(&self, shard: usize, op: SocketOperation, errno: i32) {
        self.closes
            .bump(shard, (op as usize).min(5) * 8 + class(errno), 1);
    }

    /// A TLS handshake on `shard` completed.
    pub(crate) fn tls_ok(&self, shard: usize) {
        self.tls.bump(shard, 0, 1);
    }

    /// A TLS handshake on `shard` failed.
    pub(crate) fn tls_failed(&self, shard: usize, why: TlsFailure) {
        let i = match why {
            TlsFailure::Certificate => 1,
            TlsFailure::Alert => 2,
            TlsFailure::Protocol => 3,
            TlsFailure::Timeout => 4,
            TlsFailure::Eof => 5,
            TlsFailure::Other => 6,
        };
        self.tls.bump(shard, i, 1);
    }

    /// The samples of every shard (only the (operation, class) pairs seen, and the TLS series
    /// when TLS is on).
    pub(crate) fn samples(&self, tls: bool, out: &mut Vec<Sample>) {
        for s in 0..self.closes.shards() {
            let row = self.closes.row(s);
            for (i, v) in row.iter().enumerate().filter(|(_, v)| **v > 0) {
                out.push(Sample::new(
                    "shardnet_closes_total",
                    "counter",
                    "Connections closed, by the operation and errno class on_close reported.",
                    s,
                    &[("operation", OPS[i / 8]), ("errno_class", CLASSES[i % 8])],
                    *v,
                ));
            }
        }
        if !tls {
            return;
        }
        for s in 0..self.tls.shards() {
            let row = self.tls.row(s);
            out.push(Sample::new(
                "shardnet_tls_handshakes_total",
                "counter",
                "TLS handshakes completed.",
                s,
                &[],
                row[0],
            ));
            for (i, reason) in TLS.iter().enumerate().skip(1) {
                out.push(Sample::new(
                    "shardnet_tls_handshake_failures_total",
                    "counter",
                    "TLS handshakes failed, by reason.",
                    s,
                    &[("reason", reason)],
                    row[i],
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closes_land_in_their_class() {
        let c = EventCounts::new(2);
        c.closed(1, SocketOperation::Receive, libc::ECONNRESET);
        c.closed(1, SocketOperation::Close, 0);
        c.closed(1, SocketOperation::Close, 0);
        c.closed(0, SocketOperation::Close, CALLBACK_ERROR);
        c.tls_failed(0, TlsFailure::Timeout);
        let mut out = Vec::new();
        c.samples(true, &mut out);
        let find = |name: &str, shard: usize, want: &[(&str, &str)]| {
            out.iter()
                .find(|s| {
                    s.name == name
                        && s.shard == Some(shard)
                        && want
                            .iter()
                            .all(|(k, v)| s.labels.iter().any(|(k2, v2)| k2 == k && v2 == v))
                })
                .map(|s| s.value)
        };
        let closes = "shardnet_closes_total";
        let fail = "shardnet_tls_handshake_failures_total";
        let rr = [("operation", "receive"), ("errno_class", "reset")];
        assert_eq!(find(closes, 1, &rr), Some(1));
        let cn = [("operation", "close"), ("errno_class", "none")];
        assert_eq!(find(closes, 1, &cn), Some(2));
        let cc = [("operation", "close"), ("errno_class", "callback")];
        assert_eq!(find(closes, 0, &cc), Some(1));
        assert_eq!(find(closes, 0, &cn), None);
        assert_eq!(find(fail, 0, &[("reason", "timeout")]), Some(1));
        assert_eq!(find(fail, 1, &[("reason", "timeout")]), Some(0));
    }
}
