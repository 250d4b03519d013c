//! Auth callout claims: the request as a service reads it, and every way an answer is
//! refused.
use super::*;
use crate::auth::config::AccountConfig;
use crate::config::Pos;
use base64::Engine as _;

fn pos() -> Pos {
    Pos::new(std::path::Path::new("t.conf").into(), 1, 1)
}

fn cfg(issuer: &str) -> CalloutConfig {
    CalloutConfig {
        issuer: issuer.to_string(),
        auth_users: vec![("auth".into(), pos())],
        account: "AUTH".into(),
        account_pos: pos(),
        allowed_accounts: Vec::new(),
        pos: pos(),
    }
}

fn auth_config() -> AuthConfig {
    let acc = |n: &str| AccountConfig { name: n.into(), ..Default::default() };
    AuthConfig { accounts: vec![acc("AUTH"), acc("APP")], ..Default::default() }
}

#[derive(Serialize, Default)]
struct Out {
    #[serde(skip_serializing_if = "String::is_empty")]
    jwt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    #[serde(rename = "type")]
    kind: String,
    version: i64,
}

fn user_jwt(kp: &nkeys::KeyPair, sub: &str, aud: &str, f: impl FnOnce(&mut crate::jwt::claims::User)) -> String {
    let mut u = crate::jwt::claims::User { subs: -1, data: -1, payload: -1, kind: "user".into(), version: 2, ..Default::default() };
    u.permissions.publish.allow = vec!["app.>".into()];
    f(&mut u);
    let mut c = Claims { sub: sub.into(), aud: aud.into(), name: "alice".into(), nats: u, ..Default::default() };
    codec::encode(&mut c, kp).expect("encode user")
}

fn response(kp: &nkeys::KeyPair, sub: &str, aud: &str, jwt: String, error: &str) -> String {
    let nats = Out { jwt, error: error.into(), kind: "authorization_response".into(), version: 2 };
    let mut c = Claims { sub: sub.into(), aud: aud.into(), nats, ..Default::default() };
    codec::encode(&mut c, kp).expect("encode response")
}

struct Fixture {
    issuer: nkeys::KeyPair,
    server: nkeys::KeyPair,
    user: String,
    cfg: CalloutConfig,
    auth: AuthConfig,
}

impl Fixture {
    fn new() -> Fixture {
        let issuer = nkeys::KeyPair::new_account();
        let cfg = cfg(&issuer.public_key());
        Fixture { issuer, server: nkeys::KeyPair::new_server(), user: nkeys::KeyPair::new_user().public_key(), cfg, auth: auth_config() }
    }

    fn decide(&self, payload: &str) -> Result<Identity, CalloutError> {
        let sid = self.server.public_key();
        let e = Expect { cfg: &self.cfg, auth: &self.auth, user_nkey: &self.user, server_id: &sid, ip: None, now: crate::jwt::now_unix() };
        decide(payload.as_bytes(), &e)
    }

    fn ok_response(&self, aud: &str) -> String {
        let u = user_jwt(&self.issuer, &self.user, aud, |_| {});
        response(&self.issuer, &self.user, &self.server.public_key(), u, "")
    }
}

#[test]
fn request_is_signed_by_the_server_and_carries_the_client() {
    let f = Fixture::new();
    let info = RequestInfo {
        server: ServerId { name: "s1".into(), id: f.server.public_key(), ..Default::default() },
        connect: ConnectOpts { user: "bob".into(), pass: "pw".into(), protocol: 1, ..Default::default() },
        tls: Some(ClientTls { version: "1.3".into(), verified_chains: vec![vec![pem(b"der")]], ..Default::default() }),
        ..Default::default()
    };
    let jwt = request_jwt(&f.server, &f.cfg, &f.user, info, 99).expect("sign");
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    let sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[2]).expect("sig");
    let signed = format!("{}.{}", parts[0], parts[1]);
    nkeys::KeyPair::from_public_key(&f.server.public_key()).expect("pk").verify(signed.as_bytes(), &sig).expect("server signature");
    let body: serde_json::Value =
        serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    assert_eq!(body["iss"], f.server.public_key());
    assert_eq!(body["sub"], f.cfg.issuer);
    assert_eq!(body["aud"], REQUEST_AUDIENCE);
    assert_eq!(body["exp"], 99);
    let n = &body["nats"];
    assert_eq!(n["type"], "authorization_request");
    assert_eq!(n["version"], 2);
    assert_eq!(n["user_nkey"], f.user);
    assert_eq!(n["server_id"]["name"], "s1");
    assert_eq!(n["connect_opts"]["user"], "bob");
    assert_eq!(n["connect_opts"]["pass"], "pw");
    assert_eq!(n["connect_opts"]["protocol"], 1);
    assert_eq!(n["client_tls"]["version"], "1.3");
    let cert = n["client_tls"]["verified_chains"][0][0].as_str().expect("pem");
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----\nZGVy\n-----END CERTIFICATE-----"), "{cert}");
}

#[test]
fn a_signed_answer_binds_the_account_and_permissions() {
    let f = Fixture::new();
    let id = f.decide(&f.ok_response("APP")).expect("admitted");
    assert_eq!(id.account, "APP");
    assert_eq!(id.user.as_deref(), Some("alice"));
    let p = id.permissions.expect("permissions");
    assert!(p.can_publish(b"app.x"));
    assert!(!p.can_publish(b"other"));
    let j = id.jwt.expect("jwt user");
    assert_eq!(j.key, f.user);
    assert_eq!((j.max_subs, j.max_payload, j.expires), (None, None, None));
}

#[test]
fn every_bad_answer_is_refused() {
    let f = Fixture::new();
    let sid = f.server.public_key();
    // An error claim.
    let r = response(&f.issuer, &f.user, &sid, String::new(), "no such user");
    assert_eq!(f.decide(&r).unwrap_err(), CalloutError::Service("no such user".into()));
    // Signed by another account key (a forged answer).
    let forger = nkeys::KeyPair::new_account();
    let r = response(&forger, &f.user, &sid, user_jwt(&forger, &f.user, "APP", |_| {}), "");
    assert!(matches!(f.decide(&r), Err(CalloutError::WrongIssuer { .. })));
    // Right answer key, but the user JWT is signed by another key.
    let r = response(&f.issuer, &f.user, &sid, user_jwt(&forger, &f.user, "APP", |_| {}), "");
    assert!(matches!(f.decide(&r), Err(CalloutError::WrongIssuer { .. })));
    // For another connection's user nkey.
    let other = nkeys::KeyPair::new_user().public_key();
    let r = response(&f.issuer, &other, &sid, user_jwt(&f.issuer, &other, "APP", |_| {}), "");
    assert_eq!(f.decide(&r).unwrap_err(), CalloutError::WrongUser);
    let r = response(&f.issuer, &f.user, &sid, user_jwt(&f.issuer, &other, "APP", |_| {}), "");
    assert!(matches!(f.decide(&r), Err(CalloutError::WrongSubject { .. })));
    // For another server.
    let r = response(&f.issuer, &f.user, &nkeys::KeyPair::new_server().public_key(), user_jwt(&f.issuer, &f.user, "APP", |_| {}), "");
    assert_eq!(f.decide(&r).unwrap_err(), CalloutError::WrongServer);
    // An account that does not exist.
    assert_eq!(f.decide(&f.ok_response("NOPE")).unwrap_err(), CalloutError::UnknownAccount("NOPE".into()));
    // Garbage and an empty answer.
    assert_eq!(f.decide("").unwrap_err(), CalloutError::Empty);
    assert!(matches!(f.decide("not.a.jwt"), Err(CalloutError::BadResponse(_))));
    // A tampered signature.
    let mut r = f.ok_response("APP");
    r.push('A');
    assert!(matches!(f.decide(&r), Err(CalloutError::BadResponse(_))));
}

#[test]
fn allowed_accounts_limit_where_a_client_may_land() {
    let mut f = Fixture::new();
    f.cfg.allowed_accounts = vec![("AUTH".into(), pos())];
    assert_eq!(f.decide(&f.ok_response("APP")).unwrap_err(), CalloutError::NotAllowed("APP".into()));
    assert!(f.decide(&f.ok_response("AUTH")).is_ok());
}

#[test]
fn user_jwt_expiry_and_limits_apply() {
    let f = Fixture::new();
    let exp = crate::jwt::now_unix() + 60;
    let u = user_jwt(&f.issuer, &f.user, "APP", |u| {
        u.subs = 3;
        u.payload = 100;
        u.tags = vec!["t1".into()];
    });
    // exp goes in the registered claims.
    let mut c: Claims<crate::jwt::claims::User> = codec::decode(&u).expect("decode");
    c.exp = exp;
    c.iat = 0;
    c.jti.clear();
    let u = codec::encode(&mut c, &f.issuer).expect("encode");
    let id = f.decide(&response(&f.issuer, &f.user, &f.server.public_key(), u, "")).expect("admitted");
    let j = id.jwt.expect("jwt");
    assert_eq!((j.max_subs, j.max_payload, j.expires), (Some(3), Some(100), Some(exp)));
    c.exp = crate::jwt::now_unix() - 5;
    let u = codec::encode(&mut c, &f.issuer).expect("encode");
    let r = response(&f.issuer, &f.user, &f.server.public_key(), u, "");
    assert_eq!(f.decide(&r).unwrap_err(), CalloutError::BadUser(crate::jwt::JwtError::Expired));
}

fn load(src: &str) -> Result<crate::config::Options, String> {
    let (o, _) = crate::config::Options::from_str(src, std::path::Path::new("t.conf")).map_err(|e| e.to_string())?;
    o.validate()?;
    Ok(o)
}

#[test]
fn config_errors_name_the_place() {
    let a = nkeys::KeyPair::new_account().public_key();
    let ok = format!(
        "accounts {{\n AUTH {{ users [ {{user: auth, password: pw}} ] }}\n APP {{}}\n}}\nauthorization {{\n auth_callout {{\n  issuer: {a}\n  auth_users: [ auth ]\n  account: AUTH\n }}\n}}\n"
    );
    let o = load(&ok).expect("valid");
    let c = o.auth.callout.expect("callout");
    assert_eq!((c.issuer.as_str(), c.account.as_str()), (a.as_str(), "AUTH"));
    assert!(c.is_auth_user(Some("auth"), None) && !c.is_auth_user(Some("bob"), None));

    let e = load(&ok.replace(&a, "UABC")).unwrap_err();
    assert!(e.starts_with("t.conf:7:") && e.contains("not a valid public account key"), "{e}");
    let e = load(&ok.replace("auth_users: [ auth ]", "auth_users: [ nobody ]")).unwrap_err();
    assert!(e.starts_with("t.conf:8:") && e.contains("\"nobody\" is not a configured user"), "{e}");
    let e = load(&ok.replace("account: AUTH", "account: NOPE")).unwrap_err();
    assert!(e.starts_with("t.conf:9:") && e.contains("\"NOPE\" is not a configured account"), "{e}");
    let e = load(&ok.replace("account: AUTH", "xkey: XABC")).unwrap_err();
    assert!(e.starts_with("t.conf:9:") && e.contains("not supported by natrix"), "{e}");
    let e = load(&ok.replace(&format!("issuer: {a}"), "")).unwrap_err();
    assert!(e.starts_with("t.conf:6:") && e.contains("requires an issuer"), "{e}");
    let e = load(&ok.replace("auth_users: [ auth ]", "")).unwrap_err();
    assert!(e.contains("requires auth_users"), "{e}");
    let e = load(&ok.replace("account: AUTH", "bogus: 1")).unwrap_err();
    assert!(e.starts_with("t.conf:9:") && e.contains("unknown field \"bogus\""), "{e}");
}
