//! The fleet simulator (`cpufleet simulate`, `cpufleet fleet gen`). Under construction.

use crate::io::{CliError, CliResult};
use crate::{Common, Outcome};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub common: Common,
    /// Fleet spec (TOML); default: the embedded data/fleet.toml.
    #[arg(long)]
    pub spec: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Subcommand)]
pub enum FleetCmd {
    /// Generate a fleet's hosts as capabilities <cpu> XML, one pool per file.
    Gen {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        spec: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        out: PathBuf,
    },
}

pub fn run_simulate(_args: SimulateArgs) -> CliResult<Outcome> {
    Err(CliError::new("simulate: not built yet"))
}

pub fn run_fleet(_cmd: FleetCmd) -> CliResult<Outcome> {
    Err(CliError::new("fleet gen: not built yet"))
}
