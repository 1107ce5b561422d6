//! /dev: the default devices, linux.devices, and the standard links.
use super::paths::{create_in_root, open_in_root, Kind};
use crate::sys;
use crate::Result;
use anyhow::anyhow;
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::mount::{mount, MsFlags};
use nix::sys::stat::{mknodat, Mode, SFlag};
use nix::unistd::{fchownat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

/// (path, major, minor) of the devices every container gets (char, 0666, root-owned).
const DEFAULT: [(&str, u32, u32); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

pub struct Node<'a> {
    pub field: String,
    pub path: &'a Path,
    pub kind: libc::mode_t,
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// Create the default devices and linux.devices. In a user namespace mknod is refused,
/// so the host's device node is bind-mounted instead (as runc does).
pub fn create(root: BorrowedFd, devices: &[LinuxDevice], bind: bool) -> Result<()> {
    let mut nodes: Vec<Node> = Vec::new();
    for (path, major, minor) in DEFAULT {
        if devices.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        nodes.push(Node {
            field: format!("default device {path}"),
            path: Path::new(path),
            kind: libc::S_IFCHR,
            major: major as u64,
            minor: minor as u64,
            mode: 0o666,
            uid: 0,
            gid: 0,
        });
    }
    for (i, d) in devices.iter().enumerate() {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(anyhow!(
                    "linux.devices[{i}].type: \"a\" is not a device type"
                ))
            }
        };
        nodes.push(Node {
            field: format!("linux.devices[{i}]"),
            path: d.path(),
            kind,
            major: d.major() as u64,
            minor: d.minor() as u64,
            mode: d.file_mode().unwrap_or(0o666),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    for n in &nodes {
        make(root, n, bind).map_err(|e| anyhow!("{}: {}: {e}", n.field, n.path.display()))?;
    }
    Ok(())
}

fn make(root: BorrowedFd, n: &Node, bind: bool) -> Result<()> {
    let parent = n.path.parent().unwrap_or(Path::new("/dev"));
    let name = n
        .path
        .file_name()
        .ok_or_else(|| anyhow!("not a file path"))?;
    if bind {
        let target = create_in_root(root, n.path, Kind::File)?;
        mount(
            Some(n.path),
            &sys::fd_path(&target),
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )?;
        return Ok(());
    }
    let dir = create_in_root(root, parent, Kind::Dir)?;
    let dirfd = Some(dir.as_raw_fd());
    // An existing node (from the image) is replaced.
    let _ = unlinkat(dirfd, name, UnlinkatFlags::NoRemoveDir);
    mknodat(
        dirfd,
        name,
        SFlag::from_bits_truncate(n.kind),
        Mode::from_bits_truncate(n.mode & 0o7777),
        libc::makedev(n.major as u32, n.minor as u32),
    )
    .map_err(std::io::Error::from)?;
    fchownat(
        dirfd,
        name,
        Some(Uid::from_raw(n.uid)),
        Some(Gid::from_raw(n.gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .map_err(std::io::Error::from)?;
    Ok(())
}

/// /dev/fd, /dev/std{in,out,err}, /dev/core and /dev/ptmx → pts/ptmx.
pub fn links(root: BorrowedFd) -> Result<()> {
    let dev = open_in_root(root, Path::new("/dev"), libc::O_PATH | libc::O_DIRECTORY)?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    let dirfd = Some(dev.as_raw_fd());
    for (target, name) in links {
        match symlinkat(target, dirfd, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(anyhow!("/dev/{name}: {}", std::io::Error::from(e))),
        }
    }
    let _ = unlinkat(dirfd, "ptmx", UnlinkatFlags::NoRemoveDir);
    symlinkat("pts/ptmx", dirfd, "ptmx")
        .map_err(|e| anyhow!("/dev/ptmx: {}", std::io::Error::from(e)))?;
    Ok(())
}
