//! Transport conventions of the OpenSearch REST layer, applied to every route in one layer
//! (`transport`), so handlers only ever see plain bodies and produce plain JSON:
//!
//! - request bodies with `Content-Encoding: gzip` / `deflate` are inflated (malformed → 400);
//! - JSON responses honour `?filter_path=` (wildcards `*`, `**`, `-` exclusions), `?human`
//!   (`x_in_bytes` / `x_in_millis` get a readable `x` beside them), `?error_trace=true`
//!   (errors carry a `stack_trace`), `?pretty`, and `?format=yaml` / `Accept: application/yaml`;
//!   `cbor` and `smile` are refused with 406;
//! - responses are gzip-compressed when the client sends `Accept-Encoding: gzip`.
//!
//! The parameter names are the `params::COMMON` ones, accepted on every route.

use std::io::{Read, Write};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Method, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::ApiError;

/// How a JSON response body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OutputFormat {
    Json,
    Yaml,
}

/// The response-shaping options of one request.
#[derive(Debug, Default)]
struct ResponseOptions {
    pretty: bool,
    human: bool,
    error_trace: bool,
    yaml: bool,
    filter_path: Option<FilterPath>,
    gzip: bool,
}

impl ResponseOptions {
    fn changes_json(&self) -> bool {
        self.pretty || self.human || self.error_trace || self.yaml || self.filter_path.is_some()
    }
}

fn is_true(value: &str) -> bool {
    value.is_empty() || value == "true"
}

fn read_options(req: &Request<Body>) -> Result<ResponseOptions, ApiError> {
    let mut options = ResponseOptions::default();
    let mut format = None;
    for (name, value) in query_pairs(req.uri().query().unwrap_or("")) {
        match name.as_str() {
            "pretty" => options.pretty = is_true(&value),
            "human" => options.human = is_true(&value),
            "error_trace" => options.error_trace = is_true(&value),
            "filter_path" => options.filter_path = FilterPath::parse(&value),
            "format" => format = Some(value),
            _ => {}
        }
    }
    let accept = req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let wanted = match format.as_deref() {
        Some(f) => parse_format(f)?,
        None => accept.split(',').find_map(|media| parse_format(media.split(';').next()?.trim()).transpose()).transpose()?,
    };
    options.yaml = wanted == Some(OutputFormat::Yaml);
    options.gzip = req
        .headers()
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim().eq_ignore_ascii_case("gzip"))));
    Ok(options)
}

/// `format=` values and `Accept` media types. Unknown `format=` values are left to the
/// handler (the `_cat` APIs take `txt`); unknown media types are ignored.
fn parse_format(name: &str) -> Result<Option<OutputFormat>, ApiError> {
    let short = name.rsplit('/').next().unwrap_or(name).to_ascii_lowercase();
    match short.as_str() {
        "json" | "x-ndjson" => Ok(Some(OutputFormat::Json)),
        "yaml" | "x-yaml" => Ok(Some(OutputFormat::Yaml)),
        "cbor" | "smile" | "x-jackson-smile" => Err(ApiError::new(
            406,
            "not_acceptable_exception",
            format!("[{short}] output is not supported by Quidditch; use json or yaml"),
        )),
        _ => Ok(None),
    }
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    let uri = format!("http://x/?{query}");
    uri.parse::<axum::http::Uri>()
        .ok()
        .and_then(|uri| axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&uri).ok())
        .map(|q| q.0)
        .unwrap_or_default()
}

/// The layer: inflate the request, run the handler, shape and compress the response.
pub async fn transport(max_body: usize, req: Request<Body>, next: Next) -> Response {
    let options = match read_options(&req) {
        Ok(o) => o,
        Err(e) => return e.into_response(),
    };
    let is_head = req.method() == Method::HEAD;
    let req = match inflate_request(max_body, req).await {
        Ok(r) => r,
        Err(e) => return finish(e.into_response(), &options, is_head).await,
    };
    finish(next.run(req).await, &options, is_head).await
}

async fn finish(resp: Response, options: &ResponseOptions, is_head: bool) -> Response {
    if is_head {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !options.gzip && !(is_json && options.changes_json()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let Ok(mut bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::internal("failed to read the response body").into_response();
    };
    if is_json && options.changes_json() {
        if let Ok(value) = serde_json::from_slice::<Value>(&bytes) {
            let (text, content_type) = shape_json(value, options);
            bytes = Bytes::from(text);
            parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
    }
    if options.gzip && !bytes.is_empty() && !parts.headers.contains_key(header::CONTENT_ENCODING) {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        if encoder.write_all(&bytes).is_ok()
            && let Ok(compressed) = encoder.finish()
        {
            bytes = Bytes::from(compressed);
            parts.headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
        }
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    Response::from_parts(parts, Body::from(bytes))
}

fn shape_json(mut value: Value, options: &ResponseOptions) -> (Vec<u8>, &'static str) {
    if options.error_trace {
        add_stack_traces(&mut value);
    }
    if options.human {
        add_human_readable(&mut value);
    }
    if let Some(filter) = &options.filter_path {
        value = filter.apply(value);
    }
    if options.yaml {
        return (to_yaml(&value).into_bytes(), "application/yaml");
    }
    let text = if options.pretty {
        let mut s = serde_json::to_vec_pretty(&value).unwrap_or_default();
        s.push(b'\n');
        s
    } else {
        serde_json::to_vec(&value).unwrap_or_default()
    };
    (text, "application/json")
}

/// Inflates a `gzip` / `deflate` body; a body that does not inflate is a 400.
async fn inflate_request(max_body: usize, req: Request<Body>) -> Result<Request<Body>, ApiError> {
    let Some(encoding) = content_encoding(req.headers()) else { return Ok(req) };
    let (mut parts, body) = req.into_parts();
    let compressed = axum::body::to_bytes(body, max_body).await.map_err(|_| super::body_too_large())?;
    let mut inflated = Vec::new();
    let limit = max_body as u64 + 1;
    let result = match encoding.as_str() {
        "gzip" | "x-gzip" => flate2::read::MultiGzDecoder::new(&compressed[..]).take(limit).read_to_end(&mut inflated),
        "deflate" => {
            // HTTP's `deflate` is zlib-wrapped; some clients send a raw deflate stream.
            match flate2::read::ZlibDecoder::new(&compressed[..]).take(limit).read_to_end(&mut inflated) {
                Ok(n) => Ok(n),
                Err(_) => {
                    inflated.clear();
                    flate2::read::DeflateDecoder::new(&compressed[..]).take(limit).read_to_end(&mut inflated)
                }
            }
        }
        "identity" => return Ok(Request::from_parts(parts, Body::from(compressed))),
        other => {
            return Err(ApiError::new(
                415,
                "illegal_argument_exception",
                format!("unsupported Content-Encoding [{other}]; use gzip or deflate"),
            ));
        }
    };
    result.map_err(|e| {
        ApiError::bad_request("parse_exception", format!("failed to decompress the {encoding} request body: {e}"))
    })?;
    if inflated.len() > max_body {
        return Err(super::body_too_large());
    }
    parts.headers.remove(header::CONTENT_ENCODING);
    parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(inflated.len()));
    Ok(Request::from_parts(parts, Body::from(inflated)))
}

fn content_encoding(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
}

/// `?error_trace=true`: OpenSearch adds the Java stack; the closest truth here is the error's
/// own chain (type and reason) on the error and each root cause.
fn add_stack_traces(value: &mut Value) {
    fn trace(error: &mut Map<String, Value>) {
        let kind = error.get("type").and_then(Value::as_str).unwrap_or("exception").to_string();
        let reason = error.get("reason").and_then(Value::as_str).unwrap_or("").to_string();
        error.insert("stack_trace".into(), Value::String(format!("{kind}: {reason}")));
    }
    if let Some(Value::Object(error)) = value.get_mut("error") {
        if let Some(Value::Array(causes)) = error.get_mut("root_cause") {
            for cause in causes.iter_mut().filter_map(Value::as_object_mut) {
                trace(cause);
            }
        }
        trace(error);
    }
}

/// `?human`: `size_in_bytes: 2048` gains `size: "2kb"`, `time_in_millis: 1500` gains
/// `time: "1.5s"`, as OpenSearch's `humanReadableField`.
fn add_human_readable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let mut added = Vec::new();
            for (key, v) in map.iter_mut() {
                add_human_readable(v);
                let Some(n) = v.as_u64() else { continue };
                if let Some(base) = key.strip_suffix("_in_bytes") {
                    added.push((base.to_string(), human_bytes(n)));
                } else if let Some(base) = key.strip_suffix("_in_millis") {
                    added.push((base.to_string(), human_millis(n)));
                }
            }
            for (key, text) in added {
                map.entry(key).or_insert(Value::String(text));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(add_human_readable),
        _ => {}
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [(&str, u64); 5] = [("pb", 1 << 50), ("tb", 1 << 40), ("gb", 1 << 30), ("mb", 1 << 20), ("kb", 1 << 10)];
    for (unit, size) in UNITS {
        if n >= size {
            return format!("{}{unit}", trim_float(n as f64 / size as f64));
        }
    }
    format!("{n}b")
}

fn human_millis(ms: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)];
    for (unit, size) in UNITS {
        if ms >= size {
            return format!("{}{unit}", trim_float(ms as f64 / size as f64));
        }
    }
    format!("{ms}ms")
}

/// One decimal, without a trailing `.0` (`1.5`, `2`).
fn trim_float(x: f64) -> String {
    let s = format!("{x:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// `?filter_path=a.b,-a.b.c,**.took`: include patterns keep only what they match (arrays are
/// transparent), exclude patterns (`-`) then remove what they match.
#[derive(Debug, Clone)]
pub struct FilterPath {
    includes: Vec<Vec<String>>,
    excludes: Vec<Vec<String>>,
}

impl FilterPath {
    pub fn parse(spec: &str) -> Option<FilterPath> {
        let mut includes = Vec::new();
        let mut excludes = Vec::new();
        for path in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (target, path) = match path.strip_prefix('-') {
                Some(p) => (&mut excludes, p),
                None => (&mut includes, path),
            };
            target.push(path.split('.').map(str::to_string).collect());
        }
        (!includes.is_empty() || !excludes.is_empty()).then_some(FilterPath { includes, excludes })
    }

    pub fn apply(&self, value: Value) -> Value {
        let mut value = if self.includes.is_empty() {
            value
        } else {
            let patterns: Vec<&[String]> = self.includes.iter().map(Vec::as_slice).collect();
            include(value, &patterns).unwrap_or_else(|| Value::Object(Map::new()))
        };
        let patterns: Vec<&[String]> = self.excludes.iter().map(Vec::as_slice).collect();
        if !patterns.is_empty() {
            exclude(&mut value, &patterns);
        }
        value
    }
}

/// The patterns that apply to the child `key` of a node matched by `patterns`, and whether
/// one of them ends there (the child is matched whole).
fn descend<'a>(patterns: &[&'a [String]], key: &str) -> (Vec<&'a [String]>, bool) {
    let mut rest = Vec::new();
    let mut whole = false;
    // An exhausted pattern matches the child whole.
    let push = |p: &'a [String], rest: &mut Vec<&'a [String]>, whole: &mut bool| {
        if p.is_empty() {
            *whole = true;
        } else {
            rest.push(p);
        }
    };
    for &p in patterns {
        let Some((head, tail)) = p.split_first() else { continue };
        if head == "**" {
            // `**` matches zero or more levels.
            push(p, &mut rest, &mut whole);
            if let Some((next, after)) = tail.split_first() {
                if glob(next, key) {
                    push(after, &mut rest, &mut whole);
                }
            } else {
                whole = true;
            }
        } else if glob(head, key) {
            push(tail, &mut rest, &mut whole);
        }
    }
    (rest, whole)
}

fn include(value: Value, patterns: &[&[String]]) -> Option<Value> {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, child) in map {
                let (rest, whole) = descend(patterns, &key);
                if whole {
                    out.insert(key, child);
                } else if !rest.is_empty() {
                    if let Some(kept) = include(child, &rest) {
                        out.insert(key, kept);
                    }
                }
            }
            (!out.is_empty()).then_some(Value::Object(out))
        }
        Value::Array(items) => {
            let kept: Vec<Value> = items.into_iter().filter_map(|item| include(item, patterns)).collect();
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

fn exclude(value: &mut Value, patterns: &[&[String]]) {
    match value {
        Value::Object(map) => {
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let (rest, whole) = descend(patterns, &key);
                if whole {
                    map.remove(&key);
                } else if !rest.is_empty()
                    && let Some(child) = map.get_mut(&key)
                {
                    exclude(child, &rest);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|item| exclude(item, patterns)),
        _ => {}
    }
}

/// `*` matches any run of characters.
fn glob(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

/// YAML as OpenSearch writes it (`---` first, block style, strings quoted when needed).
pub fn to_yaml(value: &Value) -> String {
    let mut out = String::from("---\n");
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_list(&mut out, items, 0),
        scalar => {
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &Map<String, Value>, indent: usize) {
    for (key, value) in map {
        out.push_str(&" ".repeat(indent));
        out.push_str(&yaml_string(key));
        out.push(':');
        write_child(out, value, indent);
    }
}

fn write_list(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        out.push_str(&" ".repeat(indent));
        out.push('-');
        match item {
            Value::Object(map) if !map.is_empty() => {
                // The first key goes on the dash's line.
                let mut nested = String::new();
                write_map(&mut nested, map, indent + 2);
                out.push(' ');
                out.push_str(&nested[indent + 2..]);
            }
            other => write_child(out, other, indent),
        }
    }
}

fn write_child(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            out.push('\n');
            write_map(out, map, indent + 2);
        }
        Value::Array(items) if !items.is_empty() => {
            out.push('\n');
            write_list(out, items, indent + 2);
        }
        scalar => {
            out.push(' ');
            out.push_str(&yaml_scalar(scalar));
            out.push('\n');
        }
    }
}

fn yaml_scalar(value: &Value) -> String {
    match value {
        Value::String(s) => yaml_string(s),
        Value::Object(_) => "{}".into(),
        Value::Array(_) => "[]".into(),
        other => other.to_string(),
    }
}

/// Plain when it cannot be read as anything but this string, else JSON-quoted (valid YAML).
fn yaml_string(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !s.starts_with(['-', '.'])
        && s.parse::<f64>().is_err()
        && !matches!(s.to_ascii_lowercase().as_str(), "true" | "false" | "null" | "yes" | "no" | "on" | "off" | "y" | "n" | "~");
    if plain { s.to_string() } else { Value::String(s.to_string()).to_string() }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn filtered(spec: &str, value: Value) -> Value {
        FilterPath::parse(spec).unwrap().apply(value)
    }

    #[test]
    fn filter_path_includes_wildcards_and_arrays() {
        let v = json!({"took": 3, "hits": {"total": {"value": 2}, "hits": [{"_id": "1", "_source": {}}, {"_id": "2"}]}});
        assert_eq!(filtered("hits.hits._id", v.clone()), json!({"hits": {"hits": [{"_id": "1"}, {"_id": "2"}]}}));
        assert_eq!(filtered("t*", v.clone()), json!({"took": 3}));
        assert_eq!(filtered("**.value", v.clone()), json!({"hits": {"total": {"value": 2}}}));
        assert_eq!(filtered("nothing", v.clone()), json!({}));
    }

    #[test]
    fn filter_path_exclusions() {
        let v = json!({"took": 3, "hits": {"total": 2, "max_score": 1.0}});
        assert_eq!(filtered("-hits.max_score", v.clone()), json!({"took": 3, "hits": {"total": 2}}));
        assert_eq!(filtered("hits,-hits.total", v), json!({"hits": {"max_score": 1.0}}));
    }

    #[test]
    fn yaml_output() {
        let v = json!({"a": 1, "b": ["x", {"c": true, "d": "1.0"}], "e": {}, "f": "two words"});
        assert_eq!(to_yaml(&v), "---\na: 1\nb:\n  - x\n  - c: true\n    d: \"1.0\"\ne: {}\nf: \"two words\"\n");
    }

    #[test]
    fn human_readable_fields() {
        let mut v = json!({"store": {"size_in_bytes": 2048}, "time_in_millis": 1500});
        add_human_readable(&mut v);
        assert_eq!(v["store"]["size"], "2kb");
        assert_eq!(v["time"], "1.5s");
    }
}
