//! Golden vectors (RFC 9112's examples), random splits, and every refused case with its status.

use super::*;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    Begin,
    Head {
        method: String,
        target: String,
        version: u8,
        headers: Vec<(String, Vec<u8>)>,
        framing: BodyFraming,
        keep_alive: bool,
        upgrade: Option<UpgradeKind>,
        expect: bool,
    },
    ChunkHeader(u64),
    Body(Vec<u8>),
    ChunkDone,
    Trailer(String, Vec<u8>),
    Done,
}

#[derive(Default)]
struct Rec {
    evs: Vec<Ev>,
    action: Option<HeadAction>,
}

impl RequestHandler for Rec {
    fn on_message_begin(&mut self) {
        self.evs.push(Ev::Begin);
    }
    fn on_head(&mut self, h: &RequestHead<'_>) -> HeadAction {
        self.evs.push(Ev::Head {
            method: h.method.into(),
            target: h.target.into(),
            version: h.version,
            headers: h
                .headers
                .iter()
                .map(|f| (f.name.to_string(), f.value.to_vec()))
                .collect(),
            framing: h.framing,
            keep_alive: h.keep_alive,
            upgrade: h.upgrade,
            expect: h.expect_continue,
        });
        self.action.unwrap_or(HeadAction::Continue)
    }
}

impl BodyHandler for Rec {
    fn on_chunk_header(&mut self, len: u64) {
        self.evs.push(Ev::ChunkHeader(len));
    }
    fn on_body(&mut self, data: &[u8]) -> Flow {
        // Merge adjacent body events: how a body is cut into reads is not an event.
        if let Some(Ev::Body(b)) = self.evs.last_mut() {
            b.extend_from_slice(data);
        } else {
            self.evs.push(Ev::Body(data.to_vec()));
        }
        Flow::Continue
    }
    fn on_chunk_complete(&mut self) {
        self.evs.push(Ev::ChunkDone);
    }
    fn on_trailer(&mut self, name: &str, value: &[u8]) {
        self.evs.push(Ev::Trailer(name.into(), value.to_vec()));
    }
    fn on_message_complete(&mut self) -> Flow {
        self.evs.push(Ev::Done);
        Flow::Continue
    }
}

fn decode(chunks: &[&[u8]]) -> (Vec<Ev>, Result<(), HttpError>, RequestDecoder) {
    let mut d = RequestDecoder::new(Limits::default());
    let mut r = Rec::default();
    for c in chunks {
        if let Err(e) = d.feed(c, &mut r) {
            return (r.evs, Err(e), d);
        }
    }
    (r.evs, Ok(()), d)
}

fn status_of(input: &[u8]) -> u16 {
    match decode(&[input]).1 {
        Err(e) => e.status(),
        Ok(()) => 0,
    }
}

const GET: &[u8] = b"GET /hello.txt HTTP/1.1\r\nUser-Agent: curl/7.64.1\r\nHost: www.example.com\r\nAccept-Language: en, mi\r\n\r\n";

/// RFC 9112 §7.1 (chunked) with an extension and a trailer.
const CHUNKED: &[u8] = b"POST /upload HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n4;name=v\r\nWiki\r\n5\r\npedia\r\nE\r\n in\r\n\r\nchunks.\r\n0\r\nExpires: never\r\n\r\n";

#[test]
fn golden_get_from_rfc_9112() {
    let (evs, r, d) = decode(&[GET]);
    r.unwrap();
    assert!(
        d.is_idle() && d.buffered() == 0,
        "nothing held between requests"
    );
    assert_eq!(
        evs,
        vec![
            Ev::Begin,
            Ev::Head {
                method: "GET".into(),
                target: "/hello.txt".into(),
                version: 1,
                headers: vec![
                    ("User-Agent".into(), b"curl/7.64.1".to_vec()),
                    ("Host".into(), b"www.example.com".to_vec()),
                    ("Accept-Language".into(), b"en, mi".to_vec()),
                ],
                framing: BodyFraming::None,
                keep_alive: true,
                upgrade: None,
                expect: false,
            },
            Ev::Done
        ]
    );
}

#[test]
fn golden_chunked_with_extension_and_trailer() {
    let (evs, r, _) = decode(&[CHUNKED]);
    r.unwrap();
    assert_eq!(
        evs[2..],
        [
            Ev::ChunkHeader(4),
            Ev::Body(b"Wiki".to_vec()),
            Ev::ChunkDone,
            Ev::ChunkHeader(5),
            Ev::Body(b"pedia".to_vec()),
            Ev::ChunkDone,
            Ev::ChunkHeader(14),
            Ev::Body(b" in\r\n\r\nchunks.".to_vec()),
            Ev::ChunkDone,
            Ev::ChunkHeader(0),
            Ev::Trailer("Expires".into(), b"never".to_vec()),
            Ev::ChunkDone,
            Ev::Done,
        ]
    );
}

#[test]
fn content_length_body_pipelining_and_keep_alive() {
    let mut s = b"\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    s.extend_from_slice(b"GET /b HTTP/1.0\r\n\r\n");
    s.extend_from_slice(b"GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    s.extend_from_slice(b"GET /d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let (evs, r, _) = decode(&[&s]);
    r.unwrap();
    let heads: Vec<(String, bool)> = evs
        .iter()
        .filter_map(|e| match e {
            Ev::Head {
                target, keep_alive, ..
            } => Some((target.clone(), *keep_alive)),
            _ => None,
        })
        .collect();
    assert_eq!(
        heads,
        vec![
            ("/a".into(), true),
            ("/b".into(), false),
            ("/c".into(), true),
            ("/d".into(), false)
        ]
    );
    assert!(evs.contains(&Ev::Body(b"hello".to_vec())));
    assert_eq!(evs.iter().filter(|e| **e == Ev::Done).count(), 4);
}

/// Property: however a stream of requests is cut into reads, the events are the same.
#[test]
fn random_splits_give_the_same_events() {
    let mut stream = Vec::new();
    for i in 0..20 {
        stream.extend_from_slice(GET);
        stream.extend_from_slice(CHUNKED);
        let body = vec![b'a' + (i % 26) as u8; i * 37];
        stream.extend_from_slice(
            format!(
                "PUT /x{i} HTTP/1.1\r\nHost: h\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        stream.extend_from_slice(&body);
    }
    let (whole, r, _) = decode(&[&stream]);
    r.unwrap();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200 {
        let mut chunks = Vec::new();
        let mut rest: &[u8] = &stream;
        while !rest.is_empty() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let n = 1 + (x % 97) as usize;
            let (a, b) = rest.split_at(n.min(rest.len()));
            chunks.push(a);
            rest = b;
        }
        let (evs, r, _) = decode(&chunks);
        r.unwrap();
        assert_eq!(evs, whole);
    }
    // One byte at a time.
    let bytes: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(decode(&bytes).0, whole);
}

#[test]
fn refused_requests_and_their_status() {
    let cases: &[(&[u8], u16)] = &[
        (b"GET / HTTP/1.1\r\n\r\n", 400),                                // no Host
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),          // two Hosts
        (b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400),                    // space before colon
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400),       // obs-fold
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01b\r\n\r\n", 400),        // control character
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3x\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n11111111111111111\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n", 400),
        (b"G@T / HTTP/1.1\r\nHost: a\r\n\r\n", 400),                     // bad method token
        (b"GET / HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400),               // bad request line
        (b"GET / HTTX/1.1\r\nHost: a\r\n\r\n", 400),                     // bad HTTP-name
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (b"GET / HTTP/1.1\nHost: a\r\n\r\n", 400),                      // bare LF
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n", 400),
    ];
    for (input, want) in cases {
        assert_eq!(
            status_of(input),
            *want,
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn limits_before_memory() {
    // A request line that never ends: 414 once it passes the head limit, holding ≤ limit + 1.
    let mut d = RequestDecoder::new(Limits::default());
    let mut r = Rec::default();
    d.feed(b"GET /", &mut r).unwrap();
    let mut status = 0;
    for _ in 0..100 {
        match d.feed(&[b'a'; 1000], &mut r) {
            Ok(_) => assert!(d.buffered() <= 2 * (8 << 10) + 1),
            Err(e) => {
                status = e.status();
                break;
            }
        }
    }
    assert_eq!(status, 414);
    assert_eq!(d.buffered(), 0, "buffer released on failure");
    // Too many fields: 431.
    let mut many = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
    for i in 0..101 {
        many.extend_from_slice(format!("X-{i}: v\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n");
    assert_eq!(status_of(&many), 431);
    // A head over 8 KiB: 431.
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    big.extend(std::iter::repeat_n(b'v', 9000));
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(status_of(&big), 431);
    // A huge Content-Length is counted down, not allocated.
    let mut d = RequestDecoder::new(Limits::default());
    d.feed(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10000000000000\r\n\r\nabc",
        &mut Rec::default(),
    )
    .unwrap();
    assert_eq!(d.buffered(), 0);
}

#[test]
fn head_actions_skip_upgrade_and_expect() {
    let req = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut d = RequestDecoder::new(Limits::default());
    let mut r = Rec {
        action: Some(HeadAction::SkipBody),
        ..Rec::default()
    };
    assert_eq!(d.feed(req, &mut r).unwrap(), Feed::Consumed);
    assert!(!r.evs.iter().any(|e| matches!(e, Ev::Body(_))));
    assert_eq!(r.evs.iter().filter(|e| **e == Ev::Done).count(), 2);

    let up = b"GET /chat HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
    let mut d = RequestDecoder::new(Limits::default());
    let mut r = Rec {
        action: Some(HeadAction::Upgrade),
        ..Rec::default()
    };
    let head_len = up.len() - 7;
    assert_eq!(
        d.feed(up, &mut r).unwrap(),
        Feed::Upgraded { consumed: head_len }
    );
    assert!(matches!(
        &r.evs[1],
        Ev::Head {
            upgrade: Some(UpgradeKind::WebSocket),
            ..
        }
    ));
    let (evs, _, _) = decode(&[b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nExpect: 100-continue\r\n\r\n"]);
    assert!(matches!(
        &evs[1],
        Ev::Head {
            upgrade: Some(UpgradeKind::Tunnel),
            expect: true,
            ..
        }
    ));
}

#[test]
fn url_parts_of_every_target_form() {
    let u = UrlParts::parse("http://user:pw@[::1]:8080/p/a?q=1#frag", false);
    assert_eq!(
        (u.scheme, u.userinfo, u.host, u.port, u.path, u.query, u.fragment),
        (
            Some("http"),
            Some("user:pw"),
            Some("::1"),
            Some(8080),
            "/p/a",
            Some("q=1"),
            Some("frag")
        )
    );
    let u = UrlParts::parse("/index.html?x", false);
    assert_eq!((u.host, u.path, u.query), (None, "/index.html", Some("x")));
    let u = UrlParts::parse("example.com:443", true);
    assert_eq!((u.host, u.port), (Some("example.com"), Some(443)));
    assert_eq!(UrlParts::parse("*", false).path, "*");
    // An origin-form target naming a URL in its query keeps it there.
    let u = UrlParts::parse("/go?to=http://x.test/a", false);
    assert_eq!(
        (u.scheme, u.host, u.path, u.query),
        (None, None, "/go", Some("to=http://x.test/a"))
    );
}

#[test]
fn writers() {
    let mut out = Vec::new();
    write_response_head(&mut out, 200, None, &[("Server", "shardnet")], Some(5)).unwrap();
    assert_eq!(
        out,
        b"HTTP/1.1 200 OK\r\nServer: shardnet\r\nContent-Length: 5\r\n\r\n"
    );
    out.clear();
    write_response_head(
        &mut out,
        200,
        Some("Fine"),
        &[("Transfer-Encoding", "chunked")],
        Some(5),
    )
    .unwrap();
    assert_eq!(
        out,
        b"HTTP/1.1 200 Fine\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    write_chunk(&mut out, b"Wiki");
    write_last_chunk(&mut out, &[("Expires", "never")]).unwrap();
    assert!(out.ends_with(b"4\r\nWiki\r\n0\r\nExpires: never\r\n\r\n"));
    out.clear();
    write_response_head(&mut out, 304, None, &[], Some(10)).unwrap();
    assert_eq!(out, b"HTTP/1.1 304 Not Modified\r\n\r\n");
    out.clear();
    write_response_head(&mut out, 404, None, &[], Some(0)).unwrap();
    assert_eq!(out, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
    out.clear();
    write_response_head(&mut out, 200, None, &[], Some(18_446_744_073_709_551_615)).unwrap();
    assert!(out.ends_with(b"Content-Length: 18446744073709551615\r\n\r\n"));
    out.clear();
    write_chunk(&mut out, &[0u8; 255]);
    assert!(out.starts_with(b"ff\r\n") && out.ends_with(b"\r\n"));
    out.clear();
    write_chunk(&mut out, &[0u8; 4096]);
    assert!(out.starts_with(b"1000\r\n"));
    assert!(write_response_head(&mut out, 200, None, &[("X", "a\r\nInjected: 1")], None).is_err());
    assert!(write_response_head(&mut out, 200, None, &[("Bad Name", "v")], None).is_err());
    out.clear();
    write_request_head(&mut out, "POST", "/a?b", "h:81", &[("X", "1")], Some(3)).unwrap();
    assert_eq!(
        out,
        b"POST /a?b HTTP/1.1\r\nHost: h:81\r\nX: 1\r\nContent-Length: 3\r\n\r\n"
    );
    assert!(write_request_head(&mut out, "GET", "/a b", "h", &[], None).is_err());
    assert!(write_request_head(&mut out, "GET", "/", "h\r\nX: 1", &[], None).is_err());
}

/// A handler that stops on the last body bytes gets the message completed by the next feed,
/// even an empty one.
#[test]
fn stop_on_the_last_body_bytes_then_complete() {
    struct StopOnBody(Vec<&'static str>);
    impl RequestHandler for StopOnBody {
        fn on_head(&mut self, _: &RequestHead<'_>) -> HeadAction {
            HeadAction::Continue
        }
    }

    impl BodyHandler for StopOnBody {
        fn on_body(&mut self, _: &[u8]) -> Flow {
            self.0.push("body");
            Flow::Stop
        }
        fn on_message_complete(&mut self) -> Flow {
            self.0.push("done");
            Flow::Continue
        }
    }
    let mut d = RequestDecoder::new(Limits::default());
    let mut h = StopOnBody(Vec::new());
    let req = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nok";
    assert_eq!(
        d.feed(req, &mut h).unwrap(),
        Feed::Stopped {
            consumed: req.len()
        }
    );
    assert_eq!(h.0, vec!["body"]);
    assert_eq!(d.feed(b"", &mut h).unwrap(), Feed::Consumed);
    assert_eq!(h.0, vec!["body", "done"]);
    assert!(d.is_idle());
}

// ----- responses -------------------------------------------------------------------------------

#[derive(Default)]
struct RespRec {
    evs: Vec<String>,
}

impl ResponseHandler for RespRec {
    fn on_head(&mut self, h: &ResponseHead<'_>) -> HeadAction {
        self.evs.push(format!(
            "head {} {} {:?} keep_alive={}",
            h.status, h.reason, h.framing, h.keep_alive
        ));
        HeadAction::Continue
    }
}

impl BodyHandler for RespRec {
    fn on_chunk_header(&mut self, len: u64) {
        self.evs.push(format!("chunk {len}"));
    }
    fn on_body(&mut self, data: &[u8]) -> Flow {
        match self.evs.last_mut() {
            Some(last) if last.starts_with("body ") => {
                last.push_str(&String::from_utf8_lossy(data))
            }
            _ => self
                .evs
                .push(format!("body {}", String::from_utf8_lossy(data))),
        }
        Flow::Continue
    }
    fn on_trailer(&mut self, n: &str, v: &[u8]) {
        self.evs
            .push(format!("trailer {n}={}", String::from_utf8_lossy(v)));
    }
    fn on_message_complete(&mut self) -> Flow {
        self.evs.push("done".into());
        Flow::Continue
    }
}

const RESPONSES: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nHTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n";

fn resp_decoder() -> ResponseDecoder {
    let mut d = ResponseDecoder::new(Limits::default());
    for head in [false, true, false, false, false] {
        d.expect(head);
    }
    d
}

#[test]
fn responses_framed_as_rfc_9112_section_6_3() {
    let mut d = resp_decoder();
    let mut r = RespRec::default();
    assert_eq!(d.feed(RESPONSES, &mut r).unwrap(), Feed::Consumed);
    assert_eq!(
        r.evs,
        vec![
            "head 100 Continue None keep_alive=true",
            "head 200 OK Length(5) keep_alive=true",
            "body hello",
            "done",
            // The answer to HEAD: Content-Length says what GET would send, no body follows.
            "head 200 OK None keep_alive=true",
            "done",
            "head 204 No Content None keep_alive=true",
            "done",
            "head 200 OK Chunked keep_alive=true",
            "chunk 3",
            "body abc",
            "chunk 0",
            "trailer X-T=1",
            "done",
            "head 304 Not Modified None keep_alive=true",
            "done",
        ]
    );
    d.finish(&mut r).unwrap();
    // Any split gives the same events.
    let mut x: u64 = 7;
    for _ in 0..100 {
        let mut d = resp_decoder();
        let mut r2 = RespRec::default();
        let mut rest: &[u8] = RESPONSES;
        while !rest.is_empty() {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            let n = 1 + (x >> 33) as usize % 23;
            let (a, b) = rest.split_at(n.min(rest.len()));
            d.feed(a, &mut r2).unwrap();
            rest = b;
        }
        assert_eq!(r2.evs, r.evs);
    }
}

#[test]
fn response_read_until_close_and_errors() {
    let mut d = ResponseDecoder::new(Limits::default());
    d.expect(false);
    let mut r = RespRec::default();
    d.feed(b"HTTP/1.0 200 OK\r\nServer: old\r\n\r\nall of", &mut r)
        .unwrap();
    d.feed(b" it", &mut r).unwrap();
    d.finish(&mut r).unwrap();
    assert_eq!(
        r.evs,
        vec![
            "head 200 OK UntilClose keep_alive=false",
            "body all of it",
            "done"
        ]
    );
    // Closed inside a Content-Length body: an error.
    let mut d = ResponseDecoder::new(Limits::default());
    d.expect(false);
    d.feed(
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        &mut r,
    )
    .unwrap();
    assert!(d.finish(&mut r).is_err());
    // Malformed heads.
    for bad in [
        &b"HTTP/1.1 2000 OK\r\n\r\n"[..],
        b"HTTX/1.1 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ] {
        let mut d = ResponseDecoder::new(Limits::default());
        d.expect(false);
        assert!(
            d.feed(bad, &mut RespRec::default()).is_err(),
            "{:?}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn a_long_head_gets_one_answer_whatever_the_reads() {
    // Found by the `http_request` / `http_response` fuzz targets: a head past the limit was
    // refused as malformed (400) when it came in one read and as too large (414/431) when it
    // came in pieces; a whole response head over the limit was even accepted.
    let limits = Limits {
        max_head: 16,
        ..Limits::default()
    };
    let mut req = vec![b'p'; 36];
    req.extend_from_slice(&[0; 12]);
    req.push(b'0');
    let status = |pieces: &[&[u8]]| {
        let mut d = RequestDecoder::new(limits);
        let mut r = Rec::default();
        for p in pieces {
            if let Err(e) = d.feed(p, &mut r) {
                return e.status();
            }
        }
        0
    };
    let bytes: Vec<&[u8]> = req.chunks(1).collect();
    assert_eq!(status(&[&req]), 414);
    assert_eq!(status(&bytes), 414);

    let head = b"HTTP/1.1 200 OK\r\nServer: a-long-name\r\n\r\n";
    let resp_status = |pieces: &[&[u8]]| {
        let mut d = ResponseDecoder::new(limits);
        d.expect(false);
        let mut r = RespRec::default();
        for p in pieces {
            if let Err(e) = d.feed(p, &mut r) {
                return e.status();
            }
        }
        0
    };
    let bytes: Vec<&[u8]> = head.chunks(1).collect();
    assert_eq!(resp_status(&[head]), 431);
    assert_eq!(resp_status(&bytes), 431);
}

#[test]
fn an_unsupported_version_gets_one_answer_whatever_the_reads() {
    // Found by the `http_request` fuzz target: 400 in one read, 505 in pieces.
    for line in [
        &b"GET / HTTP/0.1.\r\nHost: a\r\n\r\n"[..],
        b"GET / HTTP/2.0\r\nHost: a\r\n\r\n",
        b"GET / HTTX/1.1\r\nHost: a\r\n\r\n",
        b"GET /  HTTP/11\r\nHost: a\r\n\r\n",
    ] {
        let whole = status_of(line);
        let pieces: Vec<&[u8]> = line.chunks(1).collect();
        let split = match decode(&pieces).1 {
            Err(e) => e.status(),
            Ok(()) => 0,
        };
        assert_eq!(whole, split, "{}", String::from_utf8_lossy(line));
        let want = if line.starts_with(b"GET / HTTP/") {
            505
        } else {
            400
        };
        assert_eq!(whole, want, "{}", String::from_utf8_lossy(line));
    }
}
