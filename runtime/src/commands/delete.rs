use crate::cli::Delete;
use crate::container::lifecycle;
use crate::state::ContainerDir;
use crate::Result;
use std::path::Path;

pub fn run(root: &Path, a: Delete) -> Result<i32> {
    let dir = ContainerDir::open(root, &a.id)?;
    match dir.load()? {
        Some(st) => lifecycle::delete(&dir, &st, a.force)?,
        // Died before it recorded anything: only the directory is left.
        None if a.force => dir.remove()?,
        None => anyhow::bail!(
            "container {} is still being created (use -f to remove it)",
            a.id
        ),
    }
    Ok(0)
}
