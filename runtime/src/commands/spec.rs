use crate::cli::SpecCmd;
use crate::Result;
use anyhow::{anyhow, bail};

/// The template `rt spec` writes: the same default container as `runc spec`.
pub const DEFAULT: &str = include_str!("spec-default.json");
pub const ROOTLESS: &str = include_str!("spec-rootless.json");

pub fn run(a: SpecCmd) -> Result<i32> {
    let path = a.bundle.join("config.json");
    if path.exists() {
        bail!("File {} exists. Remove it first", path.display());
    }
    let text = if a.rootless { ROOTLESS } else { DEFAULT };
    std::fs::write(&path, text).map_err(|e| anyhow!("writing {}: {e}", path.display()))?;
    Ok(0)
}
