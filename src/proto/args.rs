//! Argument splitting and size parsing, as nats-server's `processPub`/`splitArg`/`parseSize`.

/// Split `arg` into at most `N` fields on runs of bytes for which `is_sep` holds.
/// Returns the fields and how many there were in total (which may exceed `N`; extra fields
/// are counted but not stored).
#[inline]
pub(crate) fn split<const N: usize>(
    arg: &[u8],
    is_sep: impl Fn(u8) -> bool,
) -> ([&[u8]; N], usize) {
    let mut out: [&[u8]; N] = [&[]; N];
    let mut n = 0;
    let mut start: Option<usize> = None;
    for (i, &b) in arg.iter().enumerate() {
        if is_sep(b) {
            if let Some(s) = start.take() {
                if n < N {
                    out[n] = &arg[s..i];
                }
                n += 1;
            }
        } else if start.is_none() {
            start = Some(i);
        }
    }
    if let Some(s) = start {
        if n < N {
            out[n] = &arg[s..];
        }
        n += 1;
    }
    (out, n)
}

/// PUB/HPUB split on space and tab only.
#[inline]
pub(crate) fn is_blank(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// SUB/UNSUB (`splitArg`) also split on CR and LF.
#[inline]
pub(crate) fn is_split_arg_sep(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\r' | b'\n')
}

/// nats-server `parseSize`: 1–9 ASCII digits, else `None`.
#[inline]
pub(crate) fn parse_size(d: &[u8]) -> Option<usize> {
    if d.is_empty() || d.len() > 9 {
        return None;
    }
    let mut n = 0usize;
    for &b in d {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + usize::from(b - b'0');
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_runs() {
        let (a, n) = split::<3>(b"  a \t b  c ", is_blank);
        assert_eq!(n, 3);
        assert_eq!(a, [&b"a"[..], b"b", b"c"]);
        let (_, n) = split::<3>(b"a b c d e", is_blank);
        assert_eq!(n, 5);
        let (a, n) = split::<3>(b"a\rb 1", is_split_arg_sep);
        assert_eq!(n, 3);
        assert_eq!(a[1], b"b");
        assert_eq!(split::<2>(b"", is_blank).1, 0);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size(b"0"), Some(0));
        assert_eq!(parse_size(b"000000001"), Some(1));
        assert_eq!(parse_size(b"999999999"), Some(999_999_999));
        assert_eq!(parse_size(b"0000000001"), None);
        assert_eq!(parse_size(b""), None);
        assert_eq!(parse_size(b"-1"), None);
        assert_eq!(parse_size(b"1a"), None);
        assert_eq!(parse_size(b"+1"), None);
    }
}
