//! Auth callout (nats-server 2.10, ADR-26) against a callout service written here: it
//! connects as an `auth_users` user over a raw socket, answers `$SYS.REQ.USER.AUTH`
//! requests with signed `AuthorizationResponseClaims`, and decides by the CONNECT's
//! user name. Official clients (async-nats) and raw sockets connect through it.
//! (nats-server 2.9.10, the reference installed here, predates auth callout.)
mod common;
mod tls_support;

use base64::Engine as _;
use common::raw::RawClient;
use common::TestServer;
use natrix::jwt::claims::{Claims, User};
use serde::Serialize;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const RTT_BOUND: Duration = Duration::from_millis(250);

fn config(issuer: &str, timeout_s: u32) -> String {
    format!(
        "authorization {{\n  timeout: {timeout_s}\n  auth_callout {{\n    issuer: {issuer}\n    auth_users: [ auth, bystander ]\n    account: AUTH\n  }}\n}}\n\
         accounts {{\n  AUTH {{ users: [ {{user: auth, password: pw}}, {{user: bystander, password: pw}} ] }}\n  APP {{}}\n}}\n"
    )
}

#[derive(Serialize, Default)]
struct Answer {
    #[serde(skip_serializing_if = "String::is_empty")]
    jwt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    #[serde(rename = "type")]
    kind: &'static str,
    version: i64,
}

/// What the service does for a request.
fn answer(issuer: &nkeys::KeyPair, req: &serde_json::Value, server_id: &str) -> Option<String> {
    let n = &req["nats"];
    let user_nkey = n["user_nkey"].as_str().unwrap_or("").to_string();
    let who = n["connect_opts"]["user"].as_str().or(n["connect_opts"]["auth_token"].as_str()).unwrap_or("").to_string();
    let pass = n["connect_opts"]["pass"].as_str().unwrap_or("");
    let user_jwt = |signer: &nkeys::KeyPair, sub: &str, aud: &str| {
        let mut u = User { subs: -1, data: -1, payload: -1, kind: "user".into(), version: 2, ..Default::default() };
        if who == "responder" {
            // Publishes nothing but one reply per request it got (`resp`).
            u.permissions.subscribe.allow = vec!["app.svc".into()];
            u.permissions.resp = Some(natrix::jwt::claims::ResponsePermission { max: 1, ttl: 0 });
        } else {
            u.permissions.publish.allow = vec!["app.>".into(), "_INBOX.>".into()];
            u.permissions.subscribe.allow = vec!["app.>".into(), "_INBOX.>".into()];
        }
        let mut c = Claims { sub: sub.into(), aud: aud.into(), name: who.clone(), nats: u, ..Default::default() };
        if who == "shortlived" {
            c.exp = natrix::jwt::now_unix() + 2;
        }
        natrix::jwt::encode(&mut c, signer).expect("encode user")
    };
    let respond = |signer: &nkeys::KeyPair, sub: &str, jwt: String, error: &str| {
        let nats = Answer { jwt, error: error.into(), kind: "authorization_response", version: 2 };
        let mut c = Claims { sub: sub.into(), aud: server_id.into(), nats, ..Default::default() };
        natrix::jwt::encode(&mut c, signer).expect("encode answer")
    };
    let forger = nkeys::KeyPair::new_account();
    let other = nkeys::KeyPair::new_user().public_key();
    Some(match who.as_str() {
        "alice" | "shortlived" | "responder" | "s3cr3t-token" if pass == "pw" || who == "s3cr3t-token" => {
            respond(issuer, &user_nkey, user_jwt(issuer, &user_nkey, "APP"), "")
        }
        // No credentials but a verified certificate chain: a TLS client, admitted by it.
        "" if n["client_tls"]["verified_chains"][0][0].is_string() => {
            respond(issuer, &user_nkey, user_jwt(issuer, &user_nkey, "APP"), "")
        }
        "denied" => respond(issuer, &user_nkey, String::new(), "not welcome"),
        "forged" => respond(&forger, &user_nkey, user_jwt(&forger, &user_nkey, "APP"), ""),
        "wrongsub" => respond(issuer, &other, user_jwt(issuer, &other, "APP"), ""),
        "wronguser" => respond(issuer, &user_nkey, user_jwt(issuer, &other, "APP"), ""),
        "unknownacc" => respond(issuer, &user_nkey, user_jwt(issuer, &user_nkey, "NOPE"), ""),
        "silent" => return None,
        _ => respond(issuer, &user_nkey, String::new(), "bad credentials"),
    })
}

/// The callout service: a raw NATS client on its own thread.
struct Service {
    stop: Arc<AtomicBool>,
    answered: Arc<AtomicUsize>,
    /// The `client_tls` of every request that had one.
    tls_seen: Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    handle: JoinHandle<Result<(), String>>,
}

fn decode_request(jwt: &str, server_id: &str) -> Result<serde_json::Value, String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err(format!("request is not a JWT: {jwt:?}"));
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body: serde_json::Value = serde_json::from_slice(&b64.decode(parts[1]).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let sig = b64.decode(parts[2]).map_err(|e| e.to_string())?;
    // Signed by the server's own nkey, whose public key is the server id.
    if body["iss"] != server_id {
        return Err(format!("request issuer {} is not the server id {server_id}", body["iss"]));
    }
    let signed = format!("{}.{}", parts[0], parts[1]);
    nkeys::KeyPair::from_public_key(server_id)
        .and_then(|k| k.verify(signed.as_bytes(), &sig))
        .map_err(|e| format!("bad request signature: {e}"))?;
    if body["aud"] != "nats-authorization-request" || body["nats"]["type"] != "authorization_request" {
        return Err(format!("not an authorization request: {body}"));
    }
    Ok(body)
}

impl Service {
    fn start(port: u16, issuer: nkeys::KeyPair) -> Service {
        let mut c = RawClient::connect_with(port, r#"{"verbose":false,"pedantic":false,"user":"auth","pass":"pw"}"#);
        let info: serde_json::Value = serde_json::from_str(c.info.trim_start_matches("INFO ").trim()).expect("INFO json");
        let server_id = info["server_id"].as_str().expect("server_id").to_string();
        c.send(b"SUB $SYS.REQ.USER.AUTH 1\r\n");
        c.sync();
        let stream = c.stream().try_clone().expect("clone stream");
        stream.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        Service::serve(stream, Box::new(c), server_id, issuer)
    }

    /// The same service over TLS, presenting `cert` (for a server with `verify`).
    fn start_tls(port: u16, issuer: nkeys::KeyPair, ca: &std::path::Path, cert: &tls_support::Pem) -> Service {
        let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        let info = tls_support::read_plain_line(&mut sock);
        let info: serde_json::Value = serde_json::from_str(info.trim_start_matches("INFO ").trim()).expect("INFO json");
        let server_id = info["server_id"].as_str().expect("server_id").to_string();
        let name = rustls::pki_types::ServerName::try_from("localhost").expect("name");
        let conn = rustls::ClientConnection::new(tls_support::client_config(ca, Some(cert)), name).expect("tls");
        let mut tls = rustls::StreamOwned::new(conn, sock);
        tls.write_all(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"auth\",\"pass\":\"pw\"}\r\nSUB $SYS.REQ.USER.AUTH 1\r\nPING\r\n")
            .expect("send");
        tls.sock.set_read_timeout(Some(Duration::from_millis(50))).expect("timeout");
        let (mut got, mut chunk, begun) = (Vec::new(), [0u8; 4096], Instant::now());
        while !got.windows(6).any(|w| w == b"PONG\r\n") {
            assert!(begun.elapsed() < Duration::from_secs(5), "service not connected: {}", text(&got));
            match tls.read(&mut chunk) {
                Ok(0) => panic!("service refused: {}", text(&got)),
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
        Service::serve(tls, Box::new(()), server_id, issuer)
    }

    fn serve<S: Read + Write + Send + 'static>(
        mut stream: S,
        keep: Box<dyn Send>,
        server_id: String,
        issuer: nkeys::KeyPair,
    ) -> Service {
        let (stop, answered) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let tls_seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (flag, count, seen) = (stop.clone(), answered.clone(), tls_seen.clone());
        let handle = std::thread::spawn(move || {
            let _keep = keep;
            let mut buf: Vec<u8> = Vec::new();
            let mut chunk = [0u8; 65536];
            let begun = Instant::now();
            while !flag.load(Ordering::Acquire) && begun.elapsed() < Duration::from_secs(120) {
                match stream.read(&mut chunk) {
                    Ok(0) => return Err("service connection closed".into()),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(_) => continue,
                }
                // Complete frames: `MSG <subject> <sid> <reply> <len>\r\n<payload>\r\n`.
                while let Some(eol) = buf.windows(2).position(|w| w == b"\r\n") {
                    let line = String::from_utf8_lossy(&buf[..eol]).into_owned();
                    if line == "PING" {
                        stream.write_all(b"PONG\r\n").map_err(|e| e.to_string())?;
                        buf.drain(..eol + 2);
                        continue;
                    }
                    if !line.starts_with("MSG ") {
                        buf.drain(..eol + 2);
                        continue;
                    }
                    let f: Vec<&str> = line.split(' ').collect();
                    let (reply, len) = match f.as_slice() {
                        [_, _, _, reply, len] => (reply.to_string(), len.parse::<usize>().map_err(|e| e.to_string())?),
                        _ => return Err(format!("request without a reply: {line}")),
                    };
                    if buf.len() < eol + 2 + len + 2 {
                        break;
                    }
                    let payload = String::from_utf8_lossy(&buf[eol + 2..eol + 2 + len]).into_owned();
                    buf.drain(..eol + 2 + len + 2);
                    let req = decode_request(&payload, &server_id)?;
                    if !req["nats"]["client_tls"].is_null() {
                        seen.lock().map_err(|e| e.to_string())?.push(req["nats"]["client_tls"].clone());
                    }
                    if let Some(a) = answer(&issuer, &req, &server_id) {
                        stream.write_all(format!("PUB {reply} {}\r\n{a}\r\n", a.len()).as_bytes()).map_err(|e| e.to_string())?;
                        count.fetch_add(1, Ordering::AcqRel);
                    }
                }
            }
            Ok(())
        });
        Service { stop, answered, tls_seen, handle }
    }

    fn finish(self) -> usize {
        self.stop.store(true, Ordering::Release);
        match self.handle.join() {
            Ok(Ok(())) => self.answered.load(Ordering::Acquire),
            Ok(Err(e)) => panic!("callout service failed: {e}"),
            Err(_) => panic!("callout service panicked"),
        }
    }
}

fn setup(timeout_s: u32) -> (TestServer, Service) {
    let issuer = nkeys::KeyPair::new_account();
    let server = TestServer::start_with_config(&config(&issuer.public_key(), timeout_s));
    let service = Service::start(server.port, issuer);
    (server, service)
}

/// CONNECT + PING; what the server answered before the PONG or the close.
fn try_connect(port: u16, creds: &str) -> (RawClient, String) {
    let mut c = RawClient::connect(port);
    c.send(format!("CONNECT {{\"verbose\":false,\"pedantic\":false,{creds}}}\r\nPING\r\n").as_bytes());
    let got = c.read_until(b"\r\n", Duration::from_secs(10)).unwrap_or_default();
    (c, text(&got))
}

fn refused(port: u16, creds: &str) {
    let (_c, got) = try_connect(port, creds);
    assert_eq!(got, "-ERR 'Authorization Violation'\r\n", "{creds}");
}

#[test]
fn callout_admits_with_the_account_and_permissions_it_decides() {
    let (server, service) = setup(2);
    let (mut c, got) = try_connect(server.port, r#""user":"alice","pass":"pw""#);
    assert_eq!(got, "PONG\r\n");
    c.send(b"SUB app.x 1\r\nPUB app.x 2\r\nhi\r\nPING\r\n");
    let got = text(&c.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("pong"));
    assert!(got.contains("MSG app.x 1 2\r\nhi\r\n"), "{got}");
    c.send(b"PUB other 2\r\nhi\r\nSUB other 2\r\nPING\r\n");
    let got = text(&c.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("pong"));
    assert!(got.contains("-ERR 'Permissions Violation for Publish to \"other\"'"), "{got}");
    assert!(got.contains("-ERR 'Permissions Violation for Subscription to \"other\"'"), "{got}");
    // A token client, mapped by the service too, lands in the same account APP.
    let (mut t, got) = try_connect(server.port, r#""auth_token":"s3cr3t-token""#);
    assert_eq!(got, "PONG\r\n");
    t.send(b"PUB app.x 3\r\nyes\r\nPING\r\n");
    t.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("pong");
    let got = text(&c.read_until(b"yes\r\n", Duration::from_secs(5)).expect("delivery across the callout users"));
    assert!(got.contains("MSG app.x 1 3"), "{got}");
    // A bypass user is authenticated from the config and lives in AUTH, not APP.
    let mut b = RawClient::connect_with(server.port, r#"{"verbose":false,"pedantic":false,"user":"bystander","pass":"pw"}"#);
    b.send(b"PUB app.x 2\r\nno\r\nPING\r\n");
    b.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("pong");
    assert!(c.read_until(b"no\r\n", Duration::from_millis(300)).is_none(), "AUTH and APP are separate accounts");
    assert!(service.finish() >= 2);
}

#[test]
fn every_bad_answer_refuses_with_a_reason_in_the_log() {
    let (server, service) = setup(2);
    refused(server.port, r#""user":"denied","pass":"x""#);
    refused(server.port, r#""user":"forged","pass":"x""#);
    refused(server.port, r#""user":"wrongsub","pass":"x""#);
    refused(server.port, r#""user":"wronguser","pass":"x""#);
    refused(server.port, r#""user":"unknownacc","pass":"x""#);
    refused(server.port, r#""user":"alice","pass":"wrong""#);
    // A bypass user with a wrong password is checked against the config, not the service.
    refused(server.port, r#""user":"auth","pass":"nope""#);
    let answered = service.finish();
    assert_eq!(answered, 6);
    let log = server.log();
    for why in [
        "auth callout service returned an error: not welcome",
        "wrong issuer for auth callout response",
        "auth callout response is not for the expected user",
        "expected authorized user",
        "no valid account \"NOPE\"",
        "auth callout service returned an error: bad credentials",
    ] {
        assert!(log.contains(why), "no {why:?} in the log:\n{log}");
    }
}

/// A PING/PONG loop as a bypass user; returns the worst round trip.
fn bystander(port: u16, stop: Arc<AtomicBool>) -> JoinHandle<Duration> {
    let mut c = RawClient::connect_with(port, r#"{"verbose":false,"pedantic":false,"user":"bystander","pass":"pw"}"#);
    std::thread::spawn(move || {
        let mut worst = Duration::ZERO;
        let begun = Instant::now();
        while !stop.load(Ordering::Acquire) && begun.elapsed() < Duration::from_secs(60) {
            let t = Instant::now();
            c.send(b"PING\r\n");
            assert!(c.read_until(b"PONG\r\n", Duration::from_secs(5)).is_some(), "bystander lost its PONG");
            worst = worst.max(t.elapsed());
            std::thread::sleep(Duration::from_millis(10));
        }
        worst
    })
}

#[test]
fn a_silent_service_refuses_at_the_auth_timeout_without_stalling_anyone() {
    let (server, service) = setup(1);
    let stop = Arc::new(AtomicBool::new(false));
    let by = bystander(server.port, stop.clone());
    // Many silent clients waiting at once, each with its own deadline.
    let started = Instant::now();
    let waiting: Vec<JoinHandle<(String, Duration)>> = (0..20)
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || {
                let t = Instant::now();
                let (_c, got) = try_connect(port, r#""user":"silent","pass":"x""#);
                (got, t.elapsed())
            })
        })
        .collect();
    // Meanwhile the service still admits others.
    let (_ok, got) = try_connect(server.port, r#""user":"alice","pass":"pw""#);
    assert_eq!(got, "PONG\r\n");
    assert!(started.elapsed() < Duration::from_millis(900), "admission waited behind the silent ones");
    for h in waiting {
        let (got, took) = h.join().expect("client thread");
        assert_eq!(got, "-ERR 'Authorization Violation'\r\n");
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "refused after {took:?}");
    }
    stop.store(true, Ordering::Release);
    let worst = by.join().expect("bystander");
    assert!(worst < RTT_BOUND, "bystander round trip {worst:?}");
    service.finish();
    assert!(server.log().contains("auth callout response not received in time"), "{}", server.log());
}

#[test]
fn no_service_at_all_refuses_at_the_timeout() {
    let issuer = nkeys::KeyPair::new_account();
    let server = TestServer::start_with_config(&config(&issuer.public_key(), 1));
    let t = Instant::now();
    refused(server.port, r#""user":"alice","pass":"pw""#);
    assert!(t.elapsed() >= Duration::from_millis(900), "{:?}", t.elapsed());
}

#[test]
fn two_hundred_connections_authenticate_at_once() {
    let (server, service) = setup(5);
    let stop = Arc::new(AtomicBool::new(false));
    let by = bystander(server.port, stop.clone());
    let clients: Vec<JoinHandle<String>> = (0..200)
        .map(|_| {
            let port = server.port;
            std::thread::spawn(move || try_connect(port, r#""user":"alice","pass":"pw""#).1)
        })
        .collect();
    for h in clients {
        assert_eq!(h.join().expect("client"), "PONG\r\n");
    }
    stop.store(true, Ordering::Release);
    let worst = by.join().expect("bystander");
    assert!(worst < RTT_BOUND, "bystander round trip {worst:?}");
    assert!(service.finish() >= 200);
}

#[test]
fn pipelined_input_waits_for_the_answer_in_order() {
    let (server, service) = setup(2);
    let mut c = RawClient::connect(server.port);
    c.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"alice\",\"pass\":\"pw\"}\r\nSUB app.y 1\r\nPUB app.y 1\r\na\r\nPUB nope 1\r\nb\r\nPING\r\n");
    let got = text(&c.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("pong"));
    assert!(got.starts_with("MSG app.y 1 1\r\na\r\n-ERR 'Permissions Violation for Publish to \"nope\"'"), "{got}");
    service.finish();
}

#[test]
fn a_user_jwt_expiry_disconnects() {
    let (server, service) = setup(2);
    let (mut c, got) = try_connect(server.port, r#""user":"shortlived","pass":"pw""#);
    assert_eq!(got, "PONG\r\n");
    let got = text(&c.read_until(b"Expired'\r\n", Duration::from_secs(6)).expect("expiry"));
    assert!(got.contains("-ERR 'User Authentication Expired'"), "{got}");
    service.finish();
}

#[test]
fn monitoring_shows_the_callout_identity() {
    let issuer = nkeys::KeyPair::new_account();
    let server = TestServer::start_on(common::target(), Some(&config(&issuer.public_key(), 2)), &["-m", "-1"]);
    let service = Service::start(server.port, issuer);
    let (_c, got) = try_connect(server.port, r#""user":"alice","pass":"pw","name":"via-callout""#);
    assert_eq!(got, "PONG\r\n");
    let monitor = common::load::monitor_port(&server);
    let mut s = TcpStream::connect(("127.0.0.1", monitor)).expect("monitor");
    s.write_all(b"GET /connz?auth=true HTTP/1.0\r\n\r\n").expect("get");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    let mut body = String::new();
    let _ = s.read_to_string(&mut body);
    let json = body.split("\r\n\r\n").nth(1).unwrap_or("");
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {body}"));
    let conns = v["connections"].as_array().expect("connections");
    let ours = conns.iter().find(|c| c["name"] == "via-callout").unwrap_or_else(|| panic!("{v}"));
    assert_eq!(ours["authorized_user"], "alice", "{ours}");
    assert_eq!(ours["account"], "APP", "{ours}");
    service.finish();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_nats_connects_through_the_callout() {
    let (server, service) = setup(2);
    let ok = common::client_with(&server, async_nats::ConnectOptions::with_user_and_password("alice".into(), "pw".into())).await;
    let mut sub = ok.subscribe("app.echo").await.expect("subscribe");
    ok.publish("app.echo", "hello".into()).await.expect("publish");
    let msg = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut sub)).await.expect("in time");
    assert_eq!(msg.expect("message").payload.as_ref(), b"hello");
    let denied = tokio::time::timeout(
        Duration::from_secs(10),
        async_nats::ConnectOptions::with_user_and_password("denied".into(), "x".into()).connect(server.addr()),
    )
    .await
    .expect("refusal in time");
    let Err(e) = denied else { panic!("a refused client gets an error") };
    assert_eq!(e.kind(), async_nats::ConnectErrorKind::AuthorizationViolation, "{e}");
    drop(ok);
    let server_keep = server;
    tokio::task::spawn_blocking(move || service.finish()).await.expect("service");
    drop(server_keep);
}

/// A PEM certificate as Go's `pem.EncodeToMemory` writes it, as DER.
fn pem_der(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n") && pem.ends_with("-----END CERTIFICATE-----\n"), "{pem:?}");
    assert!(pem.lines().all(|l| l.len() <= 64), "lines over 64 columns: {pem:?}");
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem").as_ref().to_vec()
}

fn file_der(path: &std::path::Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_file(path).expect("pem file").as_ref().to_vec()
}

/// A TLS client's verified chain reaches the service in `client_tls` as nats-server 2.10
/// sends it (`verified_chains[0]`: the client certificate first, the CA that verified it
/// last; no `certs`), and the service admits it by its certificate alone.
#[test]
fn a_tls_client_chain_reaches_the_service_and_admits_it() {
    use tls_support::{client_config, probe, Ca, Outcome};
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let ca = Ca::new(d, "ca");
    let server_pem = ca.server(d, "server");
    let svc_pem = ca.issue(d, "svc", &[(rcgen::DnType::CommonName, "svc")], vec![], false);
    let client_pem = ca.issue(d, "tlsclient", &[(rcgen::DnType::CommonName, "tlsclient")], vec![], false);
    let issuer = nkeys::KeyPair::new_account();
    let conf = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  verify: true\n}}\n{}",
        server_pem.cert.display(),
        server_pem.key.display(),
        ca.pem.cert.display(),
        config(&issuer.public_key(), 2)
    );
    let server = TestServer::start_with_config(&conf);
    let service = Service::start_tls(server.port, issuer, &ca.pem.cert, &svc_pem);
    let got = probe(server.port, client_config(&ca.pem.cert, Some(&client_pem)), r#"{"verbose":false,"pedantic":false}"#, &["app.x", "nope"]);
    assert_eq!(got, Outcome::In(vec!["app.x".to_string()]), "{}", server.log());
    let seen = service.tls_seen.lock().expect("lock").clone();
    service.finish();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let t = &seen[0];
    assert!(t["version"] == "1.3" || t["version"] == "1.2", "{t}");
    assert!(t["cipher"].as_str().is_some_and(|c| c.starts_with("TLS_")), "{t}");
    assert!(t["certs"].is_null(), "peer certs go to `certs` only when unverified: {t}");
    let chain = t["verified_chains"][0].as_array().unwrap_or_else(|| panic!("{t}"));
    let chain: Vec<Vec<u8>> = chain.iter().map(|c| pem_der(c.as_str().expect("pem string"))).collect();
    assert_eq!(chain, vec![file_der(&client_pem.cert), file_der(&ca.pem.cert)], "{t}");
}

/// `allow_responses` from the user JWT's `resp` (max 1): the responder may answer each
/// request once, and publish nothing else.
#[test]
fn resp_in_the_callout_user_jwt_allows_one_reply() {
    let (server, service) = setup(2);
    let mut responder = RawClient::connect(server.port);
    responder.send(b"CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"responder\",\"pass\":\"pw\"}\r\nSUB app.svc 1\r\nPING\r\n");
    assert_eq!(text(&responder.read_until(b"\r\n", Duration::from_secs(10)).expect("pong")), "PONG\r\n");
    let (mut alice, got) = try_connect(server.port, r#""user":"alice","pass":"pw""#);
    assert_eq!(got, "PONG\r\n");
    alice.send(b"SUB _INBOX.r 1\r\nPUB app.svc _INBOX.r 2\r\nhi\r\nPING\r\n");
    alice.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("pong");
    let req = text(&responder.read_until(b"hi\r\n", Duration::from_secs(5)).expect("request"));
    assert_eq!(req, "MSG app.svc 1 _INBOX.r 2\r\nhi\r\n");
    responder.send(b"PUB _INBOX.r 2\r\nok\r\nPUB _INBOX.r 2\r\nno\r\nPUB app.other 1\r\nx\r\nPING\r\n");
    let got = text(&responder.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("pong"));
    assert_eq!(
        got,
        "-ERR 'Permissions Violation for Publish to \"_INBOX.r\"'\r\n-ERR 'Permissions Violation for Publish to \"app.other\"'\r\nPONG\r\n"
    );
    alice.send(b"PING\r\n");
    let got = text(&alice.read_until(b"PONG\r\n", Duration::from_secs(5)).expect("pong"));
    assert_eq!(got, "MSG _INBOX.r 1 2\r\nok\r\nPONG\r\n");
    service.finish();
}

/// nats-py through the callout: admitted (pub/sub in its account) and refused.
#[test]
fn nats_py_connects_through_the_callout() {
    let has_py = std::process::Command::new("python3").args(["-c", "import nats"]).output().is_ok_and(|o| o.status.success());
    if !has_py {
        if std::env::var_os("NATRIX_REQUIRE_CLIENTS").is_some() {
            panic!("nats-py is not installed but NATRIX_REQUIRE_CLIENTS is set");
        }
        println!("SKIPPED: python3 with nats-py not found (pip install nats-py)");
        return;
    }
    let (server, service) = setup(2);
    let script = r#"
import asyncio, sys, nats
async def main(url):
    nc = await nats.connect(url, user="alice", password="pw", allow_reconnect=False, connect_timeout=5)
    sub = await nc.subscribe("app.py")
    await nc.publish("app.py", b"hello")
    msg = await sub.next_msg(timeout=5)
    assert msg.data == b"hello", msg.data
    await nc.close()
    errs = []
    async def cb(e):
        errs.append(e)
    try:
        bad = await nats.connect(url, user="denied", password="x", allow_reconnect=False,
                                 max_reconnect_attempts=0, connect_timeout=5, error_cb=cb)
        await bad.close()
        sys.exit("the refused client connected")
    except SystemExit:
        raise
    except Exception as e:
        seen = (repr(e) + " " + " ".join(repr(x) for x in errs)).lower()
        assert "authorization violation" in seen, seen
    print("ok")
asyncio.run(main(sys.argv[1]))
"#;
    let url = format!("nats://127.0.0.1:{}", server.port);
    let out = std::process::Command::new("timeout").args(["60", "python3", "-c", script, &url]).output().expect("run python3");
    assert!(
        out.status.success(),
        "nats-py failed:\nstdout: {}\nstderr: {}\nserver log:\n{}",
        text(&out.stdout),
        text(&out.stderr),
        server.log()
    );
    service.finish();
}
