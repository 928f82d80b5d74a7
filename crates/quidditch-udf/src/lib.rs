//! Sandboxed WebAssembly UDF runtime, registry, limits, signatures, audit and stats.
//! (Skeleton: the runtime's owner replaces these stubs.)

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Runtime limits, permissions and signature policy (server config `udf` section).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct UdfConfig {}

pub struct UdfRegistry {}

impl UdfRegistry {
    pub fn open(_dir: &Path, _config: UdfConfig) -> anyhow::Result<Arc<UdfRegistry>> {
        Ok(Arc::new(UdfRegistry {}))
    }
}
