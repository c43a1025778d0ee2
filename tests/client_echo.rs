//! TcpClient: synchronous and asynchronous starts against an echo TcpServer (2 shards), and
//! against a refused port.

mod support;
use shardnet::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::*;

#[derive(Debug, Clone, PartialEq, Eq)]
enum CEv {
    Connect,
    Close(SocketOperation, i32),
    Shutdown,
}

#[derive(Default)]
struct CState {
    events: Mutex<Vec<CEv>>,
    received: Mutex<Vec<u8>>,
}

impl CState {
    fn events(&self) -> Vec<CEv> {
        self.events.lock().unwrap().clone()
    }
    fn received_len(&self) -> usize {
        self.received.lock().unwrap().len()
    }
}

struct ClientRec(Arc<CState>);

impl ClientListener for ClientRec {
    fn on_connect(&self, _: &TcpClient) -> HandleResult {
        self.0.events.lock().unwrap().push(CEv::Connect);
        HandleResult::Ok
    }
    fn on_receive(&self, _: &TcpClient, d: &[u8]) -> HandleResult {
        self.0.received.lock().unwrap().extend_from_slice(d);
        HandleResult::Ok
    }
    fn on_close(&self, _: &TcpClient, op: SocketOperation, e: i32) -> HandleResult {
        self.0.events.lock().unwrap().push(CEv::Close(op, e));
        HandleResult::Ok
    }
    fn on_shutdown(&self, _: &TcpClient) -> HandleResult {
        self.0.events.lock().unwrap().push(CEv::Shutdown);
        HandleResult::Ok
    }
}

fn echo_server() -> (TcpServer, Arc<Record>) {
    let rec = Arc::new(Record::default());
    let server = TcpServer::builder()
        .runtime(rt(2))
        .start("127.0.0.1:0", Arc::new(EchoRec(rec.clone())))
        .unwrap();
    (server, rec)
}

fn stop_server(server: &TcpServer, rec: &Record) {
    server.stop();
    assert!(matches!(
        server.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    assert_eq!(rec.shutdowns.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn sync_start_echo_then_stop() {
    let (server, rec) = echo_server();
    let port = server.listen_addr().unwrap().port();
    let st = Arc::new(CState::default());
    let client = TcpClient::builder()
        .start("127.0.0.1", port, false, ClientRec(st.clone()))
        .unwrap();
    // A synchronous start returns connected.
    assert_eq!(st.events(), vec![CEv::Connect]);
    assert_eq!(client.state(), ServiceState::Started);
    assert!(wait_until(5, || server.connection_count() == 1));
    // Addresses agree with the server's view.
    let sc = rec.accepts.lock().unwrap()[0];
    assert_eq!(server.remote_addr(sc), client.local_addr());
    assert_eq!(client.remote_addr(), server.listen_addr());

    let small = b"hello client".to_vec();
    client.send(&small).unwrap();
    assert!(wait_until(5, || st.received_len() >= small.len()));
    assert_eq!(*st.received.lock().unwrap(), small);

    let big = pattern(300_000, 9);
    client.send(&big).unwrap();
    let total = small.len() + big.len();
    assert!(
        wait_until(10, || st.received_len() >= total),
        "{} of {total}",
        st.received_len()
    );
    assert_eq!(st.received_len(), total);
    assert!(
        st.received.lock().unwrap()[small.len()..] == big[..],
        "echoed bytes differ"
    );
    assert_eq!(
        rec.received.load(std::sync::atomic::Ordering::Relaxed),
        total
    );

    client.stop();
    assert!(matches!(
        client.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    client.wait().unwrap();
    assert_eq!(client.state(), ServiceState::Stopped);
    assert_eq!(
        st.events(),
        vec![
            CEv::Connect,
            CEv::Close(SocketOperation::Close, 0),
            CEv::Shutdown
        ]
    );
    assert!(client.send(b"late").is_err());
    // The server sees the client go (FIN).
    assert!(wait_until(5, || rec.closes().len() == 1));
    assert_eq!(rec.closes()[0], (sc, SocketOperation::Close, 0));
    stop_server(&server, &rec);
}

#[test]
fn server_disconnect_stops_the_client() {
    let (server, rec) = echo_server();
    let port = server.listen_addr().unwrap().port();
    let st = Arc::new(CState::default());
    let client = TcpClient::builder()
        .start("127.0.0.1", port, false, ClientRec(st.clone()))
        .unwrap();
    assert!(wait_until(5, || server.connection_count() == 1));
    let sc = rec.accepts.lock().unwrap()[0];
    server.disconnect(sc, true).unwrap();
    assert!(matches!(
        client.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    assert_eq!(
        st.events(),
        vec![
            CEv::Connect,
            CEv::Close(SocketOperation::Close, 0),
            CEv::Shutdown
        ]
    );
    stop_server(&server, &rec);
}

#[test]
fn sync_start_to_refused_port_fails() {
    let st = Arc::new(CState::default());
    let r = TcpClient::builder().start("127.0.0.1", refused_port(), false, ClientRec(st.clone()));
    match r {
        Err(Error::ConnectFailed(e)) => assert_eq!(e, libc::ECONNREFUSED),
        Err(e) => panic!("expected ConnectFailed(ECONNREFUSED), got {e}"),
        Ok(_) => panic!("expected ConnectFailed(ECONNREFUSED), got a client"),
    }
    assert!(!st.events().contains(&CEv::Connect), "no on_connect");
}

#[test]
fn async_start_to_refused_port_closes_with_connect() {
    let st = Arc::new(CState::default());
    let client = TcpClient::builder()
        .start("127.0.0.1", refused_port(), true, ClientRec(st.clone()))
        .unwrap();
    assert!(matches!(
        client.wait_timeout(Duration::from_secs(10)),
        Ok(true)
    ));
    assert_eq!(
        st.events(),
        vec![
            CEv::Close(SocketOperation::Connect, libc::ECONNREFUSED),
            CEv::Shutdown
        ]
    );
    assert_eq!(client.state(), ServiceState::Stopped);
}
