//! Raw syscalls and ioctls for process attributes, hooks and the console:
//! ioprio_set, sched_setattr, personality and the pty ioctls.
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

use super::check;

pub const IOPRIO_CLASS_RT: u32 = 1;
pub const IOPRIO_CLASS_BE: u32 = 2;
pub const IOPRIO_CLASS_IDLE: u32 = 3;
const IOPRIO_CLASS_SHIFT: u32 = 13;
const IOPRIO_WHO_PROCESS: libc::c_int = 1;

/// ioprio_set(IOPRIO_WHO_PROCESS, 0 (the calling thread), class << 13 | level).
pub fn ioprio_set_self(class: u32, level: u32) -> io::Result<()> {
    let prio = (class << IOPRIO_CLASS_SHIFT) | level;
    // SAFETY: plain integer arguments.
    check(unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_int,
            prio as libc::c_int,
        )
    })?;
    Ok(())
}

/// ioprio_get of the calling thread: (class, level).
pub fn ioprio_get_self() -> io::Result<(u32, u32)> {
    // SAFETY: plain integer arguments.
    let v = check(unsafe {
        libc::syscall(libc::SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0 as libc::c_int)
    })? as u32;
    Ok((v >> IOPRIO_CLASS_SHIFT, v & ((1 << IOPRIO_CLASS_SHIFT) - 1)))
}

pub const SCHED_OTHER: u32 = 0;
pub const SCHED_FIFO: u32 = 1;
pub const SCHED_RR: u32 = 2;
pub const SCHED_BATCH: u32 = 3;
pub const SCHED_ISO: u32 = 4;
pub const SCHED_IDLE: u32 = 5;
pub const SCHED_DEADLINE: u32 = 6;

pub const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;
pub const SCHED_FLAG_RECLAIM: u64 = 0x02;
pub const SCHED_FLAG_DL_OVERRUN: u64 = 0x04;
pub const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;
pub const SCHED_FLAG_KEEP_PARAMS: u64 = 0x10;
pub const SCHED_FLAG_UTIL_CLAMP_MIN: u64 = 0x20;
pub const SCHED_FLAG_UTIL_CLAMP_MAX: u64 = 0x40;

/// struct sched_attr (SCHED_ATTR_SIZE_VER1, 56 bytes).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct SchedAttr {
    pub size: u32,
    pub sched_policy: u32,
    pub sched_flags: u64,
    pub sched_nice: i32,
    pub sched_priority: u32,
    pub sched_runtime: u64,
    pub sched_deadline: u64,
    pub sched_period: u64,
    pub sched_util_min: u32,
    pub sched_util_max: u32,
}

/// sched_setattr(0 (the calling thread), attr, 0).
pub fn sched_setattr_self(attr: &SchedAttr) -> io::Result<()> {
    let mut a = *attr;
    a.size = std::mem::size_of::<SchedAttr>() as u32;
    // SAFETY: `a` is a valid, initialised sched_attr of the size it declares.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::pid_t,
            &a as *const SchedAttr,
            0 as libc::c_uint,
        )
    })?;
    Ok(())
}

/// sched_getattr of the calling thread.
pub fn sched_getattr_self() -> io::Result<SchedAttr> {
    let mut a = SchedAttr::default();
    // SAFETY: the kernel writes at most `size` bytes into `a`.
    check(unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0 as libc::pid_t,
            &mut a as *mut SchedAttr,
            std::mem::size_of::<SchedAttr>() as libc::c_uint,
            0 as libc::c_uint,
        )
    })?;
    Ok(a)
}

pub const PER_LINUX: u64 = 0x0000;
pub const PER_LINUX32: u64 = 0x0008;
/// Query value for personality(2): returns the current persona unchanged.
pub const PER_QUERY: u64 = 0xffff_ffff;

/// personality(persona): returns the previous persona.
pub fn personality(persona: u64) -> io::Result<u64> {
    // SAFETY: plain integer argument.
    let r = check(unsafe { libc::syscall(libc::SYS_personality, persona as libc::c_ulong) })?;
    Ok(r as u64)
}

/// TIOCSPTLCK(0): unlock the pty slave (unlockpt).
pub fn pty_unlock(master: BorrowedFd<'_>) -> io::Result<()> {
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from the pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSPTLCK, &unlock) })?;
    Ok(())
}

/// TIOCGPTN: the pty's number N (its slave is /dev/pts/N).
pub fn pty_number(master: BorrowedFd<'_>) -> io::Result<u32> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through the pointer.
    check(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCGPTN, &mut n) })?;
    Ok(n)
}

/// TIOCGPTPEER: open the slave of this master without a path lookup.
pub fn pty_peer(master: BorrowedFd<'_>, flags: libc::c_int) -> io::Result<OwnedFd> {
    // TIOCGPTPEER = _IO('T', 0x41)
    const TIOCGPTPEER: libc::c_ulong = 0x5441;
    // SAFETY: TIOCGPTPEER takes the open flags by value and returns a new fd.
    super::owned_fd(unsafe { libc::ioctl(master.as_raw_fd(), TIOCGPTPEER, flags) })
}

/// TIOCSCTTY(0): make this terminal the controlling terminal of the session.
pub fn set_controlling_tty(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an int by value.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0 as libc::c_int) })?;
    Ok(())
}

/// TIOCGWINSZ.
pub fn get_winsize(fd: BorrowedFd<'_>) -> io::Result<libc::winsize> {
    // SAFETY: winsize is plain old data.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    // SAFETY: TIOCGWINSZ writes one winsize through the pointer.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) })?;
    Ok(ws)
}

/// TIOCSWINSZ.
pub fn set_winsize(fd: BorrowedFd<'_>, ws: &libc::winsize) -> io::Result<()> {
    // SAFETY: TIOCSWINSZ reads one winsize through the pointer.
    check(unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, ws as *const _) })?;
    Ok(())
}
