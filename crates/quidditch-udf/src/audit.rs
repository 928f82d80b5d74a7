//! The audit log: one JSON line per register, delete, permission/signature denial, limit hit
//! and failed call. Append-only files under `udfs/audit/`, rotated by size
//! (`audit.log` → `audit.log.1` → … → dropped after `audit_max_files`).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tracing::warn;

pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One audit record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditEntry {
    /// RFC 3339 UTC.
    pub time: String,
    /// Who: `api_key`, a basic-auth user, `anonymous`, or `query` for runtime events.
    pub actor: String,
    /// `register`, `delete`, `permission_denied`, `signature_rejected`, `limit_hit`, `call_failed`, `test`.
    pub operation: String,
    pub udf: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `success` or `failure`.
    pub outcome: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: f64,
    /// For the server's security events (authentication failures, permission denials): what
    /// was asked and from where.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<AuditRequest>,
}

/// The request a security event is about.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditRequest {
    /// The action refused (`indices:data/read/search`, `udf:use`, …); none for a failed login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indices: Vec<String>,
    /// The client's address.
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// Filters of `GET /api/v1/udfs/_audit`.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub udf: Option<String>,
    pub operation: Option<String>,
    pub outcome: Option<String>,
    /// RFC 3339; entries at or after it.
    pub since: Option<String>,
    /// Newest first, at most this many (default 100).
    pub size: Option<usize>,
}

pub struct AuditLog {
    dir: PathBuf,
    max_bytes: u64,
    max_files: u32,
    file: Mutex<Option<(File, u64)>>,
}

impl AuditLog {
    pub fn open(dir: &Path, max_bytes: u64, max_files: u32) -> anyhow::Result<AuditLog> {
        std::fs::create_dir_all(dir)?;
        let log = AuditLog { dir: dir.to_path_buf(), max_bytes: max_bytes.max(1024), max_files: max_files.max(1), file: Mutex::new(None) };
        *log.file.lock() = Some(log.open_current()?);
        Ok(log)
    }

    fn current(&self) -> PathBuf {
        self.dir.join("audit.log")
    }

    fn rotated(&self, n: u32) -> PathBuf {
        self.dir.join(format!("audit.log.{n}"))
    }

    fn open_current(&self) -> std::io::Result<(File, u64)> {
        let f = OpenOptions::new().create(true).append(true).open(self.current())?;
        let len = f.metadata()?.len();
        Ok((f, len))
    }

    /// Appends an entry (flushed to the OS before returning). Failures are logged, never
    /// propagated: auditing must not fail the operation it records.
    pub fn record(&self, entry: AuditEntry) {
        let mut line = match serde_json::to_vec(&entry) {
            Ok(l) => l,
            Err(_) => return,
        };
        line.push(b'\n');
        let mut guard = self.file.lock();
        if let Some((_, len)) = guard.as_ref()
            && *len + line.len() as u64 > self.max_bytes
        {
            *guard = None;
            self.rotate();
        }
        if guard.is_none() {
            match self.open_current() {
                Ok(f) => *guard = Some(f),
                Err(e) => {
                    warn!("cannot open the UDF audit log: {e}");
                    return;
                }
            }
        }
        if let Some((f, len)) = guard.as_mut() {
            match f.write_all(&line) {
                Ok(()) => *len += line.len() as u64,
                Err(e) => warn!("cannot append to the UDF audit log: {e}"),
            }
        }
    }

    fn rotate(&self) {
        let _ = std::fs::remove_file(self.rotated(self.max_files));
        for n in (1..self.max_files).rev() {
            let _ = std::fs::rename(self.rotated(n), self.rotated(n + 1));
        }
        let _ = std::fs::rename(self.current(), self.rotated(1));
    }

    /// Matching entries, newest first.
    pub fn query(&self, q: &AuditQuery) -> Vec<AuditEntry> {
        let size = q.size.unwrap_or(100);
        let since = q.since.as_deref().and_then(|s| {
            time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
        });
        let _guard = self.file.lock();
        let mut files: Vec<PathBuf> = (1..=self.max_files).rev().map(|n| self.rotated(n)).collect();
        files.push(self.current());
        let mut out = Vec::new();
        for path in files {
            let Ok(f) = File::open(&path) else { continue };
            for line in BufReader::new(f).lines().map_while(Result::ok) {
                let Ok(e) = serde_json::from_str::<AuditEntry>(&line) else { continue };
                if q.udf.as_ref().is_some_and(|u| u != &e.udf)
                    || q.operation.as_ref().is_some_and(|o| o != &e.operation)
                    || q.outcome.as_ref().is_some_and(|o| o != &e.outcome)
                {
                    continue;
                }
                if let Some(since) = since {
                    let t = time::OffsetDateTime::parse(&e.time, &time::format_description::well_known::Rfc3339);
                    if t.map_or(true, |t| t < since) {
                        continue;
                    }
                }
                out.push(e);
            }
        }
        out.reverse();
        out.truncate(size);
        out
    }
}
