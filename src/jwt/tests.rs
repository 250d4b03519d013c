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
    // A preload from another operator is refused with its position.
    let other = chain();
    let bad = format!("operator: \"{}\"\nresolver: MEMORY\nresolver_preload {{\n  {}: \"{}\"\n}}\n", c.op_jwt, other.acc.public_key(), other.acc_jwt);
    let e = crate::config::Options::from_str(&bad, std::path::Path::new("t.conf")).unwrap_err().to_string();
    assert!(e.starts_with("t.conf:4:"), "{e}");
    assert!(e.contains("not signed by a trusted operator"), "{e}");
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
