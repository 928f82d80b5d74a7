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
    Boolean,
    Date,
    Object,
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
            "boolean" => FieldType::Boolean,
            "date" => FieldType::Date,
            "object" => FieldType::Object,
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
            FieldType::Boolean => "boolean",
            FieldType::Date => "date",
            FieldType::Object => "object",
        }
    }

    /// Where values of this type are indexed; `None` for `object` (only its leaves are).
    pub fn target(self) -> Option<JsonTarget> {
        match self {
            FieldType::Text => Some(JsonTarget::Text),
            FieldType::Object => None,
            _ => Some(JsonTarget::Kw),
        }
    }

    /// The value representation in tantivy (`Str` for text too).
    pub fn value_kind(self) -> Option<ValueKind> {
        Some(match self {
            FieldType::Text | FieldType::Keyword => ValueKind::Str,
            FieldType::Long | FieldType::Integer | FieldType::Short | FieldType::Byte => {
                ValueKind::I64
            }
            FieldType::Double | FieldType::Float | FieldType::HalfFloat => ValueKind::F64,
            FieldType::Boolean => ValueKind::Bool,
            FieldType::Date => ValueKind::Date,
            FieldType::Object => return None,
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

    pub fn is_numeric(self) -> bool {
        matches!(self.value_kind(), Some(ValueKind::I64 | ValueKind::F64))
    }
}

impl fmt::Display for FieldType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
