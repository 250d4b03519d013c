//! Cluster `permissions { import, export }` as nats-server 2.9.10 applies them on
//! routes (`setRoutePermissions`: import is checked like a publish permission,
//! export like a subscribe permission). Sans-IO.
//!
//! * `import`: the local interest we send (RS+) — subjects we accept messages for.
//!   Removals (RS-) are sent regardless, as nats-server does.
//! * `export`: the peer interest we accept (RS+ outside it is ignored), so no local
//!   message outside it is sent to that peer. A wildcard RS+ that a deny entry
//!   overlaps is accepted with a delivery filter: messages on denied subjects are
//!   not sent for it (nats-server's route `mperms` deny filter).
//!
//! Messages arriving from a route are not filtered (nats-server neither).
use super::info::SubjectPermission;
use crate::auth::config::RuleLists;
use crate::auth::permissions::Matcher;
use crate::subject;
use std::sync::Arc;

/// One direction's lists. A subject (which may hold wildcards, matched token by
/// token as a nats-server permission sublist does) passes when some allow entry
/// matches it (or there is no allow list) and no deny entry does.
#[derive(Debug, Clone)]
struct Lists {
    allow: Option<Matcher>,
    deny: Option<Arc<Matcher>>,
    written: SubjectPermission,
}

impl Lists {
    fn compile(r: &RuleLists) -> Lists {
        let m = |l: &Vec<String>| Matcher::new(l.iter().map(|s| s.as_bytes()));
        Lists {
            // An empty list restricts nothing (nats-server builds no sublist for it).
            allow: r.allow.as_ref().filter(|l| !l.is_empty()).map(m),
            deny: r.deny.as_ref().filter(|l| !l.is_empty()).map(|l| Arc::new(m(l))),
            written: SubjectPermission { allow: r.allow.clone().unwrap_or_default(), deny: r.deny.clone().unwrap_or_default() },
        }
    }

    fn passes(&self, subject: &[u8]) -> bool {
        self.allow.as_ref().is_none_or(|a| a.matches(subject)) && !self.deny.as_ref().is_some_and(|d| d.matches(subject))
    }
}

/// The compiled cluster permissions (none configured: everything passes).
#[derive(Debug, Clone, Default)]
pub struct RoutePermissions {
    import: Option<Lists>,
    export: Option<Lists>,
}

impl RoutePermissions {
    pub fn new(import: Option<&RuleLists>, export: Option<&RuleLists>) -> RoutePermissions {
        RoutePermissions { import: import.map(Lists::compile), export: export.map(Lists::compile) }
    }

    /// Whether our interest in `subject` is sent to peers (`import`).
    pub fn sends(&self, subject: &[u8]) -> bool {
        self.import.as_ref().is_none_or(|l| l.passes(subject))
    }

    /// Whether a peer's interest in `subject` is accepted (`export`).
    pub fn accepts(&self, subject: &[u8]) -> bool {
        self.export.as_ref().is_none_or(|l| l.passes(subject))
    }

    /// For an accepted wildcard peer interest: the export deny entries that overlap
    /// it, as a delivery filter for the messages sent for it.
    pub fn export_filter(&self, subject: &[u8]) -> Option<Arc<Matcher>> {
        let deny = self.export.as_ref()?.deny.as_ref()?;
        (subject::has_wildcard(subject) && deny.overlaps(subject)).then(|| deny.clone())
    }

    /// The INFO `import` and `export` fields, as written in the configuration.
    pub fn info_fields(&self) -> (Option<SubjectPermission>, Option<SubjectPermission>) {
        (self.import.as_ref().map(|l| l.written.clone()), self.export.as_ref().map(|l| l.written.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(allow: &[&str], deny: &[&str]) -> RuleLists {
        let v = |l: &[&str]| (!l.is_empty()).then(|| l.iter().map(|s| s.to_string()).collect());
        RuleLists { allow: v(allow), deny: v(deny) }
    }

    #[test]
    fn none_passes_everything() {
        let p = RoutePermissions::default();
        assert!(p.sends(b"a") && p.accepts(b">"));
        assert!(p.export_filter(b"a.*").is_none());
        assert_eq!(p.info_fields(), (None, None));
    }

    #[test]
    fn import_and_export_as_nats_server() {
        let p = RoutePermissions::new(Some(&rules(&["imp.>"], &["imp.secret"])), Some(&rules(&["exp.*"], &["exp.x"])));
        assert!(p.sends(b"imp.a") && p.sends(b"imp.a.b") && p.sends(b"imp.*") && p.sends(b"imp.>"));
        assert!(!p.sends(b"imp.secret") && !p.sends(b"other") && !p.sends(b">"));
        assert!(p.accepts(b"exp.a") && p.accepts(b"exp.*"));
        assert!(!p.accepts(b"exp.x") && !p.accepts(b"exp.a.b") && !p.accepts(b"imp.a"));
        // A permission sublist's `*` matches any one token, also a `>` token (Go's Match).
        assert!(p.accepts(b"exp.>"));
        // A wildcard accepted by export gets the overlapping deny entries as a filter.
        let f = p.export_filter(b"exp.*").expect("filter");
        use crate::subject::DeliveryFilter;
        assert!(f.denies(b"exp.x") && !f.denies(b"exp.y"));
        assert!(p.export_filter(b"exp.a").is_none(), "literal: decided by accepts");
        let (i, e) = p.info_fields();
        assert_eq!(i.unwrap().deny, vec!["imp.secret".to_string()]);
        assert_eq!(e.unwrap().allow, vec!["exp.*".to_string()]);
    }

    #[test]
    fn deny_only() {
        let p = RoutePermissions::new(None, Some(&rules(&[], &["secret.>"])));
        assert!(p.accepts(b"x") && p.accepts(b">") && !p.accepts(b"secret.a"));
        assert!(p.export_filter(b">").is_some());
        assert!(p.export_filter(b"pub.*").is_none());
    }
}
