//! A blocking GET with HttpSyncClient (the README's five-line client).
//!
//! `cargo run --example http_get -- http://127.0.0.1:8080/hello`

fn main() -> shardnet::Result<()> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "http://127.0.0.1:8080/".into());
    let client = shardnet::http::HttpSyncClient::new().follow_redirects(3);
    let res = client.get(&url)?;
    println!("{} {}", res.status, String::from_utf8_lossy(&res.body));
    Ok(())
}
