//! A private procfs instance (CVE-2025-52881): fsopen("proc") + fsmount, a mount that is
//! attached to no tree, so nothing in a container can be mounted over its files.
use super::{check, owned_fd};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// A detached procfs mount of the caller's active pid namespace (nosuid, nodev, noexec):
/// fsopen, fsconfig(FSCONFIG_CMD_CREATE), fsmount. The fd is the mount's root.
pub fn fsmount_proc() -> io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    const MOUNT_ATTR_RDONLY_NONE: libc::c_uint = 0;
    const MOUNT_ATTR_NOSUID: libc::c_uint = 0x2;
    const MOUNT_ATTR_NODEV: libc::c_uint = 0x4;
    const MOUNT_ATTR_NOEXEC: libc::c_uint = 0x8;
    // SAFETY: valid NUL-terminated name; the fd returned is ours.
    let fs =
        owned_fd(unsafe { libc::syscall(libc::SYS_fsopen, c"proc".as_ptr(), FSOPEN_CLOEXEC) })?;
    // SAFETY: plain syscall on our fs context fd, no key/value.
    check(unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    })?;
    let attrs = MOUNT_ATTR_RDONLY_NONE | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC;
    // SAFETY: plain syscall; the fd returned is ours.
    owned_fd(unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) })
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
