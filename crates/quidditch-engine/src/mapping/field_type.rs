//! The field types a mapping can declare, and where each one lives in tantivy.

use std::fmt;

/// A mapped field type (OpenSearch names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    Text,
    Keyword,
    Long,
    Integer,
    Short,
    Byte,
    Double,
    Float,
    HalfFloat,
    /// Stored as f64, rounded to `scaling_factor` at index time (as OpenSearch does).
    ScaledFloat,
    Boolean,
    Date,
    /// Treated as `date`: millisecond precision (sub-millisecond digits are truncated).
    DateNanos,
    /// Indexed in `_kw` as its normalised string (so term/terms/exists/terms-agg work); no
    /// CIDR or range queries, no sort.
    Ip,
    /// Analysed like `text`.
    MatchOnlyText,
    /// Base64; kept in `_source` only (not searchable), but `exists` sees it.
    Binary,
    /// Indexed in `_kw` as one packed i64 per point (see `crate::geo`), read by the geo
    /// queries, the `_geo_distance` sort and the geo aggregations only.
    GeoPoint,
    Object,
    /// An object whose array elements are each indexed as their own hidden document (see
    /// `document::DocBlock`), so a query matches within one element at a time.
    Nested,
}

/// Which of the two tantivy JSON fields holds a mapped path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JsonTarget {
    /// `_text`: analysed with the `default` tokenizer, positions recorded.
    Text,
    /// `_kw`: raw tokenizer, fast (columnar) — keywords, numbers, booleans, dates.
    Kw,
}

/// How a value of a field type is represented inside `_kw` (the column type).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Str,
    I64,
    F64,
    Bool,
    Date,
}

impl FieldType {
    /// Parses an OpenSearch type name; `None` for types Quidditch does not support.
    pub fn parse(name: &str) -> Option<FieldType> {
        Some(match name {
            "text" => FieldType::Text,
            "keyword" => FieldType::Keyword,
            "long" => FieldType::Long,
            "integer" => FieldType::Integer,
            "short" => FieldType::Short,
            "byte" => FieldType::Byte,
            "double" => FieldType::Double,
            "float" => FieldType::Float,
            "half_float" => FieldType::HalfFloat,
            "scaled_float" => FieldType::ScaledFloat,
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "date_nanos" => FieldType::DateNanos,
            "ip" => FieldType::Ip,
            "match_only_text" => FieldType::MatchOnlyText,
            "binary" => FieldType::Binary,
            "geo_point" => FieldType::GeoPoint,
            "object" => FieldType::Object,
            "nested" => FieldType::Nested,
            _ => return None,
        })
    }

    /// The OpenSearch type name.
    pub fn name(self) -> &'static str {
        match self {
            FieldType::Text => "text",
            FieldType::Keyword => "keyword",
            FieldType::Long => "long",
            FieldType::Integer => "integer",
            FieldType::Short => "short",
            FieldType::Byte => "byte",
            FieldType::Double => "double",
            FieldType::Float => "float",
            FieldType::HalfFloat => "half_float",
            FieldType::ScaledFloat => "scaled_float",
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::DateNanos => "date_nanos",
            FieldType::Ip => "ip",
            FieldType::MatchOnlyText => "match_only_text",
            FieldType::Binary => "binary",
            FieldType::GeoPoint => "geo_point",
            FieldType::Object => "object",
            FieldType::Nested => "nested",
        }
    }

    /// Where values of this type are indexed for the generic queries; `None` for `object`
    /// (only its leaves are), `binary` (source only) and `geo_point` (geo queries only).
    pub fn target(self) -> Option<JsonTarget> {
        match self {
            FieldType::Text | FieldType::MatchOnlyText => Some(JsonTarget::Text),
            FieldType::Object | FieldType::Nested | FieldType::Binary | FieldType::GeoPoint => None,
            _ => Some(JsonTarget::Kw),
        }
    }

    /// The value representation in tantivy (`Str` for text too).
    pub fn value_kind(self) -> Option<ValueKind> {
        Some(match self {
            FieldType::Text | FieldType::Keyword | FieldType::MatchOnlyText | FieldType::Ip => {
                ValueKind::Str
            }
            FieldType::Long | FieldType::Integer | FieldType::Short | FieldType::Byte => {
                ValueKind::I64
            }
            FieldType::Double | FieldType::Float | FieldType::HalfFloat | FieldType::ScaledFloat => {
                ValueKind::F64
            }
            FieldType::Boolean => ValueKind::Bool,
            FieldType::Date | FieldType::DateNanos => ValueKind::Date,
            FieldType::Object | FieldType::Nested | FieldType::Binary | FieldType::GeoPoint => return None,
        })
    }

    /// Integer types and their accepted range.
    pub fn integer_range(self) -> Option<(i64, i64)> {
        match self {
            FieldType::Long => Some((i64::MIN, i64::MAX)),
            FieldType::Integer => Some((i32::MIN as i64, i32::MAX as i64)),
            FieldType::Short => Some((i16::MIN as i64, i16::MAX as i64)),
            FieldType::Byte => Some((i8::MIN as i64, i8::MAX as i64)),
            _ => None,
        }
    }

    /// Kept in `_source` and `_field_names` only (validated, never indexed for search).
    pub fn is_source_only(self) -> bool {
        matches!(self, FieldType::Binary)
    }

    /// Indexed, but only for the dedicated queries, sorts and aggregations of its type
    /// (`geo_point`): term, range, terms-aggregation and field sorts refuse it.
    pub fn needs_dedicated_access(self) -> bool {
        matches!(self, FieldType::GeoPoint)
    }

    /// Has `properties` (`object`, `nested`).
    pub fn is_object_like(self) -> bool {
        matches!(self, FieldType::Object | FieldType::Nested)
    }

    /// Analysed text (`text`, `match_only_text`).
    pub fn is_text(self) -> bool {
        matches!(self, FieldType::Text | FieldType::MatchOnlyText)
    }

    pub fn is_numeric(self) -> bool {
        matches!(self.value_kind(), Some(ValueKind::I64 | ValueKind::F64))
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
