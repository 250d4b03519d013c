//! Account resolvers: the directory store (`<dir>/<account key>.jwt`) and account JWT
//! updates received on `$SYS.REQ.ACCOUNT.<key>.CLAIMS.UPDATE`. An update is verified
//! against the trusted operator keys and put in force like a reload (new options with
//! the account's JWT replaced), so every live connection of every worker is checked
//! again with the same code.
use super::codec;
use super::config::{Preload, ResolverConfig};
use crate::config::Options;
use std::path::Path;

/// Every `<key>.jwt` in `dir` whose name is an account key: (key, JWT).
pub fn load_dir(dir: &Path) -> Result<Vec<(String, String)>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("resolver dir {}: {e}", dir.display()))?;
    let mut out = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let (Some(stem), Some("jwt")) = (path.file_stem().and_then(|s| s.to_str()), path.extension().and_then(|s| s.to_str())) else {
            continue;
        };
        if !codec::is_public_key(stem, codec::KeyKind::Account) {
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => out.push((stem.to_string(), text.trim().to_string())),
            Err(err) => crate::warn!("resolver: cannot read {}: {err}", path.display()),
        }
    }
    out.sort();
    Ok(out)
}

/// Writes an account JWT to the directory store (via a temporary file and a rename).
pub fn store(dir: &Path, account: &str, jwt: &str) -> std::io::Result<()> {
    let tmp = dir.join(format!(".{account}.jwt.tmp"));
    std::fs::write(&tmp, jwt)?;
    std::fs::rename(&tmp, dir.join(format!("{account}.jwt")))
}

/// What became of an update.
#[derive(Debug)]
pub enum Update {
    /// The new options to put in force.
    Applied(Box<Options>),
    /// A MEMORY resolver only updates accounts it has (nats-server: "jwt update skipped").
    Skipped,
}

/// Verifies an account JWT update (`account` from the subject, when it names one) and
/// returns the options with it in force. Errors are nats-server's descriptions.
pub fn apply_update(opts: &Options, account: Option<&str>, jwt: &str) -> Result<(String, Update), (String, String)> {
    let trust = &opts.auth.trust;
    let claims = codec::decode_account(jwt.trim()).map_err(|e| (account.unwrap_or("n/a").to_string(), e.to_string()))?;
    let key = claims.sub.clone();
    let fail = |msg: &str| Err((key.clone(), msg.to_string()));
    if account.is_some_and(|a| a != key) {
        return fail("subject does not match jwt content");
    }
    if !trust.trusted_signers().contains(&claims.iss) {
        return fail("not signed by a trusted operator");
    }
    let existing = trust.preload.iter().position(|p| p.account == key);
    let dir = match &trust.resolver {
        Some(ResolverConfig::Dir { dir, full }) => {
            if existing.is_none() && !full {
                return Ok((key, Update::Skipped));
            }
            Some(dir)
        }
        _ if existing.is_none() => return Ok((key, Update::Skipped)),
        _ => None,
    };
    if let Some(i) = existing {
        if codec::decode_account(&trust.preload[i].jwt).is_ok_and(|old| old.iat > claims.iat) {
            return fail("issued earlier than the current account JWT");
        }
    }
    if let Some(dir) = dir {
        store(dir, &key, jwt.trim()).map_err(|e| (key.clone(), format!("storing the JWT: {e}")))?;
    }
    let mut new = opts.clone();
    let entry = Preload { account: key.clone(), jwt: jwt.trim().to_string(), pos: None, stored: true };
    match existing {
        Some(i) => new.auth.trust.preload[i] = entry,
        None => new.auth.trust.preload.push(entry),
    }
    Ok((key, Update::Applied(Box::new(new))))
}

/// The JWT of an account the resolver has.
pub fn lookup<'a>(opts: &'a Options, account: &str) -> Option<&'a str> {
    opts.auth.trust.preload.iter().find(|p| p.account == account).map(|p| p.jwt.as_str())
}
