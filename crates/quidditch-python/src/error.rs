//! Errors of Python UDF handling, with the HTTP status and OpenSearch error type each maps to,
//! so the server's HTTP layer stays a thin translation.

use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum PythonUdfError {
    /// The source does not parse. Line and column are 1-based (column counts characters).
    #[error("Python syntax error at line {line}, column {column}: {message}")]
    Syntax { line: usize, column: usize, message: String },

    /// The source parses but is not a usable UDF (no `filter`/`score`, bad parameter
    /// annotation, bad `# @udf:` directive, …).
    #[error("{0}")]
    InvalidUdf(String),

    /// componentize-py is not installed (or not on PATH).
    #[error(
        "the Python UDF compiler `{tool}` is not available ({reason}); install it with \
         scripts/setup.sh (pip install componentize-py=={expected_version}) and set the config key \
         [udf.python.componentize_py] (or `serve --componentize-py`) to its path, or put it in \
         the project's .venv or on PATH"
    )]
    ToolMissing { tool: String, reason: String, expected_version: &'static str },

    /// componentize-py ran and failed: typically the module raised while being imported
    /// (module-level code runs at build time) or imports a module that does not exist.
    #[error("Python UDF compilation failed: {message}")]
    CompileFailed { message: String, output: String },

    /// Module-level code did not finish (e.g. an infinite loop at import time).
    #[error(
        "Python UDF compilation did not finish within {0:?}: module-level code runs at build \
         time and must terminate"
    )]
    CompileTimeout(Duration),

    /// The shared Python runtime cannot be built or loaded for another reason than a missing tool.
    #[error("the shared Python runtime is unavailable: {0}")]
    RuntimeUnavailable(String),

    #[error("I/O error while compiling a Python UDF: {0}")]
    Io(#[from] std::io::Error),
}

impl PythonUdfError {
    /// The HTTP status an API should answer with.
    pub fn status(&self) -> u16 {
        match self {
            PythonUdfError::Syntax { .. }
            | PythonUdfError::InvalidUdf(_)
            | PythonUdfError::CompileFailed { .. }
            | PythonUdfError::CompileTimeout(_) => 400,
            PythonUdfError::ToolMissing { .. } | PythonUdfError::RuntimeUnavailable(_) => 503,
            PythonUdfError::Io(_) => 500,
        }
    }

    /// The OpenSearch-style `error.type`.
    pub fn error_type(&self) -> &'static str {
        match self {
            PythonUdfError::Syntax { .. } => "python_syntax_exception",
            PythonUdfError::InvalidUdf(_) => "illegal_argument_exception",
            PythonUdfError::CompileFailed { .. } | PythonUdfError::CompileTimeout(_) => {
                "python_compile_exception"
            }
            PythonUdfError::ToolMissing { .. } | PythonUdfError::RuntimeUnavailable(_) => {
                "python_compiler_unavailable_exception"
            }
            PythonUdfError::Io(_) => "exception",
        }
    }

    /// Extra fields for the error body (`line`, `column` of a syntax error).
    pub fn details(&self) -> Vec<(&'static str, serde_json::Value)> {
        match self {
            PythonUdfError::Syntax { line, column, .. } => {
                vec![("line", (*line).into()), ("column", (*column).into())]
            }
            _ => Vec::new(),
        }
    }
}
