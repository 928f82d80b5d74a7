//! Inline scripts: a `script` object whose `source` is code — base64 WebAssembly, WAT text or
//! Python source — rather than the name of a stored UDF.
//!
//! [`classify`] is the one rule for what a `source` is (queries, `_execute` and stored scripts
//! use it). Inline code runs through the server's one upload path (the same metadata checks,
//! size limit, signature policy, permissions — none — and limits as an upload, see
//! `UdfRegistry::precheck`) on first use and is then kept, compiled, in a bounded in-memory
//! cache keyed by the SHA-256 of the code, so a repeated inline script is not recompiled per
//! query. Inline UDFs are never stored on disk nor listed; they declare no parameters, so they
//! take any query-time `params`. A server that requires signed UDFs refuses inline code (403):
//! nothing signs it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use base64::Engine as _;

use crate::error::UdfError;
use crate::instance::LoadedUdf;
use crate::metadata::{Language, echo};
use crate::registry::UploadSource;
use crate::signature::sha256_bytes;

/// What a `script` object's `source` is.
#[derive(Debug, Clone, PartialEq)]
pub enum ScriptSource {
    /// The name of a stored UDF (`name` or `name@version`).
    Named(String),
    /// Code to compile and run.
    Inline(InlineScript),
}

/// Inline code and its content key.
#[derive(Debug, Clone, PartialEq)]
pub struct InlineScript {
    pub source: UploadSource,
    key: [u8; 32],
}

/// The first bytes of every WebAssembly binary (`\0asm`), base64-encoded.
const WASM_BASE64_PREFIX: &str = "AGFzbQ";

impl InlineScript {
    pub fn new(source: UploadSource) -> InlineScript {
        let (tag, bytes): (u8, &[u8]) = match &source {
            UploadSource::Binary(b) => (b'b', b),
            UploadSource::Wat(s) => (b'w', s.as_bytes()),
            UploadSource::Python(s) => (b'p', s.as_bytes()),
        };
        let mut keyed = Vec::with_capacity(bytes.len() + 1);
        keyed.push(tag);
        keyed.extend_from_slice(bytes);
        InlineScript { key: sha256_bytes(&keyed), source }
    }

    /// SHA-256 of the language tag and the code: the cache key.
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The name the inline UDF runs (and errors name it) under: `inline-<16 hex digits of the key>`.
    pub fn name(&self) -> String {
        format!("inline-{}", &hex::encode(self.key)[..16])
    }

    pub fn language(&self) -> Language {
        match self.source {
            UploadSource::Binary(_) => Language::Wasm,
            UploadSource::Wat(_) => Language::Wat,
            UploadSource::Python(_) => Language::Python,
        }
    }
}

/// WAT text has a `(` (or starts with a `;;` comment); base64 and UDF names never do.
pub fn looks_like_wat(source: &str) -> bool {
    source.contains('(') || source.trim_start().starts_with(";;")
}

/// What `source` is for a script of language `lang`:
/// - `wasm`: WAT text, base64 of a WebAssembly binary (it starts with `AGFzbQ`, the encoded
///   `\0asm`), or else the name of a stored UDF;
/// - `wat`: WAT text; `python`: Python UDF source.
///
/// `Err` is a message for a 400 naming what is wrong.
pub fn classify(lang: Option<&str>, source: &str) -> Result<ScriptSource, String> {
    let text = source.trim();
    match lang {
        Some("wasm") if looks_like_wat(text) => Ok(ScriptSource::Inline(InlineScript::new(UploadSource::Wat(source.to_string())))),
        Some("wasm") if text.starts_with(WASM_BASE64_PREFIX) => {
            let binary = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| format!("[source] looks like base64 WebAssembly but is not valid base64: {e}"))?;
            Ok(ScriptSource::Inline(InlineScript::new(UploadSource::Binary(binary))))
        }
        Some("wasm") => Ok(ScriptSource::Named(text.to_string())),
        Some("wat") => Ok(ScriptSource::Inline(InlineScript::new(UploadSource::Wat(source.to_string())))),
        Some("python") => Ok(ScriptSource::Inline(InlineScript::new(UploadSource::Python(source.to_string())))),
        Some(other) => Err(format!(
            "script lang [{}] is not supported; use \"lang\": \"wasm\" (a UDF name, base64 WebAssembly or WAT text), \
             \"wat\" or \"python\" (Python UDF source)",
            echo(other)
        )),
        None => Err("script lang [painless] is not supported; use \"lang\": \"wasm\" (a UDF name, base64 WebAssembly \
                     or WAT text), \"wat\" or \"python\" (Python UDF source)"
            .into()),
    }
}

/// Compiles inline code through the server's upload path; the server installs it
/// ([`UdfRegistry::set_inline_compiler`](crate::UdfRegistry::set_inline_compiler)).
pub trait InlineCompiler: Send + Sync {
    /// Whether this caller may run inline code at all, before the cache is asked: `actor` is
    /// who an authorized endpoint authenticated, `None` for a search.
    fn admit(&self, actor: Option<&str>) -> Result<(), UdfError>;
    /// Checks and compiles `script` as an upload of `actor`, with
    /// [`UdfRegistry::register_inline`](crate::UdfRegistry::register_inline) as the last step.
    fn compile(&self, script: &InlineScript, actor: &str) -> Result<Arc<LoadedUdf>, UdfError>;
}

/// Compiled inline UDFs, at most [`CACHE_ENTRIES`], the oldest dropped first.
#[derive(Default)]
pub(crate) struct InlineCache {
    entries: HashMap<[u8; 32], Arc<LoadedUdf>>,
    order: VecDeque<[u8; 32]>,
    pub hits: u64,
    pub compilations: u64,
}

/// Inline UDFs kept compiled.
pub(crate) const CACHE_ENTRIES: usize = 128;

impl InlineCache {
    pub fn get(&mut self, key: &[u8; 32]) -> Option<Arc<LoadedUdf>> {
        let found = self.entries.get(key).cloned();
        if found.is_some() {
            self.hits += 1;
        }
        found
    }

    pub fn insert(&mut self, key: [u8; 32], udf: Arc<LoadedUdf>) {
        self.compilations += 1;
        if self.entries.insert(key, udf).is_none() {
            self.order.push_back(key);
        }
        while self.order.len() > CACHE_ENTRIES {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_sources() {
        let named = classify(Some("wasm"), " price_between@1.0.0 ").unwrap();
        assert_eq!(named, ScriptSource::Named("price_between@1.0.0".into()));
        let ScriptSource::Inline(wat) = classify(Some("wasm"), "(module)").unwrap() else { panic!() };
        assert!(matches!(wat.source, UploadSource::Wat(_)));
        let binary = wat::parse_str("(module)").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&binary);
        let ScriptSource::Inline(bin) = classify(Some("wasm"), &b64).unwrap() else { panic!() };
        assert_eq!(bin.source, UploadSource::Binary(binary));
        assert!(bin.name().starts_with("inline-") && bin.name().len() == 23);
        let ScriptSource::Inline(py) = classify(Some("python"), "def filter(doc): return True").unwrap() else { panic!() };
        assert_eq!(py.language(), Language::Python);
        assert_ne!(py.key(), wat.key());
        // The same text in two languages is two scripts.
        let a = InlineScript::new(UploadSource::Wat("x".into()));
        let b = InlineScript::new(UploadSource::Python("x".into()));
        assert_ne!(a.key(), b.key());
        assert!(classify(None, "x").is_err());
        assert!(classify(Some("painless"), "x").is_err());
        assert!(classify(Some("wasm"), "AGFzbQ!!").is_err());
    }
}
