//! Reading numeric fast-field values of a JSON path, whatever column type a segment chose.

use tantivy::columnar::{Column, ColumnType};
use tantivy::{DocId, SegmentReader};

/// A numeric (i64, u64, f64, bool or date) column of one segment, read as f64. Dates read
/// as epoch millis.
pub struct NumericColumn {
    column: Column<u64>,
    column_type: ColumnType,
}

impl NumericColumn {
    /// `None` when the segment has no numeric values at that path.
    pub fn open(reader: &SegmentReader, column_name: &str) -> tantivy::Result<Option<Self>> {
        let types =
            [ColumnType::I64, ColumnType::U64, ColumnType::F64, ColumnType::DateTime, ColumnType::Bool];
        Ok(reader
            .fast_fields()
            .u64_lenient_for_type(Some(&types), column_name)?
            .map(|(column, column_type)| NumericColumn { column, column_type }))
    }

    pub fn column_type(&self) -> ColumnType {
        self.column_type
    }

    fn decode(&self, raw: u64) -> f64 {
        match self.column_type {
            ColumnType::I64 => tantivy::u64_to_i64(raw) as f64,
            ColumnType::F64 => tantivy::u64_to_f64(raw),
            ColumnType::DateTime => (tantivy::u64_to_i64(raw) / 1_000_000) as f64,
            _ => raw as f64,
        }
    }

    pub fn first(&self, doc: DocId) -> Option<f64> {
        self.column.first(doc).map(|raw| self.decode(raw))
    }

    /// All values of a document as exact integers when the column holds integers or dates
    /// (dates as epoch millis); `None` for float columns.
    pub fn values_i64(&self, doc: DocId) -> Option<Vec<i64>> {
        match self.column_type {
            ColumnType::I64 => Some(self.column.values_for_doc(doc).map(tantivy::u64_to_i64).collect()),
            ColumnType::DateTime => Some(
                self.column.values_for_doc(doc).map(|raw| tantivy::u64_to_i64(raw) / 1_000_000).collect(),
            ),
            ColumnType::Bool => Some(self.column.values_for_doc(doc).map(|raw| raw as i64).collect()),
            _ => None,
        }
    }

    /// All values of a document as f64.
    pub fn values_f64(&self, doc: DocId) -> Vec<f64> {
        self.column.values_for_doc(doc).map(|raw| self.decode(raw)).collect()
    }

    /// Min or max over a multi-valued document (`sort` mode).
    pub fn extreme(&self, doc: DocId, max: bool) -> Option<f64> {
        let mut values = self.column.values_for_doc(doc).map(|raw| self.decode(raw));
        let first = values.next()?;
        Some(values.fold(first, |acc, v| if max { acc.max(v) } else { acc.min(v) }))
    }
}
