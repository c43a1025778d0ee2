//! An HTTP server with a whole-request handler (the README's HTTP quick start).
//!
//! `cargo run --example http_server`, then `curl -i http://127.0.0.1:8080/hello?x=1`.

use shardnet::http::{HttpServer, Request, Response};

fn main() -> shardnet::Result<()> {
    let server = HttpServer::builder().serve("127.0.0.1:8080", |req: &Request| {
        Response::new(200, format!("{} {}\n", req.method(), req.target()))
            .header("Content-Type", "text/plain")
    })?;
    println!(
        "listening on http://{}",
        server.listen_addr().expect("bound")
    );
    server.wait()
}
