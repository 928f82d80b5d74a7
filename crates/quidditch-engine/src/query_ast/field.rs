//! Resolving a user field name to where it lives in tantivy, and building terms for it.
//!
//! Mapped fields are paths inside two JSON fields (see docs/architecture.md): `_text` for
//! analyzed text, `_kw` for keyword/numeric/boolean/date values. Values are coerced to the
//! mapped type before indexing, so a query value is coerced the same way here.

use serde_json::Value;
use tantivy::Term;
use tantivy::columnar::NumericalValue;
use tantivy::query::Query;
use tantivy::schema::{Field, FieldType, Schema};

use crate::analysis::AnalysisRegistry;
use super::scoring::{FieldScoring, Similarity};

use super::QueryError;
use super::date::{DateFormat, parse_date_millis};

/// The mapped type of a field, as far as querying cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Keyword,
    /// ip: indexed as its normalised string in `_kw` (term/terms/exists/terms-agg only).
    Ip,
    /// long, integer, short, byte: indexed as i64.
    Long,
    /// double, float: indexed as f64 (normalized like tantivy does for JSON numbers).
    Double,
    Boolean,
    Date,
}

impl FieldKind {
    pub fn name(self) -> &'static str {
        match self {
            FieldKind::Text => "text",
            FieldKind::Keyword => "keyword",
            FieldKind::Ip => "ip",
            FieldKind::Long => "long",
            FieldKind::Double => "double",
            FieldKind::Boolean => "boolean",
            FieldKind::Date => "date",
        }
    }

    pub fn is_numeric(self) -> bool {
        matches!(self, FieldKind::Long | FieldKind::Double)
    }
}

/// Which of the two JSON fields holds the values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetField {
    /// `_text`: tokenized, with positions.
    Text,
    /// `_kw`: raw tokenizer, fast.
    Kw,
}

impl TargetField {
    pub fn tantivy_name(self) -> &'static str {
        match self {
            TargetField::Text => "_text",
            TargetField::Kw => "_kw",
        }
    }
}

/// A user field resolved through an index mapping.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedField {
    /// The user-facing name (`title`, `user.name`, `title.keyword`).
    pub name: String,
    pub kind: FieldKind,
    pub target: TargetField,
    /// Path inside the JSON field (usually equal to `name`).
    pub path: String,
    /// Analyzer name for text fields (the mapping's `analyzer`); the index default when unset.
    pub analyzer: Option<String>,
    /// The mapping's `search_analyzer` (query text is analysed with it when set).
    pub search_analyzer: Option<String>,
    /// keyword fields: the mapping's `normalizer`.
    pub normalizer: Option<String>,
    /// text fields: the mapping's `similarity` name (`BM25`, `boolean`, or one defined in the
    /// index's `similarity` settings).
    pub similarity: Option<String>,
    /// text fields: the slot in the index's pool of typed text fields (`_t0`, `_t1`, …),
    /// when the index has that pool and the field got one (see docs/architecture.md).
    pub text_slot: Option<u32>,
    /// Mapped date format (`strict_date_optional_time||epoch_millis` when unset).
    pub date_format: Option<String>,
}

/// Looks fields up in an index mapping. Implemented by the engine's index type.
pub trait FieldResolver: Send + Sync {
    /// `None` for unmapped fields (queries on them match nothing, like OpenSearch).
    fn resolve(&self, field: &str) -> Option<ResolvedField>;
    /// Every mapped leaf field name (including multi-field sub-fields such as `title.keyword`).
    fn field_names(&self) -> Vec<String>;
    /// Whether `path` is a `nested` object (`Some(false)`: mapped as something else, `None`:
    /// unmapped).
    fn is_nested(&self, _path: &str) -> Option<bool> {
        None
    }
    /// For the geo queries: `Ok(json path)` of a `geo_point` field, `Err(type name)` when the
    /// field is mapped as another type, `None` when unmapped.
    fn geo_point_path(&self, _field: &str) -> Option<Result<String, String>> {
        None
    }
}

/// A field resolved against a schema: the tantivy field plus how to build terms for it.
pub(crate) struct FieldTarget<'a> {
    pub resolved: ResolvedField,
    pub field: Field,
    expand_dots: bool,
    /// A typed text field of the pool (terms without a JSON path, real field norms).
    typed_text: bool,
    analysis: &'a AnalysisRegistry,
    tokenizers: &'a tantivy::tokenizer::TokenizerManager,
    schema: &'a Schema,
}

impl<'a> FieldTarget<'a> {
    pub fn resolve(
        ctx: &super::LoweringContext<'a>,
        name: &str,
    ) -> Result<Option<FieldTarget<'a>>, QueryError> {
        let Some(resolved) = ctx.fields.resolve(name) else {
            return Ok(None);
        };
        let typed = match (resolved.kind, resolved.text_slot) {
            (FieldKind::Text, Some(slot)) => ctx.schema.get_field(&crate::index::schema::text_pool_name(slot)).ok(),
            _ => None,
        };
        if let Some(field) = typed {
            return Ok(Some(FieldTarget {
                resolved,
                field,
                expand_dots: false,
                typed_text: true,
                analysis: ctx.analysis,
                tokenizers: ctx.tokenizers,
                schema: ctx.schema,
            }));
        }
        let (field, expand_dots) = json_field(ctx.schema, resolved.target.tantivy_name())?;
        Ok(Some(FieldTarget { resolved, field, expand_dots, typed_text: false, analysis: ctx.analysis, tokenizers: ctx.tokenizers, schema: ctx.schema }))
    }

    pub fn kind(&self) -> FieldKind {
        self.resolved.kind
    }

    pub fn name(&self) -> &str {
        &self.resolved.name
    }

    /// Full fast-field column name (`_kw.price`).
    pub fn column_name(&self) -> String {
        format!("{}.{}", self.resolved.target.tantivy_name(), self.resolved.path)
    }

    /// A term holding only the JSON path; callers append a typed value. (For a typed text
    /// field there is no path: use [`FieldTarget::str_term`].)
    pub fn path_term(&self) -> Term {
        Term::from_field_json_path(self.field, &self.resolved.path, self.expand_dots)
    }

    pub fn str_term(&self, s: &str) -> Term {
        if self.typed_text {
            return Term::from_field_text(self.field, s);
        }
        let mut term = self.path_term();
        term.append_type_and_str(s);
        term
    }

    /// The field's similarity (default BM25 unless the mapping names another).
    pub fn similarity(&self) -> Similarity {
        if !self.typed_text {
            return Similarity::default();
        }
        self.resolved.similarity.as_deref().and_then(|n| self.analysis.similarity(n)).unwrap_or_default()
    }

    /// The query for one analysed token of a text field, under the field's similarity.
    pub fn text_term_query(&self, token: &str) -> Box<dyn Query> {
        self.similarity().term_query(self.str_term(token))
    }

    /// Wraps the query built for this field so it scores like Lucene's BM25 with the
    /// field's own statistics (typed text fields; other fields are returned unchanged).
    pub fn scored(&self, query: Box<dyn Query>) -> Box<dyn Query> {
        if !self.typed_text {
            return query;
        }
        match self.schema.get_field(crate::index::schema::FIELD_NAMES) {
            Ok(field_names) => Box::new(FieldScoring::new(query, field_names, &self.resolved.path, self.similarity())),
            Err(_) => query,
        }
    }

    /// The term for an exact value (`term`, `terms`, range bounds), coerced to the mapped type.
    pub fn value_term(&self, value: &Value) -> Result<Term, QueryError> {
        if self.typed_text {
            return Ok(Term::from_field_text(self.field, &scalar_to_string(value, self.name())?));
        }
        let mut term = self.path_term();
        match self.kind() {
            FieldKind::Text => {
                term.append_type_and_str(&scalar_to_string(value, self.name())?);
            }
            FieldKind::Keyword => {
                let s = scalar_to_string(value, self.name())?;
                term.append_type_and_str(&self.normalize(&s));
            }
            FieldKind::Ip => {
                let s = scalar_to_string(value, self.name())?;
                let ip = crate::ip::normalize_ip(&s).map_err(|why| {
                    QueryError::illegal_argument(format!(
                        "failed to create query: {why} (field [{}])",
                        self.name()
                    ))
                })?;
                term.append_type_and_str(&ip);
            }
            FieldKind::Long => {
                let v = self.coerce_number(value)?;
                match v {
                    NumericalValue::F64(f) if f.fract() != 0.0 => {
                        // OpenSearch rejects fractional values on integer fields.
                        return Err(self.bad_value(value, "long"));
                    }
                    _ => {}
                }
                append_number(&mut term, v);
            }
            FieldKind::Double => {
                let v = self.coerce_number(value)?;
                append_number(&mut term, v);
            }
            FieldKind::Boolean => {
                term.append_type_and_fast_value(coerce_bool(value, self.name())?);
            }
            FieldKind::Date => {
                let millis = self.date_millis(value, None)?;
                term.append_type_and_fast_value(tantivy::DateTime::from_timestamp_millis(millis));
            }
        }
        Ok(term)
    }

    /// Numbers as tantivy normalizes them for JSON fields (3.0 → i64 3).
    pub fn coerce_number(&self, value: &Value) -> Result<NumericalValue, QueryError> {
        let parsed = match value {
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(NumericalValue::I64(i))
                } else if let Some(u) = n.as_u64() {
                    Some(NumericalValue::U64(u))
                } else {
                    n.as_f64().map(NumericalValue::F64)
                }
            }
            Value::String(s) => s.trim().parse::<NumericalValue>().ok(),
            _ => None,
        };
        match parsed {
            Some(NumericalValue::F64(f)) if !f.is_finite() => Err(self.bad_value(value, "number")),
            Some(v) => Ok(v.normalize()),
            None => Err(self.bad_value(value, self.kind().name())),
        }
    }

    pub fn date_millis(&self, value: &Value, format: Option<&str>) -> Result<i64, QueryError> {
        let source = format.or(self.resolved.date_format.as_deref()).unwrap_or(DateFormat::DEFAULT);
        let format = DateFormat::parse(source).map_err(|reason| {
            QueryError::query_shard(format!("failed to parse date format [{source}]: {reason}"))
        })?;
        parse_date_millis(value, &format).map_err(|reason| {
            QueryError::query_shard(format!(
                "failed to parse date field [{}] with format [{}]: [{reason}]",
                display_value(value),
                format.source()
            ))
        })
    }

    pub fn bad_value(&self, value: &Value, ty: &str) -> QueryError {
        QueryError::query_shard(format!(
            "failed to create query: For input string: \"{}\" (field [{}] is of type [{ty}])",
            display_value(value),
            self.name()
        ))
    }

    /// The tantivy tokenizer of the JSON `_text` field when it is not the engine's own
    /// analysis (indices created before the engine analysed text itself).
    fn legacy_tokenizer(&self) -> Option<String> {
        if self.typed_text || self.kind() != FieldKind::Text {
            return None;
        }
        let FieldType::JsonObject(opts) = self.schema.get_field_entry(self.field).field_type() else { return None };
        let name = opts.get_text_indexing_options()?.tokenizer();
        (name != crate::index::schema::ENGINE_ANALYZED).then(|| name.to_string())
    }

    /// A keyword value through the field's `normalizer` (unchanged without one).
    pub fn normalize(&self, s: &str) -> String {
        match self.resolved.normalizer.as_deref().and_then(|n| self.analysis.normalizer(n)) {
            Some(n) => n.terms(s).concat(),
            None => s.to_string(),
        }
    }

    /// Splits query text into tokens (position, text) with the field's search analyzer
    /// (`search_analyzer`, else `analyzer`, else the index default).
    pub fn analyze(&self, text: &str) -> Result<Vec<(usize, String)>, QueryError> {
        if let Some(tokenizer) = self.legacy_tokenizer() {
            let mut analyzer = self.tokenizers.get(&tokenizer).ok_or_else(|| {
                QueryError::internal(format!("tokenizer [{tokenizer}] is not registered"))
            })?;
            let mut stream = analyzer.token_stream(text);
            let mut tokens = Vec::new();
            while stream.advance() {
                let t = stream.token();
                tokens.push((t.position, t.text.clone()));
            }
            return Ok(tokens);
        }
        // Paths beyond the typed field pool were indexed with the index default analyzer.
        let index_analyzer = if self.typed_text { self.resolved.analyzer.as_deref() } else { None };
        let name = self.resolved.search_analyzer.as_deref().or(index_analyzer);
        let analyzer = match name {
            None => self.analysis.default_analyzer(),
            Some(name) => self.analysis.analyzer(name).ok_or_else(|| {
                QueryError::illegal_argument(format!("analyzer [{name}] has not been configured in mappings"))
            })?,
        };
        Ok(analyzer.analyze(text).into_iter().map(|t| (t.position as usize, t.text)).collect())
    }
}

fn append_number(term: &mut Term, v: NumericalValue) {
    match v {
        NumericalValue::I64(i) => term.append_type_and_fast_value(i),
        NumericalValue::U64(u) => term.append_type_and_fast_value(u),
        NumericalValue::F64(f) => term.append_type_and_fast_value(f),
    }
}

/// Looks up one of the JSON fields and whether its paths expand dots.
pub(crate) fn json_field(schema: &Schema, name: &str) -> Result<(Field, bool), QueryError> {
    let field = schema
        .get_field(name)
        .map_err(|_| QueryError::internal(format!("index schema has no [{name}] field")))?;
    let expand_dots = match schema.get_field_entry(field).field_type() {
        FieldType::JsonObject(opts) => opts.is_expand_dots_enabled(),
        _ => false,
    };
    Ok((field, expand_dots))
}

pub(crate) fn coerce_bool(value: &Value, field: &str) -> Result<bool, QueryError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" || s.is_empty() => Ok(false),
        _ => Err(QueryError::query_shard(format!(
            "failed to create query: Can't parse boolean value [{}], expected [true] or [false] (field [{field}])",
            display_value(value)
        ))),
    }
}

/// A scalar as the string OpenSearch would compare against a keyword.
pub(crate) fn scalar_to_string(value: &Value, field: &str) -> Result<String, QueryError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(QueryError::parsing(format!(
            "[{field}] expects a string, number or boolean value, got {value}"
        ))),
    }
}

pub(crate) fn display_value(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
