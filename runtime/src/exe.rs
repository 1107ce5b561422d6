//! CVE-2019-5736: the container must never be able to write the host's rt binary.
//!
//! rt does not re-exec itself to become the init: the init is a clone of rt, so until the
//! container process execs, `/proc/<init>/exe` is the rt binary on the host (the same holds
//! for `rt exec`'s child). A process in the container that opens it (O_PATH is enough) and
//! reopens it for writing once rt has exited would overwrite the host's runtime.
//!
//! The guard: `create`, `run` and `exec` first make sure rt runs from a read-only mount.
//! When `/proc/self/exe` is not on one already, rt clones a detached bind mount of its own
//! binary (`open_tree(OPEN_TREE_CLONE)`), makes it read-only (`mount_setattr`) and
//! `execveat`s into it. From then on `/proc/self/exe` of rt, of the init and of the exec
//! child resolves into that read-only mount, and any open for writing through it fails
//! with EROFS, after rt has exited too. No copy of the binary is made; the mount lives as
//! long as something references the executable through it.
use crate::{sys, Result};
use anyhow::{anyhow, Context};
use std::ffi::CString;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const SELF_EXE: &str = "/proc/self/exe";

/// True when the running binary sits on a read-only mount (or filesystem).
pub fn is_readonly() -> Result<bool> {
    let st = nix::sys::statvfs::statvfs(SELF_EXE).context("statvfs /proc/self/exe")?;
    Ok(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// Re-exec rt from a read-only bind mount of its own binary, unless it already runs from
/// a read-only mount. Returns only when nothing had to be done.
pub fn ensure_readonly() -> Result<()> {
    if is_readonly()? {
        return Ok(());
    }
    let fd = sys::open_tree_clone(Path::new(SELF_EXE))
        .map_err(|e| anyhow!("protecting the rt binary (CVE-2019-5736): open_tree: {e}"))?;
    sys::mount_setattr(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        Path::new(""),
        false,
        sys::MOUNT_ATTR_RDONLY,
        0,
        0,
    )
    .map_err(|e| anyhow!("protecting the rt binary (CVE-2019-5736): mount_setattr: {e}"))?;
    let argv: Vec<CString> = std::env::args_os()
        .filter_map(|a| CString::new(a.as_bytes()).ok())
        .collect();
    let envp: Vec<CString> = std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect();
    let e = sys::execveat_fd(fd.as_fd(), &argv, &envp);
    Err(anyhow!(
        "protecting the rt binary (CVE-2019-5736): execveat: {e}"
    ))
}
