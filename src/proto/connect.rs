//! CONNECT JSON decoding with Go `encoding/json` semantics (nats-server's `ClientOpts`).
//!
//! Like `json.Unmarshal(arg, &c.opts)`: keys match case-insensitively (ASCII), the last of
//! duplicate keys wins, unknown keys are ignored (their values must still be valid JSON),
//! `null` leaves a field unchanged, a wrong type or bad JSON is an error (nats-server closes
//! silently), and a top-level `null` changes nothing.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;

/// The client's CONNECT options. Defaults are nats-server's: verbose, pedantic and echo on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    pub verbose: bool,
    pub pedantic: bool,
    pub tls_required: bool,
    pub echo: bool,
    pub headers: bool,
    pub no_responders: bool,
    /// Must be 0 or 1 (the connection checks: `invalid client protocol`).
    pub protocol: i64,
    pub name: Option<String>,
    pub lang: Option<String>,
    pub version: Option<String>,
    pub user: Option<String>,
    pub pass: Option<String>,
    pub auth_token: Option<String>,
    pub nkey: Option<String>,
    pub sig: Option<String>,
    pub jwt: Option<String>,
    /// `account` as sent (nats-server refuses a non-empty one: `Authorization Violation`).
    pub account: Option<String>,
    /// `new_account` (nats-server refuses `true`: `Authorization Violation`).
    pub new_account: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            verbose: true,
            pedantic: true,
            tls_required: false,
            echo: true,
            headers: false,
            no_responders: false,
            protocol: 0,
            name: None,
            lang: None,
            version: None,
            user: None,
            pass: None,
            auth_token: None,
            nkey: None,
            sig: None,
            jwt: None,
            account: None,
            new_account: false,
        }
    }
}

impl ConnectOptions {
    /// True when the client asked for an account (`account` non-empty or `new_account`):
    /// nats-server 2.9.10 answers `Authorization Violation` and closes.
    pub fn account_requested(&self) -> bool {
        self.new_account || self.account.as_deref().is_some_and(|a| !a.is_empty())
    }

    /// Apply another CONNECT on top of these options, as nats-server does for a second
    /// CONNECT (it unmarshals into the existing options: absent keys keep their values).
    /// On error `self` may be partly updated (the connection closes anyway).
    pub fn apply_json(&mut self, json: &[u8]) -> Result<(), ConnectError> {
        let mut de = serde_json::Deserializer::from_slice(json);
        OptsSeed(self).deserialize(&mut de)?;
        de.end()?;
        Ok(())
    }
}

/// Bad CONNECT JSON or a value of the wrong type.
#[derive(thiserror::Error, Debug)]
#[error("invalid CONNECT: {0}")]
pub struct ConnectError(#[from] serde_json::Error);

/// Decode a CONNECT JSON (the slice of [`Frame::Connect`](super::Frame::Connect)) on top of
/// the defaults.
pub fn parse_connect(json: &[u8]) -> Result<ConnectOptions, ConnectError> {
    let mut opts = ConnectOptions::default();
    opts.apply_json(json)?;
    Ok(opts)
}

struct OptsSeed<'o>(&'o mut ConnectOptions);

impl<'de> DeserializeSeed<'de> for OptsSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(OptsVisitor(self.0))
    }
}

struct OptsVisitor<'o>(&'o mut ConnectOptions);

fn set<T>(field: &mut T, v: Option<T>) {
    if let Some(v) = v {
        *field = v;
    }
}

fn set_str(field: &mut Option<String>, v: Option<String>) {
    if v.is_some() {
        *field = v;
    }
}

impl<'de> Visitor<'de> for OptsVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(()) // top-level null: json.Unmarshal leaves the struct alone
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let o = self.0;
        let mut key_buf = [0u8; 16];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let k = key.as_bytes();
            let lower = lower_key(k, &mut key_buf);
            match lower {
                b"verbose" => set(&mut o.verbose, map.next_value()?),
                b"pedantic" => set(&mut o.pedantic, map.next_value()?),
                b"tls_required" => set(&mut o.tls_required, map.next_value()?),
                b"echo" => set(&mut o.echo, map.next_value()?),
                b"headers" => set(&mut o.headers, map.next_value()?),
                b"no_responders" => set(&mut o.no_responders, map.next_value()?),
                b"new_account" => set(&mut o.new_account, map.next_value()?),
                b"protocol" => set(&mut o.protocol, map.next_value()?),
                b"name" => set_str(&mut o.name, map.next_value()?),
                b"lang" => set_str(&mut o.lang, map.next_value()?),
                b"version" => set_str(&mut o.version, map.next_value()?),
                b"user" => set_str(&mut o.user, map.next_value()?),
                b"pass" => set_str(&mut o.pass, map.next_value()?),
                b"auth_token" => set_str(&mut o.auth_token, map.next_value()?),
                b"nkey" => set_str(&mut o.nkey, map.next_value()?),
                b"sig" => set_str(&mut o.sig, map.next_value()?),
                b"jwt" => set_str(&mut o.jwt, map.next_value()?),
                b"account" => set_str(&mut o.account, map.next_value()?),
                // Route/leaf-only `*SubjectPermission` fields: still type-checked by Go.
                b"import" | b"export" => {
                    map.next_value::<Option<SubjectPermission>>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Check a client's `INFO` JSON the way nats-server's `processInfo` does
/// (`json.Unmarshal` into its `Info` struct): bad JSON or a known key with a wrong type is an
/// error (nats-server closes silently, "Protocol Violation"); otherwise the INFO is ignored.
pub fn check_info(json: &[u8]) -> Result<(), ConnectError> {
    let mut de = serde_json::Deserializer::from_slice(json);
    de.deserialize_any(InfoVisitor)?;
    de.end()?;
    Ok(())
}

struct InfoVisitor;

impl<'de> Visitor<'de> for InfoVisitor {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object or null")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut key_buf = [0u8; 24];
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let k = key.as_bytes();
            let lower = lower_key(k, &mut key_buf);
            match lower {
                b"server_id" | b"server_name" | b"version" | b"git_commit" | b"go" | b"host"
                | b"ip" | b"client_ip" | b"nonce" | b"cluster" | b"domain" | b"gateway"
                | b"gateway_url" | b"remote_account" | b"gateway_cmd_payload" => {
                    map.next_value::<Option<String>>()?;
                }
                b"proto" | b"port" => {
                    map.next_value::<Option<i64>>()?;
                }
                b"max_payload" => {
                    map.next_value::<Option<i32>>()?;
                }
                b"client_id" => {
                    map.next_value::<Option<u64>>()?;
                }
                b"gateway_cmd" => {
                    map.next_value::<Option<u8>>()?;
                }
                b"headers" | b"auth_required" | b"tls_required" | b"tls_verify"
                | b"tls_available" | b"jetstream" | b"cluster_dynamic" | b"ldm" | b"lnoc"
                | b"info_on_connect" | b"connect_info" | b"gateway_nrp" | b"gateway_iom" => {
                    map.next_value::<Option<bool>>()?;
                }
                b"connect_urls" | b"ws_connect_urls" | b"gateway_urls" | b"leafnode_urls" => {
                    map.next_value::<Option<Vec<Option<String>>>>()?;
                }
                b"import" | b"export" => {
                    map.next_value::<Option<SubjectPermission>>()?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Shape check for `import`/`export` (`{"allow":[…],"deny":[…]}`); the values are unused.
#[derive(Deserialize)]
struct SubjectPermission {
    #[serde(default, alias = "Allow", alias = "ALLOW")]
    #[allow(dead_code)]
    allow: Option<Vec<Option<String>>>,
    #[serde(default, alias = "Deny", alias = "DENY")]
    #[allow(dead_code)]
    deny: Option<Vec<Option<String>>>,
}

/// `k` in ASCII lower case, in `buf` (Go matches JSON keys case-insensitively); empty
/// when longer than `buf` (longer than any known key).
fn lower_key<'b>(k: &[u8], buf: &'b mut [u8]) -> &'b [u8] {
    match buf.get_mut(..k.len()) {
        Some(b) => {
            b.copy_from_slice(k);
            b.make_ascii_lowercase();
            b
        }
        None => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let o = parse_connect(b"{}").unwrap();
        assert_eq!(o, ConnectOptions::default());
        assert!(o.verbose && o.pedantic && o.echo);
        assert!(!o.headers && !o.no_responders && o.protocol == 0);
    }

    #[test]
    fn full_async_nats() {
        let j = br#"{"verbose":false,"pedantic":false,"jwt":null,"nkey":null,"sig":null,"name":null,"echo":true,"lang":"rust","version":"0.38.0","protocol":1,"tls_required":false,"user":"u","pass":"p","auth_token":null,"headers":true,"no_responders":true}"#;
        let o = parse_connect(j).unwrap();
        assert!(!o.verbose && !o.pedantic && o.echo && o.headers && o.no_responders);
        assert_eq!(o.protocol, 1);
        assert_eq!(o.lang.as_deref(), Some("rust"));
        assert_eq!(o.user.as_deref(), Some("u"));
        assert_eq!(o.pass.as_deref(), Some("p"));
        assert_eq!(o.jwt, None);
        assert_eq!(o.name, None);
    }

    #[test]
    fn go_semantics() {
        // case-insensitive keys (verified: {"VERBOSE":false} turns +OK off on 2.9.10)
        assert!(!parse_connect(br#"{"VERBOSE":false}"#).unwrap().verbose);
        assert!(parse_connect(br#"{"Headers":true}"#).unwrap().headers);
        // null keeps the default (verified)
        assert!(parse_connect(br#"{"verbose":null}"#).unwrap().verbose);
        // last duplicate wins (verified)
        assert!(!parse_connect(br#"{"verbose":true,"verbose":false}"#).unwrap().verbose);
        // unknown keys of any type are ignored
        let o = parse_connect(br#"{"foo":{"a":[1,2,{}]},"bar":null,"x":1.5}"#).unwrap();
        assert_eq!(o, ConnectOptions::default());
        // top-level null is accepted and changes nothing (verified)
        assert_eq!(parse_connect(b"null").unwrap(), ConnectOptions::default());
        assert_eq!(parse_connect(b" \n{} \t").unwrap(), ConnectOptions::default());
        // route-only fields are type-checked but unused
        assert!(parse_connect(br#"{"import":{"allow":["a"]},"export":null}"#).is_ok());
        assert!(parse_connect(br#"{"import":5}"#).is_err());
    }

    #[test]
    fn errors() {
        for bad in [
            &b""[..],
            b"\r",
            b"{",
            b"[]",
            b"{} x",
            b"5",
            br#"{"verbose":"yes"}"#,
            br#"{"protocol":1.0}"#,
            br#"{"protocol":"1"}"#,
            br#"{"name":5}"#,
            br#"{"echo":1}"#,
            br#"{"verbose":false,}"#,
        ] {
            assert!(parse_connect(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn info_check() {
        // (v) INFO {} is ignored, INFO { closes, a wrong type closes
        assert!(check_info(b"{}").is_ok());
        assert!(check_info(br#"{"server_id":"x","port":4222,"connect_urls":["a"],"foo":[1]}"#).is_ok());
        assert!(check_info(b"{").is_err());
        assert!(check_info(br#"{"port":"x"}"#).is_err());
        assert!(check_info(br#"{"PORT":"x"}"#).is_err());
        assert!(check_info(br#"{"max_payload":4294967296}"#).is_err());
    }

    #[test]
    fn account_and_reapply() {
        assert!(parse_connect(br#"{"account":"A"}"#).unwrap().account_requested());
        assert!(parse_connect(br#"{"new_account":true}"#).unwrap().account_requested());
        assert!(!parse_connect(br#"{"account":""}"#).unwrap().account_requested());
        let mut o = parse_connect(br#"{"verbose":false,"name":"x"}"#).unwrap();
        o.apply_json(br#"{"echo":false}"#).unwrap();
        assert!(!o.verbose && !o.echo);
        assert_eq!(o.name.as_deref(), Some("x"));
    }
}
