//! Write-ahead log: every acknowledged write is in here, fsync'd, until a tantivy commit
//! covers it.
//!
//! Layout: `wal/<generation>.log` segment files. A record is
//! `[u32 len][u32 crc32(payload)][payload]` (little endian); the payload is a binary
//! [`WalOp`]. Appends go to the newest segment; one `append` call is one `fdatasync` (group
//! commit: a `_bulk` request costs one fsync). At a tantivy commit the log rotates to a new
//! segment and deletes the older ones (their ops are in the commit, whose payload records the
//! highest committed `_seq_no`). At start-up every segment is read; ops above the committed
//! `_seq_no` are replayed.
//!
//! Failure rules (see `docs/architecture.md`, "Write-ahead log"):
//! - a failed write (e.g. `ENOSPC` halfway through a batch) truncates the segment back to its
//!   last complete record before anything else is appended; if even that fails, the segment
//!   is sealed and the next append starts a new one. A failed fsync always seals (after a
//!   failed fsync the kernel may have dropped the dirty pages, so the tail is unknowable).
//!   Either way no later, acknowledged record ever sits behind a partial one.
//! - replay tells a *torn tail* (damaged bytes with no intact record after them in the
//!   segment: the crash interrupted a write that was never acknowledged; dropped with a
//!   warning) from *corruption* (damaged bytes followed by intact records, which were
//!   acknowledged): [`Wal::open`] then refuses with a [`WalCorruption`] error instead of
//!   silently losing them, and [`salvage`] is the operator's way to keep what is intact.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU8, Ordering};

/// One logged operation (also what a primary sends its replicas, postcard-encoded).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum WalOp {
    Index {
        seq_no: i64,
        version: i64,
        primary_term: i64,
        id: String,
        #[serde(with = "shared_bytes")]
        source: std::sync::Arc<[u8]>,
        /// The custom routing (`_routing`) the document was written with, if any.
        routing: Option<String>,
    },
    Delete { seq_no: i64, version: i64, primary_term: i64, id: String },
}

impl WalOp {
    pub fn seq_no(&self) -> i64 {
        match self {
            WalOp::Index { seq_no, .. } | WalOp::Delete { seq_no, .. } => *seq_no,
        }
    }

    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0u8; 8]); // len + crc, patched below
        // Tag 3 is an index op with a routing; one without keeps tag 1, the format every
        // version of the log can read.
        let (tag, seq_no, version, term, id, source, routing) = match self {
            WalOp::Index { seq_no, version, primary_term, id, source, routing } => {
                let tag = if routing.is_some() { TAG_INDEX_ROUTED } else { TAG_INDEX };
                (tag, seq_no, version, primary_term, id, Some(source), routing.as_ref())
            }
            WalOp::Delete { seq_no, version, primary_term, id } => (TAG_DELETE, seq_no, version, primary_term, id, None, None),
        };
        out.push(tag);
        out.extend_from_slice(&seq_no.to_le_bytes());
        out.extend_from_slice(&version.to_le_bytes());
        out.extend_from_slice(&term.to_le_bytes());
        out.extend_from_slice(&(id.len() as u32).to_le_bytes());
        out.extend_from_slice(id.as_bytes());
        if let Some(src) = source {
            out.extend_from_slice(&(src.len() as u32).to_le_bytes());
            out.extend_from_slice(src);
        }
        if let Some(routing) = routing {
            out.extend_from_slice(&(routing.len() as u32).to_le_bytes());
            out.extend_from_slice(routing.as_bytes());
        }
        let payload_len = (out.len() - start - 8) as u32;
        let crc = crc32fast::hash(&out[start + 8..]);
        out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    fn decode(p: &[u8]) -> Option<WalOp> {
        let mut r = Reader { p, i: 0 };
        let tag = r.u8()?;
        let seq_no = r.i64()?;
        let version = r.i64()?;
        let primary_term = r.i64()?;
        let id_len = r.u32()? as usize;
        let id = String::from_utf8(r.bytes(id_len)?.to_vec()).ok()?;
        let op = match tag {
            TAG_INDEX | TAG_INDEX_ROUTED => {
                let n = r.u32()? as usize;
                let source = r.bytes(n)?.into();
                let routing = if tag == TAG_INDEX_ROUTED {
                    let n = r.u32()? as usize;
                    Some(String::from_utf8(r.bytes(n)?.to_vec()).ok()?)
                } else {
                    None
                };
                WalOp::Index { seq_no, version, primary_term, id, source, routing }
            }
            TAG_DELETE => WalOp::Delete { seq_no, version, primary_term, id },
            _ => return None,
        };
        (r.i == p.len()).then_some(op)
    }
}

/// `Arc<[u8]>` as bytes (serde's own impl needs its `rc` feature for the whole workspace).
mod shared_bytes {
    use std::sync::Arc;

    use serde::de::{SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &Arc<[u8]>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(bytes)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<[u8]>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(b) = seq.next_element()? {
                    out.push(b);
                }
                Ok(out)
            }
        }
        Ok(d.deserialize_byte_buf(Bytes)?.into())
    }
}

/// Record tags: an index op (no routing), a delete, an index op with a routing.
const TAG_INDEX: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_INDEX_ROUTED: u8 = 3;

struct Reader<'a> {
    p: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn bytes(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.i.checked_add(n)?;
        let s = self.p.get(self.i..end)?;
        self.i = end;
        Some(s)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.bytes(1)?[0])
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.bytes(4)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.bytes(8)?.try_into().ok()?))
    }
}

/// The log of one index.
pub struct Wal {
    dir: PathBuf,
    generation: u64,
    file: File,
    /// Bytes written since the last truncate (all segments), for the flush threshold.
    bytes: u64,
    /// Length of the current segment up to its last complete record.
    segment_len: u64,
    /// What a failed write or fsync left to repair before the next append ([`Repair`]).
    repair: AtomicU8,
    buf: Vec<u8>,
}

/// States of [`Wal::repair`]: nothing to do, cut the segment back to `segment_len`, or start a
/// new segment.
#[repr(u8)]
enum Repair {
    None = 0,
    Truncate = 1,
    Seal = 2,
}

/// A segment with damaged bytes followed by intact records: acknowledged writes would be lost
/// by replaying only up to the damage. Returned (inside an `io::Error` of kind `InvalidData`)
/// by [`Wal::open`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalCorruption {
    pub segment: PathBuf,
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Damaged bytes in the segment.
    pub damaged_bytes: u64,
    /// Intact records found after the first damage.
    pub records_after: usize,
}

impl std::fmt::Display for WalCorruption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "write-ahead log segment [{}] is corrupted at offset {} ({} damaged bytes followed by {} intact records); \
             refusing to open the index without them. Run `quidditch wal salvage` to keep every intact record",
            self.segment.file_name().map(|n| n.to_string_lossy()).unwrap_or_default(),
            self.offset,
            self.damaged_bytes,
            self.records_after
        )
    }
}

impl std::error::Error for WalCorruption {}

impl WalCorruption {
    /// The corruption inside an error returned by [`Wal::open`], if that is what it is.
    pub fn find(e: &io::Error) -> Option<&WalCorruption> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<WalCorruption>())
    }
}

impl Wal {
    /// Opens the log directory, returning the log (writing to a fresh segment) and every
    /// op found in existing segments, in order. A torn tail is dropped; corruption followed
    /// by intact records is an error ([`WalCorruption`]).
    pub fn open(dir: &Path) -> io::Result<(Wal, Vec<WalOp>)> {
        fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        let mut ops = Vec::new();
        for (_, path) in &segments {
            let scan = scan_segment(&fs::read(path)?);
            if let Some(corruption) = scan.corruption(path) {
                return Err(io::Error::new(io::ErrorKind::InvalidData, corruption));
            }
            if let Some(&(offset, len)) = scan.damage.last() {
                tracing::warn!(
                    segment = %path.display(),
                    valid_bytes = offset,
                    torn_bytes = len,
                    "write-ahead log segment ends with a torn record (crash during an unacknowledged write); ignoring the tail"
                );
            }
            ops.extend(scan.ops);
        }
        let generation = segments.last().map(|(g, _)| g + 1).unwrap_or(1);
        let file = create_segment(dir, generation)?;
        let wal = Wal {
            dir: dir.to_path_buf(),
            generation,
            file,
            bytes: 0,
            segment_len: 0,
            repair: AtomicU8::new(Repair::None as u8),
            buf: Vec::new(),
        };
        Ok((wal, ops))
    }

    /// Appends ops and fsyncs once. When this returns `Ok`, the ops survive a crash.
    pub fn append(&mut self, ops: &[WalOp]) -> io::Result<()> {
        self.write(ops)?;
        self.sync()
    }

    /// Writes ops to the current segment without syncing (see [`Wal::sync`]); lets the
    /// caller overlap the fsync with other work. Not durable until `sync` returns `Ok`.
    pub fn write(&mut self, ops: &[WalOp]) -> io::Result<()> {
        if ops.is_empty() {
            return Ok(());
        }
        self.repair()?;
        self.buf.clear();
        for op in ops {
            op.encode(&mut self.buf);
        }
        if let Err(e) = self.file.write_all(&self.buf) {
            // Part of the batch may be in the file: cut it off now (frees the space on a full
            // disk), or at the latest before the next append.
            self.repair.store(Repair::Truncate as u8, Ordering::Release);
            if let Err(repair) = self.repair() {
                tracing::warn!(segment = %self.segment_path().display(), "cannot repair the write-ahead log yet: {repair}");
            }
            return Err(e);
        }
        let n = self.buf.len() as u64;
        self.segment_len += n;
        self.bytes += n;
        if self.buf.capacity() > 16 << 20 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// fsyncs everything written so far. On failure the segment is sealed: the next write
    /// goes to a new segment, never behind bytes whose state on disk is unknown.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data().inspect_err(|_| self.repair.store(Repair::Seal as u8, Ordering::Release))
    }

    /// Puts the log back in a state where an append can be acknowledged after a failed
    /// write or fsync. Errors leave the repair pending (the next append retries it).
    fn repair(&mut self) -> io::Result<()> {
        let state = self.repair.load(Ordering::Acquire);
        if state == Repair::None as u8 {
            return Ok(());
        }
        if state == Repair::Truncate as u8 {
            match self.file.set_len(self.segment_len) {
                Ok(()) => {
                    self.repair.store(Repair::None as u8, Ordering::Release);
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(segment = %self.segment_path().display(), "truncating a failed write-ahead log append: {e}; sealing the segment");
                    self.repair.store(Repair::Seal as u8, Ordering::Release);
                }
            }
        }
        // Seal: the old segment keeps its (acknowledged) records and whatever tail the
        // failure left, which replay drops as torn since nothing follows it.
        let next = self.generation + 1;
        self.file = create_segment(&self.dir, next)?;
        self.generation = next;
        self.segment_len = 0;
        self.repair.store(Repair::None as u8, Ordering::Release);
        Ok(())
    }

    /// Starts a new segment and deletes the older ones. Call after a tantivy commit that
    /// covers everything appended so far.
    pub fn truncate(&mut self) -> io::Result<()> {
        if self.bytes == 0 && self.repair.load(Ordering::Acquire) == Repair::None as u8 {
            // Nothing written since the last rotation: still drop leftovers from start-up.
            for (g, path) in list_segments(&self.dir)? {
                if g < self.generation {
                    fs::remove_file(path)?;
                }
            }
            return Ok(());
        }
        let next = self.generation + 1;
        self.file = create_segment(&self.dir, next)?;
        self.generation = next;
        self.bytes = 0;
        self.segment_len = 0;
        self.repair.store(Repair::None as u8, Ordering::Release);
        for (g, path) in list_segments(&self.dir)? {
            if g < next {
                fs::remove_file(path)?;
            }
        }
        Ok(())
    }

    /// Bytes written to the log since the last truncate.
    pub fn size_bytes(&self) -> u64 {
        self.bytes
    }

    /// Every intact op in the log's segments, in order (to rebuild an index writer that lost
    /// its uncommitted documents, e.g. after a failed commit).
    pub fn read_ops(&self) -> io::Result<Vec<WalOp>> {
        let mut ops = Vec::new();
        for (_, path) in list_segments(&self.dir)? {
            ops.extend(scan_segment(&fs::read(&path)?).ops);
        }
        Ok(ops)
    }

    fn segment_path(&self) -> PathBuf {
        segment_path(&self.dir, self.generation)
    }
}

/// What [`salvage`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SalvageReport {
    /// Segments read.
    pub segments: usize,
    /// Intact records kept.
    pub records: usize,
    /// Damaged byte ranges skipped (`(segment file name, offset, length)`).
    pub damaged: Vec<(String, u64, u64)>,
    /// Where the original segments were moved (kept for inspection).
    pub moved_to: Option<PathBuf>,
}

/// Rewrites a log directory (of an index that is not open) keeping every intact record of
/// every segment, skipping damaged bytes, so the index opens again. Records inside damaged
/// ranges are lost — that is what the operator accepts by running it. The original segments
/// are moved to `wal/salvaged-<generation>/` rather than deleted.
pub fn salvage(dir: &Path) -> io::Result<SalvageReport> {
    let segments = list_segments(dir)?;
    let mut report = SalvageReport { segments: segments.len(), ..SalvageReport::default() };
    if segments.is_empty() {
        return Ok(report);
    }
    let mut out = Vec::new();
    for (_, path) in &segments {
        let scan = scan_segment(&fs::read(path)?);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        report.damaged.extend(scan.damage.iter().map(|&(offset, len)| (name.clone(), offset, len)));
        for op in &scan.ops {
            op.encode(&mut out);
        }
        report.records += scan.ops.len();
    }
    let last = segments.last().map(|(g, _)| *g).unwrap_or(0);
    let aside = dir.join(format!("salvaged-{last:020}"));
    fs::create_dir_all(&aside)?;
    // New segment first (tmp, fsync, rename), then move the old ones: a crash in between
    // leaves both, and the records replay twice at worst (replay is idempotent by id).
    let target = segment_path(dir, last + 1);
    let tmp = target.with_extension("tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(&out)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, &target)?;
    File::open(dir)?.sync_all()?;
    for (_, path) in &segments {
        if let Some(name) = path.file_name() {
            fs::rename(path, aside.join(name))?;
        }
    }
    File::open(dir)?.sync_all()?;
    report.moved_to = Some(aside);
    Ok(report)
}

fn segment_path(dir: &Path, generation: u64) -> PathBuf {
    dir.join(format!("{generation:020}.log"))
}

fn create_segment(dir: &Path, generation: u64) -> io::Result<File> {
    let file = OpenOptions::new().create(true).append(true).open(segment_path(dir, generation))?;
    // Make the new directory entry durable, or a crash could lose the whole segment.
    File::open(dir)?.sync_all()?;
    Ok(file)
}

fn list_segments(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else { continue };
        if let Ok(g) = stem.parse::<u64>() {
            out.push((g, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// The intact records of one segment and its damaged byte ranges `(offset, len)`.
struct SegmentScan {
    ops: Vec<WalOp>,
    damage: Vec<(u64, u64)>,
    /// Records found after the first damaged range.
    records_after_damage: usize,
}

impl SegmentScan {
    /// Damage followed by intact records is corruption; damage at the very end is a torn
    /// tail.
    fn corruption(&self, path: &Path) -> Option<WalCorruption> {
        if self.records_after_damage == 0 {
            return None;
        }
        let &(offset, _) = self.damage.first()?;
        Some(WalCorruption {
            segment: path.to_path_buf(),
            offset,
            damaged_bytes: self.damage.iter().map(|(_, len)| len).sum(),
            records_after: self.records_after_damage,
        })
    }
}

/// Shortest payload of a valid record (a delete with an empty id).
const MIN_PAYLOAD: usize = 1 + 8 + 8 + 8 + 4;

/// The record starting at `i`, and where the next one starts, if it is intact.
fn record_at(data: &[u8], i: usize) -> Option<(WalOp, usize)> {
    let header = data.get(i..i.checked_add(8)?)?;
    let len = u32::from_le_bytes(header[0..4].try_into().ok()?) as usize;
    if len < MIN_PAYLOAD {
        return None;
    }
    let crc = u32::from_le_bytes(header[4..8].try_into().ok()?);
    let payload = data.get(i + 8..(i + 8).checked_add(len)?)?;
    if crc32fast::hash(payload) != crc {
        return None;
    }
    Some((WalOp::decode(payload)?, i + 8 + len))
}

fn scan_segment(data: &[u8]) -> SegmentScan {
    let mut scan = SegmentScan { ops: Vec::new(), damage: Vec::new(), records_after_damage: 0 };
    let mut i = 0usize;
    while i < data.len() {
        if let Some((op, next)) = record_at(data, i) {
            scan.ops.push(op);
            if !scan.damage.is_empty() {
                scan.records_after_damage += 1;
            }
            i = next;
            continue;
        }
        // Damaged: find the next intact record, byte by byte (a flipped length field hides
        // where the next record starts). None: the damage runs to the end.
        let resume = (i + 1..data.len()).find(|&j| record_at(data, j).is_some());
        let end = resume.unwrap_or(data.len());
        scan.damage.push((i as u64, (end - i) as u64));
        i = end;
    }
    scan
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(seq: i64, id: &str) -> WalOp {
        WalOp::Index { seq_no: seq, version: 1, primary_term: 1, id: id.into(), source: (&br#"{"a":1}"#[..]).into(), routing: None }
    }

    #[test]
    fn routing_round_trips_and_records_without_it_keep_the_old_encoding() {
        let routed = WalOp::Index {
            seq_no: 7,
            version: 2,
            primary_term: 1,
            id: "d".into(),
            source: (&br#"{"a":1}"#[..]).into(),
            routing: Some("user-ü".into()),
        };
        let mut out = Vec::new();
        routed.encode(&mut out);
        assert_eq!(out[8], TAG_INDEX_ROUTED);
        assert_eq!(WalOp::decode(&out[8..]), Some(routed));
        // A record written before routing was logged (tag 1) still decodes, without routing.
        let mut old = Vec::new();
        idx(3, "x").encode(&mut old);
        assert_eq!(old[8], TAG_INDEX);
        let expected_old: Vec<u8> = [&[1u8][..], &3i64.to_le_bytes(), &1i64.to_le_bytes(), &1i64.to_le_bytes(),
            &1u32.to_le_bytes(), b"x", &7u32.to_le_bytes(), br#"{"a":1}"#].concat();
        assert_eq!(&old[8..], &expected_old[..], "the tag-1 layout is unchanged");
        assert_eq!(WalOp::decode(&expected_old), Some(idx(3, "x")));
    }

    #[test]
    fn append_and_replay() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, ops) = Wal::open(dir.path()).unwrap();
        assert!(ops.is_empty());
        wal.append(&[idx(0, "a"), idx(1, "b")]).unwrap();
        wal.append(&[WalOp::Delete { seq_no: 2, version: 2, primary_term: 1, id: "a".into() }]).unwrap();
        drop(wal);
        let (_wal, ops) = Wal::open(dir.path()).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[0], idx(0, "a"));
        assert_eq!(ops[2].seq_no(), 2);
    }

    #[test]
    fn torn_tail_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&[idx(0, "a"), idx(1, "b")]).unwrap();
        let seg = segment_path(dir.path(), wal.generation);
        drop(wal);
        let len = fs::metadata(&seg).unwrap().len();
        let f = OpenOptions::new().write(true).open(&seg).unwrap();
        f.set_len(len - 3).unwrap();
        let (_wal, ops) = Wal::open(dir.path()).unwrap();
        assert_eq!(ops, vec![idx(0, "a")]);
    }

    fn flip_byte(path: &Path, at: u64) {
        let mut data = fs::read(path).unwrap();
        data[at as usize] ^= 0x5a;
        fs::write(path, data).unwrap();
    }

    #[test]
    fn corruption_before_intact_records_refuses_to_open_and_salvage_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        for i in 0..10 {
            wal.append(&[idx(i, &format!("d{i}"))]).unwrap();
        }
        let seg = segment_path(dir.path(), wal.generation);
        drop(wal);
        let len = fs::metadata(&seg).unwrap().len();
        // Inside the payload of a middle record.
        flip_byte(&seg, len / 2);
        let err = Wal::open(dir.path()).err().expect("corrupt log must not open");
        let corruption = WalCorruption::find(&err).expect("typed corruption");
        assert!(corruption.records_after >= 4, "{corruption:?}");
        // Still refuses on a second try: nothing was rewritten behind the operator's back.
        assert!(Wal::open(dir.path()).is_err());
        let report = salvage(dir.path()).unwrap();
        assert_eq!(report.records, 9);
        assert_eq!(report.damaged.len(), 1);
        let (_wal, ops) = Wal::open(dir.path()).unwrap();
        assert_eq!(ops.len(), 9);
        let seqs: Vec<i64> = ops.iter().map(WalOp::seq_no).collect();
        assert_eq!(seqs.iter().filter(|s| **s < 10).count(), 9);
        assert!(report.moved_to.unwrap().exists());
    }

    #[test]
    fn flipped_length_field_is_corruption_not_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&[idx(0, "a"), idx(1, "b"), idx(2, "c")]).unwrap();
        let seg = segment_path(dir.path(), wal.generation);
        drop(wal);
        let one = fs::metadata(&seg).unwrap().len() / 3;
        flip_byte(&seg, one + 1); // the second record's length
        let err = Wal::open(dir.path()).err().expect("corrupt");
        assert_eq!(WalCorruption::find(&err).unwrap().records_after, 1);
    }

    #[test]
    fn failed_write_is_cut_off_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&[idx(0, "a")]).unwrap();
        // What a write that failed halfway (ENOSPC) leaves behind.
        let seg = segment_path(dir.path(), wal.generation);
        let mut partial = Vec::new();
        idx(1, "b").encode(&mut partial);
        OpenOptions::new().append(true).open(&seg).unwrap().write_all(&partial[..partial.len() / 2]).unwrap();
        wal.repair.store(Repair::Truncate as u8, Ordering::Release);
        wal.append(&[idx(2, "c")]).unwrap();
        drop(wal);
        let (_wal, ops) = Wal::open(dir.path()).unwrap();
        assert_eq!(ops, vec![idx(0, "a"), idx(2, "c")]);
    }

    #[test]
    fn failed_fsync_seals_the_segment() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&[idx(0, "a")]).unwrap();
        let sealed = segment_path(dir.path(), wal.generation);
        let mut partial = Vec::new();
        idx(1, "b").encode(&mut partial);
        OpenOptions::new().append(true).open(&sealed).unwrap().write_all(&partial[..10]).unwrap();
        wal.repair.store(Repair::Seal as u8, Ordering::Release);
        wal.append(&[idx(2, "c")]).unwrap();
        assert_ne!(segment_path(dir.path(), wal.generation), sealed);
        drop(wal);
        // The sealed segment's tail is torn (nothing after it there): dropped, not fatal.
        let (_wal, ops) = Wal::open(dir.path()).unwrap();
        assert_eq!(ops, vec![idx(0, "a"), idx(2, "c")]);
    }

    #[test]
    fn truncate_drops_old_segments() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(&[idx(0, "a")]).unwrap();
        wal.truncate().unwrap();
        wal.append(&[idx(1, "b")]).unwrap();
        drop(wal);
        let (_wal, ops) = Wal::open(dir.path()).unwrap();
        assert_eq!(ops, vec![idx(1, "b")]);
    }
}
