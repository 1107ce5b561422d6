use crate::cli::Id;
use crate::container::{lifecycle, start};
use crate::Result;
use std::path::Path;

pub fn run(root: &Path, a: Id) -> Result<i32> {
    let (dir, st, _lock) = lifecycle::load_locked(root, &a.id)?;
    start::start(&dir, &st)?;
    Ok(0)
}
