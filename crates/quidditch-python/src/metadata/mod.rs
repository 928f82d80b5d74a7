//! UDF metadata read from Python source without running it: the exported functions and their
//! parameters (from the AST), the description (docstring) and `# @udf: key=value` directives.

mod directives;
mod signature;

use rustpython_parser::ast::{self, Constant, Expr, Stmt};
use rustpython_parser::{Parse, text_size::TextSize};
use serde::{Deserialize, Serialize};

use crate::error::PythonUdfError;

pub use directives::DIRECTIVE_KEYS;
pub(crate) use signature::PARAMS_MAPPING;

/// What a UDF exports. A Python UDF defines `filter`, `score` or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Export {
    Filter,
    Score,
}

impl Export {
    pub fn as_str(self) -> &'static str {
        match self {
            Export::Filter => "filter",
            Export::Score => "score",
        }
    }
}

/// A UDF parameter type: the runtime's own (`quidditch_udf::ParamType`), so what the source's
/// annotations declare (`str`, `int`, `float`, `bool`) is what the registry checks.
pub use quidditch_udf::ParamType;

/// One declared parameter: a parameter of `filter`/`score` after the document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    /// The literal default, when the function gives one (`None` → `null` default: optional).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    pub required: bool,
}

/// Everything the server learns from the source before compiling it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PythonMetadata {
    pub name: Option<String>,
    pub version: Option<String>,
    pub author: Option<String>,
    pub category: Option<String>,
    pub tags: Vec<String>,
    /// The module docstring, or else the docstring of `filter`, or else of `score`.
    pub description: Option<String>,
    pub exports: Vec<Export>,
    pub parameters: Vec<ParamSpec>,
}

/// Parses `source` and extracts the UDF metadata. Fails on syntax errors (with line and
/// column), when neither `filter` nor `score` is defined, and on unusable signatures.
pub fn extract_metadata(source: &str) -> Result<PythonMetadata, PythonUdfError> {
    let suite = ast::Suite::parse(source, "<udf>").map_err(|e| {
        let (line, column) = line_column(source, e.offset);
        PythonUdfError::Syntax { line, column, message: e.error.to_string() }
    })?;

    let mut meta = PythonMetadata::default();
    let mut module_doc = docstring(&suite);
    let mut function_docs = Vec::new();

    for export in [Export::Filter, Export::Score] {
        let Some(def) = find_function(&suite, export.as_str())? else { continue };
        let params = signature::parameters(source, export.as_str(), def.args.as_ref())?;
        signature::merge(&mut meta.parameters, params, export.as_str())?;
        meta.exports.push(export);
        if let Some(doc) = docstring(&def.body) {
            function_docs.push(doc);
        }
    }
    if meta.exports.is_empty() {
        return Err(PythonUdfError::InvalidUdf(
            "a Python UDF must define `def filter(doc, params) -> bool` and/or \
             `def score(doc, params) -> float` at module level; found neither"
                .into(),
        ));
    }
    meta.description = module_doc.take().or_else(|| function_docs.into_iter().next());

    directives::apply(source, &mut meta)?;
    Ok(meta)
}

/// The last top-level `def <name>` (as Python would bind it). `async def` is rejected: the
/// component calls UDF functions synchronously.
fn find_function<'a>(
    suite: &'a [Stmt],
    name: &str,
) -> Result<Option<&'a ast::StmtFunctionDef>, PythonUdfError> {
    let mut found = None;
    for stmt in suite {
        match stmt {
            Stmt::FunctionDef(def) if def.name.as_str() == name => found = Some(def),
            Stmt::AsyncFunctionDef(def) if def.name.as_str() == name => {
                return Err(PythonUdfError::InvalidUdf(format!(
                    "`{name}` must be a plain function, not `async def`"
                )));
            }
            _ => {}
        }
    }
    Ok(found)
}

/// A body's docstring with its common indentation removed (like `inspect.cleandoc`).
fn docstring(body: &[Stmt]) -> Option<String> {
    let Some(Stmt::Expr(ast::StmtExpr { value, .. })) = body.first() else { return None };
    let Expr::Constant(ast::ExprConstant { value: Constant::Str(text), .. }) = value.as_ref() else {
        return None;
    };
    let cleaned = clean_docstring(text);
    (!cleaned.is_empty()).then_some(cleaned)
}

fn clean_docstring(text: &str) -> String {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or("").trim().to_string();
    let rest: Vec<&str> = lines.collect();
    let indent = rest
        .iter()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    let mut out = vec![first];
    for line in rest {
        out.push(line.get(indent..).unwrap_or("").trim_end().to_string());
    }
    out.join("\n").trim().to_string()
}

/// 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(source: &str, offset: TextSize) -> (usize, usize) {
    let offset = (u32::from(offset) as usize).min(source.len());
    // Step back to a char boundary: offsets from the parser always are, but be defensive.
    let mut offset = offset;
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests;
