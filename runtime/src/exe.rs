//! CVE-2019-5736: the container must never be able to write the host's rt binary.
//!
//! The init is a clone of rt, so until it execs, `/proc/<init>/exe` is rt's binary (the
//! same holds for `rt exec`'s child, and for rt itself when the container shares its pid
//! namespace). A process in the container that opens it (O_PATH is enough), or an
//! entrypoint `#!/proc/self/exe` that makes the init exec rt's binary as the container
//! process, could reopen it for writing once rt has exited and overwrite the host's runtime.
//!
//! The guard: whatever the container can reach runs from a read-only mount. When
//! `/proc/self/exe` is not on one already, rt clones a detached bind mount of its own
//! binary (`open_tree(OPEN_TREE_CLONE)`), makes it read-only (`mount_setattr`) and
//! `execveat`s into it. From then on `/proc/self/exe` resolves into that read-only mount,
//! and any open for writing through it fails with EROFS, after rt has exited too. No copy
//! of the binary is made; the mount lives as long as something executes from it.
//!
//! Who re-execs, so that the exec stays off the start path where it can:
//! - `create`/`run`: the init itself, right after rt lets it go (`exec_init`), while rt
//!   waits on the cgroup attach (an RCU grace period on v1). rt seals the binary before
//!   the clone; the init carries its state across the exec in a memfd. When the container
//!   shares rt's pid namespace, rt itself is reachable too: then rt re-execs first
//!   (`ensure_readonly`), and the init, already on the read-only mount, does not.
//! - `exec`: rt re-execs first, so the child that joins the container is sealed.
use crate::{sys, Result};
use anyhow::{anyhow, Context};
use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

const SELF_EXE: &str = "/proc/self/exe";

/// True when the running binary sits on a read-only mount (or filesystem).
pub fn is_readonly() -> Result<bool> {
    let st = nix::sys::statvfs::statvfs(SELF_EXE).context("statvfs /proc/self/exe")?;
    Ok(st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY))
}

/// A read-only, detached bind mount of rt's binary to exec from (an O_PATH fd, close-on-
/// exec), or None when rt already runs from a read-only mount.
pub fn sealed() -> Result<Option<OwnedFd>> {
    if is_readonly()? {
        return Ok(None);
    }
    let fd = sys::open_tree_clone(Path::new(SELF_EXE))
        .map_err(|e| anyhow!("protecting the rt binary (CVE-2019-5736): open_tree: {e}"))?;
    sys::mount_setattr(
        fd.as_raw_fd(),
        Path::new(""),
        false,
        sys::MOUNT_ATTR_RDONLY,
        0,
        0,
    )
    .map_err(|e| anyhow!("protecting the rt binary (CVE-2019-5736): mount_setattr: {e}"))?;
    Ok(Some(fd))
}

/// Re-exec rt, same arguments, from a read-only bind mount of its own binary, unless it
/// already runs from a read-only mount. Returns only when nothing had to be done.
pub fn ensure_readonly() -> Result<()> {
    let Some(fd) = sealed()? else {
        return Ok(());
    };
    let argv: Vec<CString> = std::env::args_os().filter_map(cstring).collect();
    let e = sys::execveat_fd(fd.as_fd(), &argv, &environment());
    Err(anyhow!(
        "protecting the rt binary (CVE-2019-5736): execveat: {e}"
    ))
}

/// The hidden first argument of a re-exec'd init: `rt __rt-init <memfd>`.
pub const INIT_ARG: &str = "__rt-init";

/// Exec `sealed` as the container's init (`rt __rt-init`), handing it `state` through a
/// memfd and keeping the fds in `keep` open across the exec. Returns only on failure.
pub fn exec_init(sealed: BorrowedFd, state: &[u8], keep: &[RawFd]) -> anyhow::Error {
    let run = || -> Result<std::convert::Infallible> {
        let memfd = sys::memfd("rt-init").context("memfd for the init's state")?;
        nix::unistd::write(&memfd, state).context("writing the init's state")?;
        for &fd in keep.iter().chain([&memfd.as_raw_fd()]) {
            sys::clear_cloexec(fd).context("keeping the init's fds across its exec")?;
        }
        let argv = [
            c"rt".to_owned(),
            CString::new(INIT_ARG)?,
            CString::new(memfd.as_raw_fd().to_string())?,
        ];
        let e = sys::execveat_fd(sealed, &argv, &environment());
        Err(anyhow!(
            "protecting the rt binary (CVE-2019-5736): execveat of the init: {e}"
        ))
    };
    match run() {
        Ok(never) => match never {},
        Err(e) => e,
    }
}

/// Read back the state `exec_init` handed over in memfd number `arg` (and close it).
pub fn take_init_state(arg: Option<OsString>) -> Result<Vec<u8>> {
    let fd: RawFd = arg
        .and_then(|a| a.to_str().and_then(|s| s.parse().ok()))
        .filter(|&fd| fd > 2)
        .ok_or_else(|| anyhow!("{INIT_ARG}: want the number of a memfd (internal to rt)"))?;
    // Only a memfd has seals to query: anything else (a pipe, a tty) is not ours to read.
    nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GET_SEALS)
        .map_err(|e| anyhow!("{INIT_ARG}: fd {fd} is not a memfd ({e}; internal to rt)"))?;
    // SAFETY: `exec_init` passed this fd, open, to the exec'd init; nothing else owns it.
    let fd = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let mut f = std::fs::File::from(fd);
    let mut buf = Vec::new();
    std::io::Seek::rewind(&mut f).context("reading the init's state")?;
    std::io::Read::read_to_end(&mut f, &mut buf).context("reading the init's state")?;
    Ok(buf)
}

fn cstring(s: OsString) -> Option<CString> {
    CString::new(s.as_bytes()).ok()
}

fn environment() -> Vec<CString> {
    std::env::vars_os()
        .filter_map(|(k, v)| {
            let mut kv = k.as_bytes().to_vec();
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            CString::new(kv).ok()
        })
        .collect()
}
