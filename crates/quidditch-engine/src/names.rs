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

/// How an expression reached an index: by the index's own name (or a wildcard matching it),
/// or only through these aliases (whose filters and routing then apply).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    Directly,
    ThroughAliases(Vec<String>),
}

/// Alias name → the indices it points to (the resolver's view of the alias table).
pub type AliasTargets = std::collections::BTreeMap<String, Vec<String>>;

/// Resolves an index expression against the existing names (sorted). Comma lists,
/// wildcards, `_all`/`*`/empty for everything, and `-pattern` exclusions after a wildcard.
/// A concrete name that does not exist is a 404.
pub fn resolve<'a>(expr: &str, existing: impl Iterator<Item = &'a str> + Clone) -> EngineResult<Vec<String>> {
    let indices: Vec<&str> = existing.collect();
    Ok(resolve_with_aliases(expr, &indices, &AliasTargets::new())?.into_iter().map(|(n, _)| n).collect())
}

/// [`resolve`] over indices and aliases: a concrete alias name (or a wildcard matching one)
/// stands for the indices it points to. Each index comes once, with how it was reached.
pub fn resolve_with_aliases(expr: &str, indices: &[&str], aliases: &AliasTargets) -> EngineResult<Vec<(String, Reached)>> {
    let expr = expr.trim();
    let mut out: Vec<(String, Reached)> = Vec::new();
    fn add(out: &mut Vec<(String, Reached)>, index: &str, via: Option<&str>) {
        match out.iter_mut().find(|(n, _)| n == index) {
            None => out.push((
                index.to_string(),
                via.map_or(Reached::Directly, |a| Reached::ThroughAliases(vec![a.to_string()])),
            )),
            Some((_, reached)) => match (reached, via) {
                (r @ Reached::ThroughAliases(_), None) => *r = Reached::Directly,
                (Reached::ThroughAliases(list), Some(a)) if !list.iter().any(|x| x == a) => list.push(a.to_string()),
                _ => {}
            },
        }
    }
    if expr.is_empty() || expr == "_all" {
        return Ok(indices.iter().map(|n| (n.to_string(), Reached::Directly)).collect());
    }
    let mut saw_wildcard = false;
    for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "_all" {
            for n in indices {
                add(&mut out, n, None);
            }
            saw_wildcard = true;
        } else if let Some(excl) = part.strip_prefix('-').filter(|_| saw_wildcard) {
            let hit = |name: &str| name == excl || (is_pattern(excl) && matches(excl, name));
            out.retain_mut(|(n, reached)| match reached {
                Reached::Directly => !hit(n),
                Reached::ThroughAliases(list) => {
                    list.retain(|a| !hit(a));
                    !list.is_empty() && !hit(n)
                }
            });
        } else if is_pattern(part) {
            saw_wildcard = true;
            for n in indices {
                if matches(part, n) {
                    add(&mut out, n, None);
                }
            }
            for (alias, targets) in aliases {
                if matches(part, alias) {
                    for n in targets {
                        add(&mut out, n, Some(alias));
                    }
                }
            }
        } else if indices.contains(&part) {
            add(&mut out, part, None);
        } else if let Some(targets) = aliases.get(part) {
            for n in targets {
                add(&mut out, n, Some(part));
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

    #[test]
    fn expressions_with_aliases() {
        let names = ["a", "b", "logs-1"];
        let aliases: AliasTargets =
            [("both".to_string(), vec!["a".to_string(), "b".to_string()]), ("only-b".to_string(), vec!["b".to_string()])]
                .into_iter()
                .collect();
        let r = |e| resolve_with_aliases(e, &names, &aliases).unwrap();
        let via = |a: &[&str]| Reached::ThroughAliases(a.iter().map(|s| s.to_string()).collect());
        assert_eq!(r("both"), vec![("a".into(), via(&["both"])), ("b".into(), via(&["both"]))]);
        assert_eq!(r("both,only-b"), vec![("a".into(), via(&["both"])), ("b".into(), via(&["both", "only-b"]))]);
        // The index's own name wins over any alias (no alias filter applies then).
        assert_eq!(r("only-b,b"), vec![("b".into(), Reached::Directly)]);
        assert_eq!(r("only*"), vec![("b".into(), via(&["only-b"]))]);
        assert_eq!(r("*,-both"), vec![("a".into(), Reached::Directly), ("b".into(), Reached::Directly), ("logs-1".into(), Reached::Directly)]);
        assert!(resolve_with_aliases("nope", &names, &aliases).is_err());
    }
}
