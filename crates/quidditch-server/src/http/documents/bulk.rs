//! `_bulk`: NDJSON action/source pairs, grouped per index so each index gets one batch (one
//! WAL fsync) per request.
//!
//! Error policy: a structurally wrong action line (`{}`, an unknown action, an unknown
//! metadata key) fails the whole request with 400, as in OpenSearch — the line framing can
//! no longer be trusted. A line that is not JSON at all, a source that does not parse or does
//! not fit the mapping, a version conflict: those are per-item errors and every other item
//! is still applied.

use std::collections::HashMap;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use quidditch_engine::{ExternalVersion, OpType, VersionType, VersionedWrite, WriteOp, WriteResult};
use serde_json::{Map, Value};

use super::super::indices::{Params, blocking, flag};
use super::super::{ApiError, AppState};
use super::{item_error, parse_update, refresh_param};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Index,
    Create,
    Update,
    Delete,
}

impl Action {
    fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "index" => Action::Index,
            "create" => Action::Create,
            "update" => Action::Update,
            "delete" => Action::Delete,
            _ => return None,
        })
    }
    fn name(self) -> &'static str {
        match self {
            Action::Index => "index",
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

struct Item {
    action: Action,
    index: Option<String>,
    id: Option<String>,
    /// The target must be an alias (`require_alias`, per item or for the whole request).
    require_alias: bool,
    /// The op and its routing value (`None`: the id routes).
    op: Result<(WriteOp, Option<String>), ApiError>,
}

pub(in super::super) async fn bulk_all(State(state): State<AppState>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    bulk(state, None, params, body).await
}

pub(in super::super) async fn bulk_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    bulk(state, Some(index), params, body).await
}

fn malformed(line: usize, what: impl std::fmt::Display) -> ApiError {
    ApiError::illegal_argument(format!("Malformed action/metadata line [{line}], {what}"))
}

/// Whether a line is a well-formed action line (used to resync after a garbage line).
fn looks_like_action(line: &[u8]) -> bool {
    match serde_json::from_slice::<Value>(line) {
        Ok(Value::Object(m)) => m.len() == 1 && m.keys().all(|k| Action::parse(k).is_some()),
        _ => false,
    }
}

fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn parse_items(
    body: &[u8],
    default_index: Option<&str>,
    default_routing: Option<&str>,
    default_require_alias: bool,
) -> Result<Vec<Item>, ApiError> {
    let lines: Vec<(usize, &[u8])> = body
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .collect();
    let mut items = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let (line_no, line) = lines[i];
        i += 1;
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => {
                // Not JSON: report it as this item's error; if the next line is not an
                // action, it was this item's source — skip it too.
                if i < lines.len() && !looks_like_action(lines[i].1) {
                    i += 1;
                }
                items.push(Item {
                    action: Action::Index,
                    index: default_index.map(str::to_string),
                    id: None,
                    require_alias: default_require_alias,
                    op: Err(ApiError::bad_request(
                        "json_parse_exception",
                        format!("Malformed action/metadata line [{line_no}]: {e}"),
                    )),
                });
                continue;
            }
        };
        let Value::Object(obj) = value else {
            return Err(malformed(line_no, "expected START_OBJECT"));
        };
        let Some((key, meta)) = obj.iter().next() else {
            return Err(malformed(line_no, "expected FIELD_NAME but found [END_OBJECT]"));
        };
        let Some(action) = Action::parse(key) else {
            return Err(malformed(line_no, format!("expected one of [create, delete, index, update] but found [{key}]")));
        };
        let Value::Object(meta) = meta else {
            return Err(malformed(line_no, "expected START_OBJECT"));
        };
        let mut index = default_index.map(str::to_string);
        let mut id = None;
        let mut if_seq_no = None;
        let mut if_primary_term = None;
        let mut version = None;
        let mut version_type = None;
        let mut op_type = if action == Action::Create { OpType::Create } else { OpType::Index };
        let mut routing = default_routing.map(str::to_string);
        let mut require_alias = default_require_alias;
        for (k, v) in meta {
            match k.as_str() {
                "_index" => index = v.as_str().map(str::to_string),
                "_id" => id = id_of(v),
                "if_seq_no" => if_seq_no = v.as_i64(),
                "if_primary_term" => if_primary_term = v.as_i64(),
                "op_type" if action == Action::Index => {
                    if v.as_str() == Some("create") {
                        op_type = OpType::Create;
                    }
                }
                "routing" | "_routing" => routing = id_of(v),
                "require_alias" => require_alias = v.as_bool().unwrap_or(v.as_str() == Some("true")),
                "version" => {
                    version = Some(v.as_i64().ok_or_else(|| {
                        ApiError::illegal_argument(format!("Action/metadata line [{line_no}]: [version] must be a number"))
                    })?)
                }
                "version_type" => version_type = Some(VersionType::parse(v.as_str().unwrap_or_default())?),
                "retry_on_conflict" | "pipeline" | "_source" | "op_type" => {}
                other => {
                    return Err(ApiError::illegal_argument(format!(
                        "Action/metadata line [{line_no}] contains an unknown parameter [{other}]"
                    )));
                }
            }
        }
        // Invalid versioning fails the whole request, as OpenSearch's bulk validation does.
        let write = match action {
            Action::Delete => VersionedWrite::Delete,
            Action::Update => VersionedWrite::Update,
            _ if op_type == OpType::Create => VersionedWrite::Create,
            _ => VersionedWrite::Index { has_id: id.is_some() },
        };
        let version = ExternalVersion::for_write(write, version, version_type, if_seq_no.is_some())?;
        let op = match action {
            Action::Delete => match id.clone() {
                Some(id) => Ok(WriteOp::Delete { id, if_seq_no, if_primary_term, version }),
                None => Err(ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: id is missing;")),
            },
            _ => {
                if i >= lines.len() {
                    Err(ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: source is missing;"))
                } else {
                    let (_, source) = lines[i];
                    i += 1;
                    if action == Action::Update {
                        match serde_json::from_slice::<Value>(source) {
                            Err(e) => Err(ApiError::bad_request("json_parse_exception", format!("failed to parse update request: {e}"))),
                            Ok(body) => match id.clone() {
                                None => Err(ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: id is missing;")),
                                Some(id) => parse_update(&body).map(|request| WriteOp::Update { id, request, if_seq_no, if_primary_term }),
                            },
                        }
                    } else {
                        Ok(WriteOp::Index { id: id.clone(), source: source.to_vec(), op_type, if_seq_no, if_primary_term, version })
                    }
                }
            }
        };
        let action = if action == Action::Index && op_type == OpType::Create { Action::Create } else { action };
        items.push(Item { action, index, id, require_alias, op: op.map(|op| (op, routing)) });
    }
    Ok(items)
}

async fn bulk(state: AppState, default_index: Option<String>, params: HashMap<String, String>, body: Bytes) -> Result<Response, ApiError> {
    let started = Instant::now();
    let refresh = refresh_param(&params)?;
    let require_alias = flag(&params, "require_alias")?.unwrap_or(false);
    let items = parse_items(&body, default_index.as_deref(), params.get("routing").map(String::as_str), require_alias)?;
    if items.is_empty() {
        return Err(ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: no requests added;"));
    }
    let engine = state.engine.clone();
    let (items_json, errors) = blocking(move || {
        let n = items.len();
        // Each item's response, serialized directly: a 5,000-document request must not build
        // 5,000 `Value` trees just to print them.
        let mut out: Vec<Option<String>> = vec![None; n];
        let mut errors = false;
        let mut fail = |out: &mut Vec<Option<String>>, pos: usize, action: Action, index: &str, id: Option<&str>, err: &ApiError| {
            errors = true;
            out[pos] = Some(item_json(action, Value::Object(item_error(index, id, err))).to_string());
        };
        // Group by target name (and `require_alias`), keeping first-appearance order.
        type Group = ((String, bool), Vec<(usize, Action, (WriteOp, Option<String>))>);
        let mut groups: Vec<Group> = Vec::new();
        let mut ids: Vec<Option<String>> = Vec::with_capacity(n);
        for (pos, item) in items.into_iter().enumerate() {
            ids.push(item.id);
            let op = match item.op {
                Ok(op) => op,
                Err(err) => {
                    fail(&mut out, pos, item.action, item.index.as_deref().unwrap_or_default(), ids[pos].as_deref(), &err);
                    continue;
                }
            };
            let Some(index) = item.index else {
                let err = ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: index is missing;");
                fail(&mut out, pos, item.action, "", ids[pos].as_deref(), &err);
                continue;
            };
            let key = (index, item.require_alias);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, ops)) => ops.push((pos, item.action, op)),
                None => groups.push((key, vec![(pos, item.action, op)])),
            }
        }
        for ((name, require_alias), mut ops) in groups {
            let only_deletes = ops.iter().all(|(_, a, _)| *a == Action::Delete);
            // An alias stands for its write index; its index routing applies to ops without one.
            let index = if only_deletes {
                engine.single_index(&name)
            } else {
                engine.write_target(&name, require_alias).map(|(index, alias_routing)| {
                    if let Some(r) = alias_routing {
                        for (_, _, (_, routing)) in ops.iter_mut() {
                            routing.get_or_insert_with(|| r.clone());
                        }
                    }
                    index
                })
            };
            let index = match index {
                Ok(i) => i,
                Err(e) => {
                    let err: ApiError = e.into();
                    for (pos, action, _) in ops {
                        fail(&mut out, pos, action, &name, ids[pos].as_deref(), &err);
                    }
                    continue;
                }
            };
            let positions: Vec<(usize, Action)> = ops.iter().map(|(p, a, _)| (*p, *a)).collect();
            match index.write_routed(ops.into_iter().map(|(_, _, op)| op).collect(), refresh) {
                Err(e) => {
                    let err: ApiError = e.into();
                    for (pos, action) in positions {
                        fail(&mut out, pos, action, &name, ids[pos].as_deref(), &err);
                    }
                }
                Ok(results) => {
                    let shards_total = 1 + index.settings().number_of_replicas();
                    let index_name = serde_json::to_string(index.name()).unwrap_or_default();
                    for ((pos, action), result) in positions.into_iter().zip(results) {
                        match result {
                            Ok(r) => out[pos] = Some(ok_item_json(action, &index_name, shards_total, &r)),
                            Err(e) => {
                                let err: ApiError = e.into();
                                fail(&mut out, pos, action, &name, ids[pos].as_deref(), &err);
                            }
                        }
                    }
                }
            }
        }
        let mut items_json = String::with_capacity(n * 200);
        for (i, item) in out.into_iter().enumerate() {
            if i > 0 {
                items_json.push(',');
            }
            items_json.push_str(item.as_deref().unwrap_or("null"));
        }
        Ok((items_json, errors))
    })
    .await?;
    let body = format!(
        r#"{{"took":{},"errors":{errors},"items":[{items_json}]}}"#,
        started.elapsed().as_millis()
    );
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `{"index":{"_index":…,"_id":…,"_version":…,"result":…,"_shards":…,"_seq_no":…,"_primary_term":…,"status":…}}`
fn ok_item_json(action: Action, index_name_json: &str, shards_total: u64, r: &WriteResult) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(200);
    let id = serde_json::to_string(&r.id).unwrap_or_default();
    let _ = write!(
        s,
        r#"{{"{}":{{"_index":{index_name_json},"_id":{id},"_version":{},"result":"{}","#,
        action.name(),
        r.meta.version,
        r.outcome.as_str()
    );
    if r.forced_refresh {
        s.push_str(r#""forced_refresh":true,"#);
    }
    let _ = write!(
        s,
        r#""_shards":{{"total":{shards_total},"successful":{},"failed":0}},"_seq_no":{},"_primary_term":{},"status":{}}}}}"#,
        r.copies,
        r.meta.seq_no,
        r.meta.primary_term,
        r.outcome.status()
    );
    s
}

fn item_json(action: Action, body: Value) -> Value {
    let mut m = Map::new();
    m.insert(action.name().to_string(), body);
    Value::Object(m)
}
