//! Parser for the NATS configuration format (behaviour of nats-server `conf/parse.go`):
//! builds a [`Node`] tree from the lexer's items, resolving variables and includes.
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::{ConfigError, Pos};
use super::lexer::{lex, Item, ItemKind};

/// How deep an environment variable may refer to another one.
const MAX_ENV_DEPTH: u32 = 16;
/// How many files may include each other in a chain.
const MAX_INCLUDE_DEPTH: usize = 32;

/// A map key with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Key {
    pub name: String,
    pub pos: Pos,
    /// The entry was referenced as `$name` somewhere (nats-server's "used variable").
    pub used_as_variable: bool,
}

/// A value with the position where it starts.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// A configuration value. Maps keep their keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Map(Vec<(Key, Node)>),
    Array(Vec<Node>),
    String(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// ISO 8601 Zulu datetime, as written (`2016-05-04T18:53:41Z`).
    DateTime(String),
}

impl Value {
    /// The type's name as used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Map(_) => "map",
            Value::Array(_) => "array",
            Value::String(_) => "string",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Bool(_) => "boolean",
            Value::DateTime(_) => "datetime",
        }
    }
}

impl Node {
    /// The entries of a map (empty for other values).
    pub fn entries(&self) -> &[(Key, Node)] {
        match &self.value {
            Value::Map(m) => m,
            _ => &[],
        }
    }
    /// Look a key up in a map, ignoring ASCII case (as nats-server does for option keys).
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entries()
            .iter()
            .rev()
            .find(|(k, _)| k.name.eq_ignore_ascii_case(key))
            .map(|(_, n)| n)
    }
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self.value {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }
    pub fn as_float(&self) -> Option<f64> {
        match self.value {
            Value::Float(f) => Some(f),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match self.value {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Node]> {
        match &self.value {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_map(&self) -> Option<&[(Key, Node)]> {
        match &self.value {
            Value::Map(m) => Some(m),
            _ => None,
        }
    }
}

/// Parse configuration text. `file` is used for positions and as the base of relative
/// includes (its directory); pass an empty path for text that has no file.
pub fn parse_str(src: &str, file: &Path) -> Result<Node, ConfigError> {
    let mut chain = Vec::new();
    if let Ok(c) = file.canonicalize() {
        chain.push(c);
    }
    parse_inner(src, file, &mut chain, 0)
}

/// Read and parse a configuration file.
pub fn parse_file(path: &Path) -> Result<Node, ConfigError> {
    let src = read(path)?;
    parse_str(&src, path)
}

fn read(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| {
        ConfigError::new(format!(
            "error opening config file '{}': {e}",
            path.display()
        ))
    })
}

fn parse_inner(
    src: &str,
    file: &Path,
    chain: &mut Vec<PathBuf>,
    env_depth: u32,
) -> Result<Node, ConfigError> {
    let file: Arc<Path> = Arc::from(file);
    let items =
        lex(src).map_err(|e| ConfigError::at(&Pos::new(file.clone(), e.line, e.col), e.message))?;
    let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut p = Parser {
        items,
        idx: 0,
        file,
        dir,
        stack: Vec::new(),
        chain,
        env_depth,
    };
    p.top()
}

struct Parser<'a> {
    items: Vec<Item>,
    idx: usize,
    file: Arc<Path>,
    dir: PathBuf,
    /// Maps being built, innermost last (for variable lookup).
    stack: Vec<Vec<(Key, Node)>>,
    /// Canonical paths of the files being parsed (include cycle guard).
    chain: &'a mut Vec<PathBuf>,
    env_depth: u32,
}

impl Parser<'_> {
    fn pos(&self, it: &Item) -> Pos {
        Pos::new(self.file.clone(), it.line, it.col)
    }

    fn next(&mut self) -> Option<Item> {
        let it = self.items.get(self.idx).cloned();
        self.idx += 1;
        it
    }

    fn top(&mut self) -> Result<Node, ConfigError> {
        self.stack.push(Vec::new());
        while let Some(it) = self.next() {
            self.map_item(it)?;
        }
        let entries = self.stack.pop().unwrap_or_default();
        Ok(Node {
            value: Value::Map(entries),
            pos: Pos::new(self.file.clone(), 1, 1),
        })
    }

    /// One item inside a map: a key (followed by its value) or an include.
    fn map_item(&mut self, it: Item) -> Result<(), ConfigError> {
        match it.kind {
            ItemKind::Key => {
                let key = Key {
                    name: it.val.clone(),
                    pos: self.pos(&it),
                    used_as_variable: false,
                };
                let Some(vit) = self.next() else {
                    return Err(ConfigError::at(
                        &key.pos,
                        format!("missing value for key '{}'", key.name),
                    ));
                };
                let node = self.value(vit)?;
                self.insert(key, node);
                Ok(())
            }
            ItemKind::Include => self.include(&it),
            _ => Err(ConfigError::at(
                &self.pos(&it),
                format!("unexpected {:?} where a key was expected", it.kind),
            )),
        }
    }

    fn insert(&mut self, key: Key, node: Node) {
        if let Some(map) = self.stack.last_mut() {
            if let Some(slot) = map.iter_mut().find(|(k, _)| k.name == key.name) {
                *slot = (key, node);
            } else {
                map.push((key, node));
            }
        }
    }

    fn value(&mut self, it: Item) -> Result<Node, ConfigError> {
        let pos = self.pos(&it);
        let value = match it.kind {
            ItemKind::String => Value::String(it.val),
            ItemKind::Bool => Value::Bool(matches!(
                it.val.to_ascii_lowercase().as_str(),
                "true" | "yes" | "on"
            )),
            ItemKind::Integer => {
                Value::Int(parse_int(&it.val).map_err(|m| ConfigError::at(&pos, m))?)
            }
            ItemKind::Float => Value::Float(it.val.parse::<f64>().map_err(|_| {
                ConfigError::at(&pos, format!("expected float, but got '{}'", it.val))
            })?),
            ItemKind::DateTime => Value::DateTime(it.val),
            ItemKind::Variable => return self.variable(&it, pos),
            ItemKind::ArrayStart => {
                let mut arr = Vec::new();
                loop {
                    match self.next() {
                        None => return Err(ConfigError::at(&pos, "unterminated array")),
                        Some(i) if i.kind == ItemKind::ArrayEnd => break,
                        Some(i) => arr.push(self.value(i)?),
                    }
                }
                Value::Array(arr)
            }
            ItemKind::MapStart => {
                self.stack.push(Vec::new());
                loop {
                    match self.next() {
                        None => return Err(ConfigError::at(&pos, "unterminated map")),
                        Some(i) if i.kind == ItemKind::MapEnd => break,
                        Some(i) => self.map_item(i)?,
                    }
                }
                Value::Map(self.stack.pop().unwrap_or_default())
            }
            k => {
                return Err(ConfigError::at(
                    &pos,
                    format!("unexpected {k:?} where a value was expected"),
                ))
            }
        };
        Ok(Node { value, pos })
    }

    fn variable(&mut self, it: &Item, pos: Pos) -> Result<Node, ConfigError> {
        let name = it.val.as_str();
        // A bcrypt hash ($2a$11$...) is a value, not a variable.
        if ["2a$", "2b$", "2y$"].iter().any(|p| name.starts_with(p)) {
            return Ok(Node {
                value: Value::String(format!("${name}")),
                pos,
            });
        }
        for map in self.stack.iter_mut().rev() {
            if let Some((k, n)) = map.iter_mut().rev().find(|(k, _)| k.name == name) {
                k.used_as_variable = true;
                return Ok(Node {
                    value: n.value.clone(),
                    pos,
                });
            }
        }
        if let Ok(v) = std::env::var(name) {
            if self.env_depth >= MAX_ENV_DEPTH {
                return Err(ConfigError::at(
                    &pos,
                    format!(
                        "variable reference for '{name}' on line {} nests too deeply",
                        it.line
                    ),
                ));
            }
            let mut chain = Vec::new();
            let parsed = parse_inner(
                &format!("pk={v}"),
                Path::new(""),
                &mut chain,
                self.env_depth + 1,
            )
            .map_err(|e| {
                ConfigError::at(
                    &pos,
                    format!(
                        "variable reference for '{name}' on line {} could not be parsed: {}",
                        it.line, e.message
                    ),
                )
            })?;
            if let Some(n) = parsed.get("pk") {
                return Ok(Node {
                    value: n.value.clone(),
                    pos,
                });
            }
        }
        Err(ConfigError::at(
            &pos,
            format!(
                "variable reference for '{name}' on line {} can not be found",
                it.line
            ),
        ))
    }

    fn include(&mut self, it: &Item) -> Result<(), ConfigError> {
        let pos = self.pos(it);
        let path = self.dir.join(&it.val);
        let canon = path.canonicalize().map_err(|e| {
            ConfigError::at(
                &pos,
                format!(
                    "error parsing include file '{}', error opening config file: {e}",
                    it.val
                ),
            )
        })?;
        if self.chain.contains(&canon) {
            return Err(ConfigError::at(
                &pos,
                format!("include cycle: '{}' is already being parsed", it.val),
            ));
        }
        if self.chain.len() >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::at(
                &pos,
                format!("includes nested deeper than {MAX_INCLUDE_DEPTH} files"),
            ));
        }
        let src = read(&path).map_err(|e| ConfigError::at(&pos, e.message))?;
        self.chain.push(canon);
        let parsed = parse_inner(&src, &path, self.chain, self.env_depth);
        self.chain.pop();
        if let Value::Map(entries) = parsed?.value {
            for (k, n) in entries {
                self.insert(k, n);
            }
        }
        Ok(())
    }
}

/// An integer with an optional size suffix: `k`=10^3, `kb|ki|kib`=2^10, `m`, `mb`, ... `e`, `eb`.
fn parse_int(s: &str) -> Result<i64, String> {
    let digits = s
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_digit() || (i == 0 && c == '-')))
        .map_or(s.len(), |(i, _)| i);
    let (num, suffix) = s.split_at(digits);
    let n: i64 = num.parse().map_err(|e: std::num::ParseIntError| {
        if matches!(
            e.kind(),
            std::num::IntErrorKind::PosOverflow | std::num::IntErrorKind::NegOverflow
        ) {
            format!("integer '{s}' is out of the range")
        } else {
            format!("expected integer, but got '{s}'")
        }
    })?;
    let suffix = suffix.to_ascii_lowercase();
    let (exp, binary) = match suffix.as_str() {
        "" => return Ok(n),
        "k" => (1, false),
        "kb" | "ki" | "kib" => (1, true),
        "m" => (2, false),
        "mb" | "mi" | "mib" => (2, true),
        "g" => (3, false),
        "gb" | "gi" | "gib" => (3, true),
        "t" => (4, false),
        "tb" | "ti" | "tib" => (4, true),
        "p" => (5, false),
        "pb" | "pi" | "pib" => (5, true),
        "e" => (6, false),
        "eb" | "ei" | "eib" => (6, true),
        _ => return Err(format!("invalid size suffix in '{s}'")),
    };
    let base: i64 = if binary { 1024 } else { 1000 };
    base.checked_pow(exp)
        .and_then(|m| n.checked_mul(m))
        .ok_or_else(|| format!("integer '{s}' is out of the range"))
}

#[cfg(test)]
#[path = "parser_tests.rs"]
mod tests;
