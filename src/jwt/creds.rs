//! The `.creds` file: a user JWT and the user's nkey seed, each between dash lines
//! (`-----BEGIN NATS USER JWT-----` … `------END NATS USER JWT------`). As the clients
//! do, the first two dash-delimited blocks are taken, whatever their banner says.
use super::JwtError;

/// A parsed creds file. `Debug` never shows the seed.
#[derive(Clone, PartialEq, Eq)]
pub struct Creds {
    pub jwt: String,
    pub seed: String,
}

impl std::fmt::Debug for Creds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Creds").field("jwt", &self.jwt).field("seed", &"[REDACTED]").finish()
    }
}

fn is_banner(line: &str) -> bool {
    let l = line.trim_end_matches('\r');
    l.len() >= 6 && l.starts_with("---") && l.ends_with("---")
}

fn is_payload(line: &str) -> bool {
    !line.is_empty() && line.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'='))
}

/// Every `banner / payload / banner` block, in order.
pub fn blocks(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if is_banner(lines[i]) {
            if let (Some(p), Some(end)) = (lines.get(i + 1), lines.get(i + 2)) {
                let p = p.trim();
                if is_payload(p) && is_banner(end) {
                    out.push(p);
                    i += 3;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

/// Parses a creds file: the JWT must decode as a user JWT and the seed must be a user
/// seed whose public key is the JWT's subject.
pub fn parse(text: &str) -> Result<Creds, JwtError> {
    let b = blocks(text);
    let (Some(jwt), Some(seed)) = (b.first(), b.get(1)) else {
        return Err(JwtError::Creds("expected a JWT block and a seed block".into()));
    };
    let claims = super::codec::decode_user(jwt)?;
    if !seed.starts_with("SU") {
        return Err(JwtError::Creds("nkey seed is not a user seed".into()));
    }
    let kp = nkeys::KeyPair::from_seed(seed).map_err(|_| JwtError::Creds("invalid nkey seed".into()))?;
    if kp.public_key() != claims.sub {
        return Err(JwtError::Creds("nkey seed does not match the jwt subject".into()));
    }
    Ok(Creds { jwt: jwt.to_string(), seed: seed.to_string() })
}

/// A creds file's text for `jwt` and `seed`, in the layout nsc writes.
pub fn format(jwt: &str, seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// The JWT out of a decorated file (`-----BEGIN … JWT-----` blocks), or the text itself
/// when it has no blocks (as nats-io/jwt's `ParseDecoratedJWT`).
pub fn decorated_jwt(text: &str) -> &str {
    blocks(text).first().copied().unwrap_or_else(|| text.trim())
}
