//! The fixed tantivy schema every index shares (see docs/architecture.md, "How a document is
//! laid out in tantivy"). Mapped fields are paths inside the `_kw` JSON field; `text` fields
//! take a slot in a fixed pool of typed text fields (`_t0` … `_t31`, with field norms, for
//! per-field BM25), and the `_text` JSON field holds those beyond the pool. Mapping changes
//! never change the tantivy schema.

use tantivy::schema::{
    FAST, IndexRecordOption, JsonObjectOptions, NumericOptions, STORED, STRING, Schema,
    TextFieldIndexing, TextOptions, BytesOptions, Field,
};

pub const ID: &str = "_id";
pub const SOURCE: &str = "_source";
pub const SEQ_NO: &str = "_seq_no";
pub const VERSION: &str = "_version";
pub const PRIMARY_TERM: &str = "_primary_term";
pub const FIELD_NAMES: &str = "_field_names";
pub const TEXT: &str = "_text";
pub const KW: &str = "_kw";
pub const ROUTING: &str = "_routing";

/// Typed text fields allocated per index (`_t0` … `_t31`); a mapped text path takes the next
/// free slot (kept in `meta.json`), later ones live in `_text`.
pub const TEXT_FIELD_POOL: u32 = 32;

/// The tokenizer name `_text` declares in indices whose text the engine analyses itself
/// (registered on open; indices created before that declare tantivy's `default`).
pub const ENGINE_ANALYZED: &str = "quidditch_standard";

/// The tantivy field name of a pool slot.
pub fn text_pool_name(slot: u32) -> String {
    format!("_t{slot}")
}

/// The tantivy tokenizer a pool slot's field declares: the slot's analyzer, registered on
/// open (see `analysis::SlotAnalyzers`). Indices from before it declare `raw` and get their
/// pool values pre-tokenized.
pub fn text_pool_tokenizer(slot: u32) -> String {
    format!("quidditch_t{slot}")
}

/// Handles of the fixed schema's fields (`Index::fields()`).
#[derive(Debug, Clone, Copy)]
pub struct IndexFields {
    /// `_id`: STRING (raw term), STORED, FAST.
    pub id: Field,
    /// `_source`: the original JSON bytes, STORED.
    pub source: Field,
    /// `_seq_no`: i64, FAST + STORED.
    pub seq_no: Field,
    /// `_version`: i64, FAST + STORED.
    pub version: Field,
    /// `_primary_term`: i64, FAST + STORED.
    pub primary_term: Field,
    /// `_field_names`: raw terms, one per mapped path present in the document (including
    /// parent objects and multi-fields) — the `exists` query's index.
    pub field_names: Field,
    /// `_text`: JSON, freqs + positions; `text` paths beyond the typed pool, at their path, with
    /// the [`ENGINE_ANALYZED`] tokenizer (tantivy's `default` in indices from before the pool).
    pub text: Field,
    /// `_kw`: JSON, `raw` tokenizer, FAST; keywords, numbers (i64 / f64), booleans, dates.
    pub kw: Field,
    /// `_routing`: STRING, STORED; the custom routing a document was written with. `None` on
    /// indices created before routing existed (they have one shard, so nothing to route).
    pub routing: Option<Field>,
    /// `_t0`: the first typed text field of the pool (`None` in indices created before the
    /// pool existed); slot `n` is field id `_t0 + n`.
    pub text_pool: Option<Field>,
    /// Number of pool fields in this index's schema.
    pub text_pool_size: u32,
    /// The pool fields declare [`text_pool_tokenizer`]s: values are added as plain text and
    /// tantivy runs the slot's analyzer. Otherwise (indices created before) they are added
    /// pre-tokenized, which tantivy's document stores as JSON and parses back to index.
    pub text_pool_analyzed: bool,
}

impl IndexFields {
    /// The typed text field of a pool slot, if the schema has it.
    pub fn text_slot(&self, slot: u32) -> Option<Field> {
        let first = self.text_pool?;
        (slot < self.text_pool_size).then(|| Field::from_field_id(first.field_id() + slot))
    }
}

/// Builds the schema and returns it with the field handles.
pub fn build_schema() -> (Schema, IndexFields) {
    let mut b = Schema::builder();
    let id = b.add_text_field(ID, STRING | STORED | FAST);
    let source = b.add_bytes_field(SOURCE, BytesOptions::default().set_stored());
    let num = NumericOptions::default().set_fast().set_stored();
    let seq_no = b.add_i64_field(SEQ_NO, num.clone());
    let version = b.add_i64_field(VERSION, num.clone());
    let primary_term = b.add_i64_field(PRIMARY_TERM, num);
    let field_names = b.add_text_field(FIELD_NAMES, STRING);
    let text = b.add_json_field(
        TEXT,
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(ENGINE_ANALYZED)
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_expand_dots_enabled(),
    );
    let kw = b.add_json_field(
        KW,
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer("raw")
                    .set_index_option(IndexRecordOption::Basic)
                    .set_fieldnorms(false),
            )
            .set_fast("raw")
            .set_expand_dots_enabled(),
    );
    let routing = Some(b.add_text_field(ROUTING, STRING | STORED));
    // Each slot's tokenizer is the analyzer of the path that holds it; norms are on (BM25
    // length normalisation per field).
    let pool: Vec<Field> = (0..TEXT_FIELD_POOL)
        .map(|slot| {
            let options = TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(&text_pool_tokenizer(slot))
                    .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                    .set_fieldnorms(true),
            );
            b.add_text_field(&text_pool_name(slot), options)
        })
        .collect();
    let text_pool = pool.first().copied();
    let fields = IndexFields {
        id,
        source,
        seq_no,
        version,
        primary_term,
        field_names,
        text,
        kw,
        text_pool,
        text_pool_size: TEXT_FIELD_POOL,
        text_pool_analyzed: true,
        routing,
    };
    (b.build(), fields)
}

/// Looks the field handles up in an existing index's schema (an index written by an older
/// build must have the same fields; a missing one is a corrupted or foreign index).
pub fn fields_of(schema: &Schema) -> anyhow::Result<IndexFields> {
    let get = |name: &str| {
        schema
            .get_field(name)
            .map_err(|_| anyhow::anyhow!("tantivy schema has no field [{name}]"))
    };
    Ok(IndexFields {
        id: get(ID)?,
        source: get(SOURCE)?,
        seq_no: get(SEQ_NO)?,
        version: get(VERSION)?,
        primary_term: get(PRIMARY_TERM)?,
        field_names: get(FIELD_NAMES)?,
        text: get(TEXT)?,
        kw: get(KW)?,
        routing: schema.get_field(ROUTING).ok(),
        text_pool: schema.get_field(&text_pool_name(0)).ok(),
        text_pool_size: (0..).take_while(|slot| schema.get_field(&text_pool_name(*slot)).is_ok()).count() as u32,
        text_pool_analyzed: schema.get_field(&text_pool_name(0)).is_ok_and(|f| {
            let tantivy::schema::FieldType::Str(opts) = schema.get_field_entry(f).field_type() else { return false };
            opts.get_indexing_options().is_some_and(|i| i.tokenizer() == text_pool_tokenizer(0))
        }),
    })
}
