//! The `tls { … }` block of the configuration file (nats-server's `parseTLS`), and the
//! nats-server (Go) names of cipher suites and curves mapped to what rustls offers.
use crate::config::{ConfigError, ConfigWarning, Node, Pos, Value};
use std::path::PathBuf;
use std::time::Duration;

/// nats-server's default TLS handshake timeout.
pub const DEFAULT_TLS_TIMEOUT: Duration = Duration::from_secs(2);

/// Client-port TLS settings. Names and defaults follow nats-server 2.9.10.
#[derive(Debug, Clone, PartialEq)]
pub struct TlsOptions {
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// Require and verify client certificates.
    pub verify: bool,
    /// Require and verify client certificates, and map them to users.
    pub verify_and_map: bool,
    /// Handshake deadline (`timeout`, fractional seconds; default 2 s).
    pub timeout: Duration,
    /// Allowed cipher suites, as rustls names (empty = rustls' defaults).
    pub cipher_suites: Vec<CipherSuite>,
    /// Key exchange groups in order of preference (empty = rustls' defaults).
    pub curve_preferences: Vec<Curve>,
    /// SHA-256 of the client certificate's SubjectPublicKeyInfo, lower-case hex.
    pub pinned_certs: Vec<String>,
    /// TLS handshake before INFO ([newer] nats-server option).
    pub handshake_first: bool,
    /// With `handshake_first`: how long to wait for the client's first bytes before
    /// sending INFO in plain text and continuing as without it (nats-server 2.10's
    /// `handshake_first: "300ms"` / `"auto"`). Zero: no fallback.
    pub handshake_first_fallback: Duration,
    /// Oldest protocol version accepted: 12 (default) or 13.
    pub min_version: u8,
    /// Where the block starts, for errors found when the files are loaded.
    pub pos: Option<Pos>,
}

impl Default for TlsOptions {
    fn default() -> Self {
        TlsOptions {
            cert_file: None,
            key_file: None,
            ca_file: None,
            verify: false,
            verify_and_map: false,
            timeout: DEFAULT_TLS_TIMEOUT,
            cipher_suites: Vec::new(),
            curve_preferences: Vec::new(),
            pinned_certs: Vec::new(),
            handshake_first: false,
            handshake_first_fallback: Duration::ZERO,
            min_version: 12,
            pos: None,
        }
    }
}

impl TlsOptions {
    /// Whether clients must present a certificate that chains to `ca_file`.
    pub fn verifies_clients(&self) -> bool {
        self.verify || self.verify_and_map
    }

    /// The authentication timeout nats-server uses when TLS is on and
    /// `authorization.timeout` is not set: the TLS timeout plus one second.
    pub fn default_auth_timeout(&self) -> Duration {
        self.timeout + Duration::from_secs(1)
    }
}

/// Cipher suites rustls can use, under their nats-server (Go) names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CipherSuite {
    Tls13Aes128GcmSha256,
    Tls13Aes256GcmSha384,
    Tls13Chacha20Poly1305Sha256,
    EcdheEcdsaAes128GcmSha256,
    EcdheEcdsaAes256GcmSha384,
    EcdheEcdsaChacha20Poly1305,
    EcdheRsaAes128GcmSha256,
    EcdheRsaAes256GcmSha384,
    EcdheRsaChacha20Poly1305,
}

const SUITES: &[(&str, CipherSuite)] = &[
    ("TLS_AES_128_GCM_SHA256", CipherSuite::Tls13Aes128GcmSha256),
    ("TLS_AES_256_GCM_SHA384", CipherSuite::Tls13Aes256GcmSha384),
    ("TLS_CHACHA20_POLY1305_SHA256", CipherSuite::Tls13Chacha20Poly1305Sha256),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", CipherSuite::EcdheEcdsaAes128GcmSha256),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", CipherSuite::EcdheEcdsaAes256GcmSha384),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305", CipherSuite::EcdheEcdsaChacha20Poly1305),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", CipherSuite::EcdheEcdsaChacha20Poly1305),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", CipherSuite::EcdheRsaAes128GcmSha256),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", CipherSuite::EcdheRsaAes256GcmSha384),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305", CipherSuite::EcdheRsaChacha20Poly1305),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", CipherSuite::EcdheRsaChacha20Poly1305),
];

/// Suites nats-server 2.9.10 accepts but rustls deliberately does not implement
/// (CBC, RC4, 3DES, static RSA key exchange).
const SUITES_RUSTLS_REFUSES: &[&str] = &[
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
];

/// Key exchange groups rustls (ring provider) offers, under nats-server's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    X25519,
    P256,
    P384,
}

const CURVES: &[(&str, Curve)] =
    &[("X25519", Curve::X25519), ("CurveP256", Curve::P256), ("CurveP384", Curve::P384)];

/// Parses the `tls` block. Paths are kept as written (relative to the working
/// directory, as nats-server does); files are read when the server configures TLS.
pub fn parse_tls_block(block: &Node, warnings: &mut Vec<ConfigWarning>) -> Result<TlsOptions, ConfigError> {
    let Some(entries) = block.as_map() else {
        return Err(ConfigError::at(&block.pos, format!("\"tls\" must be a map, got {}", block.value.type_name())));
    };
    let mut t = TlsOptions { pos: Some(block.pos.clone()), ..TlsOptions::default() };
    for (key, v) in entries {
        let k = key.name.as_str();
        match k.to_ascii_lowercase().as_str() {
            "cert_file" => t.cert_file = Some(string(k, v)?.into()),
            "key_file" => t.key_file = Some(string(k, v)?.into()),
            "ca_file" => t.ca_file = Some(string(k, v)?.into()),
            "verify" => t.verify = boolean(k, v)?,
            "verify_and_map" => t.verify_and_map = boolean(k, v)?,
            "handshake_first" | "first" | "immediate" => {
                (t.handshake_first, t.handshake_first_fallback) = handshake_first(k, v)?
            }
            "timeout" => t.timeout = timeout(v)?,
            "cipher_suites" => {
                for n in array(k, v)? {
                    t.cipher_suites.push(cipher_suite(n)?);
                }
            }
            "curve_preferences" => {
                for n in array(k, v)? {
                    t.curve_preferences.push(curve(n)?);
                }
            }
            "pinned_certs" => {
                for n in array(k, v)? {
                    t.pinned_certs.push(pinned_cert(n)?);
                }
            }
            "min_version" => t.min_version = min_version(v)?,
            "insecure" => {
                boolean(k, v)?;
                warnings.push(ConfigWarning::at(
                    &key.pos,
                    "\"insecure\" only applies to outgoing connections, which natrix does not make; ignored",
                ));
            }
            "verify_cert_and_check_known_urls" => {
                if boolean(k, v)? {
                    return Err(ConfigError::at(
                        &v.pos,
                        "verify_cert_and_check_known_urls not supported in this context",
                    ));
                }
            }
            "connection_rate_limit" | "ocsp_peer" | "cert_store" | "cert_match" | "cert_match_by" => {
                return Err(ConfigError::at(&key.pos, format!("tls option \"{k}\" is not supported by natrix")));
            }
            _ => {
                return Err(ConfigError::at(&key.pos, format!("error parsing tls config, unknown field [\"{k}\"]")));
            }
        }
    }
    if t.cert_file.is_none() {
        return Err(ConfigError::at(&block.pos, "missing 'cert_file' in TLS configuration"));
    }
    if t.key_file.is_none() {
        return Err(ConfigError::at(&block.pos, "missing 'key_file' in TLS configuration"));
    }
    if t.verifies_clients() && t.ca_file.is_none() {
        return Err(ConfigError::at(
            &block.pos,
            "verify and verify_and_map need 'ca_file' in natrix (it does not use the system trust store for clients)",
        ));
    }
    Ok(t)
}

fn type_err(k: &str, v: &Node, want: &str) -> ConfigError {
    ConfigError::at(&v.pos, format!("\"{k}\" must be {want}, got {}", v.value.type_name()))
}

fn string(k: &str, v: &Node) -> Result<String, ConfigError> {
    v.as_str().map(str::to_string).ok_or_else(|| type_err(k, v, "a string"))
}

fn boolean(k: &str, v: &Node) -> Result<bool, ConfigError> {
    v.as_bool().ok_or_else(|| type_err(k, v, "a boolean"))
}

fn array<'a>(k: &str, v: &'a Node) -> Result<&'a [Node], ConfigError> {
    v.as_array().ok_or_else(|| type_err(k, v, "an array"))
}

/// nats-server 2.10's fallback delay for `handshake_first: "auto"`.
pub const HANDSHAKE_FIRST_AUTO_FALLBACK: Duration = Duration::from_millis(50);

/// `handshake_first`: a boolean; or (nats-server 2.10) `true`/`on`/`false`/`off`,
/// `auto`/`auto_fallback` (50 ms fallback) or a fallback duration such as `"300ms"`.
/// Returns (handshake first, fallback delay; zero = none).
fn handshake_first(k: &str, v: &Node) -> Result<(bool, Duration), ConfigError> {
    match &v.value {
        Value::Bool(b) => Ok((*b, Duration::ZERO)),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "on" => Ok((true, Duration::ZERO)),
            "false" | "off" => Ok((false, Duration::ZERO)),
            "auto" | "auto_fallback" => Ok((true, HANDSHAKE_FIRST_AUTO_FALLBACK)),
            _ => crate::config::parse_duration(s)
                .map(|d| (true, d))
                .map_err(|_| ConfigError::at(&v.pos, format!("field {k:?} value {s:?} is invalid"))),
        },
        _ => Err(type_err(k, v, "a boolean or a string")),
    }
}

/// `timeout`: seconds as a float or an integer, or a duration string.
fn timeout(v: &Node) -> Result<Duration, ConfigError> {
    let bad = || ConfigError::at(&v.pos, "error parsing tls config, 'timeout' wrong type");
    let secs = match &v.value {
        Value::Float(f) => *f,
        Value::Int(i) => *i as f64,
        Value::String(s) => {
            return crate::config::parse_duration(s)
                .map_err(|e| ConfigError::at(&v.pos, format!("error parsing tls config, timeout: {e}")))
        }
        _ => return Err(bad()),
    };
    if !secs.is_finite() || !(0.0..=1e6).contains(&secs) {
        return Err(ConfigError::at(&v.pos, format!("error parsing tls config, invalid timeout {secs}")));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn cipher_suite(n: &Node) -> Result<CipherSuite, ConfigError> {
    let name = n.as_str().ok_or_else(|| type_err("cipher_suites", n, "an array of strings"))?;
    if let Some(&(_, s)) = SUITES.iter().find(|(go, _)| *go == name) {
        return Ok(s);
    }
    if SUITES_RUSTLS_REFUSES.contains(&name) {
        return Err(ConfigError::at(
            &n.pos,
            format!(
                "cipher suite [\"{name}\"] is known to nats-server but rustls does not implement it \
                 (no CBC, RC4, 3DES or static-RSA suites); use an ECDHE GCM or CHACHA20 suite"
            ),
        ));
    }
    Err(ConfigError::at(&n.pos, format!("error parsing tls config, unknown cipher suite: [\"{name}\"]")))
}

fn curve(n: &Node) -> Result<Curve, ConfigError> {
    let name = n.as_str().ok_or_else(|| type_err("curve_preferences", n, "an array of strings"))?;
    if let Some(&(_, c)) = CURVES.iter().find(|(go, _)| *go == name) {
        return Ok(c);
    }
    if name == "CurveP521" {
        return Err(ConfigError::at(
            &n.pos,
            "curve preference [\"CurveP521\"] is known to nats-server but rustls does not implement it; \
             use X25519, CurveP256 or CurveP384",
        ));
    }
    Err(ConfigError::at(&n.pos, format!("error parsing tls config, unknown curve preference: [\"{name}\"]")))
}

fn pinned_cert(n: &Node) -> Result<String, ConfigError> {
    let s = n.as_str().ok_or_else(|| type_err("pinned_certs", n, "an array of strings"))?;
    if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ConfigError::at(
            &n.pos,
            format!("error parsing tls config, cannot parse pinned cert {s:?}: expected 64 hex digits (SHA-256)"),
        ));
    }
    Ok(s.to_ascii_lowercase())
}

fn min_version(v: &Node) -> Result<u8, ConfigError> {
    let s = match &v.value {
        Value::String(s) => s.clone(),
        Value::Float(f) => format!("{f:.1}"),
        _ => return Err(type_err("min_version", v, "a string such as \"1.2\"")),
    };
    match s.as_str() {
        "1.2" => Ok(12),
        "1.3" => Ok(13),
        "1.0" | "1.1" => Err(ConfigError::at(
            &v.pos,
            format!("min_version {s} is not supported: rustls speaks TLS 1.2 and 1.3 only"),
        )),
        _ => Err(ConfigError::at(&v.pos, format!("error parsing tls config, unknown min_version {s:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Options;
    use std::path::Path;

    fn load(src: &str) -> Result<Options, String> {
        Options::from_str(src, Path::new("t.conf")).map(|(o, _)| o).map_err(|e| e.to_string())
    }

    const BASE: &str = "cert_file: s.pem, key_file: s.key";

    #[test]
    fn handshake_first_forms() {
        let hf = |v: &str| {
            load(&format!("tls {{\n {BASE}\n handshake_first: {v}\n}}\n"))
                .map(|o| o.tls.map(|t| (t.handshake_first, t.handshake_first_fallback)).expect("tls"))
        };
        let ms = Duration::from_millis;
        assert_eq!(hf("true"), Ok((true, Duration::ZERO)));
        assert_eq!(hf("false"), Ok((false, Duration::ZERO)));
        assert_eq!(hf("\"on\""), Ok((true, Duration::ZERO)));
        assert_eq!(hf("\"OFF\""), Ok((false, Duration::ZERO)));
        assert_eq!(hf("auto"), Ok((true, ms(50))));
        assert_eq!(hf("\"auto_fallback\""), Ok((true, ms(50))));
        assert_eq!(hf("\"300ms\""), Ok((true, ms(300))));
        assert_eq!(hf("\"0s\""), Ok((true, Duration::ZERO)), "a zero delay is plain handshake_first");
        let e = hf("\"soon\"").unwrap_err();
        assert!(e.contains("t.conf:3:") && e.contains("field \"handshake_first\" value \"soon\" is invalid"), "{e}");
        let e = hf("5").unwrap_err();
        assert!(e.contains("must be a boolean or a string"), "{e}");
    }

    #[test]
    fn full_block() {
        let o = load(&format!(
            "tls {{\n {BASE}, ca_file: ca.pem, verify_and_map: true, timeout: 0.5\n \
             cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384]\n \
             curve_preferences: [X25519, CurveP256]\n \
             pinned_certs: [\"{}\"]\n handshake_first: true\n}}\n",
            "AB".repeat(32)
        ))
        .expect("valid");
        let t = o.tls.expect("tls");
        assert!(t.verify_and_map && t.verifies_clients() && t.handshake_first);
        assert_eq!(t.handshake_first_fallback, Duration::ZERO);
        assert_eq!(t.timeout, Duration::from_millis(500));
        assert_eq!(t.cipher_suites, vec![CipherSuite::EcdheEcdsaAes128GcmSha256, CipherSuite::Tls13Aes256GcmSha384]);
        assert_eq!(t.curve_preferences, vec![Curve::X25519, Curve::P256]);
        assert_eq!(t.pinned_certs, vec!["ab".repeat(32)]);
        assert_eq!(t.default_auth_timeout(), Duration::from_millis(1500));
    }

    #[test]
    fn errors_name_the_position() {
        let e = load(&format!("tls {{\n  {BASE}\n  cipher_suites: [\n    \"TLS_NOPE\"\n  ]\n}}\n")).unwrap_err();
        assert_eq!(e, "t.conf:4:5: error parsing tls config, unknown cipher suite: [\"TLS_NOPE\"]");
        let e = load(&format!("tls {{\n  {BASE}\n  cipher_suites: [TLS_RSA_WITH_AES_128_CBC_SHA]\n}}\n")).unwrap_err();
        assert!(e.starts_with("t.conf:3:19: cipher suite [\"TLS_RSA_WITH_AES_128_CBC_SHA\"] is known"), "{e}");
        let e = load(&format!("tls {{\n  {BASE}\n  curve_preferences: [CurveP521]\n}}\n")).unwrap_err();
        assert!(e.starts_with("t.conf:3:23: curve preference [\"CurveP521\"]"), "{e}");
        let e = load(&format!("tls {{\n  {BASE}\n  curve_preferences: [P999]\n}}\n")).unwrap_err();
        assert!(e.contains("unknown curve preference"), "{e}");
        let e = load(&format!("tls {{\n  {BASE}\n  colour: blue\n}}\n")).unwrap_err();
        assert_eq!(e, "t.conf:3:3: error parsing tls config, unknown field [\"colour\"]");
        let e = load(&format!("tls {{\n  {BASE}\n  pinned_certs: [abc]\n}}\n")).unwrap_err();
        assert!(e.contains("cannot parse pinned cert"), "{e}");
        let e = load(&format!("tls {{\n  {BASE}\n  min_version: \"1.0\"\n}}\n")).unwrap_err();
        assert!(e.contains("TLS 1.2 and 1.3 only"), "{e}");
        let e = load("tls {\n  key_file: k\n}\n").unwrap_err();
        assert!(e.contains("missing 'cert_file'"), "{e}");
        let e = load(&format!("tls {{ {BASE}, verify: true }}\n")).unwrap_err();
        assert!(e.contains("need 'ca_file'"), "{e}");
        let e = load(&format!("tls {{ {BASE}, timeout: true }}\n")).unwrap_err();
        assert!(e.contains("'timeout' wrong type"), "{e}");
    }

    #[test]
    fn timeout_forms() {
        for (v, d) in [("3", 3000), ("0.25", 250), ("\"750ms\"", 750)] {
            let o = load(&format!("tls {{ {BASE}, timeout: {v} }}\n")).expect("valid");
            assert_eq!(o.tls.expect("tls").timeout, Duration::from_millis(d), "{v}");
        }
    }
}
