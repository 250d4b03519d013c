//! The kind-of-message policy (`types` in publish permissions), compiled once per
//! permissions set and checked per publish only for connections that have one.
use super::config::TypesConfig;
use crate::subject::matches;

/// A subject pattern and the value patterns listed for it.
type ValueRule = (Box<[u8]>, Vec<Box<[u8]>>);

/// A compiled `types` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypesPolicy {
    /// The header name as configured (for error texts) and compared in any case.
    pub header: Box<str>,
    allow: Vec<ValueRule>,
    deny: Vec<ValueRule>,
    require: Vec<Box<[u8]>>,
}

/// Why a publish was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypesRefusal<'a> {
    /// The value is not allowed (or is denied) on this subject.
    Value(&'a [u8]),
    /// A `require` subject without the header.
    Missing,
    /// More than one copy of the header on a subject the policy covers.
    Duplicate,
}

fn compile_map(m: &[(String, Vec<String>)]) -> Vec<ValueRule> {
    m.iter().map(|(s, v)| (s.as_bytes().into(), v.iter().map(|x| x.as_bytes().into()).collect())).collect()
}

impl TypesPolicy {
    pub fn compile(c: &TypesConfig) -> TypesPolicy {
        TypesPolicy {
            header: c.header.as_str().into(),
            allow: compile_map(&c.allow),
            deny: compile_map(&c.deny),
            require: c.require.iter().map(|s| s.as_bytes().into()).collect(),
        }
    }

    /// Checks a publish on `subject` with header block `headers`.
    pub fn check<'a>(&self, subject: &[u8], headers: Option<&'a [u8]>) -> Result<(), TypesRefusal<'a>> {
        let mut allow = self.allow.iter().filter(|(s, _)| matches(s, subject)).peekable();
        let mut deny = self.deny.iter().filter(|(s, _)| matches(s, subject)).peekable();
        let required = self.require.iter().any(|s| matches(s, subject));
        if allow.peek().is_none() && deny.peek().is_none() && !required {
            return Ok(());
        }
        let mut values = headers.into_iter().flat_map(|h| super::headers::values(h, self.header.as_bytes()));
        let Some(value) = values.next() else {
            return if required { Err(TypesRefusal::Missing) } else { Ok(()) };
        };
        // Two copies: a reader taking the other one could be fooled.
        if values.next().is_some() {
            return Err(TypesRefusal::Duplicate);
        }
        let allowed = allow.peek().is_none() || allow.any(|(_, vals)| vals.iter().any(|p| matches(p, value)));
        if !allowed || deny.any(|(_, vals)| vals.iter().any(|p| matches(p, value))) {
            return Err(TypesRefusal::Value(value));
        }
        Ok(())
    }

    /// The `-ERR` text for a refusal (nats-server's `Permissions Violation` form, which
    /// the official clients report without closing the connection).
    pub fn err_text(&self, subject: &[u8], r: TypesRefusal<'_>) -> String {
        let s = String::from_utf8_lossy(subject);
        let h = &self.header;
        match r {
            TypesRefusal::Value(v) => {
                format!("Permissions Violation for Publish to \"{s}\" with {h} \"{}\"", String::from_utf8_lossy(v))
            }
            TypesRefusal::Missing => format!("Permissions Violation for Publish to \"{s}\" without header \"{h}\""),
            TypesRefusal::Duplicate => format!("Permissions Violation for Publish to \"{s}\" with duplicate header \"{h}\""),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> TypesPolicy {
        TypesPolicy::compile(&TypesConfig {
            header: "ce-type".into(),
            allow: vec![("nova.conductor.>".into(), vec!["compute.heartbeat".into(), "compute.instance.*".into()])],
            deny: vec![(">".into(), vec!["*.migrate".into()])],
            require: vec!["nova.>".into()],
        })
    }

    fn h(v: &str) -> Vec<u8> {
        format!("NATS/1.0\r\n{v}\r\n").into_bytes()
    }

    #[test]
    fn allow_deny_require() {
        let p = policy();
        let subj = b"nova.conductor.x";
        assert_eq!(p.check(subj, Some(&h("ce-type: compute.heartbeat\r\n"))), Ok(()));
        assert_eq!(p.check(subj, Some(&h("CE-TYPE: compute.instance.boot\r\n"))), Ok(()));
        assert_eq!(p.check(subj, Some(&h("ce-type: compute.instance.a.b\r\n"))), Err(TypesRefusal::Value(b"compute.instance.a.b")));
        assert_eq!(p.check(b"other", Some(&h("ce-type: vm.migrate\r\n"))), Err(TypesRefusal::Value(b"vm.migrate")));
        assert_eq!(p.check(b"other", Some(&h("ce-type: vm.boot\r\n"))), Ok(()));
        assert_eq!(p.check(b"other", None), Ok(()));
        assert_eq!(p.check(subj, None), Err(TypesRefusal::Missing));
        assert_eq!(p.check(b"nova.x", Some(&h("X: 1\r\n"))), Err(TypesRefusal::Missing));
        assert_eq!(p.check(subj, Some(&h("ce-type: compute.heartbeat\r\nce-type: a\r\n"))), Err(TypesRefusal::Duplicate));
        assert_eq!(
            p.err_text(b"s", TypesRefusal::Value(b"t")),
            "Permissions Violation for Publish to \"s\" with ce-type \"t\""
        );
        assert_eq!(p.err_text(b"s", TypesRefusal::Missing), "Permissions Violation for Publish to \"s\" without header \"ce-type\"");
        assert_eq!(
            p.err_text(b"s", TypesRefusal::Duplicate),
            "Permissions Violation for Publish to \"s\" with duplicate header \"ce-type\""
        );
    }
}
