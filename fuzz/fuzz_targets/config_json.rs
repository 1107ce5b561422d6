//! config.json parsing and validation: any input must give a Spec or an error, never a
//! panic (rt reads config.json from the bundle, i.e. from whoever makes the bundle).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A bundle directory with an empty rootfs/, made once per fuzzing process.
fn bundle() -> &'static PathBuf {
    static B: OnceLock<PathBuf> = OnceLock::new();
    B.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("rt-fuzz-bundle-{}", std::process::id()));
        let _ = std::fs::create_dir_all(dir.join("rootfs"));
        dir
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(spec) = rt::spec::parse(data) {
        // As in create: namespaces are planned (their paths opened) only once valid.
        if rt::spec::validate(&spec, bundle()).is_ok() {
            let _ = rt::namespaces::plan(spec.linux().as_ref());
        }
    }
});
