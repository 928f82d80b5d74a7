//! Write-ahead log: every acknowledged write is in here, fsync'd, until a tantivy commit
//! covers it.
//!
//! Layout: `wal/<generation>.log` segment files. A record is
//! `[u32 len][u32 crc32(payload)][payload]` (little endian); the payload is a binary
//! [`WalOp`]. Appends go to the newest segment; one `append` call is one `fdatasync` (group
//! commit: a `_bulk` request costs one fsync). At a tantivy commit the log rotates to a new
//! segment and deletes the older ones (their ops are in the commit, whose payload records the
//! highest committed `_seq_no`). At start-up every segment is read; ops above the committed
//! `_seq_no` are replayed. A torn record at the end of a segment (crash mid-write, never
//! acknowledged) ends that segment's replay.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// One logged operation.
#[derive(Debug, Clone, PartialEq)]
pub enum WalOp {
    Index { seq_no: i64, version: i64, primary_term: i64, id: String, source: std::sync::Arc<[u8]> },
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
        let (tag, seq_no, version, term, id, source) = match self {
            WalOp::Index { seq_no, version, primary_term, id, source } => {
                (1u8, seq_no, version, primary_term, id, Some(source))
            }
            WalOp::Delete { seq_no, version, primary_term, id } => (2u8, seq_no, version, primary_term, id, None),
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
            1 => {
                let n = r.u32()? as usize;
                let source = r.bytes(n)?.into();
                WalOp::Index { seq_no, version, primary_term, id, source }
            }
            2 => WalOp::Delete { seq_no, version, primary_term, id },
            _ => return None,
        };
        (r.i == p.len()).then_some(op)
    }
}

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
    bytes: u64,
    buf: Vec<u8>,
}

impl Wal {
    /// Opens the log directory, returning the log (writing to a fresh segment) and every
    /// intact op found in existing segments, in order.
    pub fn open(dir: &Path) -> io::Result<(Wal, Vec<WalOp>)> {
        fs::create_dir_all(dir)?;
        let segments = list_segments(dir)?;
        let mut ops = Vec::new();
        for (_, path) in &segments {
            read_segment(path, &mut ops)?;
        }
        let generation = segments.last().map(|(g, _)| g + 1).unwrap_or(1);
        let file = create_segment(dir, generation)?;
        let wal = Wal { dir: dir.to_path_buf(), generation, file, bytes: 0, buf: Vec::new() };
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
        self.buf.clear();
        for op in ops {
            op.encode(&mut self.buf);
        }
        self.file.write_all(&self.buf)?;
        self.bytes += self.buf.len() as u64;
        if self.buf.capacity() > 16 << 20 {
            self.buf = Vec::new();
        }
        Ok(())
    }

    /// fsyncs everything written so far.
    pub fn sync(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// Starts a new segment and deletes the older ones. Call after a tantivy commit that
    /// covers everything appended so far.
    pub fn truncate(&mut self) -> io::Result<()> {
        if self.bytes == 0 {
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
        for (g, path) in list_segments(&self.dir)? {
            if g < next {
                fs::remove_file(path)?;
            }
        }
        Ok(())
    }

    /// Bytes written to the current segment since the last truncate.
    pub fn size_bytes(&self) -> u64 {
        self.bytes
    }
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

fn read_segment(path: &Path, ops: &mut Vec<WalOp>) -> io::Result<()> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut i = 0usize;
    while i + 8 <= data.len() {
        let len = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        let crc = u32::from_le_bytes([data[i + 4], data[i + 5], data[i + 6], data[i + 7]]);
        let Some(payload) = data.get(i + 8..i + 8 + len) else { break };
        if crc32fast::hash(payload) != crc {
            break;
        }
        let Some(op) = WalOp::decode(payload) else { break };
        ops.push(op);
        i += 8 + len;
    }
    if i != data.len() {
        tracing::warn!(
            segment = %path.display(),
            valid_bytes = i,
            total_bytes = data.len(),
            "write-ahead log segment ends with a torn record (crash during an unacknowledged write); ignoring the tail"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx(seq: i64, id: &str) -> WalOp {
        WalOp::Index { seq_no: seq, version: 1, primary_term: 1, id: id.into(), source: (&br#"{"a":1}"#[..]).into() }
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
