//! Why a module is not compiled natively: the first construct outside the subset and its
//! line. The server then runs the module on CPython and reports this reason.

use rustpython_parser::ast::Ranged;
use serde::Serialize;

use crate::metadata::line_column;

/// The first construct the native compiler does not handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unsupported {
    /// What it is, in Python's words (`list comprehension`, `import of re`, …).
    pub construct: String,
    /// 1-based line of the construct.
    pub line: usize,
}

impl std::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at line {}", self.construct, self.line)
    }
}

impl std::error::Error for Unsupported {}

pub type Result<T> = std::result::Result<T, Unsupported>;

/// An [`Unsupported`] for `node` of `source`.
pub fn unsupported<T>(source: &str, node: &impl Ranged, construct: impl Into<String>) -> Result<T> {
    let (line, _) = line_column(source, node.start());
    Err(Unsupported { construct: construct.into(), line })
}
