//! Raw syscalls used by `spec::validate`.
use std::os::fd::{AsRawFd, BorrowedFd};

/// `_IO(0xb7, 0x3)` from <linux/nsfs.h>.
const NS_GET_NSTYPE: libc::c_ulong = 0xb703;

/// The `CLONE_NEW*` type of an open namespace file (`ioctl(fd, NS_GET_NSTYPE)`).
pub fn ns_get_nstype(fd: BorrowedFd<'_>) -> std::io::Result<i32> {
    // SAFETY: NS_GET_NSTYPE takes no argument and only reads the fd.
    super::check(unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) })
}
