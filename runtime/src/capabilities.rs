//! process.capabilities: the five sets (bounding, effective, inheritable, permitted, ambient).
//!
//! Contract (called by `container::init` and `container::exec`, in this order):
//! 1. `drop_bounding(caps)` while still uid 0 with full capabilities;
//! 2. the uid/gid switch in `process::set_user` (which keeps permitted caps across setuid);
//! 3. `apply(caps)` sets effective, permitted, inheritable, then raises ambient.
//!
//! Errors name the JSON path (`process.capabilities.ambient[2]`).
use crate::Result;
use oci_spec::runtime::LinuxCapabilities;

pub fn drop_bounding(_caps: &LinuxCapabilities) -> Result<()> {
    Ok(())
}

pub fn apply(_caps: &LinuxCapabilities) -> Result<()> {
    Ok(())
}
