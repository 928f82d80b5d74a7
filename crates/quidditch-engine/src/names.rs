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

/// `expand_wildcards`: which indices and aliases a wildcard (or `_all`, or an empty
/// expression) reaches. Concrete names are never filtered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpandWildcards {
    pub open: bool,
    pub closed: bool,
    pub hidden: bool,
}

impl ExpandWildcards {
    pub const OPEN: ExpandWildcards = ExpandWildcards { open: true, closed: false, hidden: false };
    pub const OPEN_CLOSED: ExpandWildcards = ExpandWildcards { open: true, closed: true, hidden: false };
    pub const ALL: ExpandWildcards = ExpandWildcards { open: true, closed: true, hidden: true };

    /// Parses OpenSearch's comma list of `open`, `closed`, `hidden`, `none`, `all`.
    pub fn parse(value: &str) -> EngineResult<ExpandWildcards> {
        let mut out = ExpandWildcards { open: false, closed: false, hidden: false };
        for part in value.split(',').map(str::trim) {
            match part {
                "open" => out.open = true,
                "closed" => out.closed = true,
                "hidden" => out.hidden = true,
                "all" => out = ExpandWildcards::ALL,
                "none" => {}
                other => return Err(EngineError::IllegalArgument(format!("No valid expand wildcard value [{other}]"))),
            }
        }
        Ok(out)
    }

    /// Whether a wildcard `pattern` reaches an index (or alias) `name` in this state. A hidden
    /// one is reached only when `hidden` is expanded, or when both the pattern and the name
    /// start with a dot (as OpenSearch does for dot-prefixed hidden indices).
    pub fn admits(&self, pattern: &str, name: &str, closed: bool, hidden: bool) -> bool {
        let state = if closed { self.closed } else { self.open };
        state && (!hidden || self.hidden || (pattern.starts_with('.') && name.starts_with('.')))
    }
}

/// What [`resolve_expanding`] needs to know of each index and alias a wildcard may reach.
pub struct WildcardFilter<'a> {
    pub expand: ExpandWildcards,
    /// `(closed, hidden)` of an index.
    pub index_state: &'a dyn Fn(&str) -> (bool, bool),
    /// Whether an alias is hidden (`is_hidden`).
    pub alias_hidden: &'a dyn Fn(&str) -> bool,
}

/// [`resolve`] over indices and aliases: a concrete alias name (or a wildcard matching one)
/// stands for the indices it points to. Each index comes once, with how it was reached.
pub fn resolve_with_aliases(expr: &str, indices: &[&str], aliases: &AliasTargets) -> EngineResult<Vec<(String, Reached)>> {
    let filter = WildcardFilter { expand: ExpandWildcards::ALL, index_state: &|_| (false, false), alias_hidden: &|_| false };
    resolve_expanding(expr, indices, aliases, &filter)
}

/// [`resolve_with_aliases`] where wildcards (and `_all`) reach only what `filter` admits: an
/// index by its state, an alias by its hiddenness and then its indices by their open/closed
/// state (a hidden index behind a visible alias is reached through it).
pub fn resolve_expanding(
    expr: &str,
    indices: &[&str],
    aliases: &AliasTargets,
    filter: &WildcardFilter,
) -> EngineResult<Vec<(String, Reached)>> {
    let admits_index = |pattern: &str, name: &str| {
        let (closed, hidden) = (filter.index_state)(name);
        filter.expand.admits(pattern, name, closed, hidden)
    };
    let admits_aliased = |name: &str| {
        let (closed, _) = (filter.index_state)(name);
        if closed { filter.expand.closed } else { filter.expand.open }
    };
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
        return Ok(indices.iter().filter(|n| admits_index("*", n)).map(|n| (n.to_string(), Reached::Directly)).collect());
    }
    let mut saw_wildcard = false;
    for part in expr.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "_all" {
            for n in indices.iter().filter(|n| admits_index("*", n)) {
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
                if matches(part, n) && admits_index(part, n) {
                    add(&mut out, n, None);
                }
            }
            for (alias, targets) in aliases {
                let hidden = (filter.alias_hidden)(alias);
                if matches(part, alias) && filter.expand.admits(part, alias, false, hidden) {
                    for n in targets.iter().filter(|n| admits_aliased(n)) {
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

    #[test]
    fn wildcards_follow_expand_wildcards() {
        // "c" is closed, "h" and ".dot" hidden; alias "vis" (visible) points at "h".
        let names = [".dot", "c", "h", "o"];
        let aliases: AliasTargets = [("vis".to_string(), vec!["h".to_string()])].into_iter().collect();
        let state = |n: &str| (n == "c", n == "h" || n == ".dot");
        let r = |e: &str, expand: &str| {
            let filter = WildcardFilter {
                expand: ExpandWildcards::parse(expand).unwrap(),
                index_state: &state,
                alias_hidden: &|_| false,
            };
            resolve_expanding(e, &names, &aliases, &filter).unwrap().into_iter().map(|(n, _)| n).collect::<Vec<_>>()
        };
        assert_eq!(r("_all", "open"), vec!["o"]);
        // `*` also matches the visible alias, which reaches its hidden index.
        assert_eq!(r("*", "open"), vec!["o", "h"]);
        assert_eq!(r("_all", "open,closed"), vec!["c", "o"]);
        assert_eq!(r("", "all"), vec![".dot", "c", "h", "o"]);
        assert_eq!(r("*", "none"), Vec::<String>::new());
        // A dot pattern reaches a dot-prefixed hidden index; a concrete name is never filtered.
        assert_eq!(r(".*", "open"), vec![".dot"]);
        assert_eq!(r("h,c", "open"), vec!["h", "c"]);
        // A hidden index behind a visible alias is reached through the alias.
        assert_eq!(r("v*", "open"), vec!["h"]);
        assert!(ExpandWildcards::parse("opn").is_err());
    }
}
