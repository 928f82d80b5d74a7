//! The core-module ABI v1 (`docs/udf-abi.md`): host functions in module `env`, a safe subset
//! of WASI preview 1, and bounds-checked access to the guest's memory.

pub mod core;
pub mod memory;
pub mod wasi_p1;

pub use self::core::add_to_linker;
