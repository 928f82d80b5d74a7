//! `quidditch udf …` and `quidditch keygen`: a client of the server's HTTP API.

use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum UdfCommand {
    /// List registered UDFs.
    List,
}

#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Where to write the private key; the public key goes to `<out>.pub`.
    #[arg(long, default_value = "quidditch-signing-key")]
    pub out: std::path::PathBuf,
}

pub fn run_udf(_server: &str, _json: bool, cmd: UdfCommand) -> anyhow::Result<i32> {
    anyhow::bail!("not yet implemented: {cmd:?}")
}

pub fn run_keygen(args: KeygenArgs) -> anyhow::Result<i32> {
    anyhow::bail!("not yet implemented: keygen {}", args.out.display())
}
