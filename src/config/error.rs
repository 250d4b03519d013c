//! Positions, configuration errors and warnings.
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Where a key or value starts: file, 1-based line and 1-based column (in characters).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub fn new(file: Arc<Path>, line: u32, col: u32) -> Pos {
        Pos { file, line, col }
    }
}

impl fmt::Display for Pos {
    /// `file:line:col`, or `line:col` when the source has no file name.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.file.as_os_str().is_empty() {
            write!(f, "{}:{}", self.line, self.col)
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

/// A configuration that cannot be used. Displays as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", render(.pos.as_ref(), .message))]
pub struct ConfigError {
    pub pos: Option<Pos>,
    pub message: String,
}

impl ConfigError {
    pub fn at(pos: &Pos, message: impl Into<String>) -> ConfigError {
        ConfigError {
            pos: Some(pos.clone()),
            message: message.into(),
        }
    }
    pub fn new(message: impl Into<String>) -> ConfigError {
        ConfigError {
            pos: None,
            message: message.into(),
        }
    }
}

/// Something in the configuration that natrix accepts but ignores or reinterprets.
/// Displays as `file:line:col: message`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigWarning {
    pub pos: Option<Pos>,
    pub message: String,
}

impl ConfigWarning {
    pub fn at(pos: &Pos, message: impl Into<String>) -> ConfigWarning {
        ConfigWarning {
            pos: Some(pos.clone()),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self.pos.as_ref(), &self.message))
    }
}

fn render(pos: Option<&Pos>, message: &str) -> String {
    match pos {
        Some(p) => format!("{p}: {message}"),
        None => message.to_string(),
    }
}
