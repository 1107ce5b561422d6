//! A private procfs instance (CVE-2025-52881): fsopen("proc") + fsmount, a mount that is
//! attached to no tree, so nothing in a container can be mounted over its files.
use super::check;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// A detached procfs mount of the caller's active pid namespace (nosuid, nodev, noexec).
/// The fd is the mount's root.
pub fn fsmount_proc() -> io::Result<OwnedFd> {
    const MOUNT_ATTR_NOSUID: u64 = 0x2;
    const MOUNT_ATTR_NODEV: u64 = 0x4;
    const MOUNT_ATTR_NOEXEC: u64 = 0x8;
    super::fsmount_detached(
        c"proc",
        None,
        MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC,
    )
}

/// The mount id of the file `fd` is on (statx STATX_MNT_ID).
pub fn mnt_id(fd: BorrowedFd) -> io::Result<u64> {
    // SAFETY: statx only writes into the zeroed buffer we pass.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: valid fd, empty path with AT_EMPTY_PATH, valid buffer.
    check(unsafe {
        libc::statx(
            fd.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | libc::AT_SYMLINK_NOFOLLOW,
            libc::STATX_MNT_ID,
            &mut st,
        )
    })?;
    if st.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(io::Error::from_raw_os_error(libc::ENOSYS));
    }
    Ok(st.stx_mnt_id)
}
