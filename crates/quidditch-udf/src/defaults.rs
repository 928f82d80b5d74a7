//! Pinned default versions: which version a query without a version runs, per UDF, and
//! the defaults before it (for a one-call rollback). Stored as `udfs/defaults.json`, written
//! with tmp + rename + fsync so a crash leaves the old or the new file, never half of one.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tracing::warn;

/// How many earlier defaults a UDF keeps for rollbacks.
const HISTORY: usize = 32;

/// One UDF's pin.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pin {
    /// The pinned version; `None` once rolled back to "no pin" (the highest version).
    pub version: Option<String>,
    /// Earlier pins, oldest first (`None`: nothing was pinned then).
    #[serde(default)]
    pub previous: Vec<Option<String>>,
}

/// Every UDF's pin, in memory and on disk.
#[derive(Debug)]
pub(crate) struct DefaultPins {
    path: PathBuf,
    pins: BTreeMap<String, Pin>,
}

impl DefaultPins {
    /// Reads `path`; an unreadable file is logged and treated as "nothing pinned" (queries
    /// then use the highest versions), never fatal.
    pub fn open(path: &Path) -> DefaultPins {
        let pins = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                warn!(path = %path.display(), "ignoring unreadable default-version pins: {e}");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        DefaultPins { path: path.to_path_buf(), pins }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pins.get(name).and_then(|p| p.version.as_deref())
    }

    /// Pins `version` (`None`: unpins), remembering the pin before it. Returns that one.
    pub fn set(&mut self, name: &str, version: Option<String>) -> std::io::Result<Option<String>> {
        let mut next = self.pins.get(name).cloned().unwrap_or_default();
        let before = next.version.take();
        next.previous.push(before.clone());
        if next.previous.len() > HISTORY {
            next.previous.remove(0);
        }
        next.version = version;
        self.replace(name, Some(next))?;
        Ok(before)
    }

    /// Restores the pin before the current one: `Ok(None)` when there is none to go back to,
    /// else `Ok(Some(restored))` (`restored` is `None` when that was "no pin").
    pub fn roll_back(&mut self, name: &str) -> std::io::Result<Option<Option<String>>> {
        let Some(mut pin) = self.pins.get(name).cloned() else { return Ok(None) };
        let Some(restored) = pin.previous.pop() else { return Ok(None) };
        pin.version = restored.clone();
        self.replace(name, Some(pin))?;
        Ok(Some(restored))
    }

    /// Forgets `name` (its last version was deleted).
    pub fn remove(&mut self, name: &str) -> std::io::Result<()> {
        if self.pins.contains_key(name) { self.replace(name, None) } else { Ok(()) }
    }

    /// Drops `version` from `name`'s pin and history (that version was deleted): a deleted
    /// version is never the default again. Returns whether it was the current pin.
    pub fn forget_version(&mut self, name: &str, version: &str) -> std::io::Result<bool> {
        let Some(mut pin) = self.pins.get(name).cloned() else { return Ok(false) };
        let was_pinned = pin.version.as_deref() == Some(version);
        if was_pinned {
            pin.version = None;
        }
        pin.previous.retain(|p| p.as_deref() != Some(version));
        if pin != self.pins[name] {
            self.replace(name, Some(pin))?;
        }
        Ok(was_pinned)
    }

    /// Applies a change in memory only once it is on disk.
    fn replace(&mut self, name: &str, pin: Option<Pin>) -> std::io::Result<()> {
        let mut next = self.pins.clone();
        match pin {
            Some(p) => next.insert(name.to_string(), p),
            None => next.remove(name),
        };
        let bytes = serde_json::to_vec_pretty(&next).map_err(std::io::Error::other)?;
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent()
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        self.pins = next;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_promote_roll_back_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("defaults.json");
        let mut pins = DefaultPins::open(&path);
        assert_eq!(pins.set("u", Some("1.0.0".into())).unwrap(), None);
        assert_eq!(pins.set("u", Some("2.0.0".into())).unwrap(), Some("1.0.0".into()));
        assert_eq!(pins.get("u"), Some("2.0.0"));
        assert_eq!(DefaultPins::open(&path).get("u"), Some("2.0.0"));
        assert_eq!(pins.roll_back("u").unwrap(), Some(Some("1.0.0".into())));
        assert_eq!(pins.roll_back("u").unwrap(), Some(None));
        assert_eq!(pins.get("u"), None);
        assert_eq!(pins.roll_back("u").unwrap(), None);
        pins.set("u", Some("1.0.0".into())).unwrap();
        assert!(pins.forget_version("u", "1.0.0").unwrap());
        assert_eq!(DefaultPins::open(&path).get("u"), None);
    }
}
