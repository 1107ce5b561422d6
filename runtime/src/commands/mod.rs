//! One file per command, each a thin layer over the library.
use crate::cli::{Cli, Command};
use crate::Result;

pub fn dispatch(cli: Cli) -> Result<i32> {
    match cli.command {
        Some(_) => anyhow::bail!("not implemented yet"),
        None => Ok(0),
    }
}
