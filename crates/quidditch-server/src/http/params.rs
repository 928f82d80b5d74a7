//! URL parameters: every route says which ones it accepts, and one layer rejects the rest.
//!
//! OpenSearch answers a parameter its handler does not consume with 400
//! `illegal_argument_exception` "request [/x/_search] contains unrecognized parameter: [foo]
//! -> did you mean [..]?". Quidditch does the same, so a client option we do not honour is a
//! visible error, never a silently different result.
//!
//! # Declaring a route
//! Modules build their routes with [`ApiRoutes`], whose `route` takes the accepted parameters
//! next to the handlers; a route cannot be added without them:
//! ```ignore
//! const SEARCH: ApiParams = ApiParams::new(&["q", "size", "from"])
//!     .not_implemented(&["preference"]);
//! ApiRoutes::new().route("/{index}/_search", get(search).post(search), &SEARCH)
//! ```
//! Methods of one path with different parameters are declared as two `route` calls on the
//! same path (axum merges them). `accepted` lists what the handler reads (or what is an honest
//! no-op on one node, such as `master_timeout`); `not_implemented` lists parameters OpenSearch
//! accepts for that API but Quidditch does not honour yet: they get a 400 that says so rather
//! than "unrecognized". The [`COMMON`] parameters are accepted everywhere.

use std::collections::BTreeSet;

use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;

use super::{ApiError, AppState};

/// Accepted on every route (the transport conventions, applied in `http/transport.rs`).
pub const COMMON: &[&str] = &["pretty", "human", "error_trace", "filter_path", "format"];

/// The URL parameters one route (one API) accepts.
#[derive(Debug, Clone, Copy)]
pub struct ApiParams {
    pub accepted: &'static [&'static str],
    pub not_implemented: &'static [&'static str],
    /// The query string is the handler's own payload, validated there (raw UDF uploads carry
    /// their metadata fields in it).
    pub handler_validates: bool,
}

impl ApiParams {
    pub const NONE: ApiParams = ApiParams::new(&[]);
    pub const HANDLER_VALIDATES: ApiParams =
        ApiParams { accepted: &[], not_implemented: &[], handler_validates: true };

    pub const fn new(accepted: &'static [&'static str]) -> Self {
        ApiParams { accepted, not_implemented: &[], handler_validates: false }
    }

    pub const fn not_implemented(self, not_implemented: &'static [&'static str]) -> Self {
        ApiParams { not_implemented, ..self }
    }

    fn accepts(&self, name: &str) -> bool {
        self.handler_validates || COMMON.contains(&name) || self.accepted.contains(&name)
    }

    /// The 400 for the first parameters this route does not take, or `None` when all are fine.
    pub fn check<'a>(&self, path: &str, names: impl IntoIterator<Item = &'a str>) -> Option<ApiError> {
        let unknown: BTreeSet<&str> = names.into_iter().filter(|n| !self.accepts(n)).collect();
        if let Some(name) = unknown.iter().find(|n| self.not_implemented.contains(n)) {
            return Some(ApiError::illegal_argument(format!(
                "request [{path}] contains parameter [{name}], which Quidditch does not implement for this API"
            )));
        }
        if unknown.is_empty() {
            return None;
        }
        let mut message = format!(
            "request [{path}] contains unrecognized parameter{}: ",
            if unknown.len() == 1 { "" } else { "s" }
        );
        let parts: Vec<String> = unknown.iter().map(|name| self.describe_unknown(name)).collect();
        message.push_str(&parts.join(", "));
        Some(ApiError::illegal_argument(message))
    }

    /// `[foo]`, with OpenSearch's hint: `[sizee] -> did you mean [size]?`.
    fn describe_unknown(&self, name: &str) -> String {
        did_you_mean(name, COMMON.iter().chain(self.accepted).copied())
    }
}

/// `[name]`, with OpenSearch's hint naming the candidates closest to it:
/// `[sizee] -> did you mean [size]?`, `… did you mean any of [a, b]?`.
pub(super) fn did_you_mean<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    let mut scored: Vec<(f32, &str)> = candidates
        .map(|candidate| (similarity(name, candidate), candidate))
        .filter(|(score, _)| *score > 0.5)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    match scored.as_slice() {
        [] => format!("[{name}]"),
        [(_, one)] => format!("[{name}] -> did you mean [{one}]?"),
        many => format!(
            "[{name}] -> did you mean any of [{}]?",
            many.iter().map(|(_, c)| *c).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Lucene's `LevenshteinDistance` as OpenSearch uses it: `1 - edits / max(len)`.
fn similarity(a: &str, b: &str) -> f32 {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let longest = a.len().max(b.len());
    if longest == 0 {
        return 1.0;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    1.0 - previous[b.len()] as f32 / longest as f32
}

/// The names in a query string (`a=1&b&c=`), percent-decoded.
pub fn query_names(query: &str) -> Vec<String> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let name = pair.split('=').next().unwrap_or_default();
            percent_decode(name)
        })
        .collect()
}

pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push((high * 16 + low) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn check_params(accepts: &'static ApiParams, req: Request<Body>, next: Next) -> Response {
    if let Some(query) = req.uri().query() {
        let names = query_names(query);
        if let Some(err) = accepts.check(req.uri().path(), names.iter().map(String::as_str)) {
            return err.into_response();
        }
    }
    next.run(req).await
}

/// A router whose routes all declare their URL parameters (see the module docs).
#[derive(Default)]
pub struct ApiRoutes {
    router: Router<AppState>,
    /// Every path added, for the security layer's route table.
    paths: Vec<String>,
}

impl ApiRoutes {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `methods` at `path`; requests with parameters outside `accepts` get a 400 before
    /// the handler runs.
    pub fn route(self, path: &str, methods: MethodRouter<AppState>, accepts: &'static ApiParams) -> Self {
        let checked = methods.layer(middleware::from_fn(move |req, next| check_params(accepts, req, next)));
        let mut paths = self.paths;
        paths.push(path.to_string());
        ApiRoutes { router: self.router.route(path, checked), paths }
    }

    /// The paths (route templates) added so far.
    pub fn paths(&self) -> &[String] {
        &self.paths
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEARCH: ApiParams = ApiParams::new(&["size", "from", "q"]).not_implemented(&["preference"]);

    fn reason(err: Option<ApiError>) -> String {
        err.expect("an error").reason
    }

    #[test]
    fn accepted_and_common_parameters_pass() {
        assert!(SEARCH.check("/x/_search", ["size", "pretty", "filter_path"]).is_none());
    }

    #[test]
    fn unknown_parameter_is_named_with_a_hint() {
        assert_eq!(
            reason(SEARCH.check("/x/_search", ["sizee"])),
            "request [/x/_search] contains unrecognized parameter: [sizee] -> did you mean [size]?"
        );
        assert_eq!(
            reason(SEARCH.check("/x/_search", ["foo"])),
            "request [/x/_search] contains unrecognized parameter: [foo]"
        );
        assert_eq!(
            reason(SEARCH.check("/x/_search", ["foo", "bar"])),
            "request [/x/_search] contains unrecognized parameters: [bar], [foo]"
        );
    }

    #[test]
    fn known_but_unimplemented_parameter_says_so() {
        let r = reason(SEARCH.check("/x/_search", ["preference"]));
        assert!(r.contains("[preference]") && r.contains("does not implement"), "{r}");
    }

    #[test]
    fn query_names_are_decoded() {
        assert_eq!(query_names("a=1&b&c%5Fd=&&e+f=2"), vec!["a", "b", "c_d", "e f"]);
    }
}
