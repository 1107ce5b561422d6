use crate::cli::Delete;
use crate::container::lifecycle;
use crate::state::ContainerDir;
use crate::Result;
use std::path::Path;

pub fn run(root: &Path, a: Delete) -> Result<i32> {
    // runc: `delete --force` of a container that is not there succeeds silently. podman
    // relies on it: after a failed create it runs `delete --force`, and logs an error
    // ("Removing container ... from runtime after creation failed") when that fails.
    if a.force && !ContainerDir::path(root, &a.id)?.is_dir() {
        return Ok(0);
    }
    let dir = ContainerDir::open(root, &a.id)?;
    // One delete at a time: a second one waits, then finds the container gone.
    let _lock = match dir.lock() {
        Ok(l) => l,
        Err(_) if a.force && !dir.dir.is_dir() => return Ok(0),
        Err(e) => return Err(e),
    };
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
