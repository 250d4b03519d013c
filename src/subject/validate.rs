//! Subject validation and single-pattern matching (nats-server 2.9.10 `sublist.go`
//! semantics: `IsValidSubject`, `IsValidLiteralSubject`, trie insert rules,
//! `subjectIsSubsetMatch`, token-wise matching).
//!
//! A subject is split on `.` into tokens. A token is a wildcard only if it is
//! exactly `*` (one token) or `>` (one or more tokens, last only); `a*` or `b>`
//! are plain literals.

/// Token separator.
pub const TSEP: u8 = b'.';
/// Partial wildcard token (`*`).
pub const PWC: u8 = b'*';
/// Full wildcard token (`>`).
pub const FWC: u8 = b'>';

/// Splits a subject into its tokens (`"a..b"` gives `["a", "", "b"]`, `""` gives `[""]`).
#[inline]
pub fn tokens(s: &[u8]) -> std::slice::Split<'_, u8, impl FnMut(&u8) -> bool> {
    s.split(|b| *b == TSEP)
}

#[inline]
pub(crate) fn is_pwc(t: &[u8]) -> bool {
    t.len() == 1 && t[0] == PWC
}

#[inline]
pub(crate) fn is_fwc(t: &[u8]) -> bool {
    t.len() == 1 && t[0] == FWC
}

#[inline]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// nats `IsValidSubject`: non-empty, no empty token, nothing after a `>` token, no
/// whitespace (space, tab, CR, LF, FF) in any token. Wildcards are allowed.
pub fn is_valid_subject(s: &[u8]) -> bool {
    if s.is_empty() {
        return false;
    }
    let mut sfwc = false;
    for t in tokens(s) {
        if t.is_empty() || sfwc || t.iter().any(|&b| is_ws(b)) {
            return false;
        }
        if is_fwc(t) {
            sfwc = true;
        }
    }
    true
}

/// A valid subject ([`is_valid_subject`]) without wildcard tokens.
///
/// Note: nats-server 2.9.10 `IsValidLiteralSubject` does not check whitespace;
/// this one does (a PUB subject can't hold space/tab anyway, only FF/CR could differ).
pub fn is_valid_literal_subject(s: &[u8]) -> bool {
    is_valid_subject(s) && tokens(s).all(|t| !is_pwc(t) && !is_fwc(t))
}

/// What the trie insert accepts (2.9.10 `Sublist.Insert`): no empty token and no
/// token after `>`. Whitespace is not checked (the protocol parser splits on it).
pub fn is_valid_sub_subject(s: &[u8]) -> bool {
    let mut sfwc = false;
    for t in tokens(s) {
        if t.is_empty() || sfwc {
            return false;
        }
        if is_fwc(t) {
            sfwc = true;
        }
    }
    true
}

/// True if the subject contains a `*` or `>` token (no validity check).
pub fn has_wildcard(s: &[u8]) -> bool {
    tokens(s).any(|t| is_pwc(t) || is_fwc(t))
}

/// Pattern containment: every subject matched by `sub` is also matched by `of`
/// (2.9.10 `subjectIsSubsetMatch(sub, of)`). `foo.*` ⊆ `>`, `*.*`, `foo.*`; not ⊆ `foo.bar`.
pub fn subject_is_subset(sub: &[u8], of: &[u8]) -> bool {
    let mut st = tokens(sub);
    for t2 in tokens(of) {
        let Some(t1) = st.next() else {
            return false;
        };
        if t2.is_empty() {
            return false;
        }
        if is_fwc(t2) {
            return !t1.is_empty();
        }
        if t1.is_empty() || is_fwc(t1) {
            return false;
        }
        if is_pwc(t1) {
            if !is_pwc(t2) {
                return false;
            }
            continue;
        }
        if !is_pwc(t2) && t1 != t2 {
            return false;
        }
    }
    st.next().is_none()
}

/// Does `pattern` (a subscription subject, may hold wildcards) match the published
/// `literal` subject? Token-wise, like the trie: `*` matches exactly one token, `>`
/// one or more, anything else must be equal. A wildcard in the published subject is
/// just a token, so `PUB foo.*` reaches `SUB foo.*` and `SUB foo.>` but not `SUB foo.bar`.
/// A subject with an empty token matches nothing; so does an invalid pattern.
pub fn matches(pattern: &[u8], literal: &[u8]) -> bool {
    let mut lt = tokens(literal);
    let mut pt = tokens(pattern).peekable();
    while let Some(p) = pt.next() {
        if p.is_empty() {
            return false;
        }
        if is_fwc(p) {
            // `>` must be the last token and needs at least one more literal token.
            if pt.peek().is_some() {
                return false;
            }
            let mut any = false;
            for l in lt.by_ref() {
                if l.is_empty() {
                    return false;
                }
                any = true;
            }
            return any;
        }
        let Some(l) = lt.next() else {
            return false;
        };
        if l.is_empty() || (!is_pwc(p) && p != l) {
            return false;
        }
    }
    lt.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_subject() {
        for s in [
            "foo",
            "foo.bar",
            "foo.*",
            "*",
            ">",
            "foo.>",
            "*.>",
            "a*.b",
            "b>.c",
            "foo.*.bar",
        ] {
            assert!(is_valid_subject(s.as_bytes()), "{s}");
            assert!(is_valid_sub_subject(s.as_bytes()), "{s}");
        }
        for s in [
            "",
            ".",
            "foo..bar",
            "foo.>.bar",
            "foo.",
            ".foo",
            ">.a",
            "> .a",
            "foo. bar",
            "foo\tbar",
            "a b",
            "a\rb",
            "a\x0cb",
            "a\nb",
        ] {
            assert!(!is_valid_subject(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn valid_sub_subject_is_insert_rule() {
        for s in ["", "foo..bar", "foo.>.bar", "foo.", ">.a", ".a", "a.>.>"] {
            assert!(!is_valid_sub_subject(s.as_bytes()), "{s:?}");
        }
        // whitespace is not the insert's business
        assert!(is_valid_sub_subject(b"a b.c"));
        assert!(is_valid_sub_subject(b"a*.b>"));
    }

    #[test]
    fn literal_subject() {
        for s in ["foo", "foo.bar", "a*.b", "b>.c", "foo.a>", "*a", ">>"] {
            assert!(is_valid_literal_subject(s.as_bytes()), "{s}");
        }
        for s in [
            "foo.*",
            "*",
            ">",
            "foo.>",
            "foo.*.bar",
            "",
            "foo..bar",
            "foo.",
            "a b",
        ] {
            assert!(!is_valid_literal_subject(s.as_bytes()), "{s:?}");
        }
        assert!(has_wildcard(b"foo.*"));
        assert!(!has_wildcard(b"foo.a*"));
    }

    #[test]
    fn matching() {
        let yes = [
            ("foo", "foo"),
            ("foo.*", "foo.bar"),
            ("foo.>", "foo.bar"),
            ("foo.>", "foo.bar.baz"),
            (">", "foo"),
            (">", "foo.bar"),
            ("*.bar", "foo.bar"),
            ("*", "foo"),
            ("foo.*", "foo.*"),
            ("foo.>", "foo.*"),
            ("foo.*", "foo.>"),
            ("foo.>", "foo.>"),
            ("a*.b", "a*.b"),
            ("*.*", "a.b"),
        ];
        for (p, s) in yes {
            assert!(matches(p.as_bytes(), s.as_bytes()), "{p} vs {s}");
        }
        let no = [
            ("foo", "bar"),
            ("foo.bar", "foo.*"),
            ("foo.bar", "foo.>"),
            ("foo.*", "foo"),
            ("foo.*", "foo.bar.baz"),
            ("foo.>", "foo"),
            ("*", "foo.bar"),
            ("foo", "foo.bar"),
            ("foo.bar", "foo"),
            (">", ""),
            ("*", ""),
            ("foo.*", "foo."),
            (">", "foo..bar"),
            ("foo.>", "foo.bar."),
            ("a*.b", "ab.b"),
            ("foo.>.bar", "foo.x.bar"),
            ("", ""),
        ];
        for (p, s) in no {
            assert!(!matches(p.as_bytes(), s.as_bytes()), "{p} vs {s}");
        }
    }

    #[test]
    fn subset() {
        let yes = [
            ("foo.*", ">"),
            ("foo.*", "*.*"),
            ("foo.*", "foo.*"),
            ("foo.*", "foo.>"),
            ("foo.bar", "foo.*"),
            ("foo.bar", "foo.bar"),
            ("foo.bar.baz", "foo.>"),
            ("foo.>", "foo.>"),
            ("foo.>", ">"),
            ("foo.*.baz", "foo.*.*"),
            ("foo.*.>", "foo.>"),
        ];
        for (a, b) in yes {
            assert!(subject_is_subset(a.as_bytes(), b.as_bytes()), "{a} <= {b}");
        }
        let no = [
            ("foo.*", "foo.bar"),
            ("foo.>", "foo.*"),
            ("foo.>", "foo.*.>"),
            ("foo", "foo.>"),
            ("foo.bar", "foo"),
            ("foo", "foo.bar"),
            (">", "foo.>"),
            ("*", "foo"),
            ("foo.*.*", "foo.*"),
            ("bar.*", "foo.*"),
        ];
        for (a, b) in no {
            assert!(!subject_is_subset(a.as_bytes(), b.as_bytes()), "{a} <= {b}");
        }
    }
}
