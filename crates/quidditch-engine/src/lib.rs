//! Indices, mappings, write-ahead log, query DSL → AST → tantivy.
//! (Skeleton: the engine's owner replaces these stubs.)

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct EngineConfig {}

pub struct Engine {}

impl Engine {
    pub fn open(
        _dir: &Path,
        _config: EngineConfig,
        _udfs: Arc<quidditch_udf::UdfRegistry>,
    ) -> anyhow::Result<Arc<Engine>> {
        Ok(Arc::new(Engine {}))
    }

    pub fn shutdown(&self) -> anyhow::Result<()> {
        Ok(())
    }
}
