//! TLS: the NATS upgrade flow, handshake_first, refusals, certificate-to-user mapping
//! (`verify_and_map`) with certificates generated here, pinned certificates and reload;
//! differential checks against nats-server 2.9.10 with the same certificates and config.
mod common;
mod tls_support;

use common::raw::RawClient;
use common::{nats_server_path, skip_without_nats_server, Target, TestServer};
use rcgen::DnType;
use std::time::{Duration, Instant};
use tls_support::{client_config, dns, email, probe, spki_sha256, uri, Ca, Outcome, Pem};

/// A CA, a server certificate, client certificates for every mapping path, and one
/// client certificate from a CA the server does not trust.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Pem,
    clients: Vec<(&'static str, Pem)>,
}

impl Pki {
    fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let ca = Ca::new(d, "ca");
        let server = ca.server(d, "server");
        let o = |v: &'static str| (DnType::OrganizationName, v);
        let cn = |v: &'static str| (DnType::CommonName, v);
        let ou = |v: &'static str| (DnType::OrganizationalUnitName, v);
        let c = |v: &'static str| (DnType::CountryName, v);
        let dc = |v: &'static str| (DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 25]), v);
        let email_attr = |v: &'static str| (DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]), v);
        let mut clients = vec![
            ("alice", ca.issue(d, "alice", &[cn("alice-email")], vec![email("alice@example.org")], false)),
            ("bob", ca.issue(d, "bob", &[cn("bob-dns")], vec![dns("bob.example.org")], false)),
            ("carol", ca.issue(d, "carol", &[cn("carol-uri")], vec![uri("spiffe://example.org/carol")], false)),
            ("dave", ca.issue(d, "dave", &[c("US"), o("Acme"), ou("Eng"), cn("dave")], vec![], false)),
            ("erin", ca.issue(d, "erin", &[c("US"), o("Acme"), ou("Ops"), cn("erin")], vec![], false)),
            ("frank", ca.issue(d, "frank", &[], vec![email("frank@example.org")], false)),
            (
                "gina",
                ca.issue(d, "gina", &[cn("gina")], vec![email("nobody@example.org"), dns("gina.example.org")], false),
            ),
            ("hank", ca.issue(d, "hank", &[], vec![dns("hank.example.org")], false)),
            // An emailAddress attribute makes nats-server's LDAP DN unusable: these two map
            // by the pkix string (rcgen cannot repeat an attribute type, so one DC only).
            ("ivy", ca.issue(d, "ivy", &[o("Acme"), ou("Eng"), cn("ivy"), email_attr("i@x")], vec![], false)),
            ("jack", ca.issue(d, "jack", &[dc("example"), o("Acme"), cn("jack"), email_attr("j@x")], vec![], false)),
            ("kate", ca.issue(d, "kate", &[o("Acme"), cn("kate")], vec![], false)),
            ("mallory", ca.issue(d, "mallory", &[o("Acme"), cn("mallory")], vec![], false)),
        ];
        let rogue = Ca::new(d, "rogue-ca");
        clients.push(("untrusted", rogue.issue(d, "untrusted", &[cn("alice")], vec![email("alice@example.org")], false)));
        Pki { dir, ca, server, clients }
    }

    fn client(&self, name: &str) -> &Pem {
        &self.clients.iter().find(|(n, _)| *n == name).expect("client cert").1
    }

    fn tls_block(&self, extra: &str) -> String {
        format!(
            "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n  ca_file: \"{}\"\n  {extra}\n}}\n",
            self.server.cert.display(),
            self.server.key.display(),
            self.ca.pem.cert.display()
        )
    }
}

/// Users named the way each certificate maps; each may publish only to `id.<name>`.
const USERS: &str = r#"
accounts {
  SAN: { users: [
    {user: "alice@example.org", permissions: {publish: "id.alice", subscribe: "id.alice"}}
    {user: "bob.example.org", permissions: {publish: "id.bob", subscribe: "id.bob"}}
    {user: "spiffe://example.org/carol", permissions: {publish: "id.carol", subscribe: "id.carol"}}
    {user: "frank@example.org", permissions: {publish: "id.frank"}}
    {user: "gina.example.org", permissions: {publish: "id.gina"}}
    {user: "hank.example.org", permissions: {publish: "id.hank"}}
  ]}
  DN: { users: [
    {user: "CN=dave,OU=Eng,O=Acme,C=US", permissions: {publish: "id.dave", subscribe: "id.dave"}}
    {user: "C=US, O=Acme, OU=Ops, CN=erin", permissions: {publish: "id.erin"}}
    {user: "CN=ivy,OU=Eng,O=Acme", permissions: {publish: "id.ivy"}}
    {user: "CN=jack,O=Acme,DC=example", permissions: {publish: "id.jack"}}
    {user: "CN=kate,O=Acme", password: "kpw", permissions: {publish: "id.kate"}}
  ]}
}
"#;

const IDS: &[&str] =
    &["id.alice", "id.bob", "id.carol", "id.dave", "id.erin", "id.frank", "id.gina", "id.hank", "id.ivy", "id.jack", "id.kate"];

fn map_conf(pki: &Pki) -> String {
    format!("{}{USERS}", pki.tls_block("verify_and_map: true"))
}

fn expected() -> Vec<(&'static str, &'static str, Outcome)> {
    let is = |s: &str| Outcome::In(vec![s.to_string()]);
    let av = Outcome::Err("-ERR 'Authorization Violation'".into());
    let quiet = r#"{"verbose":false}"#;
    vec![
        ("alice", quiet, is("id.alice")),
        ("bob", quiet, is("id.bob")),
        ("carol", quiet, is("id.carol")),
        ("dave", quiet, is("id.dave")),
        ("erin", quiet, is("id.erin")),
        ("frank", quiet, is("id.frank")),
        ("gina", quiet, is("id.gina")),
        ("hank", quiet, is("id.hank")),
        ("ivy", quiet, is("id.ivy")),
        ("jack", quiet, is("id.jack")),
        ("kate", r#"{"verbose":false,"pass":"kpw"}"#, is("id.kate")),
        ("kate", quiet, av.clone()),
        ("mallory", quiet, av),
        ("untrusted", quiet, Outcome::Closed),
    ]
}

/// Who gets in as whom, for every certificate, against `server`.
fn outcomes(pki: &Pki, server: &TestServer) -> Vec<(String, Outcome)> {
    let ca = &pki.ca.pem.cert;
    let mut out: Vec<(String, Outcome)> = expected()
        .into_iter()
        .map(|(name, connect, _)| {
            let got = probe(server.port, client_config(ca, Some(pki.client(name))), connect, IDS);
            (format!("{name} {connect}"), got)
        })
        .collect();
    out.push(("no certificate".into(), probe(server.port, client_config(ca, None), "{}", IDS)));
    out
}

#[test]
fn certificates_map_to_users_like_nats_server() {
    let pki = Pki::new();
    let conf = map_conf(&pki);
    let natrix = TestServer::start_on(Target::Natrix, Some(&conf), &[]);
    let got = outcomes(&pki, &natrix);
    let mut want: Vec<(String, Outcome)> =
        expected().into_iter().map(|(n, c, o)| (format!("{n} {c}"), o)).collect();
    want.push(("no certificate".into(), Outcome::Closed));
    assert_eq!(got, want);

    if skip_without_nats_server() {
        return;
    }
    let reference = TestServer::start_on(Target::NatsServer, Some(&conf), &[]);
    let theirs = outcomes(&pki, &reference);
    for ((name, ours), (_, ref_outcome)) in got.iter().zip(&theirs) {
        if name.starts_with("hank ") {
            // Documented difference: a certificate with only DNS SANs and an empty subject.
            assert_eq!(ref_outcome, &Outcome::Err("-ERR 'Authorization Violation'".into()), "nats-server on {name}");
            continue;
        }
        assert_eq!(ours, ref_outcome, "{name}: natrix vs nats-server");
    }
}

async fn tls_client(server: &TestServer, pki: &Pki, who: Option<&str>) -> Result<async_nats::Client, String> {
    let mut opts = async_nats::ConnectOptions::new()
        .require_tls(true)
        .add_root_certificates(pki.ca.pem.cert.clone())
        .connection_timeout(Duration::from_secs(3));
    if let Some(w) = who {
        let p = pki.client(w);
        opts = opts.add_client_certificate(p.cert.clone(), p.key.clone());
    }
    let url = format!("tls://localhost:{}", server.port);
    match tokio::time::timeout(Duration::from_secs(6), opts.connect(url)).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("timed out".into()),
    }
}

async fn roundtrip(c: &async_nats::Client, subject: &str) {
    use futures::StreamExt;
    let mut sub = c.subscribe(subject.to_string()).await.expect("subscribe");
    c.flush().await.expect("flush");
    c.publish(subject.to_string(), "hi".into()).await.expect("publish");
    let m = tokio::time::timeout(Duration::from_secs(5), sub.next()).await.expect("message in time").expect("message");
    assert_eq!(&m.payload[..], b"hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_nats_over_tls_each_mapping_path_and_refusal() {
    if common::target() == Target::NatsServer {
        println!("SKIPPED: runs against natrix (the differential test covers nats-server)");
        return;
    }
    let pki = Pki::new();
    let s = TestServer::start_on(Target::Natrix, Some(&map_conf(&pki)), &[]);
    for (who, subject) in [("alice", "id.alice"), ("bob", "id.bob"), ("carol", "id.carol"), ("dave", "id.dave")] {
        let c = tls_client(&s, &pki, Some(who)).await.unwrap_or_else(|e| panic!("{who}: {e}"));
        roundtrip(&c, subject).await;
    }
    let Err(e) = tls_client(&s, &pki, Some("mallory")).await else { panic!("mallory is refused") };
    assert!(e.to_lowercase().contains("authorization violation"), "{e}");
    assert!(tls_client(&s, &pki, Some("untrusted")).await.is_err(), "untrusted CA");
    assert!(tls_client(&s, &pki, None).await.is_err(), "no client certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_first_with_async_nats() {
    if common::target() == Target::NatsServer {
        println!("SKIPPED: nats-server 2.9.10 has no handshake_first");
        return;
    }
    let pki = Pki::new();
    let conf = pki.tls_block("handshake_first: true");
    let s = TestServer::start_on(Target::Natrix, Some(&conf), &[]);
    let c = async_nats::ConnectOptions::new()
        .add_root_certificates(pki.ca.pem.cert.clone())
        .tls_first()
        .connect(format!("tls://localhost:{}", s.port))
        .await
        .expect("tls first");
    roundtrip(&c, "x.y").await;
    // The server says nothing in plain text: a raw client sees no INFO.
    let mut raw = RawClient::connect_no_info(s.port);
    assert_eq!(raw.read_line(Duration::from_millis(300)), None);
}

/// Time until a raw client that sends nothing gets its first line, and that line.
fn first_line_after_silence(port: u16) -> (Duration, String) {
    let mut raw = RawClient::connect_no_info(port);
    let start = Instant::now();
    let line = raw.read_line(Duration::from_secs(3)).expect("INFO after the fallback delay");
    (start.elapsed(), String::from_utf8_lossy(&line).into_owned())
}

/// `handshake_first` with a fallback delay (nats-server 2.10's `"300ms"` and `"auto"` =
/// 50 ms): a TLS-first client gets the handshake at once; a client that waits for INFO
/// gets it in plain text once the delay has passed and upgrades as usual. (nats-server
/// 2.9.10, the installed reference, has no `handshake_first`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_first_fallback_delay_serves_both_kinds_of_client() {
    if common::target() == Target::NatsServer {
        println!("SKIPPED: nats-server 2.9.10 has no handshake_first");
        return;
    }
    let pki = Pki::new();
    for (value, delay) in [("\"300ms\"", Duration::from_millis(300)), ("auto", Duration::from_millis(50))] {
        let s = TestServer::start_on(Target::Natrix, Some(&pki.tls_block(&format!("handshake_first: {value}"))), &[]);
        let first = async_nats::ConnectOptions::new()
            .add_root_certificates(pki.ca.pem.cert.clone())
            .tls_first()
            .connection_timeout(Duration::from_secs(3))
            .connect(format!("tls://localhost:{}", s.port))
            .await
            .unwrap_or_else(|e| panic!("{value}: TLS-first client: {e}"));
        roundtrip(&first, "first.x").await;
        let upgrade = tls_client(&s, &pki, None).await.unwrap_or_else(|e| panic!("{value}: INFO-then-upgrade client: {e}"));
        roundtrip(&upgrade, "upgrade.x").await;
        let (waited, line) = first_line_after_silence(s.port);
        assert!(line.starts_with("INFO ") && line.contains("\"tls_required\":true"), "{value}: {line}");
        assert!(waited >= delay.mul_f32(0.8), "{value}: INFO after {waited:?}, before the delay {delay:?}");
        // Far below the 2 s handshake timeout that would close a client left waiting.
        assert!(waited < delay + Duration::from_secs(1), "{value}: INFO only after {waited:?}");
    }
}

/// After a fallback INFO the TLS handshake timeout starts again, as in nats-server 2.10
/// (its handshake timer starts after the fallback): a client that stays silent is closed
/// one `timeout` after the INFO, not one `timeout` after it connected.
#[test]
fn handshake_first_fallback_restarts_the_handshake_timeout() {
    if common::target() == Target::NatsServer {
        println!("SKIPPED: nats-server 2.9.10 has no handshake_first");
        return;
    }
    let pki = Pki::new();
    let s = TestServer::start_on(Target::Natrix, Some(&pki.tls_block("handshake_first: \"300ms\"\n  timeout: 0.5")), &[]);
    let start = Instant::now();
    let mut raw = RawClient::connect_no_info(s.port);
    let line = raw.read_line(Duration::from_secs(3)).expect("INFO after the fallback delay");
    assert!(line.starts_with(b"INFO "), "{}", String::from_utf8_lossy(&line));
    let (rest, closed) = raw.read_until_closed(Duration::from_secs(3));
    let at = start.elapsed();
    assert!(closed && rest.is_empty(), "closed without a word: {closed} {}", String::from_utf8_lossy(&rest));
    // 300 ms + 500 ms; without the restart the close would come at 500 ms.
    assert!(at >= Duration::from_millis(750), "closed {at:?} after connecting");
}

/// Plain-text clients, INFO fields and the handshake timeout, on both servers.
fn plain_behaviour(t: Target, pki: &Pki) -> (String, String, bool, Duration) {
    let conf = pki.tls_block("verify: true\n  timeout: 0.5");
    let s = TestServer::start_on(t, Some(&conf), &[]);
    let mut c = RawClient::connect(s.port);
    let info = common::diff::normalize(c.info.as_bytes());
    c.send(b"CONNECT {\"verbose\":false}\r\nPING\r\n");
    let (got, closed) = c.read_until_closed(Duration::from_secs(3));
    let plain = String::from_utf8_lossy(&got).into_owned();
    let mut idle = RawClient::connect(s.port);
    let start = Instant::now();
    let (_, idle_closed) = idle.read_until_closed(Duration::from_secs(4));
    assert!(idle_closed, "{t:?}: a client that never starts TLS is dropped");
    (info, plain, closed, start.elapsed())
}

#[test]
fn plaintext_clients_and_handshake_timeout() {
    let pki = Pki::new();
    let (info, plain, closed, waited) = plain_behaviour(Target::Natrix, &pki);
    assert!(info.contains("\"tls_required\":true,\"tls_verify\":true"), "{info}");
    assert!(closed && plain.is_empty(), "plain-text client dropped without -ERR, got {plain:?}");
    assert!(waited >= Duration::from_millis(400) && waited < Duration::from_millis(1500), "{waited:?}");
    if nats_server_path().is_none() {
        skip_without_nats_server();
        return;
    }
    let (rinfo, rplain, rclosed, rwaited) = plain_behaviour(Target::NatsServer, &pki);
    assert_eq!(info, rinfo, "INFO before the upgrade");
    assert_eq!((plain.as_str(), closed), (rplain.as_str(), rclosed));
    assert!(rwaited < Duration::from_millis(1500), "reference timeout {rwaited:?}");
}

#[test]
fn pinned_certs_admit_only_pinned_keys() {
    let pki = Pki::new();
    let pin = spki_sha256(pki.client("alice"));
    let conf = format!("{}{USERS}", pki.tls_block(&format!("verify_and_map: true\n  pinned_certs: [\"{pin}\"]")));
    let run = |t: Target| {
        let s = TestServer::start_on(t, Some(&conf), &[]);
        let ca = &pki.ca.pem.cert;
        let alice = probe(s.port, client_config(ca, Some(pki.client("alice"))), "{\"verbose\":false}", IDS);
        let bob = probe(s.port, client_config(ca, Some(pki.client("bob"))), "{\"verbose\":false}", IDS);
        (alice, bob)
    };
    let ours = run(Target::Natrix);
    assert_eq!(ours, (Outcome::In(vec!["id.alice".into()]), Outcome::Closed));
    if !skip_without_nats_server() {
        assert_eq!(ours, run(Target::NatsServer));
    }
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn reload_swaps_certificates_for_new_connections() {
    let pki = Pki::new();
    let other_ca = Ca::new(pki.dir.path(), "other-ca");
    let other_server = other_ca.server(pki.dir.path(), "other-server");
    let s = TestServer::start_on(Target::Natrix, Some(&pki.tls_block("timeout: 1")), &[]);
    let old = client_config(&pki.ca.pem.cert, None);
    let new = client_config(&other_ca.pem.cert, None);
    assert_eq!(probe(s.port, old.clone(), "{}", &[]), Outcome::In(vec![]));
    assert_eq!(probe(s.port, new.clone(), "{}", &[]), Outcome::Closed, "old cert not trusted by the new CA");
    let conf = s.dir().join("server.conf");
    let text = format!(
        "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n",
        other_server.cert.display(),
        other_server.key.display()
    );
    std::fs::write(&conf, text).expect("rewrite config");
    s.reload();
    wait_for("the reloaded certificate", || probe(s.port, new.clone(), "{}", &[]) == Outcome::In(vec![]));
    assert_eq!(probe(s.port, old, "{}", &[]), Outcome::Closed);
    // A bad certificate path refuses the reload and keeps the running configuration.
    std::fs::write(&conf, "tls {\n  cert_file: \"/nonexistent.pem\"\n  key_file: \"/nonexistent.key\"\n}\n")
        .expect("rewrite config");
    s.reload();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(probe(s.port, new, "{}", &[]), Outcome::In(vec![]));
    wait_for("the reload error in the log", || s.log().contains("nonexistent.pem"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_flags_without_client_verification() {
    let pki = Pki::new();
    let (cert, key) = (pki.server.cert.display().to_string(), pki.server.key.display().to_string());
    let s = TestServer::start_on(common::target(), None, &["--tls", "--tlscert", &cert, "--tlskey", &key]);
    let c = tls_client(&s, &pki, None).await.expect("TLS without a client certificate");
    roundtrip(&c, "plain.tls").await;
}

/// `/connz` shows the negotiated version and suite, `/varz` that TLS is required and
/// verified, and `auth=1` the user a certificate mapped to (natrix's monitor; nats-server
/// shows the same fields).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_shows_tls_sessions() {
    let pki = Pki::new();
    let conf = map_conf(&pki);
    let s = TestServer::start_on(common::target(), Some(&conf), &["-m", "-1"]);
    let http = {
        let log = s.log();
        let line = log.lines().find(|l| l.contains("Starting http monitor on")).expect("monitor line").to_string();
        line.rsplit(':').next().and_then(|p| p.trim().parse::<u16>().ok()).expect("monitor port")
    };
    let c = tls_client(&s, &pki, Some("alice")).await.expect("alice connects");
    roundtrip(&c, "id.alice").await;
    let get = |path: &str| -> serde_json::Value {
        use std::io::{Read, Write};
        let mut sock = std::net::TcpStream::connect(("127.0.0.1", http)).expect("monitor");
        write!(sock, "GET {path} HTTP/1.0\r\n\r\n").expect("request");
        let mut body = String::new();
        sock.read_to_string(&mut body).expect("response");
        let json = body.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
    };
    let varz = get("/varz");
    assert_eq!(varz["tls_required"], true, "{varz:#}");
    assert_eq!(varz["tls_verify"], true);
    let connz = get("/connz?auth=1");
    let conn = &connz["connections"][0];
    assert_eq!(conn["tls_version"], "1.3", "{connz:#}");
    assert!(conn["tls_cipher_suite"].as_str().is_some_and(|s| s.starts_with("TLS_")), "{connz:#}");
    assert_eq!(conn["authorized_user"], "alice@example.org");
    assert_eq!(conn["account"], "SAN");
}

/// One GET over TLS to the https monitor: the body, or the error that stopped it.
fn https_get(port: u16, cfg: std::sync::Arc<rustls::ClientConfig>, path: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    let name = rustls::pki_types::ServerName::try_from("localhost").map_err(|e| e.to_string())?;
    let conn = rustls::ClientConnection::new(cfg, name).map_err(|e| e.to_string())?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut resp = Vec::new();
    match tls.read_to_end(&mut resp) {
        Ok(_) => {}
        Err(e) if !resp.is_empty() && e.kind() == std::io::ErrorKind::UnexpectedEof => {}
        Err(e) => return Err(e.to_string()),
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("no response head: {text}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(head.to_string());
    }
    Ok(body.to_string())
}

#[test]
fn https_monitor_uses_the_tls_block() {
    if common::target() != Target::Natrix {
        eprintln!("skipped: natrix's https monitor (nats-server's is checked by hand)");
        return;
    }
    let pki = Pki::new();
    let s = TestServer::start_on(Target::Natrix, Some(&map_conf(&pki)), &["-ms", "-1"]);
    let log = s.log();
    let line = log.lines().find(|l| l.contains("Starting https monitor on")).expect("https monitor line");
    let port: u16 = line.rsplit(':').next().and_then(|p| p.trim().parse().ok()).expect("port");
    let ca = &pki.ca.pem.cert;
    let body = https_get(port, client_config(ca, Some(pki.client("alice"))), "/varz").expect("GET /varz over TLS");
    let varz: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(varz["tls_required"], true);
    // The block verifies clients: no certificate, no monitoring.
    assert!(https_get(port, client_config(ca, None), "/varz").is_err());
    let healthz = https_get(port, client_config(ca, Some(pki.client("bob"))), "/healthz").expect("healthz");
    assert!(healthz.contains("\"ok\""), "{healthz}");
}
