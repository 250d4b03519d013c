//! Permission templates of scoped signing keys (nats-server 2.9's
//! `processUserPermissionsTemplate`): tokens `{{name()}}`, `{{subject()}}`,
//! `{{account-name()}}`, `{{account-subject()}}`, `{{tag(k)}}` and `{{account-tag(k)}}`
//! in the template's subjects are filled in from the user and account JWTs; a tag token
//! expands to every matching `k:value` tag (all combinations when several are used).
use super::claims::{Permission, User};
use super::JwtError;
use crate::subject;

/// What the templates may refer to.
pub struct TemplateContext<'a> {
    pub user_name: &'a str,
    pub user_key: &'a str,
    pub user_tags: &'a [String],
    pub account_name: &'a str,
    pub account_key: &'a str,
    pub account_tags: &'a [String],
}

fn is_template(tok: &str) -> bool {
    tok.starts_with("{{") && tok.ends_with("}}")
}

fn tag_values(tags: &[String], key: &str) -> Vec<String> {
    let prefix = format!("{}:", key.to_ascii_lowercase());
    tags.iter().filter_map(|t| t.to_ascii_lowercase().strip_prefix(&prefix).map(str::to_string)).collect()
}

/// Expands one list; subjects that come out invalid are dropped, or refuse the user when
/// `fail_on_bad` (deny lists, so a bad template never widens access).
fn apply(list: &[String], ctx: &TemplateContext<'_>, fail_on_bad: bool) -> Result<Vec<String>, JwtError> {
    if !list.iter().any(|s| s.split('.').any(is_template)) {
        return Ok(list.to_vec());
    }
    let mut out = Vec::new();
    for s in list {
        // `None` marks a tag placeholder filled from `tag_lists` in order.
        let mut tokens: Vec<Option<String>> = Vec::new();
        let mut tag_lists: Vec<Vec<String>> = Vec::new();
        for tok in s.split('.') {
            if !is_template(tok) {
                tokens.push(Some(tok.to_string()));
                continue;
            }
            let op = tok[2..tok.len() - 2].to_ascii_lowercase();
            let value = match op.as_str() {
                "name()" => Some(ctx.user_name.to_string()),
                "subject()" => Some(ctx.user_key.to_string()),
                "account-name()" => Some(ctx.account_name.to_string()),
                "account-subject()" => Some(ctx.account_key.to_string()),
                _ => {
                    let tag = |p: &str| op.strip_prefix(p).and_then(|r| r.strip_suffix(')'));
                    if let Some(k) = tag("account-tag(") {
                        let v = tag_values(ctx.account_tags, k);
                        if !v.is_empty() {
                            tag_lists.push(v);
                        }
                        None
                    } else if let Some(k) = tag("tag(") {
                        let v = tag_values(ctx.user_tags, k);
                        if !v.is_empty() {
                            tag_lists.push(v);
                        }
                        None
                    } else {
                        Some(" ".to_string()) // unknown: makes the subject invalid on purpose
                    }
                }
            };
            tokens.push(value);
        }
        let mut combos: Vec<Vec<&str>> = vec![Vec::new()];
        for l in &tag_lists {
            combos = combos.iter().flat_map(|c| l.iter().map(move |v| [c.as_slice(), &[v.as_str()]].concat())).collect();
        }
        for combo in combos {
            let mut values = combo.into_iter();
            let parts: Vec<&str> = tokens.iter().map(|t| t.as_deref().unwrap_or_else(|| values.next().unwrap_or(""))).collect();
            let emitted = parts.join(".");
            if subject::is_valid_subject(emitted.as_bytes()) {
                out.push(emitted);
            } else if fail_on_bad {
                return Err(JwtError::Invalid("permission template generated an invalid subject".into()));
            }
        }
    }
    Ok(out)
}

/// The template's permissions filled in for one user. An allow list that was not empty
/// and expands to nothing becomes a `deny >` (nats-server's rule).
pub fn expand(mut t: User, ctx: &TemplateContext<'_>) -> Result<User, JwtError> {
    fn one(p: &mut Permission, ctx: &TemplateContext<'_>) -> Result<(), JwtError> {
        let had_allow = !p.allow.is_empty();
        p.allow = apply(&p.allow, ctx, false)?;
        p.deny = apply(&p.deny, ctx, true)?;
        if had_allow && p.allow.is_empty() {
            p.deny.push(">".into());
        }
        Ok(())
    }
    one(&mut t.permissions.subscribe, ctx)?;
    one(&mut t.permissions.publish, ctx)?;
    Ok(t)
}
