//! The security layer in front of the router, and `/_plugins/_security/…`.
//!
//! Every request is authenticated ([`Security::authenticate`]); the route it matches gives the
//! permission it needs (`security/route_actions.rs`); indices come from the path, or from the
//! body for `_bulk`, `_mget`, `_msearch`, `_aliases` and `_reindex`; UDFs from the query body.
//! A wildcard (or `_all`, or no index) in a read request is narrowed to the indices the caller
//! may read, by rewriting the request's index expression before routing; an explicitly named
//! index the caller may not use is a 403, as the security plugin answers. Failures are
//! audited with the user, action, indices or UDFs and the source address.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use axum::Extension;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, Request, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use quidditch_udf::audit::{AuditEntry, AuditRequest, now_rfc3339};
use serde_json::{Value, json};

use super::params::{ApiParams, ApiRoutes, percent_decode};
use super::{ApiError, AppState, json_response, parse_json_body};
use crate::security::route_actions::{BodyKind, RouteAction, Target, UNKNOWN_ROUTE, classify};
use crate::security::{AuthFailure, Principal, Security};

/// What the layer needs: the rules, the router's route templates, the indices to resolve
/// wildcards against and the audit log.
pub struct Gate {
    pub security: Arc<Security>,
    /// Cluster mode: calls from the other nodes are let through on the cluster secret.
    cluster: Option<Arc<quidditch_cluster::Cluster>>,
    templates: matchit::Router<String>,
    engine: Arc<quidditch_engine::Engine>,
    udfs: Arc<quidditch_udf::UdfRegistry>,
    max_body: usize,
}

impl Gate {
    pub fn new(state: &AppState, security: Arc<Security>, templates: &[String]) -> Gate {
        let mut router = matchit::Router::new();
        for t in templates {
            // Duplicates (one path declared per method) are fine: the first wins.
            let _ = router.insert(t.clone(), t.clone());
        }
        Gate { security, cluster: state.node.cluster.clone(), templates: router, engine: state.engine.clone(), udfs: state.udfs.clone(), max_body: state.config.max_body_bytes }
    }

    /// The name of the node making a node-to-node call, when the request proves it with the
    /// cluster secret.
    fn calling_node(&self, req: &Request<Body>) -> Option<String> {
        let cluster = self.cluster.as_ref()?;
        let from = req.headers().get(quidditch_cluster::FORWARDED_HEADER)?.to_str().ok()?;
        let presented = req.headers().get(quidditch_cluster::SECRET_HEADER).and_then(|v| v.to_str().ok());
        cluster.peers().proves_membership(presented).then(|| from.to_string())
    }

    fn audit(&self, user: &str, operation: &str, reason: &str, request: AuditRequest, udf: &str) {
        self.udfs.record_audit(AuditEntry {
            time: now_rfc3339(),
            actor: user.to_string(),
            operation: operation.to_string(),
            udf: udf.to_string(),
            version: None,
            outcome: "failure".into(),
            error: Some(reason.to_string()),
            duration_ms: 0.0,
            request: Some(request),
        });
    }
}

fn unauthorized(reason: String) -> Response {
    let mut resp = ApiError::new(401, "security_exception", reason).into_response();
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"OpenSearch Security\""));
    resp
}

fn forbidden(action: &str, p: &Principal, what: &str) -> ApiError {
    ApiError::new(
        403,
        "security_exception",
        format!(
            "no permissions for [{action}] and User [name={}, backend_roles=[{}], requestedTenant=null]{what}",
            p.user,
            p.backend_roles.join(", ")
        ),
    )
}

/// A denial: the action, what it was on, for the 403 and the audit entry.
struct Denied {
    action: String,
    indices: Vec<String>,
    udf: Option<String>,
}

/// The layer: authenticates, authorizes, narrows wildcards, then routes.
pub async fn enforce(gate: Arc<Gate>, mut req: Request<Body>, next: Next) -> Response {
    let source = req
        .extensions()
        .get::<ConnectInfo<crate::tls::PeerAddr>>()
        .map(|c| c.0.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    if let Some(node) = gate.calling_node(&req) {
        // A node forwards a request (or runs a shard phase) only after the node the client
        // called authorized it: the caller's own permissions were checked there.
        req.extensions_mut().insert(Principal::node(&node));
        req.extensions_mut().insert(gate.security.clone());
        return next.run(req).await;
    }
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_string);
    let path = req.uri().path().to_string();
    let principal = match gate.security.authenticate(authorization.as_deref(), source) {
        Ok(p) => p,
        Err(failure) => {
            let reason = failure.reason();
            if !matches!(failure, AuthFailure::Missing) {
                let user = match &failure {
                    AuthFailure::WrongPassword { user } => user.clone(),
                    _ => "unknown".into(),
                };
                let request = AuditRequest { action: None, indices: vec![], source: source.to_string(), path: Some(path.clone()) };
                gate.audit(&user, "authentication_failed", &reason, request, "");
            }
            return unauthorized(reason);
        }
    };
    req.extensions_mut().insert(principal.clone());
    req.extensions_mut().insert(gate.security.clone());
    let Ok(matched) = gate.templates.at(&path) else {
        // No route: the router's own 400 answers it.
        return next.run(req).await;
    };
    let template = matched.value.clone();
    let params: Vec<(String, String)> = matched.params.iter().map(|(k, v)| (k.to_string(), percent_decode(v))).collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let action = classify(req.method(), &template, param("context").as_deref()).unwrap_or(UNKNOWN_ROUTE);

    let needs_body = action.uses_udfs || matches!(action.target, Target::BodyIndices(_) | Target::Reindex);
    let body = if needs_body {
        let (parts, body) = req.into_parts();
        let bytes = match axum::body::to_bytes(body, gate.max_body).await {
            Ok(b) => b,
            Err(_) => return super::body_too_large().into_response(),
        };
        req = Request::from_parts(parts, Body::from(bytes.clone()));
        Some(bytes)
    } else {
        None
    };
    match decide(&gate, &principal, &action, param("index"), param("name").or(param("id")), param("context"), body.as_ref()) {
        Ok(None) => next.run(req).await,
        Ok(Some(expression)) => {
            let rewritten = rewrite_index(req.uri(), &template, &expression);
            *req.uri_mut() = rewritten;
            next.run(req).await
        }
        Err(denied) => {
            let what = match (&denied.udf, denied.indices.is_empty()) {
                (Some(u), _) => format!(" on UDF [{u}]"),
                (None, false) => format!(" on indices [{}]", denied.indices.join(", ")),
                (None, true) => String::new(),
            };
            let err = forbidden(&denied.action, &principal, &what);
            let request = AuditRequest {
                action: Some(denied.action.clone()),
                indices: denied.indices.clone(),
                source: source.to_string(),
                path: Some(path),
            };
            gate.audit(&principal.user, "access_denied", &err.reason, request, denied.udf.as_deref().unwrap_or(""));
            err.into_response()
        }
    }
}

/// `Ok(Some(expr))`: allowed once the index expression is narrowed to `expr`.
#[allow(clippy::too_many_arguments)]
fn decide(
    gate: &Gate,
    p: &Principal,
    route: &RouteAction,
    index: Option<String>,
    udf_name: Option<String>,
    context: Option<String>,
    body: Option<&Bytes>,
) -> Result<Option<String>, Denied> {
    let sec = &gate.security;
    let deny_cluster = || Denied { action: route.action.into(), indices: vec![], udf: None };
    let mut narrowed = None;
    match route.target {
        Target::Authenticated => {}
        Target::Cluster => {
            if !sec.allows_cluster(p, route.action) {
                return Err(deny_cluster());
            }
        }
        Target::AllUdfs => check_udf(sec, p, route.action, "*")?,
        Target::NamedUdf => {
            // `POST /_scripts/{lang}/_execute`: the path names a language; the UDF is in the body.
            if context.as_deref() != Some("_execute") {
                check_udf(sec, p, route.action, &udf_name.unwrap_or_else(|| "*".into()))?;
            }
        }
        Target::PathIndices { narrow } => {
            // An index-less route acts on every index.
            let expr = index.unwrap_or_else(|| "_all".into());
            narrowed = check_indices(gate, p, route.action, &expr, narrow)?;
        }
        Target::BodyIndices(kind) => {
            let names = body.and_then(|b| body_indices(kind, b, index.as_deref()));
            // A body we cannot read names nothing we can check: then it needs every index.
            let names = names.unwrap_or_else(|| vec!["_all".into()]);
            for name in names {
                check_indices(gate, p, route.action, &name, false)?;
            }
        }
        Target::Reindex => {
            let body = body.and_then(|b| parse_json_body(b).ok().flatten()).unwrap_or(Value::Null);
            let source = index_list(&body["source"]["index"]).unwrap_or_else(|| vec!["_all".into()]);
            for name in source {
                check_indices(gate, p, "indices:data/read/search", &name, false)?;
            }
            let dest = body["dest"]["index"].as_str().unwrap_or("_all").to_string();
            check_indices(gate, p, "indices:data/write/index", &dest, false)?;
        }
    }
    if route.uses_udfs
        && let Some(body) = body
    {
        let mut named = BTreeSet::new();
        let mut inline = false;
        for v in body_values(body) {
            collect_udfs(&v, &mut named, &mut inline);
        }
        if inline {
            check_udf(sec, p, "udf:use/inline", "*")?;
        }
        for name in named {
            check_udf(sec, p, "udf:use", &name)?;
        }
    }
    Ok(narrowed)
}

fn check_udf(sec: &Security, p: &Principal, action: &str, name: &str) -> Result<(), Denied> {
    if sec.allows_udf(p, action, name) {
        Ok(())
    } else {
        Err(Denied { action: action.into(), indices: vec![], udf: Some(name.into()) })
    }
}

fn is_wildcard(part: &str) -> bool {
    part == "_all" || part == "*" || part.contains('*') || part.contains('?')
}

/// Nothing is named `_…`, so this wildcard matches no index: the narrowed form of "none".
const NO_INDEX: &str = "_quidditch_no_permitted_index_*";

/// Checks `action` on every index `expr` names. Explicit names must be allowed (an alias: its
/// name, or every index behind it); wildcard parts must match only allowed indices, or with
/// `narrow` are replaced by the allowed ones (`Ok(Some(new expression))`).
fn check_indices(gate: &Gate, p: &Principal, action: &str, expr: &str, narrow: bool) -> Result<Option<String>, Denied> {
    let sec = &gate.security;
    let allowed = |name: &str| sec.allows_index(p, action, name);
    let deny = |names: Vec<String>| Denied { action: action.into(), indices: names, udf: None };
    let mut parts_out: Vec<String> = Vec::new();
    let mut changed = false;
    let expr = if expr.trim().is_empty() { "_all" } else { expr };
    for part in expr.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if part.starts_with('-') {
            parts_out.push(part.to_string());
            continue;
        }
        if is_wildcard(part) {
            let matches: Vec<String> = gate.engine.resolve_indices_lenient(part).iter().map(|i| i.name().to_string()).collect();
            let (ok, refused): (Vec<String>, Vec<String>) = matches.into_iter().partition(|n| allowed(n));
            if refused.is_empty() {
                parts_out.push(part.to_string());
            } else if narrow {
                changed = true;
                parts_out.extend(ok);
            } else {
                return Err(deny(refused));
            }
            continue;
        }
        if allowed(part) {
            parts_out.push(part.to_string());
            continue;
        }
        // An alias (or a data stream-like name) is allowed when every index behind it is.
        let behind: Vec<String> = gate.engine.resolve_indices_lenient(part).iter().map(|i| i.name().to_string()).collect();
        if behind.is_empty() || behind.iter().any(|n| n == part) || !behind.iter().all(|n| allowed(n)) {
            return Err(deny(vec![part.to_string()]));
        }
        parts_out.push(part.to_string());
    }
    if !changed {
        return Ok(None);
    }
    if parts_out.iter().all(|s| s.starts_with('-')) {
        parts_out.insert(0, NO_INDEX.into());
    }
    Ok(Some(parts_out.join(",")))
}

/// The request URI with its index expression replaced (or added, for an index-less route).
fn rewrite_index(uri: &Uri, template: &str, expression: &str) -> Uri {
    let path = uri.path();
    let new_path = if template.starts_with("/{index}") {
        let rest = path[1..].find('/').map(|i| &path[1 + i..]).unwrap_or("");
        format!("/{expression}{rest}")
    } else {
        format!("/{expression}{path}")
    };
    let full = match uri.query() {
        Some(q) => format!("{new_path}?{q}"),
        None => new_path,
    };
    full.parse().unwrap_or_else(|_| uri.clone())
}

fn index_list(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_string)).collect(),
        _ => None,
    }
}

/// The JSON documents of a body: the body itself when it is one document, else its NDJSON
/// lines (`_msearch`). Each is parsed once.
fn body_values(body: &Bytes) -> Vec<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return vec![v];
    }
    body.split(|b| *b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect()
}

/// The indices a `_bulk`, `_mget`, `_msearch` or `_aliases` body names (with the path's index
/// as default); `None` when the body cannot be read as such.
fn body_indices(kind: BodyKind, body: &Bytes, default: Option<&str>) -> Option<Vec<String>> {
    let default = || default.map(str::to_string).unwrap_or_else(|| "_all".into());
    let mut out = BTreeSet::new();
    match kind {
        BodyKind::Bulk => {
            let mut lines = body.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace));
            while let Some(line) = lines.next() {
                let action: Value = serde_json::from_slice(line).ok()?;
                let (op, meta) = action.as_object().filter(|o| o.len() == 1)?.iter().next()?;
                out.insert(meta.get("_index").and_then(Value::as_str).map(str::to_string).unwrap_or_else(default));
                if op != "delete" {
                    lines.next();
                }
            }
        }
        BodyKind::Msearch => {
            let mut lines = body.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace));
            while let Some(line) = lines.next() {
                let header: Value = serde_json::from_slice(line).ok()?;
                match header.get("index") {
                    Some(v) => out.extend(index_list(v)?),
                    None => {
                        out.insert(default());
                    }
                }
                lines.next();
            }
        }
        BodyKind::Mget => {
            let v: Value = serde_json::from_slice(body).ok()?;
            match v.get("docs").and_then(Value::as_array) {
                Some(docs) => {
                    for d in docs {
                        out.insert(d.get("_index").and_then(Value::as_str).map(str::to_string).unwrap_or_else(default));
                    }
                }
                None => {
                    out.insert(default());
                }
            }
        }
        BodyKind::Aliases => {
            let v: Value = serde_json::from_slice(body).ok()?;
            for action in v.get("actions")?.as_array()? {
                for spec in action.as_object()?.values() {
                    if let Some(i) = spec.get("index") {
                        out.extend(index_list(i)?);
                    }
                    if let Some(i) = spec.get("indices") {
                        out.extend(index_list(i)?);
                    }
                }
            }
        }
    }
    Some(out.into_iter().collect())
}

/// UDFs a query body uses: `wasm_udf` clauses and `script` objects (a stored UDF by `id` or
/// by name as `source`, or inline code — see `quidditch_udf::inline::classify`).
fn collect_udfs(v: &Value, named: &mut BTreeSet<String>, inline: &mut bool) {
    let base = |n: &str| n.split('@').next().unwrap_or(n).to_string();
    match v {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("wasm_udf", Value::Object(spec)) => {
                        if let Some(n) = spec.get("name").and_then(Value::as_str) {
                            named.insert(base(n));
                        }
                    }
                    ("script", Value::Object(script)) => {
                        if let Some(id) = script.get("id").and_then(Value::as_str) {
                            named.insert(base(id));
                        } else if let Some(source) = script.get("source").and_then(Value::as_str) {
                            match quidditch_udf::inline::classify(script.get("lang").and_then(Value::as_str), source) {
                                Ok(quidditch_udf::inline::ScriptSource::Named(n)) => {
                                    named.insert(base(&n));
                                }
                                Ok(quidditch_udf::inline::ScriptSource::Inline(_)) => *inline = true,
                                // The query itself answers the 400.
                                Err(_) => {}
                            }
                        }
                    }
                    _ => {}
                }
                collect_udfs(child, named, inline);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_udfs(i, named, inline)),
        _ => {}
    }
}

// ---- /_plugins/_security/… ----

const CREATE_KEY: ApiParams = ApiParams::NONE;

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_plugins/_security/authinfo", get(authinfo).post(authinfo), &ApiParams::NONE)
        .route("/_plugins/_security/api/apikeys", get(list_keys).post(create_key), &CREATE_KEY)
        .route("/_plugins/_security/api/apikeys/{id}", delete(revoke_key), &ApiParams::NONE)
}

fn security_off() -> ApiError {
    ApiError::illegal_argument("security is not enabled on this node (see docs/security.md)")
}

type Caller = Option<Extension<Principal>>;
type Rules = Option<Extension<Arc<Security>>>;

fn caller(p: Caller, s: Rules) -> Result<(Principal, Arc<Security>), ApiError> {
    match (p, s) {
        (Some(Extension(p)), Some(Extension(s))) => Ok((p, s)),
        _ => Err(security_off()),
    }
}

async fn authinfo(p: Caller, s: Rules, State(_): State<AppState>) -> Result<Response, ApiError> {
    let (p, _) = caller(p, s)?;
    Ok(json_response(
        200,
        json!({
            "user": format!("User [name={}, backend_roles=[{}], requestedTenant=null]", p.user, p.backend_roles.join(", ")),
            "user_name": p.user,
            "user_requested_tenant": null,
            "backend_roles": p.backend_roles,
            "custom_attribute_names": [],
            "roles": p.roles,
            "tenants": {},
            "principal": null,
            "peer_certificates": "0",
            "sso_logout_url": null,
            "api_key": p.api_key,
        }),
    ))
}

async fn create_key(p: Caller, s: Rules, body: Bytes) -> Result<Response, ApiError> {
    let (p, sec) = caller(p, s)?;
    let body = parse_json_body(&body)?.unwrap_or(Value::Null);
    let obj = body.as_object().ok_or_else(|| ApiError::illegal_argument("the body must be an object with [name]"))?;
    if let Some(k) = obj.keys().find(|k| !matches!(k.as_str(), "name" | "roles" | "expiration")) {
        return Err(ApiError::illegal_argument(format!("unknown field [{k}]; an API key takes [name], [roles], [expiration]")));
    }
    let name = obj.get("name").and_then(Value::as_str).filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::illegal_argument("[name] is required and must be a non-empty string"))?;
    let roles = match obj.get("roles") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let roles = index_list(v).ok_or_else(|| ApiError::illegal_argument("[roles] must be an array of role names"))?;
            if let Some(r) = sec.unknown_role(&roles) {
                return Err(ApiError::illegal_argument(format!("[roles] names unknown role [{r}]")));
            }
            // A key never has more rights than its owner.
            if let Some(r) = roles.iter().find(|r| !p.roles.contains(r)) {
                return Err(ApiError::new(403, "security_exception", format!("cannot give an API key role [{r}], which user [{}] does not have", p.user)));
            }
            Some(roles)
        }
    };
    let expires_ms = match obj.get("expiration") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            let d = quidditch_engine::search::request::parse_time_value(s)
                .map_err(|_| ApiError::illegal_argument(format!("[expiration] must be a time value such as 1d or 12h, got [{s}]")))?
                .ok_or_else(|| ApiError::illegal_argument("[expiration] must be positive"))?;
            Some(crate::security::api_keys::now_ms() + d.as_millis() as u64)
        }
        Some(_) => return Err(ApiError::illegal_argument("[expiration] must be a time value string such as 1d")),
    };
    let (key, secret) = sec
        .api_keys
        .create(&p.user, name, roles, expires_ms)
        .map_err(|e| ApiError::new(500, "exception", format!("cannot store the API key: {e}")))?;
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", key.id));
    Ok(json_response(200, json!({"id": key.id, "name": key.name, "api_key": secret, "encoded": encoded, "expiration": key.expires_ms})))
}

async fn list_keys(p: Caller, s: Rules) -> Result<Response, ApiError> {
    let (p, sec) = caller(p, s)?;
    let owner = (!sec.is_admin(&p)).then_some(p.user.as_str());
    let keys: Vec<Value> = sec.api_keys.list(owner).iter().map(|k| k.describe()).collect();
    Ok(json_response(200, json!({"api_keys": keys})))
}

async fn revoke_key(p: Caller, s: Rules, Path(id): Path<String>) -> Result<Response, ApiError> {
    let (p, sec) = caller(p, s)?;
    let owner = (!sec.is_admin(&p)).then_some(p.user.as_str());
    match sec.api_keys.revoke(&id, owner).map_err(|e| ApiError::new(500, "exception", format!("cannot store the API key: {e}")))? {
        Some(k) => Ok(json_response(200, json!({"id": k.id, "invalidated": true}))),
        None => Err(ApiError::new(404, "resource_not_found_exception", format!("no API key [{id}]"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_and_msearch_bodies_name_their_indices() {
        let bulk = Bytes::from("{\"index\":{\"_index\":\"a\"}}\n{\"x\":1}\n{\"delete\":{\"_index\":\"b\",\"_id\":\"1\"}}\n{\"create\":{}}\n{\"y\":2}\n");
        assert_eq!(body_indices(BodyKind::Bulk, &bulk, Some("d")).unwrap(), vec!["a", "b", "d"]);
        assert!(body_indices(BodyKind::Bulk, &Bytes::from("not json\n"), None).is_none());
        let msearch = Bytes::from("{\"index\":[\"x\",\"y\"]}\n{}\n{}\n{}\n");
        assert_eq!(body_indices(BodyKind::Msearch, &msearch, None).unwrap(), vec!["_all", "x", "y"]);
    }

    #[test]
    fn query_bodies_name_their_udfs() {
        let body: Value = serde_json::json!({"query": {"bool": {"filter": [{"wasm_udf": {"name": "price_between@1.0.0"}}],
            "must": {"script_score": {"query": {"match_all": {}}, "script": {"lang": "wasm", "source": "score_price"}}}}}});
        let (mut named, mut inline) = (BTreeSet::new(), false);
        collect_udfs(&body, &mut named, &mut inline);
        assert_eq!(named.into_iter().collect::<Vec<_>>(), vec!["price_between", "score_price"]);
        assert!(!inline);
        let wat = serde_json::json!({"script": {"lang": "wasm", "source": "(module)"}});
        collect_udfs(&wat, &mut BTreeSet::new(), &mut inline);
        assert!(inline);
    }

    #[test]
    fn rewriting_replaces_or_adds_the_index_expression() {
        let uri: Uri = "/logs-*/_search?size=1".parse().unwrap();
        assert_eq!(rewrite_index(&uri, "/{index}/_search", "logs-1,logs-2").to_string(), "/logs-1,logs-2/_search?size=1");
        let uri: Uri = "/_search".parse().unwrap();
        assert_eq!(rewrite_index(&uri, "/_search", "a").to_string(), "/a/_search");
    }
}
