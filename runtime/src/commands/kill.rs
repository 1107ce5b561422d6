use crate::cli::Kill;
use crate::container::lifecycle;
use crate::Result;
use std::path::Path;

pub fn run(root: &Path, a: Kill) -> Result<i32> {
    let sig = lifecycle::parse_signal(&a.signal)?;
    let (dir, st, _lock) = lifecycle::load_locked(root, &a.id)?;
    lifecycle::kill(&dir, &st, sig, a.all)?;
    Ok(0)
}
