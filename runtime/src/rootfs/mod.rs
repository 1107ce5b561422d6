//! The root filesystem: root.path, rootfsPropagation, mounts, linux.devices, pivot_root,
//! maskedPaths, readonlyPaths, root.readonly.
//!
//! `prepare` runs in the init's new mount namespace before pivot_root, `pivot` moves the
//! init into the rootfs, `finalize` runs afterwards (paths are then container paths).
pub mod devices;
pub mod mounts;
pub mod paths;

use crate::cgroups::Cgroup;
use crate::sys;
use crate::Result;
use anyhow::{anyhow, Context};
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::Spec;
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

fn none() -> Option<&'static str> {
    None
}

/// The rootfs as an absolute path (root.path is relative to the bundle).
pub fn rootfs_path(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| anyhow!("root: missing"))?;
    let p = bundle.join(root.path());
    std::fs::canonicalize(&p).map_err(|e| anyhow!("root.path: {}: {e}", p.display()))
}

/// Before pivot_root: propagation, the rootfs as a mount point, mounts[], /dev.
pub fn prepare(spec: &Spec, rootfs: &Path, cgroup: &Cgroup, in_userns: bool) -> Result<()> {
    let linux = spec.linux().as_ref();
    let propagation = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .unwrap_or("rslave");
    let flag = mounts::propagation_flag(propagation)
        .ok_or_else(|| anyhow!("linux.rootfsPropagation: unknown value {propagation:?}"))?;
    // Nothing the container mounts may propagate back to the host (unless asked: shared).
    mount(none(), "/", none(), flag | MsFlags::MS_REC, none())
        .map_err(|e| anyhow!("linux.rootfsPropagation: making / {propagation}: {e}"))?;
    make_parent_private(rootfs)?;
    mount(
        Some(rootfs),
        rootfs,
        none(),
        MsFlags::MS_BIND | MsFlags::MS_REC,
        none(),
    )
    .map_err(|e| anyhow!("root.path: bind-mounting {}: {e}", rootfs.display()))?;

    let root = File::open(rootfs).with_context(|| format!("root.path: {}", rootfs.display()))?;
    let mut dev_bound = false;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        mounts::mount_entry(root.as_fd(), i, m, cgroup)?;
        if m.destination() == Path::new("/dev") && m.typ().as_deref().unwrap_or("bind") == "bind" {
            dev_bound = true;
        }
    }
    if !dev_bound {
        let devs = linux
            .and_then(|l| l.devices().as_ref())
            .map(|d| d.as_slice())
            .unwrap_or(&[]);
        devices::create(root.as_fd(), devs, in_userns)?;
        devices::links(root.as_fd())?;
    }
    Ok(())
}

/// pivot_root needs the rootfs's parent mount not to be shared.
fn make_parent_private(rootfs: &Path) -> Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut best: Option<(&str, bool)> = None;
    for line in info.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        if f.len() < 7 {
            continue;
        }
        let mp = f[4];
        if rootfs.starts_with(mp) && best.is_none_or(|(b, _)| mp.len() >= b.len()) {
            best = Some((
                mp,
                f[6..]
                    .iter()
                    .take_while(|x| **x != "-")
                    .any(|x| x.starts_with("shared:")),
            ));
        }
    }
    if let Some((mp, true)) = best {
        mount(none(), mp, none(), MsFlags::MS_PRIVATE, none())
            .map_err(|e| anyhow!("making {mp} private: {e}"))?;
    }
    Ok(())
}

/// Move the init into the rootfs: pivot_root(2), or MS_MOVE + chroot with --no-pivot.
pub fn pivot(rootfs: &Path, no_pivot: bool) -> Result<()> {
    if no_pivot {
        nix::unistd::chdir(rootfs)?;
        mount(Some(rootfs), "/", none(), MsFlags::MS_MOVE, none())
            .map_err(|e| anyhow!("--no-pivot: moving the rootfs to /: {e}"))?;
        nix::unistd::chroot(".").map_err(|e| anyhow!("--no-pivot: chroot: {e}"))?;
        nix::unistd::chdir("/")?;
        return Ok(());
    }
    let old = File::open("/")?;
    let new = File::open(rootfs)?;
    nix::unistd::fchdir(new.as_raw_fd())?;
    sys::pivot_root(Path::new("."), Path::new("."))
        .map_err(|e| anyhow!("pivot_root {}: {e}", rootfs.display()))?;
    // The old root now sits on top of the new one: detach it without telling the host.
    nix::unistd::fchdir(old.as_raw_fd())?;
    mount(
        none(),
        ".",
        none(),
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        none(),
    )?;
    umount2(".", MntFlags::MNT_DETACH).map_err(|e| anyhow!("detaching the old root: {e}"))?;
    nix::unistd::chdir("/")?;
    Ok(())
}

/// After pivot_root: rootfsPropagation, maskedPaths, readonlyPaths, root.readonly.
pub fn finalize(spec: &Spec) -> Result<()> {
    let root = File::open("/")?;
    let linux = spec.linux().as_ref();
    // Applied to the new "/" only now: before pivot_root the rootfs's propagation would
    // be shared with the host's mount of it.
    if let Some(p) = linux.and_then(|l| l.rootfs_propagation().as_deref()) {
        let flag = mounts::propagation_flag(p)
            .ok_or_else(|| anyhow!("linux.rootfsPropagation: unknown value {p:?}"))?;
        mount(none(), "/", none(), flag, none())
            .map_err(|e| anyhow!("linux.rootfsPropagation: making / {p}: {e}"))?;
    }
    for (i, p) in linux
        .and_then(|l| l.readonly_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        readonly(&root, Path::new(p)).map_err(|e| anyhow!("linux.readonlyPaths[{i}]: {p}: {e}"))?;
    }
    for (i, p) in linux
        .and_then(|l| l.masked_paths().as_ref())
        .into_iter()
        .flatten()
        .enumerate()
    {
        mask(&root, Path::new(p)).map_err(|e| anyhow!("linux.maskedPaths[{i}]: {p}: {e}"))?;
    }
    if spec
        .root()
        .as_ref()
        .and_then(|r| r.readonly())
        .unwrap_or(false)
    {
        sys::mount_setattr(
            root.as_raw_fd(),
            Path::new(""),
            false,
            sys::MOUNT_ATTR_RDONLY,
            0,
            0,
        )
        .map_err(|e| anyhow!("root.readonly: {e}"))?;
    }
    Ok(())
}

/// A recursive read-only bind of the path onto itself (runc's readonlyPaths): the tree is
/// cloned from the fd, made read-only while detached, and attached onto the same fd. No
/// path through the container's /proc is involved (a mount over /proc/1/fd, or a /proc
/// that is not procfs, cannot redirect it).
fn readonly(root: &File, path: &Path) -> Result<()> {
    let fd = match paths::open_in_root(root.as_fd(), path, libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let tree = sys::open_tree_clone_fd(fd.as_fd(), true).map_err(|e| anyhow!("open_tree: {e}"))?;
    sys::mount_setattr(
        tree.as_raw_fd(),
        Path::new(""),
        true,
        sys::MOUNT_ATTR_RDONLY,
        0,
        0,
    )
    .map_err(|e| anyhow!("mount_setattr: {e}"))?;
    sys::move_mount_fd(tree.as_fd(), fd.as_fd()).map_err(|e| anyhow!("move_mount: {e}"))?;
    Ok(())
}

/// A directory gets a read-only tmpfs, anything else a bind of the null device; both are
/// made detached and attached onto the path's fd (no path through /proc).
fn mask(root: &File, path: &Path) -> Result<()> {
    let fd = match paths::open_in_root(root.as_fd(), path, libc::O_PATH) {
        Ok(fd) => fd,
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let st = nix::sys::stat::fstat(fd.as_raw_fd())?;
    let src = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        sys::fsmount_tmpfs_ro().map_err(|e| anyhow!("tmpfs: {e}"))?
    } else {
        // Only ever the real null device: a container could have replaced /dev/null.
        // O_PATH: the node is only checked and cloned, never opened as a device. So a
        // /dev/null on a nodev mount (a rootfs on such a filesystem, without a /dev
        // tmpfs) still masks, as runc's does, and a fifo or symlink put there neither
        // blocks nor redirects: fstat sees what the name itself is.
        let null = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open("/dev/null")
            .map_err(|e| anyhow!("opening /dev/null: {e}"))?;
        let st = nix::sys::stat::fstat(null.as_raw_fd())?;
        if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
            return Err(anyhow!("/dev/null is not the null device"));
        }
        sys::open_tree_clone_fd(null.as_fd(), false)
            .map_err(|e| anyhow!("open_tree /dev/null: {e}"))?
    };
    sys::move_mount_fd(src.as_fd(), fd.as_fd()).map_err(|e| anyhow!("move_mount: {e}"))?;
    Ok(())
}
