//! Raw syscall wrappers: the one place that calls into the kernel where nix has no wrapper.
use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

pub mod cgroups;
pub mod process;
pub mod procfs;
pub mod seccomp;
pub mod validate;

/// A raw syscall's return value, or errno as an error when it is negative.
pub(crate) fn check<T: Copy + PartialOrd + Default>(ret: T) -> std::io::Result<T> {
    if ret < T::default() {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A syscall's return value as a new fd that nothing else owns, or errno as an error.
pub(crate) fn owned_fd<T: Copy + PartialOrd + Default + TryInto<RawFd>>(
    ret: T,
) -> std::io::Result<OwnedFd> {
    let fd = check(ret)?
        .try_into()
        .map_err(|_| std::io::Error::from_raw_os_error(libc::EBADF))?;
    // SAFETY: the kernel just returned this fd and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub(crate) fn cstr(p: &Path) -> std::io::Result<CString> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(p.as_os_str().as_bytes()).map_err(|_| std::io::ErrorKind::InvalidInput.into())
}

/// clone(2) with fork semantics: the child continues on a copy of the caller's stack and
/// gets 0. `flags` may hold CLONE_NEW* flags; SIGCHLD is added. The caller must be
/// single-threaded (rt always is).
pub fn clone_fork(flags: libc::c_int) -> std::io::Result<i32> {
    // SAFETY: no CLONE_VM, so the child gets its own copy of memory, as with fork().
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    check(ret).map(|r| r as i32)
}

/// clone3(2) with fork semantics (like `clone_fork`) and CLONE_INTO_CGROUP: the child
/// starts in the cgroup2 directory `cgroup` (an fd of it, O_PATH is enough) from its first
/// instruction. Fails (ENOSYS, E2BIG, EINVAL, ...) on kernels before 5.7 or where the
/// cgroup cannot take it; the caller then clones with `clone_fork` and moves the child.
pub fn clone_into_cgroup(flags: libc::c_int, cgroup: BorrowedFd) -> std::io::Result<i32> {
    #[repr(C)]
    struct CloneArgs {
        flags: u64,
        pidfd: u64,
        child_tid: u64,
        parent_tid: u64,
        exit_signal: u64,
        stack: u64,
        stack_size: u64,
        tls: u64,
        set_tid: u64,
        set_tid_size: u64,
        cgroup: u64,
    }
    const CLONE_INTO_CGROUP: u64 = 0x200000000;
    let args = CloneArgs {
        flags: (flags as u32 as u64) | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.as_raw_fd() as u64,
    };
    // SAFETY: no CLONE_VM and no stack: the child runs on a copy of the caller's memory,
    // as with fork(); `args` outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    check(ret).map(|r| r as i32)
}

pub fn pivot_root(new_root: &Path, put_old: &Path) -> std::io::Result<()> {
    let (n, o) = (cstr(new_root)?, cstr(put_old)?);
    // SAFETY: two valid NUL-terminated strings.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, n.as_ptr(), o.as_ptr()) }).map(drop)
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;
pub const MOUNT_ATTR_NOSYMFOLLOW: u64 = 0x200000;
pub const MOUNT_ATTR__ATIME: u64 = 0x70;

/// mount_setattr(2) on the mount at `path` (relative to `dirfd`), recursively when `recursive`.
pub fn mount_setattr(
    dirfd: RawFd,
    path: &Path,
    recursive: bool,
    set: u64,
    clear: u64,
    propagation: u64,
) -> std::io::Result<()> {
    let p = cstr(path)?;
    let mut attr = MountAttr {
        attr_set: set,
        attr_clr: clear,
        propagation,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: valid path and attr pointers, attr size passed.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            p.as_ptr(),
            flags,
            &mut attr as *mut MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

pub const RESOLVE_NO_XDEV: u64 = 0x01;
pub const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
pub const RESOLVE_NO_SYMLINKS: u64 = 0x04;
pub const RESOLVE_BENEATH: u64 = 0x08;
pub const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2): `path` resolved relative to `dirfd` under `resolve` rules.
pub fn openat2(
    dirfd: BorrowedFd,
    path: &Path,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> std::io::Result<OwnedFd> {
    let p = cstr(path)?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: valid pointers; the returned fd is owned by us.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                p.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match owned_fd(ret) {
            Ok(fd) => return Ok(fd),
            Err(e)
                if e.raw_os_error() == Some(libc::EAGAIN)
                    || e.raw_os_error() == Some(libc::EINTR) =>
            {
                continue
            }
            Err(e) => return Err(e),
        }
    }
}

/// pidfd_open(2).
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd returned is ours.
    owned_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// pidfd_send_signal(2): signal a process without a pid-reuse race.
pub fn pidfd_send_signal(pidfd: BorrowedFd, sig: i32) -> std::io::Result<()> {
    // SAFETY: plain syscall.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<u8>(),
            0,
        )
    })
    .map(drop)
}

/// close_range(2) with CLOSE_RANGE_CLOEXEC: mark every fd from `first` close-on-exec.
pub fn cloexec_from(first: u32) -> std::io::Result<()> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: plain syscall.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) })
        .map(drop)
}

/// Let `fd` survive execve (clear FD_CLOEXEC).
pub fn clear_cloexec(fd: RawFd) -> std::io::Result<()> {
    // SAFETY: plain fcntl on an fd number; the kernel checks it.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

/// memfd_create(name, MFD_CLOEXEC): an anonymous file in memory.
pub fn memfd(name: &str) -> std::io::Result<OwnedFd> {
    let n = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: valid string pointer; the fd returned is ours.
    owned_fd(unsafe { libc::memfd_create(n.as_ptr(), libc::MFD_CLOEXEC) })
}

/// keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a fresh session keyring for the container.
pub fn join_session_keyring(name: &str) -> std::io::Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let n = CString::new(name).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: valid string pointer.
    check(unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, n.as_ptr()) })
        .map(drop)
}

/// Set O_NONBLOCK on an fd (fcntl F_GETFL, F_SETFL).
pub fn set_nonblocking(fd: BorrowedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a valid fd.
    let flags = check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    check(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) }).map(drop)
}

/// A path through /proc/self/fd for an fd (to mount onto an O_PATH handle).
pub fn fd_path(fd: &impl AsRawFd) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
/// pidfd_getfd(2): a copy of another process's fd (rt takes the seccomp listener this way).
pub fn pidfd_getfd(pidfd: BorrowedFd, fd: RawFd) -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall; the fd returned is ours.
    owned_fd(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) })
}

/// setdomainname(2).
pub fn set_domainname(name: &str) -> std::io::Result<()> {
    // SAFETY: pointer and length of a valid buffer.
    check(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) as libc::c_long })
        .map(drop)
}

/// open_tree(2) with OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC: a detached bind mount of `path`
/// (symlinks followed), owned by the returned fd.
pub fn open_tree_clone(path: &Path) -> std::io::Result<OwnedFd> {
    const OPEN_TREE_CLONE: libc::c_uint = 1;
    let p = cstr(path)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint;
    // SAFETY: valid NUL-terminated path; the fd returned is ours.
    owned_fd(unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, p.as_ptr(), flags) })
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH): execute the file `fd` refers to. Returns
/// only on failure.
pub fn execveat_fd(fd: BorrowedFd, argv: &[CString], envp: &[CString]) -> std::io::Error {
    let mut a: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    a.push(std::ptr::null());
    let mut e: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    e.push(std::ptr::null());
    // SAFETY: NULL-terminated arrays of valid C strings that outlive the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            a.as_ptr(),
            e.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    std::io::Error::last_os_error()
}

const OPEN_TREE_CLONE: libc::c_uint = 1;

/// open_tree(fd, "", OPEN_TREE_CLONE | AT_EMPTY_PATH): a detached bind mount of what `fd`
/// refers to (with the mounts below it when `recursive`), owned by the returned fd. No
/// path is resolved.
pub fn open_tree_clone_fd(fd: BorrowedFd, recursive: bool) -> std::io::Result<OwnedFd> {
    let mut flags =
        OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint | libc::AT_EMPTY_PATH as libc::c_uint;
    if recursive {
        flags |= libc::AT_RECURSIVE as libc::c_uint;
    }
    // SAFETY: valid fd and empty NUL-terminated path; the fd returned is ours.
    owned_fd(unsafe { libc::syscall(libc::SYS_open_tree, fd.as_raw_fd(), c"".as_ptr(), flags) })
}

/// move_mount(from, "", to, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH): attach
/// the detached mount `from` on top of what `to` refers to. No path is resolved, so
/// nothing mounted over /proc can redirect it.
pub fn move_mount_fd(from: BorrowedFd, to: BorrowedFd) -> std::io::Result<()> {
    const MOVE_MOUNT_F_EMPTY_PATH: libc::c_uint = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: libc::c_uint = 0x40;
    // SAFETY: valid fds and empty NUL-terminated paths.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// A new mount of `fstype` attached to no tree: fsopen, fsconfig("source", `source`) when
/// given, fsconfig(CMD_CREATE), fsmount with `attrs` (MOUNT_ATTR_*). The fd is the mount's
/// root.
pub fn fsmount_detached(
    fstype: &std::ffi::CStr,
    source: Option<&std::ffi::CStr>,
    attrs: u64,
) -> std::io::Result<OwnedFd> {
    const FSOPEN_CLOEXEC: libc::c_uint = 1;
    const FSCONFIG_SET_STRING: libc::c_uint = 1;
    const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
    const FSMOUNT_CLOEXEC: libc::c_uint = 1;
    // SAFETY: valid NUL-terminated name; the fd returned is ours.
    let fs = owned_fd(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })?;
    if let Some(source) = source {
        // SAFETY: our fs context fd, NUL-terminated key and value.
        check(unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                c"source".as_ptr(),
                source.as_ptr(),
                0,
            )
        })?;
    }
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
    // SAFETY: plain syscall; the fd returned is ours.
    owned_fd(unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attrs as libc::c_uint,
        )
    })
}

/// A detached read-only tmpfs (source "tmpfs").
pub fn fsmount_tmpfs_ro() -> std::io::Result<OwnedFd> {
    fsmount_detached(c"tmpfs", Some(c"tmpfs"), MOUNT_ATTR_RDONLY)
}
