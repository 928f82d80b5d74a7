//! `# @udf: key=value` comment directives:
//!
//! ```python
//! # @udf: name=fuzzy_title
//! # @udf: version=1.2.0
//! # @udf: tags=text, fuzzy
//! ```

use rustpython_parser::{Mode, Tok, lexer};

use super::PythonMetadata;
use crate::error::PythonUdfError;

pub const DIRECTIVE_KEYS: &[&str] = &["name", "version", "author", "category", "tags", "description"];

const MARKER: &str = "@udf:";

pub fn apply(source: &str, meta: &mut PythonMetadata) -> Result<(), PythonUdfError> {
    let strings = string_ranges(source);
    let mut offset = 0usize;
    for (index, raw_line) in source.split_inclusive('\n').enumerate() {
        let line_start = offset;
        offset += raw_line.len();
        let line = raw_line.trim();
        let Some(comment) = line.strip_prefix('#') else { continue };
        let Some(directive) = comment.trim_start().strip_prefix(MARKER) else { continue };
        // A `# @udf:` line inside a triple-quoted string is text, not a directive.
        if strings.iter().any(|&(s, e)| s <= line_start && line_start < e) {
            continue;
        }
        let line_no = index + 1;
        let Some((key, value)) = directive.split_once('=') else {
            return Err(bad(line_no, format!("expected `# @udf: key=value`, got `{line}`")));
        };
        let key = key.trim();
        let value = value.trim();
        if value.is_empty() {
            return Err(bad(line_no, format!("`{key}` has an empty value")));
        }
        match key {
            "name" => meta.name = Some(value.to_string()),
            "version" => meta.version = Some(value.to_string()),
            "author" => meta.author = Some(value.to_string()),
            "category" => meta.category = Some(value.to_string()),
            "description" => meta.description = Some(value.to_string()),
            "tags" => {
                for tag in value.split(',').map(str::trim).filter(|t| !t.is_empty()) {
                    if !meta.tags.iter().any(|t| t == tag) {
                        meta.tags.push(tag.to_string());
                    }
                }
            }
            other => {
                return Err(bad(
                    line_no,
                    format!("unknown key `{other}`; known keys: {}", DIRECTIVE_KEYS.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

/// Byte ranges of string literals (the source already parsed, so lexing succeeds; a lexing
/// error just ends the list early).
fn string_ranges(source: &str) -> Vec<(usize, usize)> {
    lexer::lex(source, Mode::Module)
        .map_while(Result::ok)
        .filter(|(tok, _)| matches!(tok, Tok::String { .. }))
        .map(|(_, range)| (usize::from(range.start()), usize::from(range.end())))
        .collect()
}

fn bad(line: usize, message: String) -> PythonUdfError {
    PythonUdfError::InvalidUdf(format!("invalid `# @udf:` directive at line {line}: {message}"))
}
