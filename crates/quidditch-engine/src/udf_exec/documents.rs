//! [`DocumentAccess`] over one tantivy segment: each field path a UDF asks for is resolved
//! once (per segment) to a fast-field column of `_kw` (keyword, numeric, date, boolean), or
//! to the stored `_source` for everything else (text fields, arrays, objects, `a[0]` paths,
//! unmapped paths). Per document, a numeric read is one column lookup: no allocation, no
//! hashing. A keyword read reuses one string buffer per slot.

use std::borrow::Cow;
use std::sync::Arc;

use quidditch_udf::document::{PathStep, json_field_value, parse_path, walk};
use quidditch_udf::{DocumentAccess, FieldSlot, FieldValue};
use serde_json::Value;
use tantivy::columnar::{Cardinality, Column, ColumnType, ColumnValues, StrColumn};
use tantivy::schema::{Field, Value as _};
use tantivy::store::StoreReader;
use tantivy::{DocId, SegmentReader, TantivyDocument};

use crate::query_ast::{FieldKind, FieldResolver, TargetField};

/// How one resolved path is read.
enum SlotReader {
    /// A single-valued numeric/date/bool column, decoded to the mapped type.
    Numeric { column: Column<u64>, column_type: ColumnType, kind: FieldKind },
    /// The same when every document has a value: the row is the doc id, one virtual call.
    Dense { values: Arc<dyn ColumnValues<u64>>, column_type: ColumnType, kind: FieldKind },
    /// A single-valued keyword column; `buf` holds the last value read.
    Keyword { column: StrColumn, buf: String },
    /// Walk the parsed `_source`.
    Source(Vec<PathStep>),
    /// Mapped to a fast column, but this segment has no value anywhere.
    Missing,
}

/// Documents of one segment for a UDF instance.
pub struct SegmentDocuments {
    reader: SegmentReader,
    fields: Arc<dyn FieldResolver>,
    source_field: Option<Field>,
    slots: Vec<(String, SlotReader)>,
    store: Option<StoreReader>,
    /// The last `_source` parsed (several fields of one document are usually read together).
    source_cache: Option<(DocId, Value)>,
    ids: Option<StrColumn>,
    id_buf: String,
}

impl SegmentDocuments {
    pub fn new(reader: &SegmentReader, fields: Arc<dyn FieldResolver>) -> SegmentDocuments {
        let schema = reader.schema();
        SegmentDocuments {
            reader: reader.clone(),
            fields,
            source_field: schema.get_field("_source").ok(),
            slots: Vec::new(),
            store: None,
            source_cache: None,
            ids: reader.fast_fields().str("_id").ok().flatten(),
            id_buf: String::new(),
        }
    }

    fn open_slot(&self, path: &str) -> SlotReader {
        let Some(steps) = parse_path(path) else { return SlotReader::Missing };
        let plain = steps.iter().all(|s| matches!(s, PathStep::Key(_)));
        if plain
            && let Some(f) = self.fields.resolve(path)
            && f.target == TargetField::Kw
        {
            let column_name = format!("_kw.{}", f.path);
            let ff = self.reader.fast_fields();
            if matches!(f.kind, FieldKind::Keyword | FieldKind::Ip) {
                return match ff.str(&column_name) {
                    Ok(Some(column)) if column.ords().get_cardinality() != Cardinality::Multivalued => {
                        SlotReader::Keyword { column, buf: String::new() }
                    }
                    Ok(Some(_)) => SlotReader::Source(steps),
                    Ok(None) => SlotReader::Missing,
                    Err(_) => SlotReader::Source(steps),
                };
            }
            let types = [ColumnType::I64, ColumnType::U64, ColumnType::F64, ColumnType::DateTime, ColumnType::Bool];
            return match ff.u64_lenient_for_type(Some(&types), &column_name) {
                Ok(Some((column, column_type))) if column.get_cardinality() == Cardinality::Full => {
                    SlotReader::Dense { values: column.values, column_type, kind: f.kind }
                }
                Ok(Some((column, column_type))) if column.get_cardinality() != Cardinality::Multivalued => {
                    SlotReader::Numeric { column, column_type, kind: f.kind }
                }
                Ok(Some(_)) => SlotReader::Source(steps),
                Ok(None) => SlotReader::Missing,
                Err(_) => SlotReader::Source(steps),
            };
        }
        SlotReader::Source(steps)
    }
}

fn decode(raw: u64, column_type: ColumnType, kind: FieldKind) -> FieldValue<'static> {
    let as_i64 = || match column_type {
        ColumnType::I64 => Some(tantivy::u64_to_i64(raw)),
        ColumnType::U64 => i64::try_from(raw).ok(),
        ColumnType::DateTime => Some(tantivy::u64_to_i64(raw) / 1_000_000),
        ColumnType::Bool => Some((raw != 0) as i64),
        _ => None,
    };
    match kind {
        FieldKind::Boolean => FieldValue::Bool(raw != 0),
        FieldKind::Double => match column_type {
            ColumnType::F64 => FieldValue::F64(tantivy::u64_to_f64(raw)),
            _ => as_i64().map_or(FieldValue::Missing, |i| FieldValue::F64(i as f64)),
        },
        _ => match column_type {
            ColumnType::F64 => {
                let f = tantivy::u64_to_f64(raw);
                if f.fract() == 0.0 && f.abs() < 9.0e15 { FieldValue::I64(f as i64) } else { FieldValue::F64(f) }
            }
            _ => as_i64().map_or(FieldValue::F64(raw as f64), FieldValue::I64),
        },
    }
}

impl DocumentAccess for SegmentDocuments {
    fn resolve(&mut self, path: &str) -> FieldSlot {
        if let Some(i) = self.slots.iter().position(|(p, _)| p == path) {
            return FieldSlot(i as u32);
        }
        let reader = self.open_slot(path);
        self.slots.push((path.to_string(), reader));
        FieldSlot((self.slots.len() - 1) as u32)
    }

    #[inline]
    fn read(&mut self, slot: FieldSlot, doc: u32) -> FieldValue<'_> {
        let Some((_, reader)) = self.slots.get_mut(slot.0 as usize) else { return FieldValue::Missing };
        match reader {
            SlotReader::Dense { values, column_type, kind } => {
                if doc < values.num_vals() {
                    decode(values.get_val(doc), *column_type, *kind)
                } else {
                    FieldValue::Missing
                }
            }
            SlotReader::Numeric { column, column_type, kind } => match column.first(doc) {
                Some(raw) => decode(raw, *column_type, *kind),
                None => FieldValue::Missing,
            },
            SlotReader::Keyword { column, buf } => {
                let Some(ord) = column.term_ords(doc).next() else { return FieldValue::Missing };
                match column.ord_to_str(ord, buf) {
                    Ok(true) => FieldValue::Str(Cow::Borrowed(buf.as_str())),
                    _ => FieldValue::Missing,
                }
            }
            SlotReader::Missing => FieldValue::Missing,
            SlotReader::Source(steps) => {
                if self.source_cache.as_ref().is_none_or(|(d, _)| *d != doc) {
                    if self.store.is_none() {
                        self.store = self.reader.get_store_reader(8).ok();
                    }
                    let parsed = self
                        .store
                        .as_ref()
                        .zip(self.source_field)
                        .and_then(|(store, field)| {
                            let stored: TantivyDocument = store.get(doc).ok()?;
                            let bytes = stored.get_first(field)?.as_bytes()?.to_vec();
                            serde_json::from_slice::<Value>(&bytes).ok()
                        })
                        .unwrap_or(Value::Null);
                    self.source_cache = Some((doc, parsed));
                }
                let Some((_, source)) = &self.source_cache else { return FieldValue::Missing };
                match walk(source, steps) {
                    Some(v) => json_field_value(v),
                    None => FieldValue::Missing,
                }
            }
        }
    }

    /// Numeric columns (one lookup per document) and paths absent from the segment; not
    /// keyword strings or `_source` (a parse per document).
    fn prefetchable(&self, slot: FieldSlot) -> bool {
        matches!(
            self.slots.get(slot.0 as usize),
            Some((_, SlotReader::Dense { .. } | SlotReader::Numeric { .. } | SlotReader::Missing))
        )
    }

    fn document_id(&mut self, doc: u32) -> Option<Cow<'_, str>> {
        let column = self.ids.as_ref()?;
        let ord = column.term_ords(doc).next()?;
        match column.ord_to_str(ord, &mut self.id_buf) {
            Ok(true) => Some(Cow::Borrowed(self.id_buf.as_str())),
            _ => None,
        }
    }
}

/// The `_id` of a segment document, for error messages.
pub fn document_id(ids: Option<&StrColumn>, doc: DocId) -> Option<String> {
    let column = ids?;
    let ord = column.term_ords(doc).next()?;
    let mut s = String::new();
    match column.ord_to_str(ord, &mut s) {
        Ok(true) => Some(s),
        _ => None,
    }
}
