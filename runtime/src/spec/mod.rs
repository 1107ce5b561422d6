//! config.json: loading (errors carry the JSON path) and validation.
pub mod validate;

use anyhow::{anyhow, Context};
use oci_spec::runtime::Spec;
use std::path::Path;

pub use validate::validate;

/// Read `<bundle>/config.json`. A type error names its JSON path, e.g.
/// `config.json: linux.namespaces[2].type: unknown variant "foo"`.
pub fn load(bundle: &Path) -> crate::Result<Spec> {
    let path = bundle.join("config.json");
    let data = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
    parse(&data)
}

pub fn parse(data: &[u8]) -> crate::Result<Spec> {
    let de = &mut serde_json::Deserializer::from_slice(data);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." {
            anyhow!("config.json: {inner}")
        } else {
            anyhow!("config.json: {path}: {inner}")
        }
    })
}
