//! Which imports each permission covers. Checked at upload: a binary importing anything its
//! permissions do not cover is rejected with the full list of offending imports.

use crate::metadata::Permission;

/// The permission a core-module import needs: `Ok(None)` for imports every UDF may use,
/// `Err(())` for imports no permission covers (filesystem, sockets, unknown modules).
pub fn core_import_permission(module: &str, name: &str) -> Result<Option<Permission>, ()> {
    match module {
        "env" => match name {
            "get_param_string" | "get_param_i64" | "get_param_f64" | "get_param_bool" | "get_param_value"
            | "raise_error" | "math_f64" => Ok(None),
            "get_field_string" | "get_field_i64" | "get_field_f64" | "get_field_bool" | "has_field"
            | "get_document_id" | "get_score" | "get_field_i64_batch" | "get_field_f64_batch"
            | "get_field_value" => {
                Ok(Some(Permission::ReadDocument))
            }
            "log" => Ok(Some(Permission::WriteLog)),
            _ => Err(()),
        },
        // The subset of WASI preview 1 that ordinary Rust (`wasm32-wasip1`) and C (wasi-libc)
        // guests import. None of it reaches the host: stdout/stderr go to the UDF log, the
        // environment and arguments are empty, there are no files, `proc_exit` traps.
        "wasi_snapshot_preview1" => match name {
            "fd_write" | "proc_exit" | "sched_yield" | "fd_close" | "fd_seek" | "fd_fdstat_get"
            | "fd_prestat_get" | "fd_prestat_dir_name" | "environ_get" | "environ_sizes_get"
            | "args_get" | "args_sizes_get" => Ok(None),
            "clock_time_get" | "clock_res_get" => Ok(Some(Permission::Clocks)),
            "random_get" => Ok(Some(Permission::Random)),
            _ => Err(()),
        },
        _ => Err(()),
    }
}

/// Offending imports of a core module (`module.name (needs permission …)`), empty when allowed.
pub fn check_core_imports<'a>(
    imports: impl Iterator<Item = (&'a str, &'a str)>,
    granted: &[Permission],
) -> Vec<String> {
    let mut bad = Vec::new();
    for (module, name) in imports {
        match core_import_permission(module, name) {
            Ok(None) => {}
            Ok(Some(p)) if granted.contains(&p) => {}
            Ok(Some(p)) => bad.push(format!("{module}.{name} (needs permission [{}])", p.as_str())),
            Err(()) => bad.push(format!("{module}.{name} (not allowed for UDFs)")),
        }
    }
    bad
}

/// Component imports: the Quidditch host interfaces and WASI preview 2. WASI is linked with a
/// capability-less context (no preopened directories, no network, empty environment; clocks
/// and random are fixed unless granted), so importing it grants nothing by itself.
pub fn check_component_imports<'a>(imports: impl Iterator<Item = &'a str>) -> Vec<String> {
    const ALLOWED: [&str; 7] = [
        "quidditch:udf/",
        "wasi:cli/",
        "wasi:io/",
        "wasi:clocks/",
        "wasi:random/",
        "wasi:filesystem/",
        "wasi:sockets/",
    ];
    imports
        .filter(|name| !ALLOWED.iter().any(|p| name.starts_with(p)))
        .map(|name| format!("{name} (not allowed for UDFs)"))
        .collect()
}
