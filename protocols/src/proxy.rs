//! The PROXY protocol (haproxy's, versions 1 and 2), sans-IO: the header a balancer (haproxy,
//! nginx's stream module, AWS NLB) sends first on a connection to say which client it accepted.
//!
//! [`parse`] is given the bytes received so far and says: incomplete (wait for more), invalid
//! (close the connection), or the header and how many bytes it took. It decides as early as
//! the bytes allow — a first byte that starts neither version is refused at once — and never
//! needs more than [`V1_MAX`] bytes for version 1 or 16 + `max_v2` for version 2, so a peer
//! cannot make the caller buffer more than that.
//!
//! - v1: `PROXY TCP4|TCP6 <src> <dst> <srcport> <dstport>\r\n` (at most 107 bytes), or
//!   `PROXY UNKNOWN ...\r\n` (the balancer's own connection: addresses unknown).
//! - v2: the 12-byte signature `0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A`, version/command (0x20
//!   LOCAL, 0x21 PROXY), family/transport (0x11 TCP over IPv4, 0x21 TCP over IPv6; others are
//!   read as "no address"), a big-endian length, the addresses, then TLVs (skipped).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Longest version 1 header, CRLF included.
pub const V1_MAX: usize = 107;
/// The version 2 signature.
pub const V2_SIGNATURE: [u8; 12] = [
    0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A,
];
/// Default bound on a version 2 header's length field (addresses + TLVs).
pub const DEFAULT_MAX_V2: usize = 2048;

/// What the header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Header {
    /// A proxied connection: the client the balancer accepted and the address it connected to.
    Proxy {
        /// The original client.
        src: SocketAddr,
        /// The address the client connected to (on the balancer).
        dst: SocketAddr,
        /// 1 or 2.
        version: u8,
    },
    /// No client address: v2 LOCAL (the balancer's own health check), v1 UNKNOWN, or a v2
    /// family this parser does not map (UNIX sockets, UNSPEC). Keep the socket's peer address.
    Local {
        /// 1 or 2.
        version: u8,
    },
}

/// The result of [`parse`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// Not enough bytes yet.
    Incomplete,
    /// The header, and how many bytes of the input it took (the rest is the client's data).
    Done(Header, usize),
    /// Not a PROXY header, or a malformed one.
    Invalid(&'static str),
}

const V1_PREFIX: &[u8] = b"PROXY ";

/// Parses the PROXY header at the start of `buf` (the bytes received so far); version 2
/// headers with a length field over `max_v2` are refused.
pub fn parse(buf: &[u8], max_v2: usize) -> Parsed {
    if buf.is_empty() {
        return Parsed::Incomplete;
    }
    if buf[0] == V2_SIGNATURE[0] {
        let n = buf.len().min(12);
        if buf[..n] != V2_SIGNATURE[..n] {
            return Parsed::Invalid("not a PROXY v2 signature");
        }
        return parse_v2(buf, max_v2);
    }
    let n = buf.len().min(V1_PREFIX.len());
    if buf[..n] != V1_PREFIX[..n] {
        return Parsed::Invalid("no PROXY header");
    }
    parse_v1(buf)
}

fn parse_v1(buf: &[u8]) -> Parsed {
    let window = &buf[..buf.len().min(V1_MAX)];
    let Some(end) = window.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Parsed::Invalid("PROXY v1 header longer than 107 bytes")
        } else {
            Parsed::Incomplete
        };
    };
    let Ok(line) = std::str::from_utf8(&buf[V1_PREFIX.len()..end]) else {
        return Parsed::Invalid("PROXY v1 header is not text");
    };
    let used = end + 2;
    let f: Vec<&str> = line.split(' ').collect();
    match f.first().copied() {
        Some("UNKNOWN") => Parsed::Done(Header::Local { version: 1 }, used),
        Some(proto @ ("TCP4" | "TCP6")) => {
            if f.len() != 5 {
                return Parsed::Invalid("PROXY v1: wrong number of fields");
            }
            let v6 = proto == "TCP6";
            let ip = |s: &str| -> Option<IpAddr> {
                if v6 {
                    s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
                } else {
                    s.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
                }
            };
            // Ports: decimal without a sign or leading zeros (as the spec writes them).
            let port = |s: &str| -> Option<u16> {
                if s.is_empty() || (s.len() > 1 && s.starts_with('0')) {
                    return None;
                }
                s.bytes()
                    .all(|b| b.is_ascii_digit())
                    .then(|| s.parse().ok())?
            };
            match (ip(f[1]), ip(f[2]), port(f[3]), port(f[4])) {
                (Some(s), Some(d), Some(sp), Some(dp)) => Parsed::Done(
                    Header::Proxy {
                        src: SocketAddr::new(s, sp),
                        dst: SocketAddr::new(d, dp),
                        version: 1,
                    },
                    used,
                ),
                _ => Parsed::Invalid("PROXY v1: bad address or port"),
            }
        }
        _ => Parsed::Invalid("PROXY v1: unknown protocol"),
    }
}

fn parse_v2(buf: &[u8], max_v2: usize) -> Parsed {
    if buf.len() < 16 {
        // Check what is there early: the version and command byte.
        if buf.len() > 12 && buf[12] >> 4 != 2 {
            return Parsed::Invalid("PROXY v2: wrong version");
        }
        return Parsed::Incomplete;
    }
    let (ver, cmd) = (buf[12] >> 4, buf[12] & 0x0F);
    if ver != 2 {
        return Parsed::Invalid("PROXY v2: wrong version");
    }
    if cmd > 1 {
        return Parsed::Invalid("PROXY v2: unknown command");
    }
    let fam = buf[13];
    let len = u16::from_be_bytes([buf[14], buf[15]]) as usize;
    if len > max_v2 {
        return Parsed::Invalid("PROXY v2: header over the length limit");
    }
    if buf.len() < 16 + len {
        return Parsed::Incomplete;
    }
    let body = &buf[16..16 + len];
    let used = 16 + len;
    if cmd == 0 {
        return Parsed::Done(Header::Local { version: 2 }, used);
    }
    let port = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    match fam {
        0x11 | 0x12 => {
            if body.len() < 12 {
                return Parsed::Invalid("PROXY v2: IPv4 addresses truncated");
            }
            let s = Ipv4Addr::new(body[0], body[1], body[2], body[3]);
            let d = Ipv4Addr::new(body[4], body[5], body[6], body[7]);
            Parsed::Done(
                Header::Proxy {
                    src: SocketAddr::new(s.into(), port(&body[8..10])),
                    dst: SocketAddr::new(d.into(), port(&body[10..12])),
                    version: 2,
                },
                used,
            )
        }
        0x21 | 0x22 => {
            if body.len() < 36 {
                return Parsed::Invalid("PROXY v2: IPv6 addresses truncated");
            }
            let s: [u8; 16] = body[..16].try_into().expect("16 bytes");
            let d: [u8; 16] = body[16..32].try_into().expect("16 bytes");
            Parsed::Done(
                Header::Proxy {
                    src: SocketAddr::new(Ipv6Addr::from(s).into(), port(&body[32..34])),
                    dst: SocketAddr::new(Ipv6Addr::from(d).into(), port(&body[34..36])),
                    version: 2,
                },
                used,
            )
        }
        // UNSPEC, UNIX sockets: no address this server can use.
        _ => Parsed::Done(Header::Local { version: 2 }, used),
    }
}

/// An allow-list entry: an address and a prefix length (`10.0.0.0/8`, `::1/128`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ip/len` or a bare `ip` (a single address).
    pub fn parse(s: &str) -> Option<Cidr> {
        let (ip, len) = match s.split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (s, None),
        };
        let addr: IpAddr = ip.trim().parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match len {
            Some(l) => l.trim().parse::<u8>().ok().filter(|&p| p <= max)?,
            None => max,
        };
        Some(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_golden_lines_and_every_split() {
        let line = b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\nGET / HTTP/1.1\r\n";
        let want = Header::Proxy {
            src: "192.168.0.1:56324".parse().unwrap(),
            dst: "192.168.0.11:443".parse().unwrap(),
            version: 1,
        };
        assert_eq!(parse(line, DEFAULT_MAX_V2), Parsed::Done(want, 47));
        for cut in 0..47 {
            assert_eq!(
                parse(&line[..cut], DEFAULT_MAX_V2),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
        let v6 = b"PROXY TCP6 2001:db8::1 ::1 65535 8080\r\n";
        assert_eq!(
            parse(v6, DEFAULT_MAX_V2),
            Parsed::Done(
                Header::Proxy {
                    src: "[2001:db8::1]:65535".parse().unwrap(),
                    dst: "[::1]:8080".parse().unwrap(),
                    version: 1
                },
                v6.len()
            )
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN\r\n", DEFAULT_MAX_V2),
            Parsed::Done(Header::Local { version: 1 }, 15)
        );
        assert_eq!(
            parse(b"PROXY UNKNOWN ffff:f...f:ffff 1 2 3\r\n", DEFAULT_MAX_V2),
            Parsed::Done(Header::Local { version: 1 }, 37)
        );
    }

    #[test]
    fn v1_refusals() {
        for bad in [
            &b"GET / HTTP/1.1\r\n"[..],
            b"PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1 65536\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n",
            b"PROXY TCP4 ::1 1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n",
            b"PROXY TCP4 1.2.3.4  1.2.3.4 1 2\r\n",
            b"PROXY TCP4 1.2.3.4 1.2.3.4 +1 2\r\n",
        ] {
            assert!(
                matches!(parse(bad, DEFAULT_MAX_V2), Parsed::Invalid(_)),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        // Refused as soon as the first byte differs; no CRLF within 107 bytes is refused.
        assert!(matches!(parse(b"G", DEFAULT_MAX_V2), Parsed::Invalid(_)));
        assert!(matches!(
            parse(b"PROXX", DEFAULT_MAX_V2),
            Parsed::Invalid(_)
        ));
        let long = [b"PROXY UNKNOWN ".as_slice(), &[b'x'; 100]].concat();
        assert!(matches!(parse(&long, DEFAULT_MAX_V2), Parsed::Invalid(_)));
        assert_eq!(parse(&long[..106], DEFAULT_MAX_V2), Parsed::Incomplete);
    }

    fn v2(cmd: u8, fam: u8, body: &[u8]) -> Vec<u8> {
        let mut v = V2_SIGNATURE.to_vec();
        v.push(0x20 | cmd);
        v.push(fam);
        v.extend_from_slice(&(body.len() as u16).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn v2_golden_headers_and_every_split() {
        // TCP over IPv4, 10.0.0.1:1234 -> 10.0.0.2:443, then a TLV (type 0x04 NOOP, 3 bytes).
        let mut body = vec![10, 0, 0, 1, 10, 0, 0, 2, 0x04, 0xD2, 0x01, 0xBB];
        body.extend_from_slice(&[0x04, 0x00, 0x03, 1, 2, 3]);
        let mut h = v2(1, 0x11, &body);
        let n = h.len();
        h.extend_from_slice(b"client data");
        let want = Header::Proxy {
            src: "10.0.0.1:1234".parse().unwrap(),
            dst: "10.0.0.2:443".parse().unwrap(),
            version: 2,
        };
        assert_eq!(parse(&h, DEFAULT_MAX_V2), Parsed::Done(want, n));
        for cut in 0..n {
            assert_eq!(
                parse(&h[..cut], DEFAULT_MAX_V2),
                Parsed::Incomplete,
                "cut {cut}"
            );
        }
        // IPv6.
        let mut b6 = Vec::new();
        b6.extend_from_slice(&"2001:db8::7".parse::<Ipv6Addr>().unwrap().octets());
        b6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        b6.extend_from_slice(&[0x1F, 0x90, 0x00, 0x50]);
        assert_eq!(
            parse(&v2(1, 0x21, &b6), DEFAULT_MAX_V2),
            Parsed::Done(
                Header::Proxy {
                    src: "[2001:db8::7]:8080".parse().unwrap(),
                    dst: "[::1]:80".parse().unwrap(),
                    version: 2
                },
                16 + 36
            )
        );
        // LOCAL (a health check) and UNSPEC/UNIX: no address.
        assert_eq!(
            parse(&v2(0, 0x00, &[]), DEFAULT_MAX_V2),
            Parsed::Done(Header::Local { version: 2 }, 16)
        );
        assert_eq!(
            parse(&v2(1, 0x31, &[0; 216]), DEFAULT_MAX_V2),
            Parsed::Done(Header::Local { version: 2 }, 16 + 216)
        );
    }

    #[test]
    fn v2_refusals_and_the_length_limit() {
        let mut bad_sig = v2(1, 0x11, &[0; 12]);
        bad_sig[5] = 0x0E;
        assert!(matches!(
            parse(&bad_sig, DEFAULT_MAX_V2),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse(&bad_sig[..6], DEFAULT_MAX_V2),
            Parsed::Invalid(_)
        ));
        let mut ver = v2(1, 0x11, &[0; 12]);
        ver[12] = 0x11;
        assert!(matches!(
            parse(&ver[..13], DEFAULT_MAX_V2),
            Parsed::Invalid(_)
        ));
        let mut cmd = v2(1, 0x11, &[0; 12]);
        cmd[12] = 0x22;
        assert!(matches!(parse(&cmd, DEFAULT_MAX_V2), Parsed::Invalid(_)));
        assert!(matches!(
            parse(&v2(1, 0x11, &[0; 8]), DEFAULT_MAX_V2),
            Parsed::Invalid(_)
        ));
        assert!(matches!(
            parse(&v2(1, 0x21, &[0; 20]), DEFAULT_MAX_V2),
            Parsed::Invalid(_)
        ));
        // A length field of 65535 is refused from the 16-byte prefix alone: nothing buffered.
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xFF, 0xFF]);
        assert!(matches!(parse(&huge, DEFAULT_MAX_V2), Parsed::Invalid(_)));
    }

    #[test]
    fn allow_lists() {
        let c = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(c.contains("10.1.200.3".parse().unwrap()));
        assert!(!c.contains("10.2.0.1".parse().unwrap()));
        assert!(c.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert_eq!(Cidr::parse("10.0.0.0/33"), None);
        assert_eq!(Cidr::parse("nope"), None);
    }
}
