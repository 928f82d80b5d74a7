//! Python UDFs: Python source → metadata (from the Python AST, without running it) → a
//! WebAssembly component of the world `quidditch:udf/udf` (componentize-py plus the adapter in
//! `adapter/quidditch_adapter.py`, which maps the WIT exports onto the user's plain
//! `filter(doc, params) -> bool` / `score(doc, params) -> float`).
//!
//! ```no_run
//! let compiler = quidditch_python::PythonCompiler::from_env();
//! let udf = compiler.compile("def filter(doc, min_price: int = 10) -> bool:\n    return doc['price'] >= min_price\n")?;
//! assert_eq!(udf.metadata.parameters[0].name, "min_price");
//! # Ok::<(), quidditch_python::PythonUdfError>(())
//! ```
//!
//! The runtime that instantiates the component lives in `quidditch-udf`; see
//! `docs/python-udfs.md` for the authoring model and the limits Python UDFs need.

mod compile;
mod error;
mod metadata;
mod native;

pub use compile::{
    ADAPTER_SOURCE, COMPONENTIZE_PY_VERSION, DEFAULT_CALL_TIMEOUT_MS, DEFAULT_MEMORY_BYTES, PythonCompiler,
    PythonComponent, RuntimeToolchain, TOOL_ENV, ToolSource, runtime_key, USER_MODULE, WIT_SOURCE,
};
pub use error::PythonUdfError;
pub use native::{NativeModule, Unsupported, compile_native};
pub use metadata::{DIRECTIVE_KEYS, Export, ParamSpec, ParamType, PythonMetadata, extract_metadata};
