use crate::cli::Id;
use crate::container::lifecycle;
use crate::state::oci_state;
use crate::Result;
use std::path::Path;

pub fn run(root: &Path, a: Id) -> Result<i32> {
    let (dir, st) = lifecycle::load(root, &a.id)?;
    let v = oci_state(&st, dir.status(&st));
    println!("{}", serde_json::to_string_pretty(&v)?);
    Ok(0)
}
