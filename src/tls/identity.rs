//! What a verified client certificate says about who the client is, and how
//! nats-server 2.9.10 (`checkClientTLSCertSubject`, auth.go) maps it to a user:
//!
//! 1. every email SAN, then every DNS SAN, then every URI SAN, each looked up as a
//!    user name (Go's `switch` falls through, so all three kinds are tried);
//! 2. the subject DN read from the raw certificate, compared with every user name
//!    parsed as an LDAP DN: first RDN by RDN in order, then the same RDNs in any order;
//! 3. Go's `pkix` RDN string (`CN=bob,OU=Eng,O=Acme`, RFC 2253 escaping, only the
//!    standard attributes) with `,DC=…` appended, when the subject has domain components;
//! 4. that string without the domain components.
//!
//! One deliberate difference: nats-server gives up at once on a certificate that has
//! no email SAN, no URI SAN and an empty subject even when it has DNS SANs; natrix
//! still tries the DNS SANs.
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

/// An LDAP distinguished name: RDNs in RFC 4514 order (most specific first), each a
/// set of (type, value) pairs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dn(pub Vec<Vec<(String, String)>>);

/// The names a client certificate offers, in the forms nats-server compares.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertIdentity {
    pub emails: Vec<String>,
    pub dns: Vec<String>,
    pub uris: Vec<String>,
    /// Whether the subject has any attribute at all.
    pub has_subject: bool,
    /// The subject as an LDAP DN (`None` when it has attributes nats-server's LDAP
    /// code does not name, such as `emailAddress`; the DN comparison is then skipped).
    pub dn: Option<Dn>,
    /// Go's `pkix.Name.ToRDNSequence().String()`.
    pub rdn: String,
    /// `rdn` followed by the domain components, when there are any.
    pub rdn_with_dcs: Option<String>,
    /// `sha256:` + lower-case hex of the certificate's DER (the `cert_fp` stamp field).
    pub fingerprint: String,
}

/// Why a certificate's names could not be read (the client is then refused).
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot parse the client certificate: {0}")]
    Parse(String),
}

/// `sha256:` + lower-case hex of `der`.
pub fn fingerprint(der: &[u8]) -> String {
    use sha2::Digest;
    use std::fmt::Write;
    let digest = sha2::Sha256::digest(der);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        let _ = write!(s, "{b:02x}");
    }
    s
}

const DC_OID: &str = "0.9.2342.19200300.100.1.25";

/// Short names nats-server's LDAP code knows (anything else makes the DN unusable).
fn ldap_type_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.17" => "POSTALCODE",
        DC_OID => "DC",
        _ => return None,
    })
}

impl CertIdentity {
    /// Reads the names of a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertIdentity, IdentityError> {
        let (_, cert) = X509Certificate::from_der(der).map_err(|e| IdentityError::Parse(e.to_string()))?;
        let mut id = CertIdentity { fingerprint: fingerprint(der), ..Default::default() };
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for n in &san.value.general_names {
                match n {
                    GeneralName::RFC822Name(s) => id.emails.push(s.to_string()),
                    GeneralName::DNSName(s) => id.dns.push(s.to_string()),
                    GeneralName::URI(s) => id.uris.push(s.to_string()),
                    _ => {}
                }
            }
        }
        // Attributes in certificate order: (oid, value if it is a string).
        let mut rdns: Vec<Vec<(String, Option<String>)>> = Vec::new();
        for rdn in cert.subject().iter() {
            let atvs: Vec<_> = rdn
                .iter()
                .map(|a| (a.attr_type().to_id_string(), a.as_str().ok().map(str::to_string)))
                .collect();
            if !atvs.is_empty() {
                rdns.push(atvs);
            }
        }
        id.has_subject = !rdns.is_empty();
        id.dn = ldap_dn(&rdns);
        id.rdn = go_rdn_string(&rdns);
        let dcs: Vec<String> = rdns
            .iter()
            .flatten()
            .filter(|(oid, _)| oid == DC_OID)
            .filter_map(|(_, v)| v.as_ref().map(|v| format!("DC={v}")))
            .collect();
        if !dcs.is_empty() {
            id.rdn_with_dcs = Some(format!("{},{}", id.rdn, dcs.join(",")));
        }
        Ok(id)
    }

    /// The configured user this certificate maps to, if any. `exists` answers whether
    /// a user name is configured; `user_dns` are the user names that parse as DNs,
    /// in configuration order.
    pub fn map_user(&self, exists: impl Fn(&str) -> bool, user_dns: &[(String, Dn)]) -> Option<String> {
        if self.emails.is_empty() && self.dns.is_empty() && self.uris.is_empty() && !self.has_subject {
            return None;
        }
        for n in self.emails.iter().chain(&self.dns).chain(&self.uris) {
            if exists(n) {
                return Some(n.clone());
            }
        }
        if let Some(dn) = &self.dn {
            if let Some((u, _)) = user_dns.iter().find(|(_, d)| d.equal(dn)) {
                return Some(u.clone());
            }
            if let Some((u, _)) = user_dns.iter().find(|(_, d)| d.rdns_match(dn)) {
                return Some(u.clone());
            }
        }
        if let Some(s) = &self.rdn_with_dcs {
            if exists(s) {
                return Some(s.clone());
            }
        }
        if !self.rdn.is_empty() && exists(&self.rdn) {
            return Some(self.rdn.clone());
        }
        None
    }

    /// A short description for logs: the first name of each kind.
    pub fn describe(&self) -> String {
        let first = |v: &Vec<String>| v.first().cloned().unwrap_or_default();
        format!("email={:?} dns={:?} uri={:?} subject={:?}", first(&self.emails), first(&self.dns), first(&self.uris), self.rdn)
    }
}

/// nats-server's `ldap.FromRawCertSubject`: RDNs reversed, attributes of each
/// reversed; any unknown type or non-string value makes it fail.
fn ldap_dn(rdns: &[Vec<(String, Option<String>)>]) -> Option<Dn> {
    let mut out = Vec::with_capacity(rdns.len());
    for rdn in rdns.iter().rev() {
        let mut attrs = Vec::with_capacity(rdn.len());
        for (oid, v) in rdn.iter().rev() {
            attrs.push((ldap_type_name(oid)?.to_string(), v.clone()?));
        }
        out.push(attrs);
    }
    Some(Dn(out))
}

/// Go's `pkix.Name` filled from the subject, then `ToRDNSequence().String()`:
/// only the standard attributes, grouped by type in a fixed order (multi-valued
/// types joined with `+`), printed last group first.
fn go_rdn_string(rdns: &[Vec<(String, Option<String>)>]) -> String {
    // ToRDNSequence order: C, ST, L, STREET, POSTALCODE, O, OU, CN, SERIALNUMBER.
    const ORDER: [(&str, &str); 9] = [
        ("2.5.4.6", "C"),
        ("2.5.4.8", "ST"),
        ("2.5.4.7", "L"),
        ("2.5.4.9", "STREET"),
        ("2.5.4.17", "POSTALCODE"),
        ("2.5.4.10", "O"),
        ("2.5.4.11", "OU"),
        ("2.5.4.3", "CN"),
        ("2.5.4.5", "SERIALNUMBER"),
    ];
    let mut groups: Vec<String> = Vec::new();
    for (oid, name) in ORDER {
        let values: Vec<&str> =
            rdns.iter().flatten().filter(|(o, _)| o == oid).filter_map(|(_, v)| v.as_deref()).collect();
        // CN and SERIALNUMBER are single fields in Go: the last one wins, and an empty one is left out.
        let values: Vec<&str> = if matches!(name, "CN" | "SERIALNUMBER") {
            values.last().copied().filter(|v| !v.is_empty()).into_iter().collect()
        } else {
            values
        };
        if values.is_empty() {
            continue;
        }
        let parts: Vec<String> = values.iter().map(|v| format!("{name}={}", escape(v))).collect();
        groups.push(parts.join("+"));
    }
    groups.reverse();
    groups.join(",")
}

/// RFC 2253 escaping as Go's `pkix` does it.
fn escape(v: &str) -> String {
    let n = v.chars().count();
    let mut out = String::with_capacity(v.len());
    for (k, c) in v.chars().enumerate() {
        let esc = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => k == 0 || k + 1 == n,
            '#' => k == 0,
            _ => false,
        };
        if esc {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

impl Dn {
    /// nats-server's `ldap.ParseDN` (RFC 4514): `None` for a string that is not a DN.
    pub fn parse(s: &str) -> Option<Dn> {
        let b = s.as_bytes();
        let mut rdns = Vec::new();
        let mut rdn: Vec<(String, String)> = Vec::new();
        let mut buf: Vec<u8> = Vec::new();
        let mut typ: Option<String> = None;
        let mut trailing_spaces = 0usize;
        let take = |buf: &mut Vec<u8>, trailing: &mut usize| -> Option<String> {
            let keep = buf.len() - *trailing;
            let s = String::from_utf8(buf[..keep].to_vec()).ok();
            buf.clear();
            *trailing = 0;
            s
        };
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            match c {
                b'\\' => {
                    trailing_spaces = 0;
                    let n = *b.get(i + 1)?;
                    if b" \"#+,;<=>\\".contains(&n) {
                        buf.push(n);
                        i += 2;
                        continue;
                    }
                    let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
                    buf.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 3;
                    continue;
                }
                b'=' => {
                    typ = Some(take(&mut buf, &mut trailing_spaces)?);
                    if b.get(i + 1) == Some(&b'#') {
                        return None; // BER-encoded values are not supported
                    }
                }
                b',' | b'+' => {
                    let t = typ.take().filter(|t| !t.is_empty())?;
                    rdn.push((t, take(&mut buf, &mut trailing_spaces)?));
                    if c == b',' {
                        rdns.push(std::mem::take(&mut rdn));
                    }
                }
                b' ' if buf.is_empty() => {}
                _ => {
                    if c == b' ' {
                        trailing_spaces += 1;
                    } else {
                        trailing_spaces = 0;
                    }
                    buf.push(c);
                }
            }
            i += 1;
        }
        if !buf.is_empty() {
            let t = typ.take().filter(|t| !t.is_empty())?;
            rdn.push((t, take(&mut buf, &mut trailing_spaces)?));
            rdns.push(rdn);
        }
        Some(Dn(rdns))
    }

    /// Same RDNs in the same order (attribute order within an RDN does not matter;
    /// types compare case-insensitively, values exactly).
    pub fn equal(&self, other: &Dn) -> bool {
        self.0.len() == other.0.len() && self.0.iter().zip(&other.0).all(|(a, b)| rdn_equal(a, b))
    }

    /// Every RDN of `self` appears somewhere in `other` (same number of RDNs).
    pub fn rdns_match(&self, other: &Dn) -> bool {
        self.0.len() == other.0.len() && self.0.iter().all(|a| other.0.iter().any(|b| rdn_equal(a, b)))
    }
}

fn rdn_equal(a: &[(String, String)], b: &[(String, String)]) -> bool {
    let has_all = |x: &[(String, String)], y: &[(String, String)]| {
        y.iter().all(|(t, v)| x.iter().any(|(t2, v2)| t.eq_ignore_ascii_case(t2) && v == v2))
    };
    a.len() == b.len() && has_all(a, b) && has_all(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn go_string_order_and_escaping() {
        // Certificate order C, O, OU, CN (as most tools write it).
        let rdns = vec![
            vec![("2.5.4.6".into(), s("US"))],
            vec![("2.5.4.10".into(), s("Acme, Inc"))],
            vec![("2.5.4.11".into(), s("Eng"))],
            vec![("2.5.4.11".into(), s("Ops"))],
            vec![("2.5.4.3".into(), s(" bob"))],
            vec![(DC_OID.into(), s("example"))],
        ];
        assert_eq!(go_rdn_string(&rdns), "CN=\\ bob,OU=Eng+OU=Ops,O=Acme\\, Inc,C=US");
        assert_eq!(ldap_dn(&rdns).map(|d| d.0.len()), Some(6));
        let with_email = vec![vec![("1.2.840.113549.1.9.1".to_string(), s("a@b"))]];
        assert_eq!(ldap_dn(&with_email), None);
        assert_eq!(go_rdn_string(&with_email), "");
    }

    #[test]
    fn dn_parse_and_compare() {
        let d = Dn::parse("CN=bob,OU=Eng,O=Acme").expect("dn");
        assert_eq!(d.0.len(), 3);
        let cert = Dn(vec![
            vec![("CN".into(), "bob".into())],
            vec![("OU".into(), "Eng".into())],
            vec![("O".into(), "Acme".into())],
        ]);
        assert!(d.equal(&cert));
        let lower = Dn::parse("cn=bob, ou=Eng, o=Acme").expect("dn");
        assert!(lower.equal(&cert), "{lower:?}");
        let reordered = Dn::parse("O=Acme,CN=bob,OU=Eng").expect("dn");
        assert!(!reordered.equal(&cert) && reordered.rdns_match(&cert));
        assert!(!Dn::parse("CN=Bob,OU=Eng,O=Acme").expect("dn").rdns_match(&cert));
        assert_eq!(Dn::parse("CN=a\\,b").expect("dn").0[0][0].1, "a,b");
        assert_eq!(Dn::parse("CN=a\\41").expect("dn").0[0][0].1, "aA");
        assert_eq!(Dn::parse("alice"), None, "no type");
        assert_eq!(Dn::parse("CN=#0403"), None);
        let multi = Dn::parse("CN=a+UID=b,O=c").expect("dn");
        assert_eq!(multi.0[0].len(), 2);
    }

    #[test]
    fn mapping_order() {
        let id = CertIdentity {
            emails: vec!["e@x".into()],
            dns: vec!["host.x".into()],
            uris: vec!["spiffe://x/u".into()],
            has_subject: true,
            dn: Some(Dn(vec![vec![("CN".into(), "c".into())]])),
            rdn: "CN=c".into(),
            rdn_with_dcs: None,
            fingerprint: String::new(),
        };
        let users = ["host.x", "spiffe://x/u", "CN=c"];
        let dns: Vec<(String, Dn)> =
            users.iter().filter_map(|u| Some((u.to_string(), Dn::parse(u)?))).collect();
        assert_eq!(id.map_user(|n| users.contains(&n), &dns).as_deref(), Some("host.x"), "email falls through to DNS");
        assert_eq!(id.map_user(|n| n == "spiffe://x/u", &[]).as_deref(), Some("spiffe://x/u"));
        assert_eq!(id.map_user(|_| false, &dns).as_deref(), Some("CN=c"), "by DN");
        assert_eq!(id.map_user(|_| false, &[]), None);
        let empty = CertIdentity { dns: vec!["d".into()], ..Default::default() };
        assert_eq!(empty.map_user(|n| n == "d", &[]).as_deref(), Some("d"), "DNS SAN with an empty subject");
        assert_eq!(CertIdentity::default().map_user(|_| true, &[]), None);
    }
}
