//! Node-qualified connection ids.

use shardnet_runtime::ConnId;
use std::fmt;
use std::str::FromStr;

/// A node's number in its cluster (chosen by the operator, unique among live nodes).
pub type NodeId = u16;

/// A connection named across a cluster: the node it lives on, the epoch that node drew when it
/// started, and the node-local [`ConnId`] (shard 8 bits, slot 20 bits, sequence 36 bits).
///
/// As one number ([`NodeConnId::as_u128`]), from the most significant bit down:
///
/// | bits    | field                                      |
/// |---------|--------------------------------------------|
/// | 127–112 | node                                       |
/// | 111–80  | epoch                                      |
/// | 79–64   | zero (reserved)                            |
/// | 63–56   | shard                                      |
/// | 55–36   | slot in the shard's connection table       |
/// | 35–0    | sequence (never reused within an epoch)    |
///
/// As text ([`fmt::Display`], [`FromStr`]): `node.epoch.conn`, the last two in hex, e.g.
/// `2.5f3a09c1.010000400000002a`. The epoch makes an id kept from before a node restarted
/// stale instead of naming whichever new connection reuses its slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeConnId {
    /// The node.
    pub node: NodeId,
    /// The node's epoch.
    pub epoch: u32,
    /// The connection on that node.
    pub conn: ConnId,
}

impl NodeConnId {
    /// The id as one number (layout in the type's docs).
    pub fn as_u128(self) -> u128 {
        (u128::from(self.node) << 112)
            | (u128::from(self.epoch) << 80)
            | u128::from(self.conn.as_u64())
    }

    /// Rebuilds an id from [`Self::as_u128`]; `None` when the reserved bits are not zero.
    pub fn from_u128(v: u128) -> Option<NodeConnId> {
        if (v >> 64) & 0xFFFF != 0 {
            return None;
        }
        Some(NodeConnId {
            node: (v >> 112) as u16,
            epoch: (v >> 80) as u32,
            conn: ConnId::from_u64(v as u64),
        })
    }
}

impl fmt::Display for NodeConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:08x}.{:016x}",
            self.node,
            self.epoch,
            self.conn.as_u64()
        )
    }
}

/// Why a text id did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a node connection id (expected node.epoch-hex.conn-hex)")]
pub struct ParseIdError;

impl FromStr for NodeConnId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, ParseIdError> {
        let mut it = s.split('.');
        let (Some(n), Some(e), Some(c), None) = (it.next(), it.next(), it.next(), it.next()) else {
            return Err(ParseIdError);
        };
        let hex = |x: &str, max: usize| {
            if x.is_empty() || x.len() > max || !x.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ParseIdError);
            }
            u64::from_str_radix(x, 16).map_err(|_| ParseIdError)
        };
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ParseIdError);
        }
        Ok(NodeConnId {
            node: n.parse().map_err(|_| ParseIdError)?,
            epoch: hex(e, 8)? as u32,
            conn: ConnId::from_u64(hex(c, 16)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shardnet_runtime::ShardId;

    #[test]
    fn layout_and_text_round_trip() {
        let id = NodeConnId {
            node: 0xBEEF,
            epoch: 0x1234_5678,
            conn: ConnId::new(ShardId(3), 5, 42),
        };
        let v = id.as_u128();
        assert_eq!(v >> 112, 0xBEEF);
        assert_eq!((v >> 80) as u32, 0x1234_5678);
        assert_eq!(v as u64, id.conn.as_u64());
        assert_eq!(NodeConnId::from_u128(v), Some(id));
        assert_eq!(NodeConnId::from_u128(v | (1 << 64)), None);
        let s = id.to_string();
        assert_eq!(s, format!("48879.12345678.{:016x}", id.conn.as_u64()));
        assert_eq!(s.parse::<NodeConnId>(), Ok(id));
        for bad in [
            "",
            "1",
            "1.2",
            "1.2.3.4",
            "x.1.1",
            "1.g.1",
            "70000.1.1",
            "1.123456789.1",
            "-1.1.1",
            "1..1",
        ] {
            assert_eq!(bad.parse::<NodeConnId>(), Err(ParseIdError), "{bad}");
        }
    }
}
