//! Lexer for the NATS configuration format (behaviour of nats-server `conf/lex.go`).
//!
//! The lexer turns the source into a flat list of [`Item`]s (keys, scalar values, the
//! starts and ends of maps and arrays, includes). Every item keeps the 1-based line and
//! column where it starts. Comments are dropped.

/// Deepest nesting of maps/arrays accepted (guards the recursion on hostile input).
const MAX_DEPTH: usize = 128;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ItemKind {
    Key,
    String,
    /// Integer text, possibly with a size suffix (`64KB`).
    Integer,
    Float,
    Bool,
    /// `$NAME`; the value is the name without `$`.
    Variable,
    DateTime,
    ArrayStart,
    ArrayEnd,
    MapStart,
    MapEnd,
    /// `include <path>`; the value is the path.
    Include,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub kind: ItemKind,
    pub val: String,
    pub line: u32,
    pub col: u32,
}

/// A lexing error with its 1-based position.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LexError {
    pub message: String,
    pub line: u32,
    pub col: u32,
}

type LResult<T> = Result<T, LexError>;

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}
fn is_nl(c: char) -> bool {
    c == '\n' || c == '\r'
}
fn is_key_sep(c: char) -> bool {
    c == '=' || c == ':'
}
fn is_number_suffix(c: char) -> bool {
    matches!(c.to_ascii_lowercase(), 'k' | 'm' | 'g' | 't' | 'p' | 'e')
}
/// Characters that end a number (nats-server's list plus `]`, so `[1, 2]` holds integers).
fn ends_number(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => is_nl(c) || is_ws(c) || matches!(c, '}' | ';' | ',' | ']'),
    }
}

fn show(c: Option<char>) -> String {
    match c {
        None => "EOF".to_string(),
        Some('\n') => "\\n".to_string(),
        Some('\r') => "\\r".to_string(),
        Some('\t') => "\\t".to_string(),
        Some(c) => c.to_string(),
    }
}

/// String being built: characters plus raw bytes from `\xHH` escapes.
#[derive(Default)]
struct StrBuf(Vec<u8>);

impl StrBuf {
    fn push(&mut self, c: char) {
        let mut b = [0u8; 4];
        self.0.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
    }
    fn push_byte(&mut self, b: u8) {
        self.0.push(b);
    }
    fn finish(self) -> String {
        match String::from_utf8(self.0) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Ctx {
    Top,
    Map,
}

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: u32,
    col: u32,
    items: Vec<Item>,
    depth: usize,
}

/// Lex a whole source text.
pub(crate) fn lex(src: &str) -> Result<Vec<Item>, LexError> {
    let mut lx = Lexer {
        chars: src.chars().collect(),
        pos: 0,
        line: 1,
        col: 1,
        items: Vec::new(),
        depth: 0,
    };
    lx.top()?;
    Ok(lx.items)
}

impl Lexer {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.chars.get(self.pos).copied()?;
        self.pos += 1;
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }
    fn err<T>(&self, message: impl Into<String>) -> LResult<T> {
        Err(LexError {
            message: message.into(),
            line: self.line,
            col: self.col,
        })
    }
    fn err_at<T>(&self, line: u32, col: u32, message: impl Into<String>) -> LResult<T> {
        Err(LexError {
            message: message.into(),
            line,
            col,
        })
    }
    fn emit(&mut self, kind: ItemKind, val: String, line: u32, col: u32) {
        self.items.push(Item {
            kind,
            val,
            line,
            col,
        });
    }
    fn skip_comment(&mut self) {
        while let Some(c) = self.peek() {
            if is_nl(c) {
                break;
            }
            self.bump();
        }
    }
    /// At `#` or `//`: consume the comment and return true.
    fn try_comment(&mut self) -> bool {
        match (self.peek(), self.peek_at(1)) {
            (Some('#'), _) | (Some('/'), Some('/')) => {
                self.skip_comment();
                true
            }
            _ => false,
        }
    }

    fn top(&mut self) -> LResult<()> {
        loop {
            match self.peek() {
                None => return Ok(()),
                Some(c) if c.is_whitespace() || c == '{' || c == '}' => {
                    // A top-level `{ ... }` wrapper is allowed and ignored.
                    self.bump();
                }
                Some(_) if self.try_comment() => {}
                Some('/') => return self.err("Unexpected '/' (comments start with '//' or '#')"),
                Some(_) => {
                    self.key_and_value(Ctx::Top)?;
                    self.top_value_end()?;
                }
            }
        }
    }

    fn top_value_end(&mut self) -> LResult<()> {
        loop {
            match self.peek() {
                None => return Ok(()),
                Some(c) if is_ws(c) => {
                    self.bump();
                }
                Some(_) if self.try_comment() => return Ok(()),
                Some(c) if is_nl(c) || c == ',' || c == ';' || c == '}' => {
                    self.bump();
                    return Ok(());
                }
                c => {
                    return self.err(format!(
                        "Expected a top-level value to end with a new line, comment or EOF, but got '{}' instead.",
                        show(c)
                    ))
                }
            }
        }
    }

    /// Lex one `key [sep] value` (or `include path`) inside the top level or a map.
    fn key_and_value(&mut self, ctx: Ctx) -> LResult<()> {
        let (line, col) = (self.line, self.col);
        let key = match self.peek() {
            Some(c) if is_key_sep(c) => {
                return self.err(format!("Unexpected key separator '{c}'"));
            }
            Some(q @ ('"' | '\'')) => {
                self.bump();
                let mut key = String::new();
                loop {
                    match self.bump() {
                        None => return self.err("Unexpected EOF processing quoted key."),
                        Some(c) if c == q => break,
                        Some(c) => key.push(c),
                    }
                }
                key
            }
            _ => {
                let mut key = String::new();
                loop {
                    match self.peek() {
                        None => {
                            if ctx == Ctx::Map {
                                return self.err("Unexpected EOF processing map key.");
                            }
                            break;
                        }
                        Some(c) if c.is_whitespace() => {
                            if key.eq_ignore_ascii_case("include") {
                                return self.include(line, col);
                            }
                            break;
                        }
                        Some(c) if is_key_sep(c) => break,
                        Some(c) => {
                            key.push(c);
                            self.bump();
                        }
                    }
                }
                key
            }
        };
        self.emit(ItemKind::Key, key.clone(), line, col);
        // Key end: whitespace (newlines too) and at most one separator.
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.bump();
        }
        if matches!(self.peek(), Some(c) if is_key_sep(c)) {
            self.bump();
            if ctx == Ctx::Map {
                while matches!(self.peek(), Some(c) if c.is_whitespace()) {
                    self.bump();
                }
            }
        }
        match self.peek() {
            None => self.err_at(
                line,
                col,
                format!("Expected a value for key '{key}' but found EOF"),
            ),
            Some('}') if ctx == Ctx::Map => self.err_at(
                line,
                col,
                format!("Expected a value for key '{key}' but found '}}'"),
            ),
            Some(',') if ctx == Ctx::Map => self.err("Unexpected map value terminator ','."),
            _ => self.value(),
        }
    }

    fn include(&mut self, line: u32, col: u32) -> LResult<()> {
        while matches!(self.peek(), Some(c) if is_ws(c)) {
            self.bump();
        }
        let mut path = String::new();
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                self.bump();
                loop {
                    match self.bump() {
                        None => return self.err("Unexpected EOF in quoted include"),
                        Some(c) if c == q => break,
                        Some(c) => path.push(c),
                    }
                }
            }
            Some('[') => return self.err("Expected include value but found start of an array"),
            Some('{') => return self.err("Expected include value but found start of a map"),
            Some('(') => return self.err("Expected include value but found start of a block"),
            Some(c) if c.is_ascii_digit() || c == '-' => {
                return self.err("Expected include value but found start of a number")
            }
            Some('\\') => return self.err("Expected include value but found escape sequence"),
            Some(c) if is_nl(c) => return self.err("Expected include value but found new line"),
            None => return self.err("Expected include value but found EOF"),
            _ => loop {
                match self.peek() {
                    None => break,
                    Some(c) if is_nl(c) || is_ws(c) || c == ';' || c == '}' => break,
                    Some('\'') => {
                        self.bump();
                        break;
                    }
                    Some(c) => {
                        path.push(c);
                        self.bump();
                    }
                }
            },
        }
        self.emit(ItemKind::Include, path, line, col);
        Ok(())
    }

    fn value(&mut self) -> LResult<()> {
        while matches!(self.peek(), Some(c) if is_ws(c)) {
            self.bump();
        }
        let (line, col) = (self.line, self.col);
        match self.peek() {
            Some('[') => {
                self.bump();
                self.nest()?;
                self.emit(ItemKind::ArrayStart, String::new(), line, col);
                self.array()?;
                self.depth -= 1;
                Ok(())
            }
            Some('{') => {
                self.bump();
                self.nest()?;
                self.emit(ItemKind::MapStart, String::new(), line, col);
                self.map()?;
                self.depth -= 1;
                Ok(())
            }
            Some('\'') => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump() {
                        None => return self.err("Unexpected EOF in quoted string."),
                        Some('\'') => break,
                        Some(c) => s.push(c),
                    }
                }
                self.emit(ItemKind::String, s, line, col);
                Ok(())
            }
            Some('"') => {
                self.bump();
                let mut s = StrBuf::default();
                loop {
                    match self.bump() {
                        None => return self.err("Unexpected EOF in quoted string."),
                        Some('"') => break,
                        Some('\\') => self.escape(&mut s)?,
                        Some(c) => s.push(c),
                    }
                }
                self.emit(ItemKind::String, s.finish(), line, col);
                Ok(())
            }
            Some('(') => {
                self.bump();
                self.block(line, col)
            }
            Some('-') => {
                self.bump();
                match self.peek() {
                    Some(c) if c.is_ascii_digit() => self.number(line, col, "-".to_string()),
                    Some('.') => self.err("Floats must start with a digit, not '.'."),
                    c => self.err(format!("Expected a digit but got '{}'.", show(c))),
                }
            }
            Some(c) if c.is_ascii_digit() => self.number(line, col, String::new()),
            Some('.') => self.err("Floats must start with a digit"),
            Some(c) if is_nl(c) => self.err("Expected value but found new line"),
            _ => self.bare_string(line, col, String::new(), false),
        }
    }

    fn nest(&mut self) -> LResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err(format!(
                "maps and arrays nested deeper than {MAX_DEPTH} levels"
            ));
        }
        Ok(())
    }

    fn escape(&mut self, s: &mut StrBuf) -> LResult<()> {
        match self.bump() {
            Some('t') => s.push('\t'),
            Some('n') => s.push('\n'),
            Some('r') => s.push('\r'),
            Some('"') => s.push('"'),
            Some('\\') => s.push('\\'),
            Some('x') => {
                let a = self.bump();
                let b = self.bump();
                match (a, b) {
                    (Some(a), Some(b)) if !is_nl(a) && !is_nl(b) => {
                        match (a.to_digit(16), b.to_digit(16)) {
                            (Some(h), Some(l)) => s.push_byte((h * 16 + l) as u8),
                            _ => {
                                return self.err(format!(
                                    "Expected two hexadecimal digits after '\\x', but got '{a}{b}'"
                                ))
                            }
                        }
                    }
                    _ => {
                        return self.err(
                            "Expected two hexadecimal digits after '\\x', but hit end of line",
                        )
                    }
                }
            }
            c => {
                return self.err(format!(
                    "Invalid escape character '{}'. Only the following escape characters are allowed: \\xXX, \\t, \\n, \\r, \\\", \\\\.",
                    show(c)
                ))
            }
        }
        Ok(())
    }

    /// A bare (unquoted) string; `prefix` holds characters already consumed.
    fn bare_string(
        &mut self,
        line: u32,
        col: u32,
        prefix: String,
        mut escaped: bool,
    ) -> LResult<()> {
        let mut s = StrBuf(prefix.into_bytes());
        loop {
            match self.peek() {
                Some('\\') => {
                    self.bump();
                    self.escape(&mut s)?;
                    escaped = true;
                }
                None => break,
                Some(c) if is_nl(c) || is_ws(c) || matches!(c, ';' | ',' | ']' | '}') => break,
                Some('\'') => {
                    self.bump();
                    self.emit(ItemKind::String, s.finish(), line, col);
                    return Ok(());
                }
                Some(c) => {
                    s.push(c);
                    self.bump();
                }
            }
        }
        let s = s.finish();
        let lower = s.to_ascii_lowercase();
        if escaped {
            self.emit(ItemKind::String, s, line, col);
        } else if matches!(
            lower.as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off"
        ) {
            self.emit(ItemKind::Bool, s, line, col);
        } else if let Some(name) = s.strip_prefix('$') {
            self.emit(ItemKind::Variable, name.to_string(), line, col);
        } else {
            self.emit(ItemKind::String, s, line, col);
        }
        Ok(())
    }

    /// Numbers, size-suffixed integers, floats, dates, IP addresses and strings that
    /// merely start with a digit (`5s`, `1m30s`).
    fn number(&mut self, line: u32, col: u32, mut s: String) -> LResult<()> {
        let negative = s.starts_with('-');
        while let Some(c) = self.peek() {
            if !c.is_ascii_digit() {
                break;
            }
            s.push(c);
            self.bump();
        }
        match self.peek() {
            Some('-') if !negative => {
                if s.len() != 4 {
                    return self.err("All ISO8601 dates must be in full Zulu form.");
                }
                self.date(line, col, s)
            }
            Some('.') => {
                s.push('.');
                self.bump();
                match self.peek() {
                    Some(c) if c.is_ascii_digit() => {}
                    c => {
                        return self.err(format!(
                            "Floats must have a digit after the '.', but got '{}' instead.",
                            show(c)
                        ))
                    }
                }
                while let Some(c) = self.peek() {
                    if !c.is_ascii_digit() {
                        break;
                    }
                    s.push(c);
                    self.bump();
                }
                if self.peek() == Some('.') {
                    // An IP address such as 127.0.0.1: a string.
                    while let Some(c) = self.peek() {
                        if !(c.is_ascii_digit() || matches!(c, '.' | ':' | '-')) {
                            break;
                        }
                        s.push(c);
                        self.bump();
                    }
                    self.emit(ItemKind::String, s, line, col);
                } else {
                    self.emit(ItemKind::Float, s, line, col);
                }
                Ok(())
            }
            Some(c) if is_number_suffix(c) => {
                s.push(c);
                self.bump();
                while let Some(c) = self.peek() {
                    if !matches!(c, 'b' | 'B' | 'i' | 'I') {
                        break;
                    }
                    s.push(c);
                    self.bump();
                }
                if ends_number(self.peek()) {
                    self.emit(ItemKind::Integer, s, line, col);
                    Ok(())
                } else {
                    self.bare_string(line, col, s, false)
                }
            }
            c if ends_number(c) || negative => {
                self.emit(ItemKind::Integer, s, line, col);
                Ok(())
            }
            _ => self.bare_string(line, col, s, false),
        }
    }

    fn date(&mut self, line: u32, col: u32, mut s: String) -> LResult<()> {
        const FORMAT: &str = "-00-00T00:00:00Z";
        for f in FORMAT.chars() {
            let c = self.bump();
            if f == '0' {
                match c {
                    Some(c) if c.is_ascii_digit() => s.push(c),
                    c => {
                        return self.err(format!(
                            "Expected digit in ISO8601 datetime, but found '{}' instead.",
                            show(c)
                        ))
                    }
                }
            } else if c == Some(f) {
                s.push(f);
            } else {
                return self.err(format!(
                    "Expected '{f}' in ISO8601 datetime, but found '{}' instead.",
                    show(c)
                ));
            }
        }
        self.emit(ItemKind::DateTime, s, line, col);
        Ok(())
    }

    /// Block string: everything after `(` up to a line holding only `)`.
    fn block(&mut self, line: u32, col: u32) -> LResult<()> {
        let mut s = String::new();
        loop {
            match self.bump() {
                None => return self.err("Unexpected EOF processing block."),
                Some('\n')
                    if self.peek() == Some(')') && matches!(self.peek_at(1), None | Some('\n')) =>
                {
                    self.bump();
                    self.emit(ItemKind::String, s, line, col);
                    return Ok(());
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn array(&mut self) -> LResult<()> {
        loop {
            // Before a value.
            match self.peek() {
                None => return self.err("Unexpected EOF processing array."),
                Some(c) if c.is_whitespace() => {
                    self.bump();
                    continue;
                }
                Some(_) if self.try_comment() => continue,
                Some(',') => return self.err("Unexpected array value terminator ','."),
                Some(']') => {
                    let (l, c) = (self.line, self.col);
                    self.bump();
                    self.emit(ItemKind::ArrayEnd, String::new(), l, c);
                    return Ok(());
                }
                Some(_) => self.value()?,
            }
            // After a value.
            loop {
                match self.peek() {
                    Some(c) if is_ws(c) => {
                        self.bump();
                    }
                    Some(_) if self.try_comment() => {}
                    Some(c) if c == ',' || is_nl(c) => {
                        self.bump();
                        break;
                    }
                    Some(']') => break,
                    c => {
                        return self.err(format!(
                            "Expected an array value terminator \",\" or an array terminator \"]\", but got '{}' instead.",
                            show(c)
                        ))
                    }
                }
            }
        }
    }

    fn map(&mut self) -> LResult<()> {
        loop {
            match self.peek() {
                None => return self.err("Unexpected EOF processing map."),
                Some(c) if c.is_whitespace() => {
                    self.bump();
                    continue;
                }
                Some(_) if self.try_comment() => continue,
                Some(c) if is_key_sep(c) => {
                    return self.err(format!("Unexpected key separator '{c}'."))
                }
                Some(']') => return self.err("Unexpected array end ']' processing map."),
                Some('}') => {
                    let (l, c) = (self.line, self.col);
                    self.bump();
                    self.emit(ItemKind::MapEnd, String::new(), l, c);
                    return Ok(());
                }
                Some(_) => self.key_and_value(Ctx::Map)?,
            }
            loop {
                match self.peek() {
                    Some(c) if is_ws(c) => {
                        self.bump();
                    }
                    Some(_) if self.try_comment() => {}
                    Some(c) if c == ',' || c == ';' || is_nl(c) => {
                        self.bump();
                        break;
                    }
                    Some('}') => break,
                    c => {
                        return self.err(format!(
                            "Expected a map value terminator \",\" or a map terminator \"}}\", but got '{}' instead.",
                            show(c)
                        ))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(ItemKind, String)> {
        lex(src)
            .unwrap()
            .into_iter()
            .map(|i| (i.kind, i.val))
            .collect()
    }

    #[test]
    fn scalars() {
        use ItemKind::*;
        assert_eq!(
            kinds("a = 1\nb: -2\nc 1.5\nd: 64KB\ne: 5s\nf: yes\ng: $X\nh: 127.0.0.1\n"),
            vec![
                (Key, "a".into()),
                (Integer, "1".into()),
                (Key, "b".into()),
                (Integer, "-2".into()),
                (Key, "c".into()),
                (Float, "1.5".into()),
                (Key, "d".into()),
                (Integer, "64KB".into()),
                (Key, "e".into()),
                (String, "5s".into()),
                (Key, "f".into()),
                (Bool, "yes".into()),
                (Key, "g".into()),
                (Variable, "X".into()),
                (Key, "h".into()),
                (String, "127.0.0.1".into()),
            ]
        );
    }

    #[test]
    fn positions() {
        let items = lex("a: 1\n  bb = \"x\"\n").unwrap();
        assert_eq!((items[2].line, items[2].col), (2, 3));
        assert_eq!((items[3].line, items[3].col), (2, 8));
    }

    #[test]
    fn block_and_date() {
        use ItemKind::*;
        assert_eq!(
            kinds("b (\nline one\n  two\n)\nd: 2016-05-04T18:53:41Z"),
            vec![
                (Key, "b".into()),
                (String, "\nline one\n  two".into()),
                (Key, "d".into()),
                (DateTime, "2016-05-04T18:53:41Z".into()),
            ]
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = lex("a: [1, 2\n").unwrap_err();
        assert_eq!(e.line, 2);
        let e = lex("a: \"x\\q\"").unwrap_err();
        assert!(e.message.contains("Invalid escape"), "{e:?}");
        assert!(lex("a: {b: 1").is_err());
        assert!(lex("a: .5").is_err());
        assert!(lex("a: 1 2").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let src = format!("a: {}", "[".repeat(10_000));
        assert!(lex(&src).is_err());
    }
}
