//! Decentralized authentication (NATS "operator mode"): operator, account and user JWTs
//! signed with ed25519 nkeys. The server keeps no secrets: it trusts operator public
//! keys, verifies each account JWT once (when it is loaded) and each user JWT once per
//! CONNECT, and keeps the result as compiled permissions.
//!
//! * `claims` — the claim structs (nats-io/jwt v2 JSON).
//! * `codec` — decoding with signature verification, and an encoder (used by tests).
//! * `v1` — nats-io/jwt v1 claims, migrated to v2's shape as the v2 library does.
//! * `creds` — the `.creds` file format.
//! * `config` — `operator`, `trusted_keys`, `resolver`, `resolver_preload` config keys.
//! * `verify` — the trust chain at CONNECT: account lookup, issuer checks, nonce
//!   signature, revocations, source CIDRs, connect-time windows, permissions, limits.
pub mod claims;
pub mod codec;
pub mod config;
pub mod creds;
pub mod imports;
pub mod resolver;
pub mod template;
pub mod v1;
pub mod verify;

pub use codec::{decode, decode_account, decode_activation, decode_operator, decode_user, encode, encode_v1, KeyKind};
pub use config::{ResolverConfig, TrustConfig};
pub use creds::Creds;
pub use verify::{JwtAuth, JwtUser};

/// Why a JWT, a creds file or a JWT-authenticated CONNECT was refused. Holds no secrets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwtError {
    #[error("expected 3 chunks")]
    Chunks,
    #[error("token too long")]
    TooLong,
    #[error("invalid base64url")]
    Base64,
    #[error("invalid JSON: {0}")]
    Json(String),
    #[error("invalid header: {0}")]
    Header(String),
    #[error("claim failed signature verification")]
    Signature,
    #[error("wrong claim type: expected {want:?}, got {got:?}")]
    WrongType { want: String, got: String },
    #[error("issuer {0:?} is not a valid key of the expected kind")]
    BadIssuer(String),
    #[error("subject {0:?} is not a valid key of the expected kind")]
    BadSubject(String),
    #[error("claim is expired")]
    Expired,
    #[error("claim is not yet valid")]
    NotYetValid,
    #[error("signing failed: {0}")]
    Sign(String),
    #[error("creds: {0}")]
    Creds(String),
    #[error("no user JWT in CONNECT")]
    NoJwt,
    #[error("account {0} is not listed in resolver_pinned_accounts")]
    NotPinned(String),
    #[error("account {0} not found")]
    UnknownAccount(String),
    #[error("account {0} is not signed by a trusted operator")]
    UntrustedAccount(String),
    #[error("user JWT issuer {0} is not the account or one of its signing keys")]
    UnknownIssuer(String),
    #[error("account JWT has expired")]
    AccountExpired,
    #[error("account does not allow bearer tokens")]
    BearerNotAllowed,
    #[error("signature missing or invalid")]
    NonceSignature,
    #[error("user authentication revoked")]
    Revoked,
    #[error("connection type not allowed")]
    ConnectionType,
    #[error("source address not allowed")]
    SourceAddress,
    #[error("outside connect times")]
    OutsideTimes,
    #[error("{0}")]
    Invalid(String),
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
