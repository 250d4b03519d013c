//! JWT text: `b64url(header).b64url(claims).b64url(signature)`, the signature being the
//! issuer nkey's ed25519 over the ASCII `header.claims` (v2; v1 claims, signed over the
//! claims part only, are still read and migrated: see `v1`).
use super::claims::{AccountClaims, ActivationClaims, Claims, OperatorClaims, UserClaims};
use super::v1::{self, NatsPart};
use super::JwtError;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

const HEADER_V2: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;
const HEADER_V1: &str = r#"{"typ":"jwt","alg":"ed25519"}"#;
/// Longest token accepted (nats-server has no limit, but a CONNECT line is bounded anyway).
pub const MAX_TOKEN_LEN: usize = 1 << 20;

#[derive(Deserialize)]
struct Header {
    #[serde(default)]
    typ: String,
    #[serde(default)]
    alg: String,
}

/// What kind of key a public nkey is, by its prefix letter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Operator,
    Account,
    User,
}

impl KeyKind {
    fn letter(self) -> char {
        match self {
            KeyKind::Operator => 'O',
            KeyKind::Account => 'A',
            KeyKind::User => 'U',
        }
    }
}

/// Whether `key` is a valid public nkey of `kind` (prefix and checksum).
pub fn is_public_key(key: &str, kind: KeyKind) -> bool {
    key.len() == 56 && key.starts_with(kind.letter()) && nkeys::KeyPair::from_public_key(key).is_ok()
}

fn b64_decode(s: &str) -> Result<Vec<u8>, JwtError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(s))
        .map_err(|_| JwtError::Base64)
}

fn b64_encode(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Decodes a token and checks its signature against its own `iss`; does not look at
/// the claim type, times or who the issuer is (see the typed `decode_*`). v1 claims come
/// back migrated to v2's shape.
pub fn decode<T: NatsPart>(token: &str) -> Result<Claims<T>, JwtError> {
    let token = token.trim();
    if token.len() > MAX_TOKEN_LEN {
        return Err(JwtError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwtError::Chunks);
    };
    let header: Header = serde_json::from_slice(&b64_decode(h)?).map_err(|e| JwtError::Json(e.to_string()))?;
    if !header.typ.eq_ignore_ascii_case("JWT") {
        return Err(JwtError::Header(format!("not supported type {:?}", header.typ)));
    }
    let alg = header.alg.to_ascii_lowercase();
    if alg != "ed25519-nkey" && alg != "ed25519" {
        return Err(JwtError::Header(format!("unexpected {:?} algorithm", header.alg)));
    }
    let body = b64_decode(c)?;
    let mut claims: Claims<T> = serde_json::from_slice(&body).map_err(|e| JwtError::Json(e.to_string()))?;
    v1::check_version(&claims)?;
    let sig = b64_decode(s)?;
    // As nats-io/jwt: the claim version, not the header, says what was signed.
    let is_v1 = v1::is_v1(&claims);
    let signed = if is_v1 { c } else { &token[..h.len() + 1 + c.len()] };
    let issuer = nkeys::KeyPair::from_public_key(&claims.iss).map_err(|_| JwtError::BadIssuer(claims.iss.clone()))?;
    issuer.verify(signed.as_bytes(), &sig).map_err(|_| JwtError::Signature)?;
    if is_v1 {
        T::migrate_v1(&mut claims, &body)?;
    }
    Ok(claims)
}

/// Signs `claims` with `kp` (filling in `iss`, and `iat`/`jti` when empty).
pub fn encode<T: Serialize>(claims: &mut Claims<T>, kp: &nkeys::KeyPair) -> Result<String, JwtError> {
    sign(claims, kp, false)
}

/// Signs `claims` as nats-io/jwt v1 did: header `ed25519`, signature over the claims part
/// only. The caller puts the claim type in `v1_type` (and the `nats` part in v1's shape).
pub fn encode_v1<T: Serialize>(claims: &mut Claims<T>, kp: &nkeys::KeyPair) -> Result<String, JwtError> {
    sign(claims, kp, true)
}

fn sign<T: Serialize>(claims: &mut Claims<T>, kp: &nkeys::KeyPair, v1: bool) -> Result<String, JwtError> {
    claims.iss = kp.public_key();
    if claims.iat == 0 {
        claims.iat = super::now_unix();
    }
    if claims.jti.is_empty() {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| JwtError::Sign(e.to_string()))?;
        claims.jti = id.iter().map(|b| format!("{b:02X}")).collect();
    }
    let body = b64_encode(&serde_json::to_vec(claims).map_err(|e| JwtError::Json(e.to_string()))?);
    let header = b64_encode(if v1 { HEADER_V1 } else { HEADER_V2 }.as_bytes());
    let signed = format!("{header}.{body}");
    let sig = kp.sign(if v1 { &body } else { &signed }.as_bytes()).map_err(|e| JwtError::Sign(e.to_string()))?;
    Ok(format!("{signed}.{}", b64_encode(&sig)))
}

fn check(kind_field: &str, want: &str, iss: &str, iss_kinds: &[KeyKind], sub: &str, sub_kind: KeyKind) -> Result<(), JwtError> {
    if kind_field != want {
        return Err(JwtError::WrongType { want: want.to_string(), got: kind_field.to_string() });
    }
    if !iss_kinds.iter().any(|k| is_public_key(iss, *k)) {
        return Err(JwtError::BadIssuer(iss.to_string()));
    }
    if !is_public_key(sub, sub_kind) {
        return Err(JwtError::BadSubject(sub.to_string()));
    }
    Ok(())
}

/// An operator JWT: self-signed or signed by an operator key, subject an operator key.
pub fn decode_operator(token: &str) -> Result<OperatorClaims, JwtError> {
    let c: OperatorClaims = decode(token)?;
    check(&c.nats.kind, "operator", &c.iss, &[KeyKind::Operator], &c.sub, KeyKind::Operator)?;
    Ok(c)
}

/// An account JWT: issued by an operator key, subject an account key.
pub fn decode_account(token: &str) -> Result<AccountClaims, JwtError> {
    let c: AccountClaims = decode(token)?;
    check(&c.nats.kind, "account", &c.iss, &[KeyKind::Operator], &c.sub, KeyKind::Account)?;
    Ok(c)
}

/// A user JWT: issued by an account key (the account or one of its signing keys).
pub fn decode_user(token: &str) -> Result<UserClaims, JwtError> {
    let c: UserClaims = decode(token)?;
    check(&c.nats.kind, "user", &c.iss, &[KeyKind::Account], &c.sub, KeyKind::User)?;
    if !c.nats.issuer_account.is_empty() && !is_public_key(&c.nats.issuer_account, KeyKind::Account) {
        return Err(JwtError::BadIssuer(c.nats.issuer_account.clone()));
    }
    Ok(c)
}

/// An activation token: issued by the exporting account (or a signing key), subject the
/// importing account.
pub fn decode_activation(token: &str) -> Result<ActivationClaims, JwtError> {
    let c: ActivationClaims = decode(token)?;
    check(&c.nats.claim_type, "activation", &c.iss, &[KeyKind::Account], &c.sub, KeyKind::Account)?;
    Ok(c)
}

/// `exp`/`nbf` against `now` (Unix seconds), as nats-io/jwt: expired when now > exp.
pub fn check_times<T>(c: &Claims<T>, now: i64) -> Result<(), JwtError> {
    if c.exp > 0 && now > c.exp {
        return Err(JwtError::Expired);
    }
    if c.nbf > 0 && now < c.nbf {
        return Err(JwtError::NotYetValid);
    }
    Ok(())
}
