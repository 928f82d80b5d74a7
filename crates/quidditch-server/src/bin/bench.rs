//! `bench`: benchmarks, one subcommand per area; results go to BENCHMARKS.md.

#[path = "bench/udf_runtime.rs"]
mod udf_runtime;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("udf-runtime") => udf_runtime::run(&args[2..]),
        _ => {
            eprintln!("usage: bench <subcommand> [args]\n\nsubcommands:\n  udf-runtime   UDF call and instantiation cost beside native Rust");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
