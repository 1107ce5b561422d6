//! bpf(2) for the cgroup v2 device controller: load a BPF_PROG_TYPE_CGROUP_DEVICE
//! program and attach it to a cgroup directory.
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Several programs may be attached to one cgroup (all must allow).
pub const BPF_F_ALLOW_MULTI: u32 = 2;

/// The prefix of `union bpf_attr` that BPF_PROG_LOAD reads.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The prefix of `union bpf_attr` that BPF_PROG_ATTACH reads.
#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// Load a cgroup device program (`insns`: raw 8-byte BPF instructions). On failure the
/// verifier's log, if any, is appended to the error text.
pub fn bpf_load_device_prog(insns: &[u64]) -> std::io::Result<OwnedFd> {
    let license = b"Apache\0";
    let mut log = vec![0u8; 16 * 1024];
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    attr.prog_name[..6].copy_from_slice(b"rt_dev");
    // SAFETY: attr points at valid memory of the given size; the kernel reads `insns`
    // (insn_cnt * 8 bytes) and `license`, and writes at most log_size bytes to `log`,
    // all of which outlive the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &mut attr as *mut ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if ret < 0 {
        let e = std::io::Error::last_os_error();
        let end = log.iter().position(|&b| b == 0).unwrap_or(0);
        if end == 0 {
            return Err(e);
        }
        let text = String::from_utf8_lossy(&log[..end]);
        return Err(std::io::Error::new(
            e.kind(),
            format!("{e}: {}", text.trim()),
        ));
    }
    // SAFETY: the kernel returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}

/// Attach a loaded device program to the cgroup open at `cgroup`.
pub fn bpf_attach_device_prog(
    cgroup: BorrowedFd,
    prog: BorrowedFd,
    flags: u32,
) -> std::io::Result<()> {
    let mut attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: flags,
        replace_bpf_fd: 0,
    };
    // SAFETY: attr is valid for the call; both fds are open.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &mut attr as *mut ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    super::check(ret).map(drop)
}

/// eventfd(0, EFD_CLOEXEC).
pub fn eventfd() -> std::io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    super::owned_fd(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) })
}

/// An inotify fd watching `path` for IN_MODIFY.
pub fn inotify_modify(path: &std::path::Path) -> std::io::Result<OwnedFd> {
    let p = super::cstr(path)?;
    // SAFETY: plain syscall; the result is checked.
    let fd = super::owned_fd(unsafe { libc::inotify_init1(libc::IN_CLOEXEC) })?;
    // SAFETY: valid fd and C string.
    super::check(unsafe { libc::inotify_add_watch(fd.as_raw_fd(), p.as_ptr(), libc::IN_MODIFY) })?;
    Ok(fd)
}

/// Consume what a readable eventfd or inotify fd holds (one read: poll said it is
/// readable, so it does not block).
pub fn drain(fd: std::os::fd::BorrowedFd) {
    let mut buf = [0u8; 4096];
    let _ = nix::unistd::read(fd.as_raw_fd(), &mut buf);
}
