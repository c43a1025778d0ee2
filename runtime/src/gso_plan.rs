//! Which queued datagrams can leave as one UDP GSO send (`UDP_SEGMENT`): the kernel splits a
//! send of `n × size` bytes (the last piece may be shorter) into `n` datagrams to one address,
//! with one route lookup and one socket buffer for all of them. [`plan`] groups a send queue
//! into such sends without changing the order of the datagrams to any one address (datagrams
//! to different addresses have no order between them on the wire anyway).

use std::collections::HashMap;
use std::net::SocketAddr;

/// Datagrams per GSO send at most (the kernel's `UDP_MAX_SEGMENTS`: 64 in older kernels,
/// more in newer ones; 64 works on all).
pub const MAX_SEGMENTS: usize = 64;

/// Payload bytes per GSO send at most (one IP packet's limit, less the headers).
pub const MAX_BYTES: usize = 65_000;

/// Largest datagram put in a GSO send: each segment must fit the path's MTU unfragmented
/// (1452 = 1500 less IPv6 and UDP headers); larger ones go alone, fragmented as usual.
pub const MAX_SEGMENT: usize = 1452;

/// One send: queue indexes of its datagrams, in order; `segment` is their size (all equal but
/// the last, which may be shorter). A single datagram is a plain send.
#[derive(Debug, PartialEq, Eq)]
pub struct Send {
    /// Indexes into the queue, in order.
    pub items: Vec<usize>,
    /// The segment size (the first datagram's length).
    pub segment: usize,
}

/// Groups `queue` (each datagram's address and length) into sends. Sends come in the order of
/// their first datagram; a group stays open for more datagrams of its address while they
/// have its segment size and it has room, and closes at a shorter one (which ends it) or a
/// longer one (which starts the next group).
pub fn plan(queue: &[(SocketAddr, usize)]) -> Vec<Send> {
    let mut sends: Vec<Send> = Vec::new();
    // The open group of each address, and its bytes so far.
    let mut open: HashMap<SocketAddr, (usize, usize)> = HashMap::new();
    for (i, &(addr, len)) in queue.iter().enumerate() {
        if let Some(&(g, bytes)) = open.get(&addr) {
            let s = &mut sends[g];
            let fits = len <= s.segment
                && len > 0
                && s.items.len() < MAX_SEGMENTS
                && bytes + len <= MAX_BYTES;
            if fits {
                s.items.push(i);
                if len < s.segment || s.items.len() == MAX_SEGMENTS {
                    open.remove(&addr);
                } else {
                    open.insert(addr, (g, bytes + len));
                }
                continue;
            }
        }
        sends.push(Send {
            items: vec![i],
            segment: len,
        });
        if len == 0 || len > MAX_SEGMENT {
            // An empty datagram (a heartbeat) cannot be a segment, nor one over the MTU.
            open.remove(&addr);
        } else {
            open.insert(addr, (sends.len() - 1, len));
        }
    }
    sends
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn groups(p: &[Send]) -> Vec<Vec<usize>> {
        p.iter().map(|s| s.items.clone()).collect()
    }

    #[test]
    fn groups_per_address_keeping_each_address_in_order() {
        let q = [
            (a(1), 64),
            (a(2), 64),
            (a(1), 64),
            (a(2), 64),
            (a(1), 10), // shorter: ends a(1)'s group
            (a(1), 64), // a new group
            (a(3), 64),
        ];
        let p = plan(&q);
        assert_eq!(
            groups(&p),
            vec![vec![0, 2, 4], vec![1, 3], vec![5], vec![6]]
        );
        assert_eq!(p[0].segment, 64);
        // Every datagram once, and each address's datagrams in queue order.
        let mut seen: Vec<usize> = p.iter().flat_map(|s| s.items.clone()).collect();
        seen.sort();
        assert_eq!(seen, (0..q.len()).collect::<Vec<_>>());
        for port in 1..=3 {
            let order: Vec<usize> = p
                .iter()
                .flat_map(|s| s.items.clone())
                .filter(|&i| q[i].0 == a(port))
                .collect();
            assert!(order.windows(2).all(|w| w[0] < w[1]), "{port}: {order:?}");
        }
    }

    #[test]
    fn longer_datagrams_empty_ones_and_limits_start_new_groups() {
        // A longer datagram cannot join a group of shorter segments.
        assert_eq!(
            groups(&plan(&[(a(1), 10), (a(1), 20), (a(1), 20)])),
            vec![vec![0], vec![1, 2]]
        );
        // Heartbeats (0 bytes) go alone.
        assert_eq!(
            groups(&plan(&[(a(1), 0), (a(1), 0), (a(1), 5), (a(1), 0)])),
            vec![vec![0], vec![1], vec![2], vec![3]]
        );
        // At most MAX_SEGMENTS datagrams and MAX_BYTES bytes a send.
        let q: Vec<(SocketAddr, usize)> = (0..MAX_SEGMENTS + 1).map(|_| (a(1), 8)).collect();
        let p = plan(&q);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].items.len(), MAX_SEGMENTS);
        let q: Vec<(SocketAddr, usize)> = (0..60).map(|_| (a(1), 1400)).collect();
        let p = plan(&q);
        assert!(p.iter().all(|s| s.items.len() * 1400 <= MAX_BYTES));
        assert_eq!(p[0].items.len(), MAX_BYTES / 1400);
        // Over the MTU: alone.
        assert_eq!(
            groups(&plan(&[(a(1), 2000), (a(1), 2000)])),
            vec![vec![0], vec![1]]
        );
    }
}
