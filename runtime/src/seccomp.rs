//! linux.seccomp: compiled with libseccomp, loaded as the last step before exec.
//!
//! Contract (called by `container::init` and `container::exec`):
//! - `compile` runs in the container's init before it reports "created", so every
//!   error (unknown syscall, action, arch, flag) surfaces at `create` time and names
//!   the JSON path, e.g. `linux.seccomp.syscalls[3].action`.
//! - `Filter::load` is the last thing before execve (or just before the privilege drop
//!   when noNewPrivileges is false); it returns the notify listener fd when a rule uses
//!   SCMP_ACT_NOTIFY.
use crate::Result;
use oci_spec::runtime::LinuxSeccomp;
use std::os::fd::OwnedFd;

pub struct Filter {}

pub fn compile(_seccomp: &LinuxSeccomp) -> Result<Filter> {
    anyhow::bail!("linux.seccomp: not implemented yet")
}

impl Filter {
    pub fn load(self) -> Result<Option<OwnedFd>> {
        Ok(None)
    }
}

/// libseccomp's version, for `--version` and `features`.
pub fn library_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}
