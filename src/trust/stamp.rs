//! The `Natrix-Sender` header line of one connection, built once (CONNECT, reload,
//! JWT update) and copied into each message it publishes.
use super::config::StampFields;

/// The header natrix writes; clients' copies are removed (`headers::is_reserved`).
pub const SENDER_HEADER: &str = "Natrix-Sender";

/// Who a connection is, as far as the stamp tells.
#[derive(Debug, Default)]
pub struct Sender<'a> {
    pub acc: &'a str,
    pub user: Option<&'a str>,
    pub name: Option<&'a str>,
    /// RFC 4514 string of the client certificate's subject.
    pub cert_subject: Option<&'a str>,
    /// `sha256:` + lower-case hex of the client certificate's DER.
    pub cert_fp: Option<&'a str>,
}

/// A connection's stamp lines (`Natrix-Sender: {…}\r\n`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// With every configured field.
    pub full: Box<[u8]>,
    /// Only `acc` (when configured): what crosses an import without `share: true`.
    pub shared_cut: Box<[u8]>,
}

impl Stamp {
    pub fn build(fields: StampFields, s: &Sender<'_>) -> Stamp {
        let cut = StampFields { acc: fields.acc, user: false, name: false, cert_subject: false, cert_fp: false };
        Stamp { full: line(fields, s), shared_cut: line(cut, s) }
    }
}

fn line(f: StampFields, s: &Sender<'_>) -> Box<[u8]> {
    // Fields in a fixed order (acc, user, name, cert_subject, cert_fp); string escaping
    // by serde_json, which escapes every control character, so the value is one line.
    let mut json = String::from("{");
    let mut put = |on: bool, k: &str, v: Option<&str>| {
        if let (true, Some(v)) = (on, v) {
            if json.len() > 1 {
                json.push(',');
            }
            json.push_str(&format!("\"{k}\":"));
            json.push_str(&serde_json::Value::from(v).to_string());
        }
    };
    put(f.acc, "acc", Some(s.acc));
    put(f.user, "user", s.user);
    put(f.name, "name", s.name.filter(|n| !n.is_empty()));
    put(f.cert_subject, "cert_subject", s.cert_subject);
    put(f.cert_fp, "cert_fp", s.cert_fp);
    json.push('}');
    format!("{SENDER_HEADER}: {json}\r\n").into_bytes().into_boxed_slice()
}

/// The message's header block with `stamp` as its first field: the client's status
/// line (or `NATS/1.0`), the stamp, the client's fields without reserved ones.
/// Returns whether reserved fields of the client's were left out.
pub fn write_stamped(out: &mut Vec<u8>, stamp: &[u8], client: Option<&[u8]>) -> bool {
    out.clear();
    let removed = match client {
        Some(h) => {
            out.extend_from_slice(super::headers::status_line(h));
            out.extend_from_slice(stamp);
            super::headers::copy_fields_without_reserved(h, out)
        }
        None => {
            out.extend_from_slice(b"NATS/1.0\r\n");
            out.extend_from_slice(stamp);
            false
        }
    };
    out.extend_from_slice(b"\r\n");
    removed
}

/// The client's header block without reserved fields (no stamp).
pub fn write_stripped(out: &mut Vec<u8>, client: &[u8]) {
    out.clear();
    out.extend_from_slice(super::headers::status_line(client));
    super::headers::copy_fields_without_reserved(client, out);
    out.extend_from_slice(b"\r\n");
}

/// A stamped block (as `write_stamped` made it) with its first field replaced by `with`.
pub fn replace_first_field(out: &mut Vec<u8>, stamped: &[u8], stamp_len: usize, with: &[u8]) {
    let status = super::headers::status_line(stamped);
    out.clear();
    out.extend_from_slice(status);
    out.extend_from_slice(with);
    out.extend_from_slice(stamped.get(status.len() + stamp_len..).unwrap_or(b"\r\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_lines() {
        let s = Sender { acc: "A", user: Some("bob\"x"), name: Some(""), cert_subject: None, cert_fp: Some("sha256:00") };
        let st = Stamp::build(StampFields::ALL, &s);
        assert_eq!(&*st.full, b"Natrix-Sender: {\"acc\":\"A\",\"user\":\"bob\\\"x\",\"cert_fp\":\"sha256:00\"}\r\n");
        assert_eq!(&*st.shared_cut, b"Natrix-Sender: {\"acc\":\"A\"}\r\n");
        let only_user = StampFields { acc: false, user: true, name: false, cert_subject: false, cert_fp: false };
        assert_eq!(&*Stamp::build(only_user, &s).shared_cut, b"Natrix-Sender: {}\r\n");
    }

    #[test]
    fn stamped_blocks() {
        let mut out = Vec::new();
        write_stamped(&mut out, b"Natrix-Sender: {}\r\n", None);
        assert_eq!(out, b"NATS/1.0\r\nNatrix-Sender: {}\r\n\r\n");
        let client = b"NATS/1.0\r\nA: 1\r\nNATRIX-SENDER: {\"acc\":\"SYS\"}\r\n\r\n";
        write_stamped(&mut out, b"Natrix-Sender: {\"acc\":\"B\"}\r\n", Some(client));
        assert_eq!(out, b"NATS/1.0\r\nNatrix-Sender: {\"acc\":\"B\"}\r\nA: 1\r\n\r\n");
        let mut cut = Vec::new();
        replace_first_field(&mut cut, &out, b"Natrix-Sender: {\"acc\":\"B\"}\r\n".len(), b"Natrix-Sender: {}\r\n");
        assert_eq!(cut, b"NATS/1.0\r\nNatrix-Sender: {}\r\nA: 1\r\n\r\n");
        write_stripped(&mut out, client);
        assert_eq!(out, b"NATS/1.0\r\nA: 1\r\n\r\n");
    }
}
