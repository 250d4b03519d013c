use super::claims::{Account, Claims, Operator, Permission, TimeRange, User};
use super::verify::{connect_window, is_revoked, source_allowed, Peer};
use super::*;
use base64::Engine as _;
use nkeys::KeyPair;

struct Chain {
    acc: KeyPair,
    user: KeyPair,
    op_jwt: String,
    acc_jwt: String,
}

fn chain_with(account: Account) -> Chain {
    let (op, acc, user) = (KeyPair::new_operator(), KeyPair::new_account(), KeyPair::new_user());
    let op_jwt = encode(&mut Claims { sub: op.public_key(), nats: Operator::new(), ..Default::default() }, &op).expect("op");
    let acc_jwt = encode(&mut Claims { sub: acc.public_key(), nats: account, ..Default::default() }, &op).expect("acc");
    Chain { acc, user, op_jwt, acc_jwt }
}

fn chain() -> Chain {
    chain_with(Account::unlimited())
}

fn user_jwt(c: &Chain, f: impl FnOnce(&mut Claims<User>)) -> String {
    let mut u = Claims { sub: c.user.public_key(), nats: User::unlimited(), ..Default::default() };
    f(&mut u);
    encode(&mut u, &c.acc).expect("user")
}

fn trust(c: &Chain) -> TrustConfig {
    TrustConfig {
        operators: vec![c.op_jwt.clone()],
        resolver: Some(ResolverConfig::Memory),
        preload: vec![config::Preload { account: c.acc.public_key(), jwt: c.acc_jwt.clone(), pos: None, stored: false }],
        ..Default::default()
    }
}

fn sign(kp: &KeyPair, nonce: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(kp.sign(nonce).expect("sign"))
}

fn peer() -> Peer {
    Peer { ip: Some("127.0.0.1".parse().expect("ip")), now: now_unix() }
}

fn login(c: &Chain, jwt: &str) -> Result<JwtUser, JwtError> {
    let auth = JwtAuth::new(&trust(c));
    let nonce = b"abcdefghijklmno";
    auth.authenticate(Some(jwt), Some(&sign(&c.user, nonce)), Some(nonce), peer())
}

#[test]
fn round_trip_and_tamper() {
    let c = chain();
    let jwt = user_jwt(&c, |u| u.name = "bob".into());
    let d = decode_user(&jwt).expect("decode");
    assert_eq!(d.name, "bob");
    assert_eq!(d.iss, c.acc.public_key());
    assert_eq!(d.nats.subs, -1);
    // Change one character of the claims: the signature no longer matches.
    let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64");
    let tampered = String::from_utf8(body).expect("utf8").replace("bob", "eve");
    parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tampered);
    assert_eq!(decode_user(&parts.join(".")).unwrap_err(), JwtError::Signature);
    assert_eq!(decode_user("a.b").unwrap_err(), JwtError::Chunks);
    assert!(decode_user("!!.!!.!!").is_err());
    // Wrong claim type and wrong issuer kind.
    assert!(matches!(decode_account(&jwt), Err(JwtError::WrongType { .. })));
    assert!(decode_operator(&c.acc_jwt).is_err());
    assert!(decode_operator(&c.op_jwt).is_ok());
}

#[test]
fn valid_chain_and_permissions() {
    let c = chain();
    let jwt = user_jwt(&c, |u| {
        u.nats.permissions.publish = Permission { allow: vec!["a.>".into()], deny: vec!["a.secret".into()] };
        u.nats.subs = 5;
    });
    let u = login(&c, &jwt).expect("login");
    assert_eq!(u.account, c.acc.public_key());
    let p = u.permissions.expect("perms");
    assert!(p.can_publish(b"a.b"));
    assert!(!p.can_publish(b"a.secret"));
    assert!(!p.can_publish(b"b"));
    assert_eq!(u.max_subs, Some(5));
    assert_eq!(u.max_payload, None);
}

#[test]
fn refusals() {
    let c = chain();
    let now = now_unix();
    let exp = user_jwt(&c, |u| u.exp = now - 10);
    assert_eq!(login(&c, &exp).unwrap_err(), JwtError::Expired);
    let nbf = user_jwt(&c, |u| u.nbf = now + 3600);
    assert_eq!(login(&c, &nbf).unwrap_err(), JwtError::NotYetValid);
    let ws = user_jwt(&c, |u| u.nats.allowed_connection_types = vec!["WEBSOCKET".into()]);
    assert_eq!(login(&c, &ws).unwrap_err(), JwtError::ConnectionType);
    let std_ok = user_jwt(&c, |u| u.nats.allowed_connection_types = vec!["STANDARD".into(), "FOO".into()]);
    assert!(login(&c, &std_ok).is_ok());
    let src = user_jwt(&c, |u| u.nats.src = vec!["10.0.0.0/8".into()]);
    assert_eq!(login(&c, &src).unwrap_err(), JwtError::SourceAddress);
    let src_ok = user_jwt(&c, |u| u.nats.src = vec!["10.0.0.0/8".into(), "127.0.0.0/8".into()]);
    assert!(login(&c, &src_ok).is_ok());

    // Bad nonce signature; bearer skips it.
    let auth = JwtAuth::new(&trust(&c));
    let plain = user_jwt(&c, |_| {});
    let other = KeyPair::new_user();
    let nonce = b"nonce";
    let r = auth.authenticate(Some(&plain), Some(&sign(&other, nonce)), Some(nonce), peer());
    assert_eq!(r.unwrap_err(), JwtError::NonceSignature);
    assert_eq!(auth.authenticate(Some(&plain), None, Some(nonce), peer()).unwrap_err(), JwtError::NonceSignature);
    let bearer = user_jwt(&c, |u| u.nats.bearer_token = true);
    assert!(auth.authenticate(Some(&bearer), None, Some(nonce), peer()).is_ok());

    // A user of an account nobody preloaded, and an account from another operator.
    let stranger = chain();
    let jwt = user_jwt(&stranger, |_| {});
    assert!(matches!(login(&c, &jwt), Err(JwtError::UnknownAccount(_))));
    let mut t = trust(&c);
    t.preload[0] = config::Preload { account: stranger.acc.public_key(), jwt: stranger.acc_jwt.clone(), pos: None, stored: false };
    let auth = JwtAuth::new(&t);
    let r = auth.authenticate(Some(&jwt), Some(&sign(&stranger.user, nonce)), Some(nonce), peer());
    assert!(matches!(r, Err(JwtError::UnknownAccount(_))), "untrusted account is not loaded");
}

#[test]
fn revocations_and_signing_keys() {
    let user = KeyPair::new_user();
    let sk = KeyPair::new_account();
    let mut acc = Account::unlimited();
    acc.revocations.insert(user.public_key(), now_unix() + 5);
    acc.signing_keys.push(claims::SigningKey::Key(sk.public_key()));
    let mut c = chain_with(acc);
    c.user = user;
    assert_eq!(login(&c, &user_jwt(&c, |_| {})).unwrap_err(), JwtError::Revoked);
    let later = user_jwt(&c, |u| u.iat = now_unix() + 10);
    assert!(login(&c, &later).is_ok());

    // Issued by the signing key: needs issuer_account.
    let other = KeyPair::new_user();
    let mut u = Claims { sub: other.public_key(), nats: User::unlimited(), ..Default::default() };
    u.nats.issuer_account = c.acc.public_key();
    let by_sk = encode(&mut u, &sk).expect("sk");
    c.user = other;
    assert!(login(&c, &by_sk).is_ok());
    let mut u = Claims { sub: c.user.public_key(), nats: User::unlimited(), ..Default::default() };
    u.nats.issuer_account = c.acc.public_key();
    let rogue = encode(&mut u, &KeyPair::new_account()).expect("rogue");
    assert!(matches!(login(&c, &rogue), Err(JwtError::UnknownIssuer(_))));

    let mut r = std::collections::BTreeMap::new();
    r.insert("*".to_string(), 100);
    assert!(is_revoked(&r, "U", 100));
    assert!(!is_revoked(&r, "U", 101));
}

#[test]
fn cidrs_and_windows() {
    let ip = |s: &str| Some(s.parse().expect("ip"));
    assert!(source_allowed(&[], None));
    assert!(source_allowed(&["192.168.1.0/24".into()], ip("192.168.1.7")));
    assert!(!source_allowed(&["192.168.1.0/24".into()], ip("192.168.2.7")));
    assert!(source_allowed(&["::1/128".into()], ip("::1")));
    assert!(!source_allowed(&["bogus".into()], ip("::1")));
    let day = 86_400 * 20_000;
    let w = |s: &str, e: &str| vec![TimeRange { start: s.into(), end: e.into() }];
    assert_eq!(connect_window(&w("10:00:00", "11:00:00"), "UTC", day + 10 * 3600 + 60).expect("in"), Some(day + 11 * 3600));
    assert!(connect_window(&w("10:00:00", "11:00:00"), "UTC", day + 12 * 3600).is_err());
    assert!(connect_window(&w("22:00:00", "02:00:00"), "UTC", day + 3600).is_ok(), "across midnight");
    assert!(connect_window(&w("10:00:00", "11:00:00"), "Mars/Olympus", day).is_err());
}

#[test]
fn creds_files() {
    let c = chain();
    let jwt = user_jwt(&c, |_| {});
    let seed = c.user.seed().expect("seed");
    let text = creds::format(&jwt, &seed);
    let parsed = creds::parse(&text).expect("parse");
    assert_eq!(parsed.jwt, jwt);
    assert_eq!(parsed.seed, seed);
    assert!(!format!("{parsed:?}").contains(&seed));
    assert!(creds::parse(&text.replace("\n", "\r\n")).is_ok());
    let wrong = creds::format(&jwt, &KeyPair::new_user().seed().expect("seed"));
    assert!(creds::parse(&wrong).is_err());
    assert!(creds::parse("nothing here").is_err());
    assert_eq!(creds::decorated_jwt(&text), jwt);
    assert_eq!(creds::decorated_jwt(&jwt), jwt);
}

#[test]
fn config_keys() {
    let c = chain();
    let conf = format!(
        "operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{\n  {}: \"{}\"\n}}\n",
        c.op_jwt,
        c.acc.public_key(),
        c.acc_jwt
    );
    let (o, _) = crate::config::Options::from_str(&conf, std::path::Path::new("t.conf")).expect("conf");
    assert!(o.auth.trust.enabled());
    assert_eq!(o.auth.trust.preload.len(), 1);
    // A preload from another operator does not stop the server (nats-server starts
    // too): the account is left out and its users are refused.
    let other = chain();
    let mixed = format!(
        "operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{\n  {}: \"{}\"\n  {}: \"{}\"\n}}\n",
        c.op_jwt,
        c.acc.public_key(),
        c.acc_jwt,
        other.acc.public_key(),
        other.acc_jwt
    );
    let (o, _) = crate::config::Options::from_str(&mixed, std::path::Path::new("t.conf")).expect("an untrusted account is no config error");
    let auth = JwtAuth::new(&o.auth.trust);
    assert!(auth.account(&c.acc.public_key()).is_some());
    assert!(auth.account(&other.acc.public_key()).is_none());
    let nonce = b"n";
    let stranger = user_jwt(&other, |_| {});
    let r = auth.authenticate(Some(&stranger), Some(&sign(&other.user, nonce)), Some(nonce), peer());
    assert_eq!(r.unwrap_err(), JwtError::UnknownAccount(other.acc.public_key()));
    let mine = user_jwt(&c, |_| {});
    assert!(auth.authenticate(Some(&mine), Some(&sign(&c.user, nonce)), Some(nonce), peer()).is_ok());
    // A value that is no account JWT at all is a config error, as nats-server words it.
    let bad = format!("operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{\n  {}: \"eyJnope\"\n}}\n", c.op_jwt, other.acc.public_key());
    let e = crate::config::Options::from_str(&bad, std::path::Path::new("t.conf")).unwrap_err().to_string();
    assert_eq!(e, "t.conf:4:3: invalid account JWT");
    let e = crate::config::Options::from_str("trusted_keys: [\"Oxyz\"]\n", std::path::Path::new("t.conf")).unwrap_err().to_string();
    assert!(e.contains("valid public operator nkey"), "{e}");
    let e = crate::config::Options::from_str(&format!("operator: \"{}\"\nresolver: \"URL(http://x)\"\n", c.op_jwt), std::path::Path::new("t.conf"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not supported"), "{e}");
}


#[test]
fn scoped_and_operator_signing_keys() {
    // An operator signing key signs the account; a scoped account signing key's
    // template replaces the user's own permissions.
    let (op, op_sk, acc, sk, user) =
        (KeyPair::new_operator(), KeyPair::new_operator(), KeyPair::new_account(), KeyPair::new_account(), KeyPair::new_user());
    let mut opc = Claims { sub: op.public_key(), nats: Operator::new(), ..Default::default() };
    opc.nats.signing_keys.push(op_sk.public_key());
    let op_jwt = encode(&mut opc, &op).expect("op");
    let mut template = User::unlimited();
    template.permissions.publish = Permission { allow: vec!["scoped.>".into()], deny: vec![] };
    let mut account = Account::unlimited();
    account.signing_keys.push(claims::SigningKey::Scoped(Box::new(claims::ScopedKey {
        kind: "user_scope".into(),
        key: sk.public_key(),
        role: "r".into(),
        template,
    })));
    let acc_jwt = encode(&mut Claims { sub: acc.public_key(), nats: account, ..Default::default() }, &op_sk).expect("acc");
    let mut u = Claims { sub: user.public_key(), nats: User::unlimited(), ..Default::default() };
    u.nats.issuer_account = acc.public_key();
    u.nats.permissions.publish = Permission { allow: vec![">".into()], deny: vec![] };
    let with_own = encode(&mut u, &sk).expect("user");
    let c = Chain { acc, user, op_jwt, acc_jwt };
    assert!(matches!(login(&c, &with_own), Err(JwtError::Invalid(_))), "scoped users carry no permissions");
    let mut u = Claims { sub: c.user.public_key(), nats: User { kind: "user".into(), version: 2, ..Default::default() }, ..Default::default() };
    u.nats.issuer_account = c.acc.public_key();
    let user_jwt = encode(&mut u, &sk).expect("user");
    let got = login(&c, &user_jwt).expect("login");
    let p = got.permissions.expect("perms");
    assert!(p.can_publish(b"scoped.x"));
    assert!(!p.can_publish(b"other"));
    // The signing key JSON round-trips as an object, a plain key as a string.
    let j = serde_json::to_string(&claims::SigningKey::Key("AKEY".into())).expect("json");
    assert_eq!(j, "\"AKEY\"");
}

#[test]
fn pinned_accounts() {
    let c = chain();
    let jwt = user_jwt(&c, |_| {});
    let mut t = trust(&c);
    t.pinned = vec![KeyPair::new_account().public_key()];
    let nonce = b"n";
    let r = JwtAuth::new(&t).authenticate(Some(&jwt), Some(&sign(&c.user, nonce)), Some(nonce), peer());
    assert!(matches!(r, Err(JwtError::NotPinned(_))));
    t.pinned.push(c.acc.public_key());
    assert!(JwtAuth::new(&t).authenticate(Some(&jwt), Some(&sign(&c.user, nonce)), Some(nonce), peer()).is_ok());
    let conf = format!("operator: \"{}\"\nresolver_pinned_accounts: [\"{}\"]\n", c.op_jwt, c.acc.public_key());
    let (o, _) = crate::config::Options::from_str(&conf, std::path::Path::new("t.conf")).expect("conf");
    assert_eq!(o.auth.trust.pinned, vec![c.acc.public_key()]);
    assert!(crate::config::Options::from_str("resolver_pinned_accounts: [\"Uxx\"]\n", std::path::Path::new("t.conf")).is_err());
}

#[test]
fn scoped_templates() {
    use super::template::{expand, TemplateContext};
    let tags = vec!["dept:eng".to_string(), "dept:ops".to_string(), "other:x".to_string()];
    let ctx = TemplateContext {
        user_name: "bob",
        user_key: "UKEY",
        user_tags: &tags,
        account_name: "acme",
        account_key: "AKEY",
        account_tags: &[],
    };
    let mut t = User::unlimited();
    t.permissions.publish = Permission {
        allow: vec!["u.{{name()}}.>".into(), "d.{{tag(dept)}}".into(), "plain".into()],
        deny: vec!["{{account-name()}}.secret".into()],
    };
    t.permissions.subscribe = Permission { allow: vec!["x.{{tag(missing)}}".into(), "y.{{bogus()}}".into()], deny: vec![] };
    let u = expand(t, &ctx).expect("expand");
    assert_eq!(u.permissions.publish.allow, vec!["u.bob.>", "d.eng", "d.ops", "plain"]);
    assert_eq!(u.permissions.publish.deny, vec!["acme.secret"]);
    // Nothing valid came out of a non-empty allow list: deny everything.
    assert!(u.permissions.subscribe.allow.is_empty());
    assert_eq!(u.permissions.subscribe.deny, vec![">"]);
}

#[test]
fn disallow_bearer_and_account_expiry() {
    let mut acc = Account::unlimited();
    acc.limits.disallow_bearer = true;
    let c = chain_with(acc);
    let bearer = user_jwt(&c, |u| u.nats.bearer_token = true);
    let auth = JwtAuth::new(&trust(&c));
    let r = auth.authenticate(Some(&bearer), None, Some(b"n"), peer());
    assert_eq!(r.unwrap_err(), JwtError::BearerNotAllowed);

    let mut c = chain();
    let (op, acc_kp) = (KeyPair::new_operator(), c.acc.clone());
    // An expired account JWT from a trusted operator: its users are refused.
    c.op_jwt = encode(&mut Claims { sub: op.public_key(), nats: Operator::new(), ..Default::default() }, &op).expect("op");
    c.acc_jwt = encode(&mut Claims { sub: acc_kp.public_key(), exp: now_unix() - 5, nats: Account::unlimited(), ..Default::default() }, &op)
        .expect("acc");
    assert_eq!(login(&c, &user_jwt(&c, |_| {})).unwrap_err(), JwtError::AccountExpired);
    // In its last second (`exp == now`) nats-server already counts it expired, and its
    // live users are closed then: new ones are refused too.
    let t = now_unix();
    c.acc_jwt = encode(&mut Claims { sub: acc_kp.public_key(), exp: t, nats: Account::unlimited(), ..Default::default() }, &op).expect("acc");
    let auth = JwtAuth::new(&trust(&c));
    let nonce = b"n";
    let jwt = user_jwt(&c, |_| {});
    let at = |now| Peer { ip: None, now };
    assert_eq!(auth.authenticate(Some(&jwt), Some(&sign(&c.user, nonce)), Some(nonce), at(t)).unwrap_err(), JwtError::AccountExpired);
    assert!(auth.authenticate(Some(&jwt), Some(&sign(&c.user, nonce)), Some(nonce), at(t - 1)).is_ok());
}

#[test]
fn trusted_keys_without_operator_jwt() {
    let c = chain();
    let op_key = decode_operator(&c.op_jwt).expect("op").sub;
    let t = TrustConfig { operators: vec![], trusted_keys: vec![op_key], ..trust(&c) };
    let nonce = b"n";
    let jwt = user_jwt(&c, |_| {});
    assert!(JwtAuth::new(&t).authenticate(Some(&jwt), Some(&sign(&c.user, nonce)), Some(nonce), peer()).is_ok());
}

// --- nats-io/jwt v1 tokens (read and migrated as the v2 library does) ---

/// The v1 fixtures of tests/jwt_v1 (see its README).
const PY_OP: &str = include_str!("../../tests/jwt_v1/op.jwt");
const PY_FOO_ACCOUNT: &str = include_str!("../../tests/jwt_v1/foo-account.jwt");
const PY_FOO_USER: &str = include_str!("../../tests/jwt_v1/foo-user.creds");

/// Signs `claims` (a JSON object) as nats-io/jwt v1 did: header `ed25519`, signature
/// over the claims part only.
fn v1_token(claims: serde_json::Value, kp: &KeyPair) -> String {
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let mut claims = claims;
    claims["iss"] = kp.public_key().into();
    let body = b64(claims.to_string().as_bytes());
    let sig = kp.sign(body.as_bytes()).expect("sign");
    format!("{}.{body}.{}", b64(br#"{"typ":"jwt","alg":"ed25519"}"#), b64(&sig))
}

#[test]
fn v1_fixtures_decode() {
    let op = decode_operator(creds::decorated_jwt(PY_OP)).expect("v1 operator");
    assert_eq!(op.name, "test_operator");
    assert_eq!((op.nats.kind.as_str(), op.nats.version), ("operator", 1));
    let acc = decode_account(PY_FOO_ACCOUNT).expect("v1 account");
    assert_eq!(acc.iss, op.sub);
    assert_eq!((acc.nats.kind.as_str(), acc.nats.version), ("account", 1));
    assert_eq!(acc.nats.limits.subs, -1);
    assert!(acc.nats.limits.wildcards);
    let creds = creds::parse(PY_FOO_USER).expect("creds");
    let user = decode_user(&creds.jwt).expect("v1 user");
    assert_eq!(user.iss, acc.sub);
    assert_eq!((user.nats.kind.as_str(), user.nats.version), ("user", 1));
    // v1 users without limits are unlimited (nats-server 2.9.10 lets them subscribe).
    assert_eq!((user.nats.subs, user.nats.data, user.nats.payload), (-1, -1, -1));
    // The whole chain logs in.
    let trust = TrustConfig {
        operators: vec![creds::decorated_jwt(PY_OP).to_string()],
        preload: vec![config::Preload { account: acc.sub.clone(), jwt: PY_FOO_ACCOUNT.trim().into(), pos: None, stored: false }],
        ..Default::default()
    };
    let kp = KeyPair::from_seed(&creds.seed).expect("seed");
    let nonce = b"nonce";
    let got = JwtAuth::new(&trust).authenticate(Some(&creds.jwt), Some(&sign(&kp, nonce)), Some(nonce), peer()).expect("login");
    assert_eq!(got.account, acc.sub);
    assert_eq!(got.max_subs, None);
}

#[test]
fn v1_tokens_migrate() {
    let (op, acc, user) = (KeyPair::new_operator(), KeyPair::new_account(), KeyPair::new_user());
    let op_jwt = v1_token(serde_json::json!({"sub": op.public_key(), "type": "operator", "nats": {"system_account": acc.public_key()}}), &op);
    let o = decode_operator(&op_jwt).expect("operator");
    assert_eq!(o.nats.system_account, acc.public_key());
    let acc_jwt = v1_token(
        serde_json::json!({"sub": acc.public_key(), "type": "account", "tags": ["t1"],
            "nats": {"limits": {"subs": 5, "conn": 2}, "revocations": {user.public_key(): 10},
                     "description": "v2 only, dropped"}}),
        &op,
    );
    let a = decode_account(&acc_jwt).expect("account");
    assert_eq!((a.nats.limits.subs, a.nats.limits.conn, a.nats.limits.payload), (5, 2, 0));
    assert_eq!(a.nats.tags, vec!["t1".to_string()]);
    assert_eq!(a.nats.revocations.get(&user.public_key()), Some(&10));
    assert!(a.nats.description.is_empty());
    assert!(a.v1_type.is_empty() && a.v1_tags.is_empty(), "moved into nats");
    let u = v1_token(
        serde_json::json!({"sub": user.public_key(), "type": "user", "issuer_account": acc.public_key(),
            "nats": {"pub": {"allow": ["a.>"]}, "subs": 3, "src": "127.0.0.1/32", "allowed_connection_types": ["WEBSOCKET"]}}),
        &acc,
    );
    let u = decode_user(&u).expect("user");
    assert_eq!(u.nats.issuer_account, acc.public_key());
    assert_eq!(u.nats.permissions.publish.allow, vec!["a.>".to_string()]);
    assert_eq!((u.nats.subs, u.nats.payload), (3, -1));
    assert_eq!(u.nats.src, vec!["127.0.0.1/32".to_string()]);
    assert!(u.nats.allowed_connection_types.is_empty(), "a v2 field, not migrated");
    // v1's `max` has no v2 meaning and is dropped (nats-server 2.9.10 accepts such a user).
    let max = v1_token(serde_json::json!({"sub": user.public_key(), "type": "user", "nats": {"max": 10}}), &acc);
    assert_eq!(decode_user(&max).expect("max").nats.subs, -1);
    // A v1 activation: the import type was `nats.type`.
    let act = v1_token(
        serde_json::json!({"sub": acc.public_key(), "type": "activation", "nats": {"subject": "svc.x", "type": "service"}}),
        &acc,
    );
    let act = decode_activation(&act).expect("activation");
    assert_eq!((act.nats.kind, act.nats.subject.as_str()), (claims::ExportType::Service, "svc.x"));
    let bad_kind = v1_token(
        serde_json::json!({"sub": acc.public_key(), "type": "activation", "nats": {"subject": "s", "type": "queue"}}),
        &acc,
    );
    assert!(decode_activation(&bad_kind).is_err());
    // The claim type still has to match.
    assert!(matches!(decode_user(&acc_jwt), Err(JwtError::WrongType { .. })));
}

#[test]
fn v1_and_v2_signatures_and_versions() {
    let (acc, user) = (KeyPair::new_account(), KeyPair::new_user());
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let v1_body = serde_json::json!({"iss": acc.public_key(), "sub": user.public_key(), "type": "user", "nats": {}}).to_string();
    // A v1 claim signed over `header.claims` (v2's way) fails: v1 signs the claims only.
    let header = b64(br#"{"typ":"jwt","alg":"ed25519"}"#);
    let signed = format!("{header}.{}", b64(v1_body.as_bytes()));
    let wrong = format!("{signed}.{}", b64(&acc.sign(signed.as_bytes()).expect("sign")));
    assert_eq!(decode_user(&wrong).unwrap_err(), JwtError::Signature);
    // The claim version decides, not the header: v2 claims under a v1 header are v2.
    let v2_body = |version: i64| {
        serde_json::json!({"iss": acc.public_key(), "sub": user.public_key(), "nats": {"type": "user", "version": version}}).to_string()
    };
    let signed = format!("{header}.{}", b64(v2_body(2).as_bytes()));
    let ok = format!("{signed}.{}", b64(&acc.sign(signed.as_bytes()).expect("sign")));
    assert_eq!(decode_user(&ok).expect("v2").nats.version, 2);
    for (version, want) in [(3, "newer version"), (0, "received 0"), (1, "received 1")] {
        let signed = format!("{header}.{}", b64(v2_body(version).as_bytes()));
        let token = format!("{signed}.{}", b64(&acc.sign(signed.as_bytes()).expect("sign")));
        assert!(matches!(decode_user(&token), Err(JwtError::Invalid(m)) if m.contains(want)), "version {version}");
    }
    // natrix's own v1 encoder round-trips.
    let mut c = Claims { sub: user.public_key(), v1_type: "user".into(), nats: User::default(), ..Default::default() };
    let token = encode_v1(&mut c, &acc).expect("encode");
    assert_eq!(decode_user(&token).expect("decode").nats.version, 1);
}

// --- activation tokens that expire while the server runs ---

#[test]
fn activation_expiry_is_reported_and_enforced() {
    use claims::{Activation, Export, ExportType, Import};
    let op = KeyPair::new_operator();
    let op_jwt = encode(&mut Claims { sub: op.public_key(), nats: Operator::new(), ..Default::default() }, &op).expect("op");
    let (exp_kp, imp_kp) = (KeyPair::new_account(), KeyPair::new_account());
    let mut exporter = Account::unlimited();
    exporter.exports = vec![Export { subject: "svc".into(), kind: ExportType::Service, token_req: true, ..Default::default() }];
    let exporter_jwt = encode(&mut Claims { sub: exp_kp.public_key(), nats: exporter, ..Default::default() }, &op).expect("exporter");
    let t = now_unix();
    let token = |exp: i64| {
        let nats = Activation { subject: "svc".into(), kind: ExportType::Service, claim_type: "activation".into(), version: 2, ..Default::default() };
        encode(&mut Claims { sub: imp_kp.public_key(), exp, nats, ..Default::default() }, &exp_kp).expect("activation")
    };
    let importer_with = |exps: &[i64]| {
        let mut a = Account::unlimited();
        for e in exps {
            a.imports.push(Import { subject: "svc".into(), account: exp_kp.public_key(), kind: ExportType::Service, token: token(*e), ..Default::default() });
        }
        encode(&mut Claims { sub: imp_kp.public_key(), nats: a, ..Default::default() }, &op).expect("importer")
    };
    let trust_with = |importer_jwt: String| TrustConfig {
        operators: vec![op_jwt.clone()],
        preload: vec![
            config::Preload { account: exp_kp.public_key(), jwt: exporter_jwt.clone(), pos: None, stored: false },
            config::Preload { account: imp_kp.public_key(), jwt: importer_jwt, pos: None, stored: false },
        ],
        ..Default::default()
    };
    let imports_of = |got: &imports::JwtImports| {
        got.configs.iter().find(|c| c.name == imp_kp.public_key()).map_or(0, |c| c.imports.len())
    };
    // Two tokens: the earlier `exp` is the next one to act on.
    let trust = trust_with(importer_with(&[t + 60, t + 30]));
    let got = imports::account_configs(&trust, t);
    assert_eq!((imports_of(&got), got.next_expiry), (2, Some(t + 30)));
    // At `exp` (nats-server: `exp <= now`) that import stops; the other one is next.
    let got = imports::account_configs(&trust, t + 30);
    assert_eq!((imports_of(&got), got.next_expiry), (1, Some(t + 60)));
    let got = imports::account_configs(&trust, t + 60);
    assert_eq!((imports_of(&got), got.next_expiry), (0, None));
    // A token without `exp` never needs another look.
    let got = imports::account_configs(&trust_with(importer_with(&[0])), t);
    assert_eq!((imports_of(&got), got.next_expiry), (1, None));
}
