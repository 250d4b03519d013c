//! The sans-IO side of bcrypt checks on the auth threads: parking, verdicts, reloads.
use super::core::Core;
use crate::auth::config::{AuthConfig, Secret, UserConfig};
use crate::config::Options;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn opts(users: &[(&str, &str)]) -> Options {
    let users = users
        .iter()
        .map(|(u, p)| UserConfig { user: Some(u.to_string()), password: Some(Secret(p.to_string())), ..Default::default() })
        .collect();
    Options { auth: AuthConfig { users, ..Default::default() }, ..Options::default() }
}

fn core(o: Options) -> (Core, Vec<mio::Poll>) {
    let (shared, polls) = super::build_shared(o, 1, 4222).expect("shared");
    (Core::new(0, shared, Instant::now()), polls)
}

fn accept(core: &mut Core) -> u32 {
    let addr: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
    let slot = core.accept(addr);
    out(core, slot);
    slot
}

fn send(core: &mut Core, slot: u32, bytes: &[u8]) {
    core.conn_mut(slot).expect("conn").rbuf.extend_from_slice(bytes);
    core.process_input(slot);
}

fn out(core: &mut Core, slot: u32) -> String {
    let c = core.conn_mut(slot).expect("conn");
    let s = String::from_utf8_lossy(c.out.unwritten()).into_owned();
    c.out.buf.clear();
    c.out.head = 0;
    s
}

/// Waits (bounded) for the auth threads' verdicts and applies them as the worker does.
fn apply_verdicts(core: &mut Core, want: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = 0;
    while got < want {
        assert!(Instant::now() < deadline, "{got} of {want} verdicts arrived");
        let shared = core.shared.clone();
        let verdicts = std::mem::take(&mut *shared.inboxes[0].verdicts.lock());
        got += verdicts.len();
        for v in verdicts {
            core.apply_verdict(v);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

const CONNECT_B: &[u8] = b"CONNECT {\"verbose\":false,\"pedantic\":false,\"user\":\"b\",\"pass\":\"pw\"}\r\n";

#[test]
fn a_bcrypt_connect_parks_the_input_until_the_verdict() {
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let (mut core, _polls) = core(opts(&[("b", &hash)]));
    let c = accept(&mut core);
    let mut bytes = CONNECT_B.to_vec();
    bytes.extend_from_slice(b"SUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n");
    send(&mut core, c, &bytes);
    // Nothing ran yet: not even the SUB after the CONNECT.
    assert_eq!(core.parked_count(), 1);
    assert_eq!(out(&mut core, c), "");
    assert_eq!(core.shared.accounts.global().sublist.count(), 0);
    // More input while parked waits behind it.
    send(&mut core, c, b"PUB a 1\r\ny\r\n");
    assert_eq!(out(&mut core, c), "");
    apply_verdicts(&mut core, 1);
    assert_eq!(core.parked_count(), 0);
    assert_eq!(out(&mut core, c), "MSG a 1 1\r\nx\r\nPONG\r\nMSG a 1 1\r\ny\r\n");
    assert_eq!(core.resumed, vec![c], "the shell reads the socket again");
}

#[test]
fn a_wrong_bcrypt_password_is_refused_by_the_verdict() {
    let hash = bcrypt::hash("other", 4).expect("hash");
    let (mut core, _polls) = core(opts(&[("b", &hash)]));
    let c = accept(&mut core);
    send(&mut core, c, &[CONNECT_B, b"PING\r\n"].concat());
    apply_verdicts(&mut core, 1);
    assert_eq!(out(&mut core, c), "-ERR 'Authorization Violation'\r\n");
    assert!(core.conn(c).expect("conn").closing.is_some());
}

#[test]
fn a_closed_connection_drops_its_verdict() {
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let (mut core, _polls) = core(opts(&[("b", &hash)]));
    let c = accept(&mut core);
    send(&mut core, c, CONNECT_B);
    core.close(c, super::conn::CloseReason::ClientClosed);
    core.remove(c);
    // The slot is reused by another client before any verdict could apply.
    let d = accept(&mut core);
    assert_eq!(d, c);
    std::thread::sleep(Duration::from_millis(200));
    let shared = core.shared.clone();
    for v in std::mem::take(&mut *shared.inboxes[0].verdicts.lock()) {
        core.apply_verdict(v);
    }
    assert!(!core.conn(d).expect("conn").connected, "the new client is not bound by the old verdict");
}

#[test]
fn a_reload_rehashes_only_changed_credentials_and_off_the_loop() {
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let (mut core, _polls) = core(opts(&[("b", &hash), ("p", "plain")]));
    let c = accept(&mut core);
    send(&mut core, c, CONNECT_B);
    apply_verdicts(&mut core, 1);
    assert!(core.conn(c).expect("conn").connected);

    // Unchanged credentials: decided from the cache, nothing parks, nothing is hashed.
    core.shared.set_live_options(opts(&[("b", &hash), ("p", "plain")]), None);
    core.refresh_options();
    assert_eq!(core.parked_count(), 0);
    assert!(core.conn(c).expect("conn").closing.is_none());
    assert!(core.shared.inboxes[0].verdicts.lock().is_empty());

    // A new hash of the same password: checked again on the auth threads; the
    // connection's input waits meanwhile and it stays connected.
    let rehashed = bcrypt::hash("pw", 4).expect("hash");
    core.shared.set_live_options(opts(&[("b", &rehashed)]), None);
    core.refresh_options();
    assert_eq!(core.parked_count(), 1);
    send(&mut core, c, b"PING\r\n");
    assert_eq!(out(&mut core, c), "");
    apply_verdicts(&mut core, 1);
    assert_eq!(out(&mut core, c), "PONG\r\n");
    assert!(core.conn(c).expect("conn").closing.is_none());

    // A changed password: refused when the verdict arrives.
    core.shared.set_live_options(opts(&[("b", &bcrypt::hash("new", 4).expect("hash"))]), None);
    core.refresh_options();
    apply_verdicts(&mut core, 1);
    assert_eq!(out(&mut core, c), "-ERR 'Authorization Violation'\r\n");
    assert!(core.conn(c).expect("conn").closing.is_some());
}

#[test]
fn a_verdict_from_before_a_reload_is_decided_again() {
    let old = bcrypt::hash("pw", 4).expect("hash");
    let (mut core, _polls) = core(opts(&[("b", &old)]));
    let c = accept(&mut core);
    send(&mut core, c, &[CONNECT_B, b"PING\r\n"].concat());
    // The password changes while the check runs: the stale verdict is not trusted.
    core.shared.set_live_options(opts(&[("b", &bcrypt::hash("new", 4).expect("hash"))]), None);
    core.refresh_options();
    apply_verdicts(&mut core, 2);
    assert_eq!(out(&mut core, c), "-ERR 'Authorization Violation'\r\n");
}

#[test]
fn no_auth_user_bound_through_a_bcrypt_check_runs_the_first_op_after() {
    // A certificate-mapped user with a bcrypt password (of ""), bound without CONNECT.
    let hash = bcrypt::hash("", 4).expect("hash");
    let mut o = opts(&[("alice@example.org", &hash)]);
    o.auth.no_auth_user = Some("alice@example.org".into());
    let (mut core, _polls) = core(o.clone());
    core.auth = std::sync::Arc::new(crate::auth::Authenticator::new(&o.auth).with_tls_map(true));
    let c = accept(&mut core);
    let alice = crate::tls::CertIdentity { emails: vec!["alice@example.org".into()], ..Default::default() };
    core.conn_mut(c).expect("conn").cert = Some(Box::new(alice));
    send(&mut core, c, b"SUB a 1\r\nPUB a 1\r\nx\r\nPING\r\n");
    assert_eq!(core.parked_count(), 1);
    apply_verdicts(&mut core, 1);
    // Without CONNECT the client keeps nats-server's default options (verbose: `+OK`).
    assert_eq!(out(&mut core, c), "+OK\r\n+OK\r\nMSG a 1 1\r\nx\r\nPONG\r\n");
    assert_eq!(core.conn(c).expect("conn").user.as_deref(), Some("alice@example.org"));
}

#[test]
fn a_parked_connect_does_not_run_against_the_auth_timeout() {
    // Regression: with many clients connecting at once the checks queue up; a client
    // that sent CONNECT in time must not get `Authentication Timeout` while it waits.
    let hash = bcrypt::hash("pw", 4).expect("hash");
    let mut o = opts(&[("b", &hash)]);
    o.auth.timeout = Some(Duration::from_millis(500));
    let (mut core, _polls) = core(o);
    let c = accept(&mut core);
    send(&mut core, c, &[CONNECT_B, b"PING\r\n"].concat());
    assert_eq!(core.parked_count(), 1);
    // Ticks well past the deadline before the verdict is applied.
    core.now += Duration::from_secs(3);
    core.tick();
    assert!(core.conn(c).expect("conn").closing.is_none(), "closed while its check was pending");
    assert_eq!(out(&mut core, c), "");
    apply_verdicts(&mut core, 1);
    assert_eq!(out(&mut core, c), "PONG\r\n");
    // A client that never sends CONNECT is still timed out.
    let idle = accept(&mut core);
    core.now += Duration::from_secs(1);
    core.tick();
    assert_eq!(out(&mut core, idle), "-ERR 'Authentication Timeout'\r\n");
}
