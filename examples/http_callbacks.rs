//! An HTTP server on HP-Socket's HTTP callbacks: bodies streamed (de-chunked) to `on_body`,
//! answered in `on_message_complete`, released when the request was not keep-alive.
//!
//! `cargo run --example http_callbacks`, then
//! `curl -T Cargo.toml -H 'Transfer-Encoding: chunked' http://127.0.0.1:8081/upload`.

use shardnet::http::*;
use shardnet::*;
use std::sync::Arc;

struct Upload;

impl HttpServerListener for Upload {
    fn on_body(&self, _: &HttpServer, conn: ConnId, data: &[u8]) -> HandleResult {
        println!("{conn}: {} body bytes", data.len());
        HandleResult::Ok
    }
    fn on_message_complete(&self, s: &HttpServer, c: ConnId, r: &RequestInfo) -> HandleResult {
        let _ = s.send_response(c, 200, None, &[("Content-Type", "text/plain")], b"stored\n");
        if !r.keep_alive {
            let _ = s.release(c);
        }
        HandleResult::Ok
    }
    fn on_close(&self, _: &HttpServer, _: ConnId, _: SocketOperation, _: i32) -> HandleResult {
        HandleResult::Ok
    }
}

fn main() -> shardnet::Result<()> {
    let server = HttpServer::builder().start("127.0.0.1:8081", Arc::new(Upload))?;
    println!(
        "listening on http://{}",
        server.listen_addr().expect("bound")
    );
    server.wait()
}
