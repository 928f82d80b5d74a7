//! Index names: OpenSearch's validation rules and index expressions (`a,b`, `logs-*`, `_all`).

use crate::error::{EngineError, EngineResult};

const INVALID_CHARS: &[char] = &['\\', '/', '*', '?', '"', '<', '>', '|', ' ', ',', '#', ':'];

/// Checks a name for index creation, with OpenSearch's messages.
pub fn validate_index_name(name: &str) -> EngineResult<()> {
    let err = |reason: &str| EngineError::InvalidIndexName { index: name.to_string(), reason: reason.to_string() };
    if name.is_empty() {
        return Err(err("must not be empty"));
    }
    // Not in OpenSearch's list (a JVM passes it on to the file system, which refuses it);
    // here it would fail the directory creation with a 500.
    if name.contains('\0') {
        return Err(err("must not contain a NUL character"));
    }
    if name.chars().any(|c| INVALID_CHARS.contains(&c)) {
        return Err(err(r#"must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?, #, :]"#));
    }
    if name.starts_with(['_', '-', '+']) {
        return Err(err("must not start with '_', '-', or '+'"));
    }
    if name == "." || name == ".." {
        return Err(err("must not be '.' or '..'"));
    }
    if name.chars().any(|c| c.is_uppercase()) {
        return Err(err("must be lowercase"));
    }
    if name.len() > 255 {
        return Err(err(&format!("index name is too long, ({} > 255)", name.len())));
    }
    Ok(())
}

/// Whether an expression part is a wildcard pattern.
pub fn is_pattern(part: &str) -> bool {
    part.contains(['*', '?'])
}

/// Matches `name` against a `*`/`?` wildcard pattern.
pub fn matches(pattern: &str, name: &str) -> bool {
    glob::Pattern::new(pattern).map(|p| p.matches(name)).unwrap_or(false)
}

/// Resolves an index expression against the existing names (sorted). Comma lists,
/// wildcards, `_all`/`*`/empty for everything, and `-pattern` exclusions after a wildcard.
/// A concrete name that does not exist is a 404.
pub fn resolve<'a>(expr: &str, existing: impl Iterator<Item = &'a str> + Clone) -> EngineResult<Vec<String>> {
    let expr = expr.trim();
    let mut out: Vec<String> = Vec::new();
    if expr.is_empty() || expr == "_all" {
        return Ok(existing.map(str::to_string).collect());
    }
    let mut saw_wildcard = false;
    for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "_all" {
            for n in existing.clone() {
                if !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
            saw_wildcard = true;
        } else if let Some(excl) = part.strip_prefix('-').filter(|_| saw_wildcard) {
            out.retain(|n| !(n == excl || (is_pattern(excl) && matches(excl, n))));
        } else if is_pattern(part) {
            saw_wildcard = true;
            for n in existing.clone() {
                if matches(part, n) && !out.iter().any(|o| o == n) {
                    out.push(n.to_string());
                }
            }
        } else if existing.clone().any(|n| n == part) {
            if !out.iter().any(|o| o == part) {
                out.push(part.to_string());
            }
        } else {
            return Err(EngineError::IndexNotFound { index: part.to_string() });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate_index_name("logs-2024.01").is_ok());
        assert!(validate_index_name("test-weird-index-中文").is_ok());
        assert!(validate_index_name(&"a".repeat(255)).is_ok());
        assert!(validate_index_name(&"a".repeat(256)).is_err());
        for bad in ["", "Upper", "_x", "-x", "+x", "a b", "a*b", "a,b", ".", "..", "a\0b"] {
            assert!(validate_index_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn expressions() {
        let names = ["a", "b", "logs-1", "logs-2"];
        let r = |e| resolve(e, names.iter().copied());
        assert_eq!(r("_all").unwrap().len(), 4);
        assert_eq!(r("logs-*").unwrap(), vec!["logs-1", "logs-2"]);
        assert_eq!(r("b,a").unwrap(), vec!["b", "a"]);
        assert_eq!(r("*,-logs-1").unwrap(), vec!["a", "b", "logs-2"]);
        assert!(r("nope*").unwrap().is_empty());
        assert!(matches!(r("a,nope"), Err(EngineError::IndexNotFound { .. })));
    }
}
