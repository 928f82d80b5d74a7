//! Index-level tests: write path, realtime get, versioning, WAL replay after a "crash"
//! (the index is dropped without a commit, so only the WAL has the writes).

use serde_json::json;

use super::*;
use crate::index::write::{OpType, Refresh, UpdateRequest, WriteOp, WriteOutcome};
use std::collections::HashMap;

use tantivy::{TantivyDocument, Term};

fn config() -> EngineConfig {
    EngineConfig { writer_memory_mb: 20, indexing_threads: 1, ..EngineConfig::default() }
}

/// A writer budget no test here reaches.
fn slots() -> Arc<WriterSlots> {
    WriterSlots::new(64)
}

fn put(id: &str, source: serde_json::Value) -> WriteOp {
    WriteOp::Index {
        id: Some(id.into()),
        source: serde_json::to_vec(&source).unwrap(),
        op_type: OpType::Index,
        if_seq_no: None,
        if_primary_term: None,
        version: None,
    }
}

fn create_index(dir: &Path) -> Arc<Index> {
    let mapping = Mapping::parse(&json!({"properties": {"n": {"type": "long"}}})).unwrap();
    Index::create(dir, "t", IndexSettings::default(), mapping, &config(), &slots()).unwrap()
}

#[test]
fn wal_replay_restores_uncommitted_writes() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    {
        let index = create_index(&dir);
        let ops = (0..100).map(|i| put(&format!("d{i}"), json!({"n": i, "s": "text"}))).collect();
        let results = index.write(ops, Refresh::False).unwrap();
        assert!(results.iter().all(|r| r.is_ok()));
        index.write(vec![WriteOp::Delete { id: "d5".into(), if_seq_no: None, if_primary_term: None, version: None }], Refresh::False).unwrap();
        // Realtime get before any commit.
        assert_eq!(index.get("d7").unwrap().unwrap().source_json(), json!({"n": 7, "s": "text"}));
        assert!(index.get("d5").unwrap().is_none());
        assert_eq!(index.committed_searcher().num_docs(), 0);
        // Dropped without commit: a crash as far as tantivy is concerned.
    }
    let index = Index::open(&dir, "t", &config(), &slots()).unwrap();
    assert_eq!(index.searcher().num_docs(), 99);
    let d7 = index.get("d7").unwrap().unwrap();
    assert_eq!(d7.source_json(), json!({"n": 7, "s": "text"}));
    assert_eq!(d7.meta.version, 1);
    assert!(index.get("d5").unwrap().is_none());
    // The dynamic field added by the writes was persisted before they were acknowledged.
    assert_eq!(index.mapping().resolve("s").unwrap().ty, crate::FieldType::Text);
    // Sequence numbers continue after the replayed ones.
    let r = index.write(vec![put("d7", json!({"n": 70}))], Refresh::True).unwrap().pop().unwrap().unwrap();
    assert_eq!(r.meta.seq_no, 101);
    assert_eq!(r.meta.version, 2);
}

#[test]
fn committed_then_reopened_without_replay() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    {
        let index = create_index(&dir);
        index.write(vec![put("a", json!({"n": 1}))], Refresh::True).unwrap();
        assert_eq!(index.searcher().num_docs(), 1);
    }
    let index = Index::open(&dir, "t", &config(), &slots()).unwrap();
    assert_eq!(index.searcher().num_docs(), 1);
    assert_eq!(index.max_seq_no(), 0);
}

#[test]
fn versions_conflicts_and_updates() {
    let tmp = tempfile::tempdir().unwrap();
    let index = create_index(&tmp.path().join("t"));
    let r1 = index.write(vec![put("x", json!({"n": 1, "o": {"a": 1}}))], Refresh::False).unwrap().pop().unwrap().unwrap();
    assert_eq!(r1.outcome, WriteOutcome::Created);
    // create on an existing id → 409
    let create = WriteOp::Index { id: Some("x".into()), source: b"{}".to_vec(), op_type: OpType::Create, if_seq_no: None, if_primary_term: None, version: None };
    let err = index.write(vec![create], Refresh::False).unwrap().pop().unwrap().unwrap_err();
    assert!(matches!(err, EngineError::VersionConflict { .. }), "{err:?}");
    // stale if_seq_no → 409; current one succeeds
    let stale = WriteOp::Index { id: Some("x".into()), source: b"{\"n\":2}".to_vec(), op_type: OpType::Index, if_seq_no: Some(99), if_primary_term: Some(1), version: None };
    let err = index.write(vec![stale], Refresh::False).unwrap().pop().unwrap().unwrap_err();
    assert!(matches!(err, EngineError::VersionConflict { .. }), "{err:?}");
    // partial update merges objects; unchanged update is a noop
    let upd = |doc| WriteOp::Update {
        id: "x".into(),
        request: UpdateRequest { doc: Some(doc), detect_noop: true, ..Default::default() },
        if_seq_no: None,
        if_primary_term: None,
    };
    let r = index.write(vec![upd(json!({"o": {"b": 2}}))], Refresh::False).unwrap().pop().unwrap().unwrap();
    assert_eq!((r.outcome, r.meta.version), (WriteOutcome::Updated, 2));
    assert_eq!(index.get("x").unwrap().unwrap().source_json(), json!({"n": 1, "o": {"a": 1, "b": 2}}));
    let r = index.write(vec![upd(json!({"n": 1}))], Refresh::False).unwrap().pop().unwrap().unwrap();
    assert_eq!(r.outcome, WriteOutcome::Noop);
    // A bad document in a batch fails alone.
    let results = index
        .write(vec![put("ok1", json!({"n": 1})), put("bad", json!({"n": "zz"})), put("ok2", json!({"n": 2}))], Refresh::True)
        .unwrap();
    assert!(results[0].is_ok() && results[2].is_ok());
    assert!(matches!(results[1], Err(EngineError::MapperParsing(_))), "{:?}", results[1]);
    assert!(index.get("bad").unwrap().is_none());
    assert_eq!(index.searcher().num_docs(), 3);
}

#[test]
fn external_versions_and_tombstones_outlive_a_refresh() {
    use crate::index::write::{ExternalVersion, VersionType, VersionedWrite};
    let tmp = tempfile::tempdir().unwrap();
    let index = create_index(&tmp.path().join("t"));
    let external = |v: i64| ExternalVersion::for_write(VersionedWrite::Delete, Some(v), Some(VersionType::External), false).unwrap();
    let put_v = |v: i64| WriteOp::Index {
        id: Some("x".into()), source: b"{}".to_vec(), op_type: OpType::Index, if_seq_no: None, if_primary_term: None, version: external(v),
    };
    let one = |op: WriteOp| index.write(vec![op], Refresh::True).unwrap().pop().unwrap();
    assert_eq!(one(put_v(10)).unwrap().meta.version, 10);
    let delete = WriteOp::Delete { id: "x".into(), if_seq_no: None, if_primary_term: None, version: external(11) };
    assert_eq!(one(delete).unwrap().meta.version, 11);
    // Refreshed: the searcher has no "x" any more, its tombstone still has version 11.
    assert!(index.get("x").unwrap().is_none());
    let err = one(put_v(11)).unwrap_err();
    assert!(matches!(&err, EngineError::VersionConflict { reason, .. } if reason.contains("current version [11]")), "{err:?}");
    // Internal versioning continues from the tombstone, as OpenSearch within `index.gc_deletes`.
    assert_eq!(one(put("x", json!({}))).unwrap().meta.version, 12);
    // Internal versioning refuses an explicit version; create refuses external versioning.
    let internal = ExternalVersion::for_write(VersionedWrite::Index { has_id: true }, Some(3), None, false).unwrap_err();
    assert!(internal.to_string().contains("internal versioning can not be used"), "{internal}");
    let create = ExternalVersion::for_write(VersionedWrite::Create, Some(3), Some(VersionType::ExternalGte), false).unwrap_err();
    assert!(create.to_string().contains("create operations only support internal versioning"), "{create}");
}

#[test]
fn layout_is_queryable_by_json_path() {
    use tantivy::collector::Count;
    use tantivy::query::TermQuery;
    use tantivy::schema::IndexRecordOption;

    let tmp = tempfile::tempdir().unwrap();
    let index = create_index(&tmp.path().join("t"));
    index
        .write(
            vec![
                put("1", json!({"title": "Quick brown fox", "user": {"name": "ann"}, "n": 5, "when": "2024-01-02T03:04:05.678Z"})),
                put("2", json!({"title": "lazy dog", "user.name": "bob", "n": 7})),
            ],
            Refresh::True,
        )
        .unwrap();
    let f = index.fields();
    let searcher = index.searcher();
    let count = |term: Term| searcher.search(&TermQuery::new(term, IndexRecordOption::Basic), &Count).unwrap();
    // keyword sub-field of a dynamic text field, at a dotted path, in `_kw`
    let mut t = Term::from_field_json_path(f.kw, "user.name.keyword", true);
    t.append_type_and_str("bob");
    assert_eq!(count(t), 1);
    // analysed text in the typed text field of the path's pool slot, not in `_text`
    let slot = index.mapping().text_slots()["title"];
    assert_eq!(count(Term::from_field_text(f.text_slot(slot).unwrap(), "quick")), 1);
    let mut t = Term::from_field_json_path(f.text, "title", true);
    t.append_type_and_str("quick");
    assert_eq!(count(t), 0);
    // numbers are i64 in `_kw`
    let mut t = Term::from_field_json_path(f.kw, "n", true);
    t.append_type_and_fast_value(7i64);
    assert_eq!(count(t), 1);
    // `_field_names` for exists
    assert_eq!(count(Term::from_field_text(f.field_names, "user")), 2);
    assert_eq!(count(Term::from_field_text(f.field_names, "when")), 1);
    // `_id`
    assert_eq!(count(Term::from_field_text(f.id, "2")), 1);
    // Stored fields come back for hits.
    let d = index.read_stored(&searcher, tantivy::DocAddress::new(0, 0)).unwrap();
    assert_eq!(d.meta.version, 1);
}

#[test]
fn search_idle_index_refreshes_on_search_and_explicit_interval_does_not() {
    let tmp = tempfile::tempdir().unwrap();
    // Never searched → search-idle: the background committer would skip it, and the first
    // searcher() refreshes so the search sees every acknowledged write.
    let idle = create_index(&tmp.path().join("idle"));
    idle.write(vec![put("1", json!({"n": 1}))], Refresh::False).unwrap();
    idle.refresh_if_dirty().unwrap();
    assert_eq!(idle.committed_searcher().num_docs(), 0, "scheduled refresh skipped while search-idle");
    assert_eq!(idle.searcher().num_docs(), 1, "search on an idle index refreshes first");

    // Explicit refresh_interval: -1 → only explicit refreshes make writes visible.
    let mut settings = IndexSettings::default();
    settings.values.insert("refresh_interval".into(), json!("-1"));
    let manual = Index::create(&tmp.path().join("manual"), "manual", settings, Mapping::default(), &config(), &slots()).unwrap();
    manual.write(vec![put("1", json!({"n": 1}))], Refresh::False).unwrap();
    manual.refresh_if_dirty().unwrap();
    assert_eq!(manual.searcher().num_docs(), 0);
    manual.refresh().unwrap();
    assert_eq!(manual.searcher().num_docs(), 1);
}

/// Where indexing time goes, in-process (not a test: `cargo test --release -p quidditch-engine
/// -- --ignored --nocapture write_path_profile`). Interleaves runs to cancel machine noise.
#[test]
#[ignore]
fn write_path_profile() {
    use std::time::Instant;
    let n = 50_000usize;
    let words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"];
    let sources: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            let title: Vec<&str> = (0..10).map(|k| words[(i * 7 + k * 3) % words.len()]).collect();
            serde_json::to_vec(&json!({
                "title": title.join(" "), "category": format!("cat{}", i % 20), "price": (i % 1000) as f64 / 10.0,
                "stock": i % 1000, "created": "2024-03-01T10:00:00Z", "in_stock": i % 3 == 0,
            }))
            .unwrap()
        })
        .collect();
    let mapping = Mapping::parse(&json!({"properties": {
        "title": {"type": "text"}, "category": {"type": "keyword"}, "price": {"type": "double"},
        "stock": {"type": "long"}, "created": {"type": "date"}, "in_stock": {"type": "boolean"}}}))
    .unwrap();
    let (_, fields) = schema::build_schema();
    for round in 0..3 {
        let t = Instant::now();
        for s in &sources {
            let _v: serde_json::Value = serde_json::from_slice(s).unwrap();
        }
        let parse = t.elapsed();
        let t = Instant::now();
        for (i, s) in sources.iter().enumerate() {
            let _ = write::build_doc(&mapping, &fields, &i.to_string(), s).unwrap();
        }
        let build = t.elapsed();
        let tmp = tempfile::tempdir().unwrap();
        let cfg = EngineConfig { writer_memory_mb: 128, ..EngineConfig::default() };
        let index = Index::create(&tmp.path().join("t"), "t", IndexSettings::default(), mapping.clone(), &cfg, &slots()).unwrap();
        let t = Instant::now();
        for (b, chunk) in sources.chunks(5000).enumerate() {
            let ops = chunk
                .iter()
                .enumerate()
                .map(|(i, s)| WriteOp::Index { id: Some(format!("{b}-{i}")), source: s.clone(), op_type: OpType::Index, if_seq_no: None, if_primary_term: None, version: None })
                .collect();
            index.write(ops, Refresh::False).unwrap();
        }
        index.refresh().unwrap();
        let engine = t.elapsed();
        // Raw tantivy with a typed schema, same data, same writer budget and threads.
        let raw = {
            use tantivy::schema::{FAST, INDEXED, STORED, STRING, TEXT};
            let mut b = tantivy::schema::Schema::builder();
            let id = b.add_text_field("id", STRING | STORED);
            let title = b.add_text_field("title", TEXT);
            let category = b.add_text_field("category", STRING | FAST);
            let price = b.add_f64_field("price", INDEXED | FAST);
            let stock = b.add_i64_field("stock", INDEXED | FAST);
            let created = b.add_date_field("created", INDEXED | FAST);
            let in_stock = b.add_bool_field("in_stock", INDEXED | FAST);
            let source = b.add_bytes_field("source", STORED);
            let dir = tmp.path().join("raw");
            std::fs::create_dir_all(&dir).unwrap();
            let idx = tantivy::Index::create_in_dir(&dir, b.build()).unwrap();
            let mut w: tantivy::IndexWriter = idx.writer_with_num_threads(cfg.indexing_threads(), cfg.writer_memory_bytes()).unwrap();
            let t = Instant::now();
            for (i, s) in sources.iter().enumerate() {
                let v: serde_json::Value = serde_json::from_slice(s).unwrap();
                let mut d = TantivyDocument::new();
                d.add_text(id, i.to_string());
                d.add_text(title, v["title"].as_str().unwrap());
                d.add_text(category, v["category"].as_str().unwrap());
                d.add_f64(price, v["price"].as_f64().unwrap());
                d.add_i64(stock, v["stock"].as_i64().unwrap());
                d.add_date(created, tantivy::DateTime::from_timestamp_millis(1_709_287_200_000));
                d.add_bool(in_stock, v["in_stock"].as_bool().unwrap());
                d.add_bytes(source, s);
                w.add_document(d).unwrap();
            }
            w.commit().unwrap();
            t.elapsed()
        };
        // Our layout straight into a writer: what the JSON-field layout costs by itself.
        let layout = {
            let dir = tmp.path().join("layout");
            std::fs::create_dir_all(&dir).unwrap();
            let (schema, lf) = schema::build_schema();
            let idx = tantivy::Index::create_in_dir(&dir, schema).unwrap();
            let mut w: tantivy::IndexWriter = idx.writer_with_num_threads(cfg.indexing_threads(), cfg.writer_memory_bytes()).unwrap();
            let t = Instant::now();
            for (i, s) in sources.iter().enumerate() {
                let (block, _) = write::build_doc(&mapping, &lf, &i.to_string(), s).unwrap();
                let mut d = block.root;
                crate::document::add_meta(&mut d, &lf, DocMeta { seq_no: i as i64, version: 1, primary_term: 1 });
                w.add_document(d).unwrap();
            }
            w.commit().unwrap();
            t.elapsed()
        };
        eprintln!("round {round}: layout only {layout:?} ({:.0} docs/s)", n as f64 / layout.as_secs_f64());
        eprintln!(
            "round {round}: json parse {parse:?}, parse+build docs {build:?}, engine write+commit {engine:?} ({:.0} docs/s), raw typed tantivy {raw:?} ({:.0} docs/s), ratio {:.2}",
            n as f64 / engine.as_secs_f64(),
            n as f64 / raw.as_secs_f64(),
            raw.as_secs_f64() / engine.as_secs_f64()
        );
    }
}

#[test]
fn deepest_allowed_mapping_reads_back_from_meta_json_with_a_small_stack() {
    let depth = crate::mapping::MAX_DEPTH_LIMIT as usize;
    // Objects at depths 2..=MAX (the root is 1) and a leaf: the deepest mapping allowed.
    let leaf = format!("{}.leaf", vec!["o"; depth - 1].join("."));
    let settings = IndexSettings::parse(&json!({"index.mapping.depth.limit": depth})).unwrap();
    let mapping = Mapping::parse(&json!({"properties": {leaf.clone(): {"type": "keyword"}}})).unwrap();
    settings.mapping_limits().check(&mapping).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("deep");
    let expected = mapping.to_json();
    // Half of the smallest stack a request may run on (tokio's 2 MB): the recursive walks of a
    // mapping this deep have room to spare.
    let dir2 = dir.clone();
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(move || {
            let index = Index::create(&dir2, "deep", settings, mapping, &config(), &slots()).unwrap();
            let source = serde_json::to_vec(&json!({leaf.clone(): "v", "o": {"new": 1}})).unwrap();
            let written = index.write(vec![WriteOp::Index { id: Some("1".into()), source, op_type: OpType::Index, if_seq_no: None, if_primary_term: None, version: None }], Refresh::False).unwrap();
            assert!(written[0].is_ok(), "{:?}", written[0]);
            drop(index);
            let index = Index::open(&dir2, "deep", &config(), &slots()).unwrap();
            assert!(index.mapping().resolve(&leaf).is_some());
            assert!(index.mapping().resolve("o.new").is_some());
            assert_eq!(index.get("1").unwrap().unwrap().source_json()[leaf.as_str()], json!("v"));
            let mut expected = expected;
            expected["properties"]["o"]["properties"]["new"] = json!({"type": "long"});
            assert_eq!(index.mapping().to_json(), expected);
        })
        .unwrap()
        .join()
        .unwrap();
    // The file's own nesting stays flat whatever the mapping's depth.
    let text = std::fs::read_to_string(dir.join("meta.json")).unwrap();
    let max_nesting = text.chars().fold((0i32, 0i32), |(cur, max), c| match c {
        '{' | '[' => (cur + 1, max.max(cur + 1)),
        '}' | ']' => (cur - 1, max),
        _ => (cur, max),
    });
    assert!(max_nesting.1 < 10, "meta.json nests {} levels", max_nesting.1);
}

#[test]
fn document_growing_the_mapping_past_the_depth_limit_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let index = create_index(&tmp.path().join("t"));
    let mut doc = json!({"leaf": 1});
    for _ in 0..64 {
        doc = json!({ "o": doc });
    }
    let r = index.write(vec![put("deep", doc)], Refresh::False).unwrap().pop().unwrap();
    let e = r.unwrap_err();
    assert_eq!(e.error_type(), "illegal_argument_exception");
    assert!(e.to_string().starts_with("Limit of mapping depth [20] has been exceeded due to object field [o.o."), "{e}");
    assert!(index.mapping().resolve("o").is_none());
    // A dotted key nests without JSON nesting: stopped by the hard cap before any recursion
    // can run deep.
    let key = vec!["a"; 100_000].join(".");
    let r = index.write(vec![put("dotted", json!({ key: 1 }))], Refresh::False).unwrap().pop().unwrap();
    assert_eq!(r.unwrap_err().error_type(), "mapper_parsing_exception");
}

/// The schema indices had before the typed text field pool: every text field in the `_text`
/// JSON field, tokenized by tantivy's `default` tokenizer.
fn legacy_schema() -> tantivy::schema::Schema {
    use tantivy::schema::{BytesOptions, FAST, IndexRecordOption, JsonObjectOptions, NumericOptions, STRING, TextFieldIndexing};
    let mut b = tantivy::schema::Schema::builder();
    b.add_text_field(schema::ID, STRING | tantivy::schema::STORED | FAST);
    b.add_bytes_field(schema::SOURCE, BytesOptions::default().set_stored());
    let num = NumericOptions::default().set_fast().set_stored();
    b.add_i64_field(schema::SEQ_NO, num.clone());
    b.add_i64_field(schema::VERSION, num.clone());
    b.add_i64_field(schema::PRIMARY_TERM, num);
    b.add_text_field(schema::FIELD_NAMES, STRING);
    b.add_json_field(
        schema::TEXT,
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default().set_tokenizer("default").set_index_option(IndexRecordOption::WithFreqsAndPositions),
            )
            .set_expand_dots_enabled(),
    );
    b.add_json_field(
        schema::KW,
        JsonObjectOptions::default()
            .set_indexing_options(
                TextFieldIndexing::default().set_tokenizer("raw").set_index_option(IndexRecordOption::Basic).set_fieldnorms(false),
            )
            .set_fast("raw")
            .set_expand_dots_enabled(),
    );
    b.build()
}

#[test]
fn index_created_before_the_text_pool_keeps_answering() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("old");
    std::fs::create_dir_all(dir.join("tantivy")).unwrap();
    tantivy::Index::create_in_dir(dir.join("tantivy"), legacy_schema()).unwrap();
    let meta = IndexMeta {
        uuid: "old-uuid".into(),
        creation_date: 0,
        settings: IndexSettings::default(),
        mappings: json!({"properties": {"title": {"type": "text"}}}),
        closed: false,
        text_slots: Default::default(),
    };
    meta.store(&dir.join("meta.json")).unwrap();
    {
        let index = Index::open(&dir, "old", &config(), &slots()).unwrap();
        assert!(index.fields().text_pool.is_none());
        let r = index.write(vec![put("1", json!({"title": "Python's x86_64 packages"}))], Refresh::True).unwrap();
        assert!(r[0].is_ok());
    }
    let index = Index::open(&dir, "old", &config(), &slots()).unwrap();
    let hits = |q: serde_json::Value| {
        let req = crate::search::SearchRequest::parse(Some(&json!({"query": q})), &HashMap::new()).unwrap();
        let out = crate::search::search(std::slice::from_ref(&index), &req, None).unwrap();
        out["hits"]["total"]["value"].as_u64().unwrap()
    };
    // tantivy's `default` tokenizer split "python's" at the apostrophe; queries still do.
    assert_eq!(hits(json!({"match": {"title": "python"}})), 1);
    assert_eq!(hits(json!({"match": {"title": "x86_64"}})), 1);
    assert_eq!(hits(json!({"match_phrase": {"title": "x86 64"}})), 1);
    assert_eq!(hits(json!({"match": {"title": "missing"}})), 0);
}

#[test]
fn text_slots_survive_reopen_and_mapping_growth() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("t");
    let mapping = Mapping::parse(&json!({"properties": {"b": {"type": "text"}, "d": {"type": "text"}}})).unwrap();
    let slots_before = {
        let index = Index::create(&dir, "t", IndexSettings::default(), mapping, &config(), &slots()).unwrap();
        // A dynamic text field sorting before the mapped ones takes the next free slot.
        index.write(vec![put("1", json!({"a": "dynamic text", "b": "x", "d": "y"}))], Refresh::True).unwrap();
        index.mapping().text_slots().clone()
    };
    assert_eq!(slots_before.get("b"), Some(&0));
    assert_eq!(slots_before.get("d"), Some(&1));
    assert_eq!(slots_before.get("a"), Some(&2));
    let index = Index::open(&dir, "t", &config(), &slots()).unwrap();
    assert_eq!(index.mapping().text_slots(), &slots_before);
}

fn manual_refresh_index(dir: &Path, name: &str, slots: &Arc<WriterSlots>) -> Arc<Index> {
    let mut settings = IndexSettings::default();
    settings.values.insert("refresh_interval".into(), json!("-1"));
    Index::create(dir, name, settings, Mapping::default(), &config(), slots).unwrap()
}

#[test]
fn writers_open_on_demand_and_a_full_budget_flushes_the_least_recently_written() {
    let tmp = tempfile::tempdir().unwrap();
    let slots = WriterSlots::new(2);
    let names = ["a", "b", "c"];
    let indices: Vec<_> = names.iter().map(|n| manual_refresh_index(&tmp.path().join(n), n, &slots)).collect();
    assert_eq!(slots.open_count(), 0, "opening an index opens no writer");
    for (i, index) in indices.iter().enumerate() {
        index.write(vec![put("1", json!({"n": i}))], Refresh::False).unwrap();
        assert!(slots.open_count() <= 2);
    }
    // "a" was least recently written: flushed (durable in tantivy, its WAL emptied) and closed
    // to make room for "c", but not made visible to search (refresh_interval: -1).
    assert_eq!(slots.open_count(), 2);
    assert!(indices[0].shards[0].write.lock().writer.is_none());
    assert_eq!(indices[0].shards[0].write.lock().wal.size_bytes(), 0);
    assert_eq!(indices[0].committed_searcher().num_docs(), 0);
    assert_eq!(indices[0].get("1").unwrap().unwrap().source_json(), json!({"n": 0}), "realtime GET still sees it");
    indices[0].refresh().unwrap();
    assert_eq!(indices[0].committed_searcher().num_docs(), 1, "a refresh after the flush shows it");
    // Writing "a" again reopens its writer and evicts "b".
    indices[0].write(vec![put("2", json!({"n": 9}))], Refresh::False).unwrap();
    assert!(indices[1].shards[0].write.lock().writer.is_none());
    // Crash (dropped without commit): every acknowledged write is back after reopening.
    drop(indices);
    let slots = WriterSlots::new(2);
    for (i, n) in names.iter().enumerate() {
        let index = Index::open(&tmp.path().join(n), n, &config(), &slots).unwrap();
        assert_eq!(index.get("1").unwrap().unwrap().source_json(), json!({"n": i}), "index {n}");
        index.refresh().unwrap();
        assert_eq!(index.committed_searcher().num_docs(), if i == 0 { 2 } else { 1 });
    }
    assert_eq!(slots.open_count(), 0, "replay closes its writers again");
}

#[test]
fn a_write_is_rejected_only_when_every_open_writer_is_busy() {
    let tmp = tempfile::tempdir().unwrap();
    let slots = WriterSlots::new(1);
    let busy = manual_refresh_index(&tmp.path().join("busy"), "busy", &slots);
    let other = manual_refresh_index(&tmp.path().join("other"), "other", &slots);
    busy.write(vec![put("1", json!({"n": 1}))], Refresh::False).unwrap();
    {
        // A write in flight on "busy" holds its shard's write lock: its writer cannot give way.
        let _in_flight = busy.shards[0].write.lock();
        let err = other.write(vec![put("1", json!({"n": 2}))], Refresh::False).unwrap_err();
        assert!(matches!(err, EngineError::Rejected(_)), "{err:?}");
        assert_eq!(err.error_type(), "rejected_execution_exception");
    }
    assert!(other.get("1").unwrap().is_none(), "nothing of the rejected write was applied");
    other.write(vec![put("1", json!({"n": 2}))], Refresh::False).unwrap();
    assert_eq!(busy.get("1").unwrap().unwrap().source_json(), json!({"n": 1}));
    assert_eq!(other.get("1").unwrap().unwrap().source_json(), json!({"n": 2}));
}

#[test]
fn idle_writers_are_flushed_and_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let slots = WriterSlots::new(4);
    let index = manual_refresh_index(&tmp.path().join("t"), "t", &slots);
    index.write(vec![put("1", json!({"n": 1}))], Refresh::False).unwrap();
    index.close_idle_writers(std::time::Duration::from_secs(3600));
    assert_eq!(slots.open_count(), 1, "a recently written writer stays open");
    index.close_idle_writers(std::time::Duration::ZERO);
    assert_eq!(slots.open_count(), 0);
    assert_eq!(index.shards[0].write.lock().wal.size_bytes(), 0, "flushed before closing");
    assert_eq!(index.committed_searcher().num_docs(), 0, "a flush is not a refresh");
    index.refresh().unwrap();
    assert_eq!(index.committed_searcher().num_docs(), 1);
}
