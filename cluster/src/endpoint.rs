//! What the cluster delivers into: a server of this node.

use shardnet_components::groups::GroupId;
use shardnet_components::ws::WebSocketServer;
use shardnet_components::{Result, TcpServer};
use shardnet_protocols::ws::Message;
use shardnet_runtime::ConnId;

/// A server the cluster hands messages to (from the cluster's thread, so every call is the
/// component's cross-thread path: posted to the owning shard's inbox). Implemented for
/// [`TcpServer`] (a message's bytes are sent as they are) and [`WebSocketServer`] (a text or
/// binary message, framed on the member's shard).
pub trait Endpoint: Send + Sync + 'static {
    /// Sends `msg` to `conn`.
    fn deliver(&self, conn: ConnId, msg: Message<'_>) -> Result<()>;
    /// Sends `msg` to this node's members of `group` but `except`.
    fn deliver_group(&self, group: GroupId, msg: Message<'_>, except: Option<ConnId>)
        -> Result<()>;
    /// The TCP server underneath, which keeps the groups.
    fn tcp(&self) -> &TcpServer;
    /// Adds `conn` to `group`.
    fn join(&self, group: GroupId, conn: ConnId) -> Result<()> {
        self.tcp().join(group, conn)
    }
    /// Removes `conn` from `group`.
    fn leave(&self, group: GroupId, conn: ConnId) -> Result<()> {
        self.tcp().leave(group, conn)
    }
    /// The groups with members on this node (blocking: called on the cluster's thread only).
    fn groups_with_members(&self) -> Result<Vec<GroupId>> {
        self.tcp().groups_with_members()
    }
}

fn bytes<'a>(msg: &Message<'a>) -> &'a [u8] {
    match *msg {
        Message::Text(t) => t.as_bytes(),
        Message::Binary(b) => b,
    }
}

impl Endpoint for TcpServer {
    fn deliver(&self, conn: ConnId, msg: Message<'_>) -> Result<()> {
        self.send(conn, bytes(&msg))
    }
    fn deliver_group(
        &self,
        group: GroupId,
        msg: Message<'_>,
        except: Option<ConnId>,
    ) -> Result<()> {
        self.send_group(group, bytes(&msg), except)
    }
    fn tcp(&self) -> &TcpServer {
        self
    }
}

impl Endpoint for WebSocketServer {
    fn deliver(&self, conn: ConnId, msg: Message<'_>) -> Result<()> {
        match msg {
            Message::Text(t) => self.send_text(conn, t),
            Message::Binary(b) => self.send_binary(conn, b),
        }
    }
    fn deliver_group(
        &self,
        group: GroupId,
        msg: Message<'_>,
        except: Option<ConnId>,
    ) -> Result<()> {
        self.send_group(group, msg, except)
    }
    fn tcp(&self) -> &TcpServer {
        self
    }
}
