//! Issue 14's operator-mode cases, each differential against nats-server 2.9.10: an
//! untrusted account among the preloaded ones, v1 JWTs (generated here and the v1
//! fixtures), new connections of an expired account, and imports whose activation token
//! expires while the server runs. A submodule of `tests/jwt.rs` (its helpers).
use super::*;

/// Signs a v1 claim (top-level `type`, header `ed25519`, signature over the claims part
/// only), as nats-io/jwt v1 and the tools of its time did.
fn v1_token(mut claims: serde_json::Value, kp: &KeyPair) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    claims["iss"] = kp.public_key().into();
    claims["iat"] = now().into();
    claims["jti"] = format!("{:016X}", crate::common::random_u64()).into();
    let body = b64(claims.to_string().as_bytes());
    let sig = kp.sign(body.as_bytes()).expect("sign");
    format!("{}.{body}.{}", b64(br#"{"typ":"jwt","alg":"ed25519"}"#), b64(&sig))
}

/// Logs a raw client in with `jwt` and the nonce signed by `kp`: the client and the
/// first line after CONNECT+PING.
fn raw_login_kp(port: u16, jwt: &str, kp: &KeyPair) -> (RawClient, String) {
    raw_user(port, &Usr { kp: kp.clone(), jwt: jwt.to_string() })
}

/// Sends `ops` and returns what came back up to the PONG of a trailing PING.
fn exchange(c: &mut RawClient, ops: &str) -> String {
    c.send(format!("{ops}PING\r\n").as_bytes());
    String::from_utf8_lossy(&c.read_until(b"PONG\r\n", Duration::from_secs(5)).unwrap_or_default()).trim_end().to_string()
}

// --- item 2: an account not signed by a trusted operator ---

/// A MEMORY resolver preloading a trusted and an untrusted account, then a directory
/// resolver holding an untrusted account: the server starts both times, the trusted
/// account's user connects and the other one's is refused.
fn untrusted_account_transcript(t: Target) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let good = account(&op, |_| {});
    let foreign = account(&operator(), |_| {});
    let mut out = Vec::new();
    {
        let s = TestServer::start_on(t, Some(&config(dir.path(), &op, &[&good, &foreign])), &[]);
        out.push(format!("preload, trusted: {}", raw_user(s.port, &user(&good, |_| {})).1));
        out.push(format!("preload, untrusted: {}", raw_user(s.port, &user(&foreign, |_| {})).1));
    }
    let store = dir.path().join("jwts");
    std::fs::create_dir_all(&store).expect("mkdir");
    std::fs::write(store.join(format!("{}.jwt", foreign.kp.public_key())), &foreign.jwt).expect("write");
    let sys = account(&op, |_| {});
    let conf = sys_config(dir.path(), &op, &sys, &[&good], &format!("resolver {{ type: full, dir: \"{}\" }}", store.display()));
    let s = TestServer::start_on(t, Some(&conf), &[]);
    out.push(format!("directory, trusted: {}", raw_user(s.port, &user(&good, |_| {})).1));
    out.push(format!("directory, untrusted: {}", raw_user(s.port, &user(&foreign, |_| {})).1));
    out
}

#[test]
fn untrusted_account_does_not_stop_the_server() {
    assert_eq!(
        untrusted_account_transcript(target()),
        vec![
            "preload, trusted: PONG".to_string(),
            format!("preload, untrusted: {VIOLATION}"),
            "directory, trusted: PONG".to_string(),
            format!("directory, untrusted: {VIOLATION}"),
        ]
    );
}

#[test]
fn untrusted_account_same_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(untrusted_account_transcript(Target::Natrix), untrusted_account_transcript(Target::NatsServer));
}

// --- item 5: v1 JWTs ---

const PY_FOO_ACCOUNT: &str = include_str!("../jwt_v1/foo-account.jwt");
const PY_BAR_ACCOUNT: &str = include_str!("../jwt_v1/bar-account.jwt");
const PY_FOO_ACCOUNT_KEY: &str = "ACUHBHQ3XHTLODE66FRJOT4RPHJU4JBRHQAUXQT33LF2HGUJEI3IYW34";
const PY_BAR_ACCOUNT_KEY: &str = "ACVYU2XDMWOIIIAZ5BAOB2G3CNIR6COYKVS6OOT4TLPI3VGAI34H6MKX";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jwt_v1").join(name)
}

/// A config of the shape the nats-py suite uses: an operator and preloaded v1 accounts.
fn py_config() -> String {
    format!(
        "operator = \"{}\"\nresolver = MEMORY\nresolver_preload = {{\n  {PY_FOO_ACCOUNT_KEY} : \"{}\"\n  {PY_BAR_ACCOUNT_KEY} : \"{}\"\n}}\n",
        fixture("op.jwt").display(),
        PY_FOO_ACCOUNT.trim(),
        PY_BAR_ACCOUNT.trim()
    )
}

fn py_user(name: &str) -> Usr {
    let text = std::fs::read_to_string(fixture(name)).expect("read creds");
    let c = creds::parse(&text).expect("creds");
    Usr { kp: KeyPair::from_seed(&c.seed).expect("seed"), jwt: c.jwt }
}

/// The v1 fixtures in tests/jwt_v1 (operator, accounts and users), then a chain generated here
/// in v1 form: logins, a subscription and a 300-byte message (v1 users without limits
/// are unlimited), a v1 permission, a v1 user with the deprecated `max` (ignored).
fn v1_transcript(t: Target) -> Vec<String> {
    let mut out = Vec::new();
    {
        let s = TestServer::start_on(t, Some(&py_config()), &[]);
        let (mut foo_user, first) = raw_user(s.port, &py_user("foo-user.creds"));
        out.push(format!("py foo: {first}"));
        let payload = "x".repeat(300);
        out.push(format!("py foo pub/sub: {}", exchange(&mut foo_user, &format!("SUB help 1\r\nPUB help 300\r\n{payload}\r\n")).len()));
        out.push(format!("py bar: {}", raw_user(s.port, &py_user("bar-user.creds")).1));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let op = KeyPair::new_operator();
    let op_jwt = v1_token(serde_json::json!({"sub": op.public_key(), "name": "v1op", "type": "operator"}), &op);
    let acc = KeyPair::new_account();
    let acc_jwt = v1_token(
        serde_json::json!({"sub": acc.public_key(), "name": "v1acc", "type": "account",
            "nats": {"limits": {"subs": -1, "conn": -1, "imports": -1, "exports": -1, "data": -1, "payload": -1, "wildcards": true}}}),
        &op,
    );
    let op_file = dir.path().join("v1op.jwt");
    std::fs::write(&op_file, &op_jwt).expect("write");
    let conf = format!("operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{\n  {}: \"{acc_jwt}\"\n}}\n", op_file.display(), acc.public_key());
    let s = TestServer::start_on(t, Some(&conf), &[]);
    let user_jwt = |kp: &KeyPair, nats: serde_json::Value| {
        v1_token(serde_json::json!({"sub": kp.public_key(), "name": "u", "type": "user", "nats": nats}), &acc)
    };
    let plain = KeyPair::new_user();
    let (mut c, first) = raw_login_kp(s.port, &user_jwt(&plain, serde_json::json!({"pub": {}, "sub": {}})), &plain);
    out.push(format!("v1 user: {first}"));
    out.push(format!("v1 user pub/sub: {}", exchange(&mut c, "SUB a.> 1\r\nPUB a.b 2\r\nhi\r\n")));
    let limited = KeyPair::new_user();
    let (mut c, first) = raw_login_kp(s.port, &user_jwt(&limited, serde_json::json!({"pub": {"allow": ["ok.>"]}})), &limited);
    out.push(format!("v1 limited: {first}"));
    out.push(format!("v1 limited pub: {}", exchange(&mut c, "PUB no 1\r\nx\r\nPUB ok.1 1\r\nx\r\n")));
    let maxed = KeyPair::new_user();
    out.push(format!("v1 max: {}", raw_login_kp(s.port, &user_jwt(&maxed, serde_json::json!({"max": 5})), &maxed).1));
    // A v2 user of the v1 account (what a migrated toolchain issues next).
    let v2 = KeyPair::new_user();
    let mut claims = Claims { sub: v2.public_key(), nats: User::unlimited(), ..Default::default() };
    let v2_jwt = encode(&mut claims, &acc).expect("v2 user");
    out.push(format!("v2 user of a v1 account: {}", raw_login_kp(s.port, &v2_jwt, &v2).1));
    out
}

#[test]
fn v1_jwts_are_accepted() {
    assert_eq!(
        v1_transcript(target()),
        vec![
            "py foo: PONG".to_string(),
            // MSG help 1 300\r\n + 300 bytes + \r\n + PONG
            format!("py foo pub/sub: {}", "MSG help 1 300\r\n".len() + 300 + 2 + 4),
            "py bar: PONG".to_string(),
            "v1 user: PONG".to_string(),
            "v1 user pub/sub: MSG a.b 1 2\r\nhi\r\nPONG".to_string(),
            "v1 limited: PONG".to_string(),
            "v1 limited pub: -ERR 'Permissions Violation for Publish to \"no\"'\r\nPONG".to_string(),
            "v1 max: PONG".to_string(),
            "v2 user of a v1 account: PONG".to_string(),
        ]
    );
}

#[test]
fn v1_jwts_same_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(v1_transcript(Target::Natrix), v1_transcript(Target::NatsServer));
}

/// nats-py itself with a v1 `.creds` fixture (`foo-user.creds`), as its own test suite does.
#[test]
fn nats_py_with_v1_creds() {
    let ok = std::process::Command::new("python3").args(["-c", "import nats, nkeys"]).output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        if std::env::var_os("NATRIX_REQUIRE_CLIENTS").is_some() {
            panic!("nats-py or nkeys is not installed but NATRIX_REQUIRE_CLIENTS is set");
        }
        println!("SKIPPED: python3 with nats-py and nkeys not found (pip install nats-py nkeys)");
        return;
    }
    let s = TestServer::start_with_config(&py_config());
    let dir = tempfile::tempdir().expect("tempdir");
    let stranger = creds_file(dir.path(), &user(&account(&operator(), |_| {}), |_| {}));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/clients/python_creds.py");
    let out = std::process::Command::new("timeout")
        .args(["60", "python3", script, &s.port.to_string()])
        .arg(fixture("foo-user.creds"))
        .arg(&stranger)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "nats-py creds test failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

// --- item 9: an expired account refuses new connections ---

/// A user of an account expiring in 3 s: connected, closed at the expiry, and a new
/// connection right after (within the expiry's second) is refused.
fn account_expiry_reconnect_transcript(t: Target) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    // 3 s: the start and the wait below for a whole second leave at least one second.
    let acc = account(&op, |c| c.exp = now() + 3);
    let u = user(&acc, |_| {});
    let s = TestServer::start_on(t, Some(&config(dir.path(), &op, &[&acc])), &[]);
    // Connect just after a whole second, so the close (at `exp` plus this fraction) and
    // the new connection fall in the expiry's own second, the one natrix used to admit.
    let subsec = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_millis());
    for _ in 0..110 {
        if subsec() < 50 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let (mut c, first) = raw_user(s.port, &u);
    let (rest, closed) = c.read_until_closed(Duration::from_secs(6));
    let again = raw_user(s.port, &u).1;
    // A server PING in between is timing (nats-server's first client PING may fall
    // before the expiry), not the behaviour under test.
    let rest = String::from_utf8_lossy(&rest).replace("PING\r\n", "");
    vec![format!("first: {first}"), format!("then: {} closed={closed}", rest.trim_end()), format!("again: {again}")]
}

#[test]
fn expired_account_refuses_new_connections() {
    assert_eq!(
        account_expiry_reconnect_transcript(target()),
        vec![
            "first: PONG".to_string(),
            "then: -ERR 'Account Authentication Expired' closed=true".to_string(),
            format!("again: {VIOLATION}"),
        ]
    );
}

#[test]
fn account_expiry_same_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(account_expiry_reconnect_transcript(Target::Natrix), account_expiry_reconnect_transcript(Target::NatsServer));
}

// --- item 10: an activation token expiring while the server runs ---

/// A private service and a private stream imported with activation tokens that expire
/// 3 s after the start: both deliver before, neither after.
fn activation_expiry_transcript(t: Target) -> Vec<String> {
    use natrix::jwt::claims::{Activation, Export, ExportType, Import};
    let dir = tempfile::tempdir().expect("tempdir");
    let op = operator();
    let exporter = account(&op, |c| {
        c.nats.exports = vec![
            Export { subject: "svc.priv".into(), kind: ExportType::Service, token_req: true, ..Default::default() },
            Export { subject: "ev.>".into(), kind: ExportType::Stream, token_req: true, ..Default::default() },
        ];
    });
    let importer_kp = KeyPair::new_account();
    let exp = now() + 3;
    let token = |subject: &str, kind: ExportType| {
        let nats = Activation { subject: subject.into(), kind, claim_type: "activation".into(), version: 2, ..Default::default() };
        encode(&mut Claims { sub: importer_kp.public_key(), exp, nats, ..Default::default() }, &exporter.kp).expect("activation")
    };
    let e = exporter.kp.public_key();
    let mut ic = Claims { sub: importer_kp.public_key(), nats: Account::unlimited(), ..Default::default() };
    ic.nats.imports = vec![
        Import { subject: "svc.priv".into(), account: e.clone(), kind: ExportType::Service, token: token("svc.priv", ExportType::Service), ..Default::default() },
        Import { subject: "ev.>".into(), account: e, kind: ExportType::Stream, token: token("ev.>", ExportType::Stream), ..Default::default() },
    ];
    let importer = Acc { jwt: encode(&mut ic, &op.kp).expect("importer"), kp: importer_kp };
    let s = TestServer::start_on(t, Some(&config(dir.path(), &op, &[&exporter, &importer])), &[]);
    let (mut ce, _) = raw_user(s.port, &user(&exporter, |_| {}));
    let (mut ci, _) = raw_user(s.port, &user(&importer, |_| {}));
    exchange(&mut ce, "SUB svc.priv 1\r\n");
    exchange(&mut ci, "SUB ev.> 1\r\n");
    // nats-server adds the importer's stream interest to the exporter asynchronously.
    std::thread::sleep(Duration::from_millis(300));
    let mut round = |label: &str| {
        exchange(&mut ci, "PUB svc.priv r.1 1\r\nq\r\n");
        std::thread::sleep(Duration::from_millis(100));
        let service = exchange(&mut ce, "").contains("MSG svc.priv");
        exchange(&mut ce, "PUB ev.1 1\r\nx\r\n");
        std::thread::sleep(Duration::from_millis(100));
        let stream = exchange(&mut ci, "").contains("MSG ev.1");
        format!("{label}: service={service} stream={stream}")
    };
    let mut out = vec![round("before")];
    // Past the expiry (bounded: exp is 3 s after the start).
    let wait = (exp + 1 - now()).clamp(0, 5) as u64;
    std::thread::sleep(Duration::from_secs(wait) + Duration::from_millis(500));
    out.push(round("after"));
    out
}

#[test]
fn expired_activation_stops_the_import() {
    assert_eq!(
        activation_expiry_transcript(target()),
        vec!["before: service=true stream=true".to_string(), "after: service=false stream=false".to_string()]
    );
}

#[test]
fn activation_expiry_same_as_nats_server() {
    if skip_without_nats_server() {
        return;
    }
    assert_eq!(activation_expiry_transcript(Target::Natrix), activation_expiry_transcript(Target::NatsServer));
}
