use crate::cli::Create;
use crate::Result;
use std::path::Path;

pub fn run(root: &Path, a: Create) -> Result<i32> {
    crate::container::create::create(root, &a.id, &a.opts, false)?;
    Ok(0)
}
