use crate::cli::Id;
use crate::container::lifecycle;
use crate::Result;
use std::path::Path;

pub fn pause(root: &Path, a: Id) -> Result<i32> {
    let (dir, st, _lock) = lifecycle::load_locked(root, &a.id)?;
    lifecycle::pause(&dir, &st)?;
    Ok(0)
}

pub fn resume(root: &Path, a: Id) -> Result<i32> {
    let (dir, st, _lock) = lifecycle::load_locked(root, &a.id)?;
    lifecycle::resume(&dir, &st)?;
    Ok(0)
}
