//! Auth callout claims (ADR-26, nats-io/jwt v2 `authorization_claims.go`), sans-IO:
//! the `AuthorizationRequestClaims` JWT the server signs with its own nkey and
//! publishes to `$SYS.REQ.USER.AUTH`, and the checks on the service's
//! `AuthorizationResponseClaims` answer and the user JWT inside it. The result is an
//! `Identity` like any JWT user's (permissions, limits, expiry), bound by the server.
use super::callout_config::CalloutConfig;
use super::config::AuthConfig;
use super::permissions::Permissions;
use super::Identity;
use crate::jwt::claims::Claims;
use crate::jwt::codec;
use crate::jwt::verify;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where requests go, in the callout account.
pub const SUBJECT: &str = "$SYS.REQ.USER.AUTH";
/// The request JWT's audience.
pub const REQUEST_AUDIENCE: &str = "nats-authorization-request";
const REQUEST_TYPE: &str = "authorization_request";
const RESPONSE_TYPE: &str = "authorization_response";

/// `server_id` of a request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ServerId {
    pub name: String,
    pub host: String,
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cluster: String,
}

/// `client_info` of a request.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientInfo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub host: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub id: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub client_type: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nonce: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `connect_opts` of a request: the CONNECT as the client sent it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConnectOpts {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jwt: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub nkey: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sig: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_token: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pass: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub lang: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    pub protocol: i32,
}

/// `client_tls` of a request: PEM certificates (the verified chain, or the peer's).
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClientTls {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub cipher: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub certs: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub verified_chains: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Default, Serialize)]
struct Request {
    server_id: ServerId,
    user_nkey: String,
    client_info: ClientInfo,
    connect_opts: ConnectOpts,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_tls: Option<ClientTls>,
    #[serde(rename = "type")]
    kind: &'static str,
    version: i64,
}

/// Everything a request says about one connecting client.
#[derive(Debug, Clone, Default)]
pub struct RequestInfo {
    pub server: ServerId,
    pub client: ClientInfo,
    pub connect: ConnectOpts,
    pub tls: Option<ClientTls>,
}

/// The signed request JWT for a client that will be known as `user_nkey`; it expires
/// with the auth timeout (`expires`, Unix seconds).
pub fn request_jwt(
    server_key: &nkeys::KeyPair,
    cfg: &CalloutConfig,
    user_nkey: &str,
    info: RequestInfo,
    expires: i64,
) -> Result<String, crate::jwt::JwtError> {
    let mut claims: Claims<Request> = Claims {
        sub: cfg.issuer.clone(),
        aud: REQUEST_AUDIENCE.to_string(),
        exp: expires,
        nats: Request {
            server_id: info.server,
            user_nkey: user_nkey.to_string(),
            client_info: info.client,
            connect_opts: info.connect,
            client_tls: info.tls,
            kind: REQUEST_TYPE,
            version: 2,
        },
        ..Claims::default()
    };
    codec::encode(&mut claims, server_key)
}

/// Certificates in PEM, as Go's `pem.EncodeToMemory`.
pub fn pem(der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = String::with_capacity(b64.len() + b64.len() / 64 + 64);
    out.push_str("-----BEGIN CERTIFICATE-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
struct Response {
    jwt: String,
    error: String,
    issuer_account: String,
    #[serde(rename = "type")]
    kind: String,
    version: i64,
}

impl crate::jwt::v1::NatsPart for Response {
    fn version(&self) -> i64 {
        self.version
    }

    /// Auth callout postdates v1 claims: a v1-shaped answer is not an answer.
    fn migrate_v1(_: &mut Claims<Self>, _: &[u8]) -> Result<(), crate::jwt::JwtError> {
        Err(crate::jwt::JwtError::Invalid("v1 claims cannot be an authorization response".into()))
    }
}

/// Why a callout answer does not admit the client (logged; the client only sees
/// `Authorization Violation`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalloutError {
    #[error("auth callout response is empty (no reason supplied)")]
    Empty,
    #[error("auth callout response is not a valid JWT: {0}")]
    BadResponse(crate::jwt::JwtError),
    #[error("auth callout response has type {0:?}, not authorization_response")]
    WrongType(String),
    #[error("wrong issuer for auth callout response: expected {want}, got {got}")]
    WrongIssuer { want: String, got: String },
    #[error("auth callout response is not for the expected user")]
    WrongUser,
    #[error("auth callout response is not for this server")]
    WrongServer,
    #[error("auth callout response: {0}")]
    Invalid(&'static str),
    #[error("auth callout service returned an error: {0}")]
    Service(String),
    #[error("error validating user JWT: {0}")]
    BadUser(crate::jwt::JwtError),
    #[error("expected authorized user {want} but got {got}")]
    WrongSubject { want: String, got: String },
    #[error("no valid account {0:?} for auth callout response")]
    UnknownAccount(String),
    #[error("account {0:?} is not allowed for auth callout responses")]
    NotAllowed(String),
    #[error("auth callout response not received in time")]
    Timeout,
    #[error("{0}")]
    Server(String),
}

/// What the server knows when checking an answer.
pub struct Expect<'a> {
    pub cfg: &'a CalloutConfig,
    pub auth: &'a AuthConfig,
    pub user_nkey: &'a str,
    pub server_id: &'a str,
    pub ip: Option<std::net::IpAddr>,
    pub now: i64,
}

/// Checks a service's answer and turns the user JWT in it into the client's identity.
pub fn decide(payload: &[u8], e: &Expect<'_>) -> Result<Identity, CalloutError> {
    let text = std::str::from_utf8(payload).map_err(|_| CalloutError::Invalid("not UTF-8"))?.trim();
    if text.is_empty() {
        return Err(CalloutError::Empty);
    }
    let r: Claims<Response> = codec::decode(text).map_err(CalloutError::BadResponse)?;
    if r.nats.kind != RESPONSE_TYPE {
        return Err(CalloutError::WrongType(r.nats.kind));
    }
    // Signed (verified by `decode`) by the configured issuer; a signing key acting for
    // another account (`issuer_account`) is an operator-mode feature.
    if r.iss != e.cfg.issuer || !r.nats.issuer_account.is_empty() {
        let got = if r.nats.issuer_account.is_empty() { r.iss } else { r.nats.issuer_account };
        return Err(CalloutError::WrongIssuer { want: e.cfg.issuer.clone(), got });
    }
    if r.sub != e.user_nkey {
        return Err(CalloutError::WrongUser);
    }
    if r.aud != e.server_id {
        return Err(CalloutError::WrongServer);
    }
    codec::check_times(&r, e.now).map_err(CalloutError::BadResponse)?;
    match (r.nats.error.is_empty(), r.nats.jwt.is_empty()) {
        (false, true) => return Err(CalloutError::Service(r.nats.error)),
        (true, true) => return Err(CalloutError::Invalid("error or jwt is required")),
        (false, false) => return Err(CalloutError::Invalid("only error or jwt can be set")),
        (true, false) => {}
    }
    user_identity(&r.nats.jwt, e)
}

fn user_identity(jwt: &str, e: &Expect<'_>) -> Result<Identity, CalloutError> {
    let uc = codec::decode_user(jwt).map_err(CalloutError::BadUser)?;
    if uc.iss != e.cfg.issuer || !uc.nats.issuer_account.is_empty() {
        let got = if uc.nats.issuer_account.is_empty() { uc.iss } else { uc.nats.issuer_account };
        return Err(CalloutError::WrongIssuer { want: e.cfg.issuer.clone(), got });
    }
    if uc.sub != e.user_nkey {
        return Err(CalloutError::WrongSubject { want: e.user_nkey.to_string(), got: uc.sub });
    }
    codec::check_times(&uc, e.now).map_err(CalloutError::BadUser)?;
    let account = uc.aud.clone();
    let known = account == crate::account_names::GLOBAL_ACCOUNT || e.auth.accounts.iter().any(|a| a.name == account);
    if !known {
        return Err(CalloutError::UnknownAccount(account));
    }
    if !e.cfg.allows(&account) {
        return Err(CalloutError::NotAllowed(account));
    }
    let user = &uc.nats;
    if !user.allowed_connection_types.is_empty() && !user.allowed_connection_types.iter().any(|t| t == "STANDARD") {
        return Err(CalloutError::BadUser(crate::jwt::JwtError::ConnectionType));
    }
    if !verify::source_allowed(&user.src, e.ip) {
        return Err(CalloutError::BadUser(crate::jwt::JwtError::SourceAddress));
    }
    let window_end = verify::connect_window(&user.times, &user.times_location, e.now).map_err(CalloutError::BadUser)?;
    let expires = match (uc.exp > 0).then_some(uc.exp) {
        Some(x) => Some(window_end.map_or(x, |w| w.min(x))),
        None => window_end,
    };
    let permissions = verify::permissions_config(&user.permissions).map(|p| Arc::new(Permissions::compile(&p)));
    let limit = |v: i64| (v >= 0).then(|| u32::try_from(v).unwrap_or(u32::MAX));
    let name = if uc.name.is_empty() { uc.sub.clone() } else { uc.name.clone() };
    let jwt_user = verify::JwtUser {
        key: uc.sub.clone(),
        name: uc.name.clone(),
        account: account.clone(),
        issued_at: uc.iat,
        permissions: permissions.clone(),
        expires,
        max_subs: limit(user.subs),
        max_payload: limit(user.payload),
        max_data: u64::try_from(user.data).ok().filter(|&d| d > 0),
        account_expires: None,
        max_account_conns: None,
    };
    Ok(Identity { user: Some(name), account, permissions, jwt: Some(Box::new(jwt_user)) })
}

#[cfg(test)]
#[path = "callout_tests.rs"]
mod tests;
