//! Pipeline aggregations: computed from the other aggregations' reduced results, so they run
//! on the coordinator after the reduce, over the final aggregation JSON (the same for any
//! number of shards).
//!
//! Sibling pipelines (`max_bucket`, `min_bucket`, `avg_bucket`, `sum_bucket`,
//! `stats_bucket`) read one value per bucket of a multi-bucket aggregation next to them
//! (`buckets_path: "agg>metric"`) and add one result beside it. Parent pipelines
//! (`cumulative_sum`, `derivative`, `bucket_sort`, `bucket_selector`) are declared inside a
//! multi-bucket aggregation and rewrite its buckets. `bucket_selector`'s script is the
//! simple expression syntax of [`Expr`] (`params.a > 10 && params.b / params.a < 0.5`).

use std::cmp::Ordering;

use serde_json::{Map, Value, json};

use crate::query_ast::QueryError;

/// The pipeline aggregation types (kept out of the request tantivy sees).
pub(crate) const PIPELINE_TYPES: &[&str] = &[
    "max_bucket", "min_bucket", "avg_bucket", "sum_bucket", "stats_bucket", "cumulative_sum", "derivative",
    "bucket_sort", "bucket_selector",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GapPolicy {
    Skip,
    InsertZeros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BucketMetric {
    Max,
    Min,
    Avg,
    Sum,
    Stats,
}

#[derive(Debug, Clone)]
enum PipelineKind {
    Sibling { metric: BucketMetric, path: String, gap: GapPolicy },
    CumulativeSum { path: String },
    Derivative { path: String, gap: GapPolicy },
    BucketSort { sort: Vec<(String, bool)>, from: usize, size: Option<usize>, gap: GapPolicy },
    BucketSelector { vars: Vec<(String, String)>, script: Expr, gap: GapPolicy },
}

/// One pipeline aggregation of the request.
#[derive(Debug, Clone)]
pub(crate) struct PipelineAgg {
    name: String,
    agg_type: String,
    kind: PipelineKind,
    meta: Option<Value>,
}

fn bad(reason: impl Into<String>) -> QueryError {
    QueryError::parsing(reason)
}

fn gap_policy(body: &Map<String, Value>) -> Result<GapPolicy, QueryError> {
    match body.get("gap_policy").map(|v| v.as_str().unwrap_or_default()) {
        None | Some("skip") | Some("keep_values") => Ok(GapPolicy::Skip),
        Some("insert_zeros") => Ok(GapPolicy::InsertZeros),
        Some(other) => Err(QueryError::illegal_argument(format!(
            "Invalid gap policy: [{other}], accepted values: [insert_zeros, skip, keep_values]"
        ))),
    }
}

fn single_path(name: &str, body: &Map<String, Value>) -> Result<String, QueryError> {
    match body.get("buckets_path") {
        Some(Value::String(p)) => Ok(p.clone()),
        Some(Value::Array(a)) if a.len() == 1 && a[0].is_string() => Ok(a[0].as_str().unwrap_or_default().to_string()),
        Some(other) => Err(bad(format!("[{name}] [buckets_path] must be a string, got [{other}]"))),
        None => Err(bad(format!("Missing required field [buckets_path] for aggregation [{name}]"))),
    }
}

fn parse_bucket_sort(name: &str, body: &Map<String, Value>, gap: GapPolicy) -> Result<PipelineKind, QueryError> {
    let mut sort = Vec::new();
    let items = match body.get("sort") {
        None => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(other) => vec![other.clone()],
    };
    for item in items {
        match item {
            Value::String(path) => sort.push((path, false)),
            Value::Object(o) if o.len() == 1 => {
                let Some((path, order)) = o.into_iter().next() else { continue };
                let order = match &order {
                    Value::String(s) => s.clone(),
                    Value::Object(spec) => spec.get("order").and_then(Value::as_str).unwrap_or("asc").to_string(),
                    _ => String::new(),
                };
                let desc = match order.as_str() {
                    "asc" => false,
                    "desc" => true,
                    other => return Err(bad(format!("[bucket_sort] unknown sort order [{other}]"))),
                };
                sort.push((path, desc));
            }
            other => return Err(bad(format!("[bucket_sort] invalid sort [{other}]"))),
        }
    }
    let count = |k: &str| -> Result<Option<usize>, QueryError> {
        match body.get(k) {
            None => Ok(None),
            Some(v) => v
                .as_u64()
                .map(|n| Some(n as usize))
                .ok_or_else(|| QueryError::illegal_argument(format!("[{k}] must be a non-negative integer: [{name}]"))),
        }
    };
    let size = count("size")?;
    if size == Some(0) {
        return Err(QueryError::illegal_argument(format!("[size] must be a positive integer: [{name}]")));
    }
    Ok(PipelineKind::BucketSort { sort, from: count("from")?.unwrap_or(0), size, gap })
}

fn parse_bucket_selector(name: &str, body: &Map<String, Value>, gap: GapPolicy) -> Result<PipelineKind, QueryError> {
    let vars = match body.get("buckets_path") {
        Some(Value::Object(o)) => o
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_str().ok_or_else(|| bad("[buckets_path] values must be strings"))?.to_string())))
            .collect::<Result<Vec<_>, QueryError>>()?,
        _ => return Err(bad(format!("Missing required field [buckets_path] (an object of variables) for aggregation [{name}]"))),
    };
    let source = match body.get("script") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o.get("source").and_then(Value::as_str).unwrap_or_default().to_string(),
        _ => return Err(bad(format!("Missing required field [script] for aggregation [{name}]"))),
    };
    Ok(PipelineKind::BucketSelector { vars, script: Expr::parse(&source)?, gap })
}

impl PipelineAgg {
    /// A pipeline aggregation of type `agg_type` (one of [`PIPELINE_TYPES`]).
    pub fn parse(name: &str, agg_type: &str, body: &Map<String, Value>, meta: Option<Value>) -> Result<PipelineAgg, QueryError> {
        let known: &[&str] = match agg_type {
            "bucket_sort" => &["sort", "from", "size", "gap_policy"],
            "bucket_selector" => &["buckets_path", "script", "gap_policy"],
            _ => &["buckets_path", "gap_policy", "format", "unit"],
        };
        if let Some(k) = body.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(bad(format!("[{agg_type}] unknown field [{k}]")));
        }
        let gap = gap_policy(body)?;
        let kind = match agg_type {
            "max_bucket" | "min_bucket" | "avg_bucket" | "sum_bucket" | "stats_bucket" => {
                let metric = match agg_type {
                    "max_bucket" => BucketMetric::Max,
                    "min_bucket" => BucketMetric::Min,
                    "avg_bucket" => BucketMetric::Avg,
                    "sum_bucket" => BucketMetric::Sum,
                    _ => BucketMetric::Stats,
                };
                PipelineKind::Sibling { metric, path: single_path(name, body)?, gap }
            }
            "cumulative_sum" => PipelineKind::CumulativeSum { path: single_path(name, body)? },
            "derivative" => {
                if body.contains_key("unit") {
                    return Err(QueryError::illegal_argument(format!("[{name}]: derivative [unit] is not supported")));
                }
                PipelineKind::Derivative { path: single_path(name, body)?, gap }
            }
            "bucket_sort" => parse_bucket_sort(name, body, gap)?,
            _ => parse_bucket_selector(name, body, gap)?,
        };
        Ok(PipelineAgg { name: name.to_string(), agg_type: agg_type.to_string(), kind, meta })
    }

    /// Declared inside the multi-bucket aggregation whose buckets it rewrites.
    pub fn is_parent(&self) -> bool {
        !matches!(self.kind, PipelineKind::Sibling { .. })
    }

    /// Whether it needs a histogram parent (OpenSearch's rule for sequence pipelines).
    fn needs_histogram(&self) -> bool {
        matches!(self.kind, PipelineKind::CumulativeSum { .. } | PipelineKind::Derivative { .. })
    }

    /// Checks the place it is declared in: `parent` is the enclosing aggregation's type
    /// (`None` at the top level).
    pub fn check_parent(&self, parent: Option<&str>) -> Result<(), QueryError> {
        if !self.is_parent() {
            return Ok(());
        }
        let (name, agg_type) = (&self.name, &self.agg_type);
        match parent {
            None if self.needs_histogram() => Err(QueryError::illegal_argument(format!(
                "{agg_type} aggregation [{name}] must have a histogram, date_histogram or auto_date_histogram as parent but doesn't have a parent"
            ))),
            None => Err(QueryError::illegal_argument(format!(
                "{agg_type} aggregation [{name}] must be declared inside of another aggregation"
            ))),
            Some(p) if self.needs_histogram() && p != "histogram" && p != "date_histogram" => Err(QueryError::illegal_argument(format!(
                "{agg_type} aggregation [{name}] must have a histogram, date_histogram or auto_date_histogram as parent"
            ))),
            Some(p) if !matches!(p, "terms" | "histogram" | "date_histogram" | "range" | "date_range" | "composite") => {
                Err(QueryError::illegal_argument(format!(
                    "{agg_type} aggregation [{name}] must be declared inside a multi-bucket aggregation"
                )))
            }
            Some(_) => Ok(()),
        }
    }

    fn typed_name(&self, typed_keys: bool) -> String {
        if !typed_keys {
            return self.name.clone();
        }
        let prefix = match &self.kind {
            PipelineKind::Sibling { metric: BucketMetric::Max | BucketMetric::Min, .. } => "bucket_metric_value",
            PipelineKind::Sibling { metric: BucketMetric::Stats, .. } => "stats_bucket",
            PipelineKind::Derivative { .. } => "derivative",
            _ => "simple_value",
        };
        format!("{prefix}#{}", self.name)
    }

    fn with_meta(&self, mut v: Value) -> Value {
        if let (Some(meta), Value::Object(o)) = (&self.meta, &mut v) {
            o.insert("meta".into(), meta.clone());
        }
        v
    }
}

/// Applies the sibling pipelines of one level (`level` holds their sibling aggregations'
/// results), in declaration order.
pub(crate) fn apply_siblings(level: &mut Map<String, Value>, pipelines: &[PipelineAgg], typed_keys: bool) -> Result<(), QueryError> {
    for p in pipelines {
        let PipelineKind::Sibling { metric, path, gap } = &p.kind else { continue };
        let (agg_name, rest) = match path.split_once('>') {
            Some((a, r)) => (a, r),
            None => match path.split_once('.') {
                Some((a, r)) => (a, r),
                None => (path.as_str(), "_count"),
            },
        };
        let agg = find_agg(level, agg_name)
            .ok_or_else(|| QueryError::illegal_argument(format!("No aggregation found for path [{path}]")))?;
        let buckets = buckets_of(agg).ok_or_else(|| {
            QueryError::illegal_argument(format!(
                "buckets_path must reference a multi-bucket aggregation, got: [{}] at aggregation [{agg_name}]",
                agg_class(agg)
            ))
        })?;
        let mut values: Vec<(String, f64)> = Vec::new();
        for b in &buckets {
            if let Some(v) = bucket_value(b, rest, *gap)? {
                values.push((bucket_key_string(b), v));
            }
        }
        let n = values.len();
        let sum: f64 = values.iter().map(|(_, v)| v).sum();
        let result = match metric {
            BucketMetric::Max | BucketMetric::Min => {
                let pick = if *metric == BucketMetric::Max { f64::max } else { f64::min };
                let best = values.iter().map(|(_, v)| *v).reduce(pick);
                let keys: Vec<&String> = values.iter().filter(|(_, v)| Some(*v) == best).map(|(k, _)| k).collect();
                json!({"value": best, "keys": keys})
            }
            BucketMetric::Sum => json!({"value": sum}),
            BucketMetric::Avg => json!({"value": (n > 0).then(|| sum / n as f64)}),
            BucketMetric::Stats => {
                let min = values.iter().map(|(_, v)| *v).reduce(f64::min);
                let max = values.iter().map(|(_, v)| *v).reduce(f64::max);
                json!({"count": n, "min": min, "max": max, "avg": (n > 0).then(|| sum / n as f64), "sum": sum})
            }
        };
        level.insert(p.typed_name(typed_keys), p.with_meta(result));
    }
    Ok(())
}

/// Applies the parent pipelines declared inside the multi-bucket aggregation `agg`, in
/// declaration order.
pub(crate) fn apply_parents(agg: &mut Map<String, Value>, pipelines: &[PipelineAgg], typed_keys: bool) -> Result<(), QueryError> {
    for p in pipelines.iter().filter(|p| p.is_parent()) {
        let Some(Value::Array(buckets)) = agg.get_mut("buckets") else { continue };
        let name = p.typed_name(typed_keys);
        match &p.kind {
            PipelineKind::CumulativeSum { path } => {
                let mut sum = 0.0;
                for b in buckets.iter_mut() {
                    if let Some(v) = bucket_value(b, path, GapPolicy::InsertZeros)?.filter(|v| v.is_finite()) {
                        sum += v;
                    }
                    if let Value::Object(o) = b {
                        o.insert(name.clone(), p.with_meta(json!({"value": sum})));
                    }
                }
            }
            PipelineKind::Derivative { path, gap } => {
                let mut last: Option<f64> = None;
                for b in buckets.iter_mut() {
                    let this = bucket_value(b, path, *gap)?;
                    if let (Some(prev), Some(cur), Value::Object(o)) = (last, this, &mut *b) {
                        o.insert(name.clone(), p.with_meta(json!({"value": cur - prev})));
                    }
                    last = this;
                }
            }
            PipelineKind::BucketSort { sort, from, size, gap } => {
                let mut keyed: Vec<(Vec<SortKey>, Value)> = Vec::new();
                for b in std::mem::take(buckets) {
                    let values = sort.iter().map(|(path, _)| sort_key(&b, path, *gap)).collect::<Result<Vec<_>, _>>()?;
                    if *gap == GapPolicy::Skip && values.iter().any(|v| *v == SortKey::Missing) {
                        continue;
                    }
                    keyed.push((values, b));
                }
                keyed.sort_by(|a, b| {
                    for (i, (_, desc)) in sort.iter().enumerate() {
                        let o = a.0[i].partial_cmp(&b.0[i]).unwrap_or(Ordering::Equal);
                        let o = if *desc { o.reverse() } else { o };
                        if o != Ordering::Equal {
                            return o;
                        }
                    }
                    Ordering::Equal
                });
                *buckets = keyed.into_iter().map(|(_, b)| b).skip(*from).take(size.unwrap_or(usize::MAX)).collect();
            }
            PipelineKind::BucketSelector { vars, script, gap } => {
                let mut kept = Vec::new();
                for b in std::mem::take(buckets) {
                    let mut params = Vec::with_capacity(vars.len());
                    for (var, path) in vars {
                        params.push((var.as_str(), bucket_value(&b, path, *gap)?.unwrap_or(f64::NAN)));
                    }
                    if script.eval(&params)? != 0.0 {
                        kept.push(b);
                    }
                }
                *buckets = kept;
            }
            PipelineKind::Sibling { .. } => {}
        }
    }
    Ok(())
}

/// An aggregation result of `level` by name (also under its `typed_keys` name).
fn find_agg<'a>(level: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    level
        .get(name)
        .or_else(|| level.iter().find(|(k, _)| k.split_once('#').is_some_and(|(_, n)| n == name)).map(|(_, v)| v))
}

fn buckets_of(agg: &Value) -> Option<Vec<Value>> {
    match agg.get("buckets")? {
        Value::Array(a) => Some(a.clone()),
        Value::Object(o) => Some(o.values().cloned().collect()),
        _ => None,
    }
}

/// OpenSearch's class name of a multi-bucket result, as its error messages show it.
fn agg_class(agg: &Value) -> &'static str {
    let first_key = agg.get("buckets").and_then(|b| b.as_array()).and_then(|b| b.first()).and_then(|b| b.get("key"));
    match first_key {
        Some(Value::String(_)) => "StringTerms",
        Some(Value::Number(n)) if n.is_f64() => "DoubleTerms",
        Some(_) => "LongTerms",
        None if agg.get("buckets").is_some() => "InternalMultiBucketAggregation",
        None => "Object",
    }
}

fn bucket_key_string(bucket: &Value) -> String {
    match bucket.get("key_as_string").or_else(|| bucket.get("key")) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn multi_value_error(name: &str) -> QueryError {
    QueryError::illegal_argument(format!(
        "buckets_path must reference either a number value or a single value numeric metric aggregation, but [{name}] contains multiple values. Please specify which to use."
    ))
}

/// A `bucket_sort` key: bucket keys may be strings, everything else is a number.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum SortKey {
    Num(f64),
    Str(String),
    Missing,
}

fn sort_key(bucket: &Value, path: &str, gap: GapPolicy) -> Result<SortKey, QueryError> {
    if path == "_key" {
        if let Some(Value::String(s)) = bucket.get("key") {
            return Ok(SortKey::Str(s.clone()));
        }
    }
    Ok(bucket_value(bucket, path, gap)?.map_or(SortKey::Missing, SortKey::Num))
}

/// The value `path` points to within one bucket (`None`: a gap under `skip`).
fn bucket_value(bucket: &Value, path: &str, gap: GapPolicy) -> Result<Option<f64>, QueryError> {
    let mut current = bucket;
    let segments: Vec<&str> = path.split('>').collect();
    let (last, through) = segments.split_last().unwrap_or((&"_count", &[]));
    for seg in through {
        let Value::Object(level) = current else { return Ok(None) };
        let agg = find_agg(level, seg).ok_or_else(|| QueryError::illegal_argument(format!("No aggregation found for path [{path}]")))?;
        if agg.get("buckets").is_some() {
            return Err(QueryError::illegal_argument(format!(
                "buckets_path must reference either a number value or a single value numeric metric aggregation, got: [Object[]] at aggregation [{seg}]"
            )));
        }
        current = agg;
    }
    let (name, metric) = match last.split_once('.') {
        Some((n, m)) => (n, Some(m)),
        None => (*last, None),
    };
    let value = match name {
        "_count" => current.get("doc_count").cloned(),
        "_key" => current.get("key").cloned(),
        _ => {
            let Value::Object(level) = current else { return Ok(None) };
            let agg = find_agg(level, name).ok_or_else(|| QueryError::illegal_argument(format!("No aggregation found for path [{path}]")))?;
            if agg.get("buckets").is_some() {
                return Err(QueryError::illegal_argument(format!(
                    "buckets_path must reference either a number value or a single value numeric metric aggregation, got: [{}] at aggregation [{name}]",
                    agg_class(agg)
                )));
            }
            match metric {
                Some("_count") => agg.get("doc_count").cloned(),
                Some(m) => agg.get(m).or_else(|| agg.get("values").and_then(|v| v.get(m))).cloned(),
                None if agg.get("value").is_some() => agg.get("value").cloned(),
                None if agg.get("values").is_some() || agg.get("avg").is_some() => return Err(multi_value_error(name)),
                None => agg.get("doc_count").cloned(),
            }
        }
    };
    let number = value.as_ref().and_then(|v| v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok())));
    Ok(match (number, gap) {
        (Some(n), _) if !n.is_nan() => Some(n),
        (_, GapPolicy::InsertZeros) => Some(0.0),
        _ => None,
    })
}

/// A `bucket_selector` script in the simple expression syntax: numbers, `params.<var>`,
/// `+ - * / %`, comparisons, `!`, `&&`, `||` and parentheses. Booleans are 1 and 0.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Num(f64),
    Var(String),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Box<Expr>, &'static str, Box<Expr>),
}

impl Expr {
    pub fn parse(source: &str) -> Result<Expr, QueryError> {
        let tokens = tokenize(source)?;
        let mut pos = 0;
        let expr = parse_binary(source, &tokens, &mut pos, 1)?;
        if pos != tokens.len() {
            return Err(script_error(source, &format!("unexpected [{}]", tokens[pos])));
        }
        Ok(expr)
    }

    fn eval(&self, params: &[(&str, f64)]) -> Result<f64, QueryError> {
        let truth = |b: bool| if b { 1.0 } else { 0.0 };
        Ok(match self {
            Expr::Num(n) => *n,
            Expr::Var(v) => params.iter().find(|(name, _)| name == v).map(|(_, x)| *x).ok_or_else(|| {
                QueryError::illegal_argument(format!("bucket_selector script uses [params.{v}], which is not in [buckets_path]"))
            })?,
            Expr::Not(e) => truth(e.eval(params)? == 0.0),
            Expr::Neg(e) => -e.eval(params)?,
            Expr::Bin(a, op, b) => {
                let (x, y) = (a.eval(params)?, b.eval(params)?);
                match *op {
                    "+" => x + y,
                    "-" => x - y,
                    "*" => x * y,
                    "/" => x / y,
                    "%" => x % y,
                    ">" => truth(x > y),
                    ">=" => truth(x >= y),
                    "<" => truth(x < y),
                    "<=" => truth(x <= y),
                    "==" => truth(x == y),
                    "!=" => truth(x != y),
                    "&&" => truth(x != 0.0 && y != 0.0),
                    _ => truth(x != 0.0 || y != 0.0),
                }
            }
        })
    }
}

fn script_error(source: &str, what: &str) -> QueryError {
    QueryError::illegal_argument(format!(
        "cannot parse bucket_selector script [{source}]: {what} (supported: numbers, params.<name>, + - * / %, comparisons, !, &&, ||, parentheses)"
    ))
}

const OPERATORS: &[&str] = &["&&", "||", ">=", "<=", "==", "!=", ">", "<", "+", "-", "*", "/", "%", "!", "(", ")"];

fn tokenize(source: &str) -> Result<Vec<String>, QueryError> {
    let mut tokens = Vec::new();
    let chars: Vec<char> = source.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let word = |i: usize, ok: fn(char) -> bool| {
            let mut j = i;
            while j < chars.len() && ok(chars[j]) {
                j += 1;
            }
            j
        };
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let end = word(i, |c| c.is_ascii_digit() || c == '.');
            tokens.push(chars[i..end].iter().collect());
            i = end;
        } else if c.is_alphabetic() || c == '_' {
            let end = word(i, |c| c.is_alphanumeric() || c == '_' || c == '.');
            tokens.push(chars[i..end].iter().collect());
            i = end;
        } else {
            let rest: String = chars[i..].iter().take(2).collect();
            let op = OPERATORS
                .iter()
                .find(|op| rest.starts_with(**op))
                .ok_or_else(|| script_error(source, &format!("unexpected character [{c}]")))?;
            tokens.push(op.to_string());
            i += op.len();
        }
    }
    Ok(tokens)
}

fn precedence(op: &str) -> Option<(u8, &'static str)> {
    let p = match op {
        "||" => 1,
        "&&" => 2,
        "==" | "!=" => 3,
        ">" | ">=" | "<" | "<=" => 4,
        "+" | "-" => 5,
        "*" | "/" | "%" => 6,
        _ => return None,
    };
    OPERATORS.iter().find(|o| **o == op).map(|o| (p, *o))
}

/// Precedence climbing; operators of one level associate to the left.
fn parse_binary(source: &str, tokens: &[String], pos: &mut usize, min: u8) -> Result<Expr, QueryError> {
    let mut left = parse_unary(source, tokens, pos)?;
    while let Some((p, op)) = tokens.get(*pos).and_then(|t| precedence(t)) {
        if p < min {
            break;
        }
        *pos += 1;
        let right = parse_binary(source, tokens, pos, p + 1)?;
        left = Expr::Bin(Box::new(left), op, Box::new(right));
    }
    Ok(left)
}

fn parse_unary(source: &str, tokens: &[String], pos: &mut usize) -> Result<Expr, QueryError> {
    let token = tokens.get(*pos).ok_or_else(|| script_error(source, "unexpected end"))?.clone();
    *pos += 1;
    match token.as_str() {
        "!" => Ok(Expr::Not(Box::new(parse_unary(source, tokens, pos)?))),
        "-" => Ok(Expr::Neg(Box::new(parse_unary(source, tokens, pos)?))),
        "(" => {
            let inner = parse_binary(source, tokens, pos, 1)?;
            if tokens.get(*pos).map(String::as_str) != Some(")") {
                return Err(script_error(source, "missing [)]"));
            }
            *pos += 1;
            Ok(inner)
        }
        "true" => Ok(Expr::Num(1.0)),
        "false" => Ok(Expr::Num(0.0)),
        t if t.starts_with("params.") => Ok(Expr::Var(t["params.".len()..].to_string())),
        t => t.parse::<f64>().map(Expr::Num).map_err(|_| script_error(source, &format!("unexpected [{t}]"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_follow_the_usual_precedence() {
        let e = Expr::parse("params.a + 2 * params.b > 10 && !(params.a == 1) || params.b < 0").unwrap();
        assert_eq!(e.eval(&[("a", 2.0), ("b", 5.0)]).unwrap(), 1.0);
        assert_eq!(e.eval(&[("a", 1.0), ("b", 5.0)]).unwrap(), 0.0);
        assert_eq!(e.eval(&[("a", 1.0), ("b", -1.0)]).unwrap(), 1.0);
        assert_eq!(Expr::parse("10 - 4 - 3").unwrap().eval(&[]).unwrap(), 3.0);
        assert_eq!(Expr::parse("12 / 3 / 2").unwrap().eval(&[]).unwrap(), 2.0);
        assert!(Expr::parse("params.a >").is_err());
        assert!(Expr::parse("doc['x'].value > 1").is_err());
    }
}
