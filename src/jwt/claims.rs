//! NATS JWT claims as nats-io/jwt v2 writes them (`iss`, `sub`, `iat`, … and a `nats`
//! object whose shape depends on the claim type). Every field has a default, so a
//! missing field decodes as Go's zero value (a missing `subs` is 0, not unlimited).
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;

/// nats-io/jwt's `NoLimit`.
pub const NO_LIMIT: i64 = -1;

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// The registered claims shared by every NATS JWT, with the type-specific `nats` part.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Claims<T> {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub jti: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub iat: i64,
    pub iss: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub sub: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub aud: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub exp: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub nbf: i64,
    /// nats-io/jwt v1 kept the claim type, tags and (user, activation) issuer account at
    /// the top level; `codec::decode` moves them into `nats` (see `v1`). Empty in v2.
    #[serde(rename = "type", skip_serializing_if = "String::is_empty")]
    pub v1_type: String,
    #[serde(rename = "tags", skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub v1_tags: Vec<String>,
    #[serde(rename = "issuer_account", skip_serializing_if = "String::is_empty")]
    pub v1_issuer_account: String,
    pub nats: T,
}

/// `{allow, deny}` subject lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Permission {
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub allow: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub deny: Vec<String>,
}

impl Permission {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.deny.is_empty()
    }
}

/// `resp`: how many responses (`max`) within `ttl` nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResponsePermission {
    pub max: i64,
    pub ttl: i64,
}

/// `pub`, `sub`, `resp`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Permissions {
    #[serde(rename = "pub", skip_serializing_if = "Permission::is_empty")]
    pub publish: Permission,
    #[serde(rename = "sub", skip_serializing_if = "Permission::is_empty")]
    pub subscribe: Permission,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resp: Option<ResponsePermission>,
}

impl Permissions {
    pub fn is_empty(&self) -> bool {
        self.publish.is_empty() && self.subscribe.is_empty() && self.resp.is_none()
    }
}

/// A connect-time window, `"HH:MM:SS"` each.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeRange {
    pub start: String,
    pub end: String,
}

/// The `nats` part of a user JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct User {
    #[serde(flatten)]
    pub permissions: Permissions,
    /// CIDRs the user may connect from: a list, or (older tools) one comma-separated string.
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "cidr_list")]
    pub src: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub times: Vec<TimeRange>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub times_location: String,
    pub subs: i64,
    pub data: i64,
    pub payload: i64,
    #[serde(skip_serializing_if = "is_false")]
    pub bearer_token: bool,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub allowed_connection_types: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer_account: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: i64,
}

impl User {
    /// Whether permissions and limits are all unset (zero values, not -1): what a user
    /// issued by a scoped signing key must look like.
    pub fn has_empty_permissions(&self) -> bool {
        self.permissions.is_empty()
            && self.src.is_empty()
            && self.times.is_empty()
            && self.times_location.is_empty()
            && self.subs == 0
            && self.data == 0
            && self.payload == 0
            && !self.bearer_token
            && self.allowed_connection_types.is_empty()
    }

    /// A user with nats-io/jwt's defaults for a new user claim (every limit unlimited).
    pub fn unlimited() -> User {
        User { subs: NO_LIMIT, data: NO_LIMIT, payload: NO_LIMIT, kind: "user".into(), version: 2, ..Default::default() }
    }
}

/// `limits` of an account JWT (JetStream limits are accepted and ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AccountLimits {
    pub subs: i64,
    pub data: i64,
    pub payload: i64,
    pub imports: i64,
    pub exports: i64,
    pub wildcards: bool,
    #[serde(skip_serializing_if = "is_false")]
    pub disallow_bearer: bool,
    pub conn: i64,
    pub leaf: i64,
}

impl AccountLimits {
    pub fn unlimited() -> AccountLimits {
        AccountLimits {
            subs: NO_LIMIT,
            data: NO_LIMIT,
            payload: NO_LIMIT,
            imports: NO_LIMIT,
            exports: NO_LIMIT,
            wildcards: true,
            disallow_bearer: false,
            conn: NO_LIMIT,
            leaf: NO_LIMIT,
        }
    }
}

/// An account signing key: a bare public key, or a scoped key with a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SigningKey {
    Key(String),
    Scoped(Box<ScopedKey>),
}

impl SigningKey {
    pub fn key(&self) -> &str {
        match self {
            SigningKey::Key(k) => k,
            SigningKey::Scoped(s) => &s.key,
        }
    }
}

/// `{"kind":"user_scope","key","role","template"}`: users it issues get the template's
/// permissions and limits instead of their own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScopedKey {
    pub kind: String,
    pub key: String,
    pub role: String,
    pub template: User,
}

/// `stream` or `service` (nats-io/jwt writes the name as a string).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportType {
    #[default]
    Stream,
    Service,
    #[serde(other)]
    Unknown,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Export {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub subject: String,
    #[serde(rename = "type")]
    pub kind: ExportType,
    #[serde(skip_serializing_if = "is_false")]
    pub token_req: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub revocations: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub response_type: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub response_threshold: i64,
    #[serde(skip_serializing_if = "is_zero")]
    pub account_token_position: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Import {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub subject: String,
    pub account: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub token: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub to: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub local_subject: String,
    #[serde(rename = "type")]
    pub kind: ExportType,
    #[serde(skip_serializing_if = "is_false")]
    pub share: bool,
}

/// The `nats` part of an account JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Account {
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub imports: Vec<Import>,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub exports: Vec<Export>,
    pub limits: AccountLimits,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub signing_keys: Vec<SigningKey>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", deserialize_with = "null_as_default")]
    pub revocations: BTreeMap<String, i64>,
    #[serde(skip_serializing_if = "Permissions::is_empty")]
    pub default_permissions: Permissions,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub tags: Vec<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: i64,
}

impl Account {
    pub fn unlimited() -> Account {
        Account { limits: AccountLimits::unlimited(), kind: "account".into(), version: 2, ..Default::default() }
    }
}

/// The `nats` part of an operator JWT.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Operator {
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub signing_keys: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub account_server_url: String,
    #[serde(skip_serializing_if = "Vec::is_empty", deserialize_with = "null_as_default")]
    pub operator_service_urls: Vec<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub system_account: String,
    #[serde(skip_serializing_if = "is_false")]
    pub strict_signing_key_usage: bool,
    #[serde(rename = "type")]
    pub kind: String,
    pub version: i64,
}

impl Operator {
    pub fn new() -> Operator {
        Operator { kind: "operator".into(), version: 2, ..Default::default() }
    }
}

/// The `nats` part of an activation token (a private export granted to one account).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Activation {
    pub subject: String,
    pub kind: ExportType,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub issuer_account: String,
    #[serde(rename = "type")]
    pub claim_type: String,
    pub version: i64,
}

pub type UserClaims = Claims<User>;
pub type AccountClaims = Claims<Account>;
pub type OperatorClaims = Claims<Operator>;
pub type ActivationClaims = Claims<Activation>;

/// Go's encoder writes `null` for nil slices and maps; treat it as empty.
fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn cidr_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Joined(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => Vec::new(),
        Some(Either::List(l)) => l,
        Some(Either::Joined(s)) => {
            s.to_ascii_lowercase().split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()
        }
    })
}
