//! Certificates generated at test time (rcgen) and a blocking TLS NATS probe (rustls)
//! that reports who a server thinks a client certificate is.
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A certificate and key written as PEM files.
#[derive(Clone, Debug)]
pub struct Pem {
    pub cert: PathBuf,
    pub key: PathBuf,
}

pub struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pub pem: Pem,
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write pem");
    p
}

impl Ca {
    pub fn new(dir: &Path, name: &str) -> Ca {
        let key = KeyPair::generate().expect("ca key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("natrix test CA {name}"));
        params.distinguished_name = dn;
        let cert = params.self_signed(&key).expect("self sign");
        let pem = Pem {
            cert: write(dir, &format!("{name}.pem"), &cert.pem()),
            key: write(dir, &format!("{name}-key.pem"), &key.serialize_pem()),
        };
        Ca { params, key, pem }
    }

    /// Issues a leaf certificate: `subject` as (type, value) pairs in certificate order.
    pub fn issue(&self, dir: &Path, name: &str, subject: &[(DnType, &str)], sans: Vec<SanType>, server: bool) -> Pem {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        let mut dn = DistinguishedName::new();
        for (t, v) in subject {
            dn.push(t.clone(), *v);
        }
        params.distinguished_name = dn;
        params.subject_alt_names = sans;
        params.extended_key_usages =
            vec![if server { ExtendedKeyUsagePurpose::ServerAuth } else { ExtendedKeyUsagePurpose::ClientAuth }];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign");
        Pem {
            cert: write(dir, &format!("{name}.pem"), &cert.pem()),
            key: write(dir, &format!("{name}-key.pem"), &key.serialize_pem()),
        }
    }

    /// A route certificate for localhost and 127.0.0.1 with both the server and the
    /// client auth usages (a route is a server to one side and a client to the other).
    pub fn route(&self, dir: &Path, name: &str) -> Pem {
        let key = KeyPair::generate().expect("leaf key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "localhost");
        params.distinguished_name = dn;
        params.subject_alt_names = vec![dns("localhost"), SanType::IpAddress([127, 0, 0, 1].into())];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).expect("sign");
        Pem {
            cert: write(dir, &format!("{name}.pem"), &cert.pem()),
            key: write(dir, &format!("{name}-key.pem"), &key.serialize_pem()),
        }
    }

    /// A server certificate for localhost and 127.0.0.1.
    pub fn server(&self, dir: &Path, name: &str) -> Pem {
        let sans = vec![
            SanType::DnsName("localhost".try_into().expect("ia5")),
            SanType::IpAddress([127, 0, 0, 1].into()),
        ];
        self.issue(dir, name, &[(DnType::CommonName, "localhost")], sans, true)
    }
}

pub fn email(s: &str) -> SanType {
    SanType::Rfc822Name(s.try_into().expect("ia5"))
}
pub fn dns(s: &str) -> SanType {
    SanType::DnsName(s.try_into().expect("ia5"))
}
pub fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().expect("ia5"))
}

/// SHA-256 of the certificate's SubjectPublicKeyInfo, hex (nats-server's `pinned_certs`).
pub fn spki_sha256(pem: &Pem) -> String {
    use sha2::Digest;
    let der = CertificateDer::from_pem_file(&pem.cert).expect("cert pem");
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).expect("x509");
    sha2::Sha256::digest(cert.tbs_certificate.subject_pki.raw).iter().map(|b| format!("{b:02x}")).collect()
}

/// A rustls client configuration trusting `ca`, presenting `client` if given.
pub fn client_config(ca: &Path, client: Option<&Pem>) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca).expect("ca pem") {
        roots.add(c.expect("ca cert")).expect("add root");
    }
    let b = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let cfg = match client {
        Some(p) => {
            let chain: Vec<_> =
                CertificateDer::pem_file_iter(&p.cert).expect("pem").collect::<Result<_, _>>().expect("chain");
            let key = PrivateKeyDer::from_pem_file(&p.key).expect("key");
            b.with_client_auth_cert(chain, key).expect("client auth")
        }
        None => b.with_no_client_auth(),
    };
    Arc::new(cfg)
}

/// What a server made of a TLS client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Connected; the probe subjects it may publish to.
    In(Vec<String>),
    /// Refused with this `-ERR`.
    Err(String),
    /// Closed (or TLS failure) without a `-ERR`.
    Closed,
}

/// Reads one line from a plain socket (the INFO line before the upgrade).
pub fn read_plain_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    while !line.ends_with(b"\n") {
        match s.read(&mut b) {
            Ok(0) | Err(_) => break,
            Ok(_) => line.push(b[0]),
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Connects over TLS (INFO first, then the upgrade), sends CONNECT and a PUB to each of
/// `probes`, then PING; reports which publishes were not refused.
pub fn probe(port: u16, cfg: Arc<rustls::ClientConfig>, connect: &str, probes: &[&str]) -> Outcome {
    let mut sock = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let info = read_plain_line(&mut sock);
    assert!(info.starts_with("INFO "), "no INFO: {info:?}");
    let conn = rustls::ClientConnection::new(cfg, ServerName::try_from("localhost").expect("name")).expect("tls");
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut msg = format!("CONNECT {connect}\r\n");
    for p in probes {
        msg.push_str(&format!("PUB {p} 0\r\n\r\n"));
    }
    msg.push_str("PING\r\n");
    if tls.write_all(msg.as_bytes()).and_then(|_| tls.flush()).is_err() {
        return Outcome::Closed;
    }
    let mut got = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    while Instant::now() < deadline {
        let text = String::from_utf8_lossy(&got).into_owned();
        if text.contains("PONG\r\n") {
            break;
        }
        match tls.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    if !text.contains("PONG\r\n") {
        return match text.lines().find(|l| l.starts_with("-ERR")) {
            Some(l) => Outcome::Err(l.to_string()),
            None => Outcome::Closed,
        };
    }
    let allowed = probes
        .iter()
        .filter(|p| !text.contains(&format!("Permissions Violation for Publish to \"{p}\"")))
        .map(|p| p.to_string())
        .collect();
    Outcome::In(allowed)
}
