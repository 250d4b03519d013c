//! `message_trust { … }` (top level and per account) and the `types` block of
//! publish permissions, typed, with `file:line:col` errors.
use crate::config::{ConfigError, Node, Value};

/// Which fields the `Natrix-Sender` stamp carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampFields {
    pub acc: bool,
    pub user: bool,
    pub name: bool,
    pub cert_subject: bool,
    pub cert_fp: bool,
}

impl StampFields {
    pub const ALL: StampFields = StampFields { acc: true, user: true, name: true, cert_subject: true, cert_fp: true };
    const NONE: StampFields = StampFields { acc: false, user: false, name: false, cert_subject: false, cert_fp: false };
}

/// A `message_trust` block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustConfig {
    /// `stamp: true` (all fields), `stamp: { fields: [...] }`; `None`: no stamp.
    pub stamp: Option<StampFields>,
}

/// `types` inside publish permissions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypesConfig {
    /// The header holding the kind of message (default `ce-type`).
    pub header: String,
    /// Subject pattern → the values allowed on it.
    pub allow: Vec<(String, Vec<String>)>,
    /// Subject pattern → the values refused on it.
    pub deny: Vec<(String, Vec<String>)>,
    /// Subjects on which exactly one copy of the header is required.
    pub require: Vec<String>,
}

/// The default header: the CloudEvents NATS binding's `ce-type`.
pub const DEFAULT_TYPES_HEADER: &str = "ce-type";

type Result<T> = std::result::Result<T, ConfigError>;

fn err(n: &Node, msg: impl Into<String>) -> ConfigError {
    ConfigError::at(&n.pos, msg.into())
}

fn string(k: &str, v: &Node) -> Result<String> {
    match &v.value {
        Value::String(s) => Ok(s.clone()),
        _ => Err(err(v, format!("\"{k}\" must be a string, got {}", v.value.type_name()))),
    }
}

/// A string or a list of strings.
fn strings(k: &str, v: &Node) -> Result<Vec<String>> {
    match &v.value {
        Value::Array(a) => a.iter().map(|n| string(k, n)).collect(),
        _ => Ok(vec![string(k, v)?]),
    }
}

/// `message_trust { stamp: …, private_inbox: … }`.
pub fn parse_trust(v: &Node) -> Result<TrustConfig> {
    let entries = v.as_map().ok_or_else(|| err(v, "\"message_trust\" must be a map"))?;
    let mut t = TrustConfig::default();
    for (k, x) in entries {
        match k.name.to_ascii_lowercase().as_str() {
            "stamp" => t.stamp = parse_stamp(x)?,
            "private_inbox" | "private_inboxes" => {
                return Err(err(x, "message_trust: \"private_inbox\" is not supported by natrix yet"));
            }
            other => return Err(err(x, format!("unknown field \"{other}\" in message_trust"))),
        }
    }
    Ok(t)
}

fn parse_stamp(v: &Node) -> Result<Option<StampFields>> {
    match &v.value {
        Value::Bool(b) => Ok(b.then_some(StampFields::ALL)),
        Value::Map(entries) => {
            let mut f = StampFields::ALL;
            for (k, x) in entries {
                match k.name.to_ascii_lowercase().as_str() {
                    "fields" => {
                        f = StampFields::NONE;
                        let list = x.as_array().ok_or_else(|| err(x, "\"fields\" must be a list"))?;
                        for n in list {
                            match string("field", n)?.as_str() {
                                "acc" => f.acc = true,
                                "user" => f.user = true,
                                "name" => f.name = true,
                                "cert_subject" => f.cert_subject = true,
                                "cert_fp" => f.cert_fp = true,
                                other => {
                                    return Err(err(n, format!(
                                        "unknown stamp field \"{other}\" (acc, user, name, cert_subject, cert_fp)"
                                    )))
                                }
                            }
                        }
                    }
                    other => return Err(err(x, format!("unknown field \"{other}\" in stamp"))),
                }
            }
            Ok(Some(f))
        }
        _ => Err(err(v, "\"stamp\" must be true, false or { fields: [...] }")),
    }
}

/// `types: { header, allow: { subject: [values] }, deny: {…}, require: [subjects] }`.
pub fn parse_types(v: &Node) -> Result<TypesConfig> {
    let entries = v.as_map().ok_or_else(|| err(v, "\"types\" must be a map"))?;
    let mut t = TypesConfig { header: DEFAULT_TYPES_HEADER.into(), allow: Vec::new(), deny: Vec::new(), require: Vec::new() };
    for (k, x) in entries {
        match k.name.to_ascii_lowercase().as_str() {
            "header" => {
                t.header = string("header", x)?;
                let ok = !t.header.is_empty() && t.header.bytes().all(|b| b.is_ascii_graphic() && b != b':');
                if !ok {
                    return Err(err(x, format!("invalid header name \"{}\" in types", t.header)));
                }
            }
            "allow" => t.allow = value_map("allow", x)?,
            "deny" => t.deny = value_map("deny", x)?,
            "require" => {
                let subjects = strings("require", x)?;
                for s in &subjects {
                    check_subject(x, s)?;
                }
                t.require = subjects;
            }
            other => return Err(err(x, format!("unknown field \"{other}\" in types"))),
        }
    }
    Ok(t)
}

fn check_subject(n: &Node, s: &str) -> Result<()> {
    if crate::subject::is_valid_subject(s.as_bytes()) {
        Ok(())
    } else {
        Err(err(n, format!("invalid subject \"{s}\" in types")))
    }
}

fn value_map(k: &str, v: &Node) -> Result<Vec<(String, Vec<String>)>> {
    let entries = v.as_map().ok_or_else(|| err(v, format!("\"{k}\" in types must be a map of subject to values")))?;
    let mut out = Vec::with_capacity(entries.len());
    for (key, x) in entries {
        check_subject(x, &key.name)?;
        let values = strings("value", x)?;
        for val in &values {
            // Values are dot-separated like subjects, with the same wildcards.
            if !crate::subject::is_valid_subject(val.as_bytes()) {
                return Err(err(x, format!("invalid value \"{val}\" in types")));
            }
        }
        out.push((key.name.clone(), values));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(src: &str) -> Node {
        let root = crate::config::parse_str(src, std::path::Path::new("")).expect("parse");
        root.entries()[0].1.clone()
    }

    #[test]
    fn stamp_forms() {
        assert_eq!(parse_trust(&node("t { stamp: true }")).expect("ok").stamp, Some(StampFields::ALL));
        assert_eq!(parse_trust(&node("t { stamp: false }")).expect("ok").stamp, None);
        let f = parse_trust(&node("t { stamp: { fields: [acc, cert_fp] } }")).expect("ok").stamp.expect("some");
        assert!(f.acc && f.cert_fp && !f.user && !f.name && !f.cert_subject);
        let e = parse_trust(&node("t {\n stamp: { fields: [acc, bogus] } }")).expect_err("bad field");
        assert!(e.to_string().contains("bogus"), "{e}");
        assert!(parse_trust(&node("t { private_inbox: true }")).is_err());
    }

    #[test]
    fn types_block() {
        let t = parse_types(&node(
            r#"t { allow: { "nova.conductor.>": ["compute.heartbeat", "compute.instance.*"] }, deny: { ">": "*.migrate" }, require: ["nova.>"] }"#,
        ))
        .expect("ok");
        assert_eq!(t.header, "ce-type");
        assert_eq!(t.allow[0].1.len(), 2);
        assert_eq!(t.deny, vec![(">".to_string(), vec!["*.migrate".to_string()])]);
        assert_eq!(t.require, vec!["nova.>".to_string()]);
        assert!(parse_types(&node("t { header: \"a b\" }")).is_err());
        assert!(parse_types(&node("t { allow: { \"a..b\": [x] } }")).is_err());
    }
}
