//! linux.seccomp: compiled with libseccomp, loaded as the last step before exec.
//!
//! Contract (called by `container::init` and `container::exec`):
//! - `compile` runs in the container's init before it reports "created", so every
//!   error (unknown syscall, action, arch, flag) surfaces at `create` time and names
//!   the JSON path, e.g. `linux.seccomp.syscalls[3].action`.
//! - `Filter::load` runs in `container::init::lock_down`, before "created" as in runc:
//!   after the privilege drop with noNewPrivileges, just before it without; it returns
//!   the notify listener fd when a rule uses SCMP_ACT_NOTIFY.
//! - `send_to_listener` hands that fd, with the OCI ContainerProcessState, to the agent
//!   at `linux.seccomp.listenerPath` (runc's protocol). `compile` already refused a
//!   NOTIFY rule without a listenerPath.
//! - Whatever runs between `load` and execve is filtered too: with a default-deny
//!   profile, every syscall made there (close_range, rt_sigprocmask, ...) must be in
//!   the profile (init still waits on the exec fifo and runs startContainer hooks).
//!
//! Semantics follow runc: syscall names libseccomp does not know are skipped (profiles
//! list syscalls newer than the library); a rule whose action equals the default action
//! is skipped; several conditions on the same argument index are OR-ed (one rule each),
//! otherwise a rule's conditions are AND-ed; SCMP_ACT_NOTIFY is refused as the default
//! action and for `write`; SECCOMP_FILTER_FLAG_TSYNC is accepted and ignored (init is
//! single-threaded); unless the default action is permissive, runc's ENOSYS stub makes
//! syscalls numbered above the profile's highest return ENOSYS (see `enosys_stub`).
//!
//! `compile` does all the libseccomp work (rule database and BPF generation) before
//! "created"; `load` is then a single seccomp(2) call. Loading the BPF ourselves also
//! lets us pass SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, which libseccomp < 2.6 cannot
//! set, and guarantees libseccomp never sets no_new_privs behind rt's back.
use crate::Result;
use anyhow::{anyhow, bail, Context};
use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag,
    LinuxSeccompOperator,
};
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Linux system calls have at most 6 arguments.
const MAX_ARGS: usize = 6;
/// BPF_MAXINSNS: the kernel refuses longer classic BPF programs.
const BPF_MAXINSNS: usize = 4096;
/// Rule count above which libseccomp's binary-tree layout is asked for (as runc does:
/// libseccomp <= 2.5.4 misbehaves with it on an empty rule set).
const OPTIMIZE_ABOVE: usize = 32;

/// A compiled filter: the BPF program and the seccomp(2) flags to load it with.
pub struct Filter {
    prog: Vec<libc::sock_filter>,
    flags: libc::c_ulong,
    notify: bool,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("instructions", &self.prog.len())
            .field("flags", &self.flags)
            .field("notify", &self.notify)
            .finish()
    }
}

/// The libseccomp action for an OCI action; `errno_ret` (at JSON path `path`) is the
/// errno for ERRNO and the message for TRACE, EPERM when absent (runc).
fn action(act: LinuxSeccompAction, errno_ret: Option<u32>, path: &str) -> Result<ScmpAction> {
    let ret = || -> Result<u16> {
        match errno_ret {
            None => Ok(libc::EPERM as u16),
            Some(v) => {
                u16::try_from(v).map_err(|_| anyhow!("{path}: {v} is out of range (0 to 65535)"))
            }
        }
    };
    Ok(match act {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(i32::from(ret()?)),
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(ret()?),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
    })
}

fn arch(a: Arch) -> ScmpArch {
    match a {
        Arch::ScmpArchNative => ScmpArch::Native,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchArm => ScmpArch::Arm,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchMips => ScmpArch::Mips,
        Arch::ScmpArchMips64 => ScmpArch::Mips64,
        Arch::ScmpArchMips64n32 => ScmpArch::Mips64N32,
        Arch::ScmpArchMipsel => ScmpArch::Mipsel,
        Arch::ScmpArchMipsel64 => ScmpArch::Mipsel64,
        Arch::ScmpArchMipsel64n32 => ScmpArch::Mipsel64N32,
        Arch::ScmpArchPpc => ScmpArch::Ppc,
        Arch::ScmpArchPpc64 => ScmpArch::Ppc64,
        Arch::ScmpArchPpc64le => ScmpArch::Ppc64Le,
        Arch::ScmpArchS390 => ScmpArch::S390,
        Arch::ScmpArchS390x => ScmpArch::S390X,
        Arch::ScmpArchParisc => ScmpArch::Parisc,
        Arch::ScmpArchParisc64 => ScmpArch::Parisc64,
        Arch::ScmpArchRiscv64 => ScmpArch::Riscv64,
        Arch::ScmpArchLoongarch64 => ScmpArch::Loongarch64,
        Arch::ScmpArchM68k => ScmpArch::M68k,
        Arch::ScmpArchSh => ScmpArch::Sh,
        Arch::ScmpArchSheb => ScmpArch::Sheb,
    }
}

/// The kernel's AUDIT_ARCH value for an architecture, with libseccomp's special x32
/// token (AUDIT_ARCH_X86_64 without __AUDIT_ARCH_64BIT); None where unknown here.
fn audit_arch(a: ScmpArch) -> Option<u32> {
    let oci = match a {
        ScmpArch::Native => return audit_arch(ScmpArch::native()),
        ScmpArch::X86 => Arch::ScmpArchX86,
        ScmpArch::X8664 => Arch::ScmpArchX86_64,
        ScmpArch::X32 => Arch::ScmpArchX32,
        ScmpArch::Arm => Arch::ScmpArchArm,
        ScmpArch::Aarch64 => Arch::ScmpArchAarch64,
        ScmpArch::Mips => Arch::ScmpArchMips,
        ScmpArch::Mips64 => Arch::ScmpArchMips64,
        ScmpArch::Mips64N32 => Arch::ScmpArchMips64n32,
        ScmpArch::Mipsel => Arch::ScmpArchMipsel,
        ScmpArch::Mipsel64 => Arch::ScmpArchMipsel64,
        ScmpArch::Mipsel64N32 => Arch::ScmpArchMipsel64n32,
        ScmpArch::Ppc => Arch::ScmpArchPpc,
        ScmpArch::Ppc64 => Arch::ScmpArchPpc64,
        ScmpArch::Ppc64Le => Arch::ScmpArchPpc64le,
        ScmpArch::S390 => Arch::ScmpArchS390,
        ScmpArch::S390X => Arch::ScmpArchS390x,
        ScmpArch::Parisc => Arch::ScmpArchParisc,
        ScmpArch::Parisc64 => Arch::ScmpArchParisc64,
        ScmpArch::Riscv64 => Arch::ScmpArchRiscv64,
        ScmpArch::Loongarch64 => Arch::ScmpArchLoongarch64,
        ScmpArch::M68k => Arch::ScmpArchM68k,
        ScmpArch::Sh => Arch::ScmpArchSh,
        ScmpArch::Sheb => Arch::ScmpArchSheb,
        _ => return None,
    };
    Some(oci as u32)
}

const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const SCMP_ARCH_X32: u32 = 0x4000_003e;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

fn insn(code: u32, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// runc's ENOSYS stub, put in front of libseccomp's program: for each architecture of
/// the filter, a syscall numbered above the highest one the profile names returns
/// ENOSYS instead of the default action. Such a syscall is newer than the profile (or
/// than libseccomp), and ENOSYS lets libc fall back to an older one (clone3 -> clone,
/// fchmodat2 -> fchmodat) where EPERM would make it fail.
/// `max` holds (arch token, highest syscall number); returns no stub when empty.
fn enosys_stub(max: &[(u32, u32)]) -> Vec<libc::sock_filter> {
    use libc::{
        BPF_ABS, BPF_JA, BPF_JEQ, BPF_JGT, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W,
    };
    const LD_NR: u32 = 0; // offsetof(struct seccomp_data, nr)
    const LD_ARCH: u32 = 4; // offsetof(struct seccomp_data, arch)
    let find = |t: u32| max.iter().find(|(a, _)| *a == t).map(|(_, m)| *m);
    // One block per audit arch; x86_64 and x32 share AUDIT_ARCH_X86_64.
    enum Block {
        Plain(u32, u32),
        X86_64(Option<u32>, Option<u32>),
    }
    let mut blocks: Vec<Block> = Vec::new();
    if find(AUDIT_ARCH_X86_64).is_some() || find(SCMP_ARCH_X32).is_some() {
        blocks.push(Block::X86_64(find(AUDIT_ARCH_X86_64), find(SCMP_ARCH_X32)));
    }
    for &(a, m) in max {
        if a != AUDIT_ARCH_X86_64 && a != SCMP_ARCH_X32 {
            blocks.push(Block::Plain(a, m));
        }
    }
    let len = |b: &Block| match b {
        Block::Plain(..) => 3,
        Block::X86_64(..) => 5,
    };
    let body: usize = blocks.iter().map(len).sum();
    // Layout: ld arch; blocks; ja cont; enosys: ret; cont: libseccomp's program.
    if blocks.is_empty() || body + 3 > 250 {
        return Vec::new();
    }
    let enosys = 2 + body; // index of the ret
    let cont = enosys + 1;
    let mut p = Vec::with_capacity(cont);
    p.push(insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, LD_ARCH));
    // Relative offset from the instruction about to be pushed to `target`.
    let rel = |p: &Vec<libc::sock_filter>, target: usize| (target - p.len() - 1) as u8;
    let jgt = |p: &Vec<libc::sock_filter>, m: Option<u32>| match m {
        Some(m) => insn(BPF_JMP | BPF_JGT | BPF_K, rel(p, enosys), rel(p, cont), m),
        None => insn(BPF_JMP | BPF_JA, 0, 0, u32::from(rel(p, cont))),
    };
    for b in &blocks {
        match *b {
            Block::Plain(a, m) => {
                p.push(insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 2, a));
                p.push(insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, LD_NR));
                let i = jgt(&p, Some(m));
                p.push(i);
            }
            Block::X86_64(m64, m32) => {
                p.push(insn(BPF_JMP | BPF_JEQ | BPF_K, 0, 4, AUDIT_ARCH_X86_64));
                p.push(insn(BPF_LD | BPF_W | BPF_ABS, 0, 0, LD_NR));
                p.push(insn(BPF_JMP | BPF_JSET | BPF_K, 0, 1, X32_SYSCALL_BIT));
                let i = jgt(&p, m32);
                p.push(i);
                let i = jgt(&p, m64);
                p.push(i);
            }
        }
    }
    p.push(insn(BPF_JMP | BPF_JA, 0, 0, 1));
    p.push(insn(
        BPF_RET | BPF_K,
        0,
        0,
        libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
    ));
    p
}

/// The JSON spelling of an enum value oci-spec parsed (for error messages).
fn json_name<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

fn condition(arg: &LinuxSeccompArg, path: &str) -> Result<ScmpArgCompare> {
    let index = arg.index();
    if index >= MAX_ARGS {
        bail!("{path}.index: {index} is out of range (a syscall has arguments 0 to 5)");
    }
    let op = match arg.op() {
        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
        // OCI: `value` is the mask, `valueTwo` the value the masked argument must equal.
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return Ok(ScmpArgCompare::new(
                index as u32,
                ScmpCompareOp::MaskedEqual(arg.value()),
                arg.value_two().unwrap_or(0),
            ))
        }
    };
    Ok(ScmpArgCompare::new(index as u32, op, arg.value()))
}

/// Builds the filter described by `linux.seccomp` and generates its BPF program.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Filter> {
    const P: &str = "linux.seccomp";
    let default = action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        "linux.seccomp.defaultErrnoRet",
    )?;
    if default == ScmpAction::Notify {
        // The listener fd is only handed out after the load; with every syscall waiting
        // on a listener nobody holds yet, the container could never start.
        bail!("{P}.defaultAction: SCMP_ACT_NOTIFY cannot be used as the default action");
    }
    let mut ctx = ScmpFilterContext::new(default)
        .map_err(|e| anyhow!("{P}.defaultAction: creating the libseccomp filter: {e}"))?;
    // rt sets no_new_privs itself when process.noNewPrivileges asks for it. (We load the
    // BPF ourselves, but keep libseccomp's own attribute honest too.)
    ctx.set_ctl_nnp(false)
        .map_err(|e| anyhow!("{P}: clearing libseccomp's no_new_privs attribute: {e}"))?;

    // (arch, token, highest syscall number the profile names) for the ENOSYS stub.
    let native = ScmpArch::native();
    let mut archs: Vec<(ScmpArch, u32, Option<u32>)> = Vec::with_capacity(4);
    if let Some(t) = audit_arch(native) {
        archs.push((native, t, None));
    }
    for (i, a) in seccomp.architectures().iter().flatten().enumerate() {
        let scmp = arch(*a);
        if let Some(t) = audit_arch(scmp) {
            if !archs.iter().any(|x| x.1 == t) {
                archs.push((scmp, t, None));
            }
        }
        let present = ctx.is_arch_present(scmp).unwrap_or(false);
        if !present {
            ctx.add_arch(scmp).map_err(|e| {
                anyhow!(
                    "{P}.architectures[{i}]: {} is not supported by libseccomp {}: {e}",
                    json_name(a),
                    lib_version()
                )
            })?;
        }
    }

    let mut flags: libc::c_ulong = 0;
    let mut wait_killable = false;
    for f in seccomp.flags().iter().flatten() {
        match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => flags |= libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => {
                flags |= libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW
            }
            // Only meaningful (and only accepted by the kernel) with a notify listener.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => wait_killable = true,
            // init is single-threaded when it loads the filter.
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => {}
        }
    }

    let syscalls = seccomp.syscalls().as_deref().unwrap_or_default();
    if syscalls.len() > OPTIMIZE_ABOVE {
        // Not fatal: only a faster filter layout.
        let _ = ctx.set_ctl_optimize(2);
    }

    // runc: no stub where the default action lets syscalls through (TRACE counts: a
    // tracer handles new syscalls itself) or already is ENOSYS.
    let stub = !matches!(
        default,
        ScmpAction::Allow
            | ScmpAction::Log
            | ScmpAction::Trace(_)
            | ScmpAction::Errno(libc::ENOSYS)
    );
    let mut notify = false;
    let mut conds: Vec<ScmpArgCompare> = Vec::with_capacity(MAX_ARGS);
    for (i, rule) in syscalls.iter().enumerate() {
        let act = action(
            rule.action(),
            rule.errno_ret(),
            &format!("{P}.syscalls[{i}].errnoRet"),
        )?;
        if act == ScmpAction::Notify {
            if let Some(k) = rule.names().iter().position(|n| n == "write") {
                // init reports the listener fd after the load; a notifying write would
                // block forever.
                bail!("{P}.syscalls[{i}].names[{k}]: SCMP_ACT_NOTIFY cannot be used for the write syscall");
            }
        }
        // libseccomp rejects a rule whose action is the default action: it is redundant.
        // (Its names still count for the ENOSYS stub: the profile knows them.)
        let redundant = act == default;
        if redundant && !stub {
            continue;
        }

        conds.clear();
        let mut per_index = [0u8; MAX_ARGS];
        let args = if redundant {
            None
        } else {
            rule.args().as_ref()
        };
        for (j, arg) in args.into_iter().flatten().enumerate() {
            let c = condition(arg, &format!("{P}.syscalls[{i}].args[{j}]"))?;
            per_index[arg.index()] = per_index[arg.index()].saturating_add(1);
            conds.push(c);
        }
        // runc: several conditions on one argument are alternatives (one rule each),
        // otherwise the conditions all have to hold (one rule).
        let or_conditions = per_index.iter().any(|&n| n > 1);

        for (k, name) in rule.names().iter().enumerate() {
            let Ok(nr) = ScmpSyscall::from_name(name) else {
                crate::logging::debug(&format!(
                    "{P}.syscalls[{i}].names[{k}]: syscall {name:?} unknown to libseccomp, skipped"
                ));
                continue;
            };
            if stub {
                for (a, _, max) in archs.iter_mut() {
                    let n = if *a == native {
                        nr
                    } else {
                        match ScmpSyscall::from_name_by_arch(name, *a) {
                            Ok(n) => n,
                            Err(_) => continue,
                        }
                    };
                    if let Ok(n) = u32::try_from(n.as_raw_syscall()) {
                        *max = Some(max.map_or(n, |m| m.max(n)));
                    }
                }
            }
            if redundant {
                continue;
            }
            let added = if conds.is_empty() {
                ctx.add_rule(act, nr)
            } else if or_conditions {
                conds
                    .iter()
                    .try_for_each(|c| ctx.add_rule_conditional(act, nr, &[*c]).map(drop))
                    .map(|()| &mut ctx)
            } else {
                ctx.add_rule_conditional(act, nr, &conds)
            };
            added.map_err(|e| {
                anyhow!(
                    "{P}.syscalls[{i}].names[{k}]: adding the {} rule for {name:?}: {e}",
                    json_name(&rule.action())
                )
            })?;
            notify |= act == ScmpAction::Notify;
        }
    }

    if notify {
        if seccomp
            .listener_path()
            .as_ref()
            .is_none_or(|p| p.as_os_str().is_empty())
        {
            bail!("{P}.listenerPath: must be set when a rule uses SCMP_ACT_NOTIFY");
        }
        flags |= libc::SECCOMP_FILTER_FLAG_NEW_LISTENER;
        if wait_killable {
            flags |= libc::SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
        }
    }
    let max: Vec<(u32, u32)> = archs
        .iter()
        .filter_map(|&(_, t, m)| m.map(|m| (t, m)))
        .collect();
    let mut prog = enosys_stub(&max);
    prog.extend(export_bpf(&ctx)?);
    if prog.len() > BPF_MAXINSNS {
        bail!(
            "{P}: the filter compiles to {} BPF instructions, more than the kernel's limit of {BPF_MAXINSNS}",
            prog.len()
        );
    }
    Ok(Filter {
        prog,
        flags,
        notify,
    })
}

fn lib_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_else(|_| "?".to_owned())
}

/// The BPF program libseccomp would load (seccomp_export_bpf into a memfd).
fn export_bpf(ctx: &ScmpFilterContext) -> Result<Vec<libc::sock_filter>> {
    let memfd = nix::sys::memfd::memfd_create(
        c"rt-seccomp-bpf",
        nix::sys::memfd::MemFdCreateFlag::MFD_CLOEXEC,
    )
    .context("linux.seccomp: memfd_create for the BPF program")?;
    ctx.export_bpf(&memfd)
        .map_err(|e| anyhow!("linux.seccomp: generating the BPF program: {e}"))?;
    let mut file = std::fs::File::from(memfd);
    let mut bytes = Vec::with_capacity(8 * 512);
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.read_to_end(&mut bytes))
        .context("linux.seccomp: reading back the BPF program")?;
    const INSN: usize = std::mem::size_of::<libc::sock_filter>();
    if bytes.len() % INSN != 0 {
        bail!(
            "linux.seccomp: libseccomp produced {} bytes, not whole BPF instructions",
            bytes.len()
        );
    }
    Ok(bytes
        .chunks_exact(INSN)
        .map(|c| libc::sock_filter {
            code: u16::from_ne_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect())
}

impl Filter {
    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.prog.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prog.is_empty()
    }

    /// Whether a rule uses SCMP_ACT_NOTIFY (`load` then returns the listener fd).
    pub fn uses_notify(&self) -> bool {
        self.notify
    }

    /// Installs the filter on the calling thread. Without no_new_privs this needs
    /// CAP_SYS_ADMIN (so it must run before the privilege drop). Returns the notify
    /// listener fd when the filter uses SCMP_ACT_NOTIFY.
    pub fn load(self) -> Result<Option<OwnedFd>> {
        let fd = crate::sys::seccomp::set_mode_filter(&self.prog, self.flags).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EACCES) {
                " (without no_new_privs, loading needs CAP_SYS_ADMIN)"
            } else {
                ""
            };
            anyhow!("linux.seccomp: loading the filter: {e}{hint}")
        })?;
        if self.notify {
            // SAFETY: with SECCOMP_FILTER_FLAG_NEW_LISTENER seccomp(2) returns a new fd
            // that nothing else owns.
            Ok(Some(unsafe { OwnedFd::from_raw_fd(fd) }))
        } else {
            Ok(None)
        }
    }
}

/// Hands the notify listener fd to the seccomp agent at `linux.seccomp.listenerPath`,
/// as runc does: connect to the unix socket and send one message whose payload is the
/// OCI `ContainerProcessState` JSON (`fds: ["seccompFd"]`, `pid`, `metadata` =
/// listenerMetadata, `state` = the container's state JSON, e.g. with status "creating"
/// for init, "running" for exec) and whose SCM_RIGHTS carries `fd`.
pub fn send_to_listener(
    seccomp: &LinuxSeccomp,
    fd: BorrowedFd<'_>,
    pid: i32,
    state: &serde_json::Value,
) -> Result<()> {
    use nix::sys::socket::{
        connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType,
        UnixAddr,
    };
    const P: &str = "linux.seccomp.listenerPath";
    let path = seccomp
        .listener_path()
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| anyhow!("{P}: not set, but the filter has a notify listener"))?;
    let version = state
        .get("ociVersion")
        .cloned()
        .unwrap_or_else(|| serde_json::Value::from(oci_spec::runtime::VERSION));
    let mut msg = serde_json::json!({
        "ociVersion": version,
        "fds": [oci_spec::runtime::SECCOMP_FD_NAME],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = seccomp.listener_metadata() {
        msg["metadata"] = serde_json::Value::from(m.as_str());
    }
    let payload = serde_json::to_vec(&msg)?;
    let sock = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(|e| anyhow!("{P}: socket: {e}"))?;
    let addr =
        UnixAddr::new(path.as_path()).map_err(|e| anyhow!("{P}: {}: {e}", path.display()))?;
    connect(sock.as_raw_fd(), &addr).map_err(|e| {
        anyhow!(
            "{P}: connecting to the seccomp agent at {}: {e}",
            path.display()
        )
    })?;
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(&payload)];
    let sent = sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)
        .map_err(|e| anyhow!("{P}: sending the listener fd to {}: {e}", path.display()))?;
    if sent != payload.len() {
        bail!(
            "{P}: sending the listener fd to {}: short write ({sent} of {} bytes)",
            path.display(),
            payload.len()
        );
    }
    Ok(())
}

/// Fork helper shared by the seccomp and capabilities unit tests.
#[cfg(test)]
pub(crate) mod testutil {
    use nix::fcntl::OFlag;
    use nix::sys::wait::{waitpid, WaitStatus};
    use nix::unistd::{fork, pipe2, ForkResult};
    use std::io::{Read, Write};

    /// Runs `f` in a forked child. The child exits 0 on Ok, 1 on Err (the message comes
    /// back), 2 on panic. Returns the child's wait status and message.
    pub fn in_child(f: impl FnOnce() -> Result<(), String>) -> (WaitStatus, String) {
        let (r, w) = pipe2(OFlag::O_CLOEXEC).unwrap();
        // SAFETY: the child only runs `f` and then _exits.
        match unsafe { fork() }.unwrap() {
            ForkResult::Child => {
                drop(r);
                let code = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
                    Ok(Ok(())) => 0,
                    Ok(Err(msg)) => {
                        let _ = std::fs::File::from(w).write_all(msg.as_bytes());
                        1
                    }
                    Err(_) => 2,
                };
                // SAFETY: leaving the forked child without running the parent's atexit.
                unsafe { libc::_exit(code) }
            }
            ForkResult::Parent { child } => {
                drop(w);
                let mut msg = String::new();
                let _ = std::fs::File::from(r).read_to_string(&mut msg);
                (waitpid(child, None).unwrap(), msg)
            }
        }
    }

    /// Asserts the child exited 0, showing its message otherwise.
    pub fn assert_ok(res: (WaitStatus, String)) {
        assert!(
            matches!(res.0, WaitStatus::Exited(_, 0)),
            "child: {:?}: {}",
            res.0,
            res.1
        );
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{assert_ok, in_child};
    use super::*;
    use nix::sys::signal::Signal;
    use nix::sys::wait::WaitStatus;
    use serde_json::json;
    use std::os::fd::AsFd;

    fn spec(v: serde_json::Value) -> LinuxSeccomp {
        serde_json::from_value(v).unwrap()
    }

    fn compiled(v: serde_json::Value) -> Filter {
        compile(&spec(v)).unwrap()
    }

    fn compile_err(v: serde_json::Value) -> String {
        format!("{:#}", compile(&spec(v)).unwrap_err())
    }

    /// errno of a raw syscall, 0 when it succeeded.
    fn sys_errno(nr: libc::c_long, a: libc::c_long, b: libc::c_long) -> i32 {
        // SAFETY: syscalls with integer arguments only (or a NULL buffer).
        let r = unsafe { libc::syscall(nr, a, b) };
        if r < 0 {
            std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
        } else {
            0
        }
    }

    fn expect(what: &str, got: i32, want: i32) -> Result<(), String> {
        if got == want {
            Ok(())
        } else {
            Err(format!("{what}: errno {got}, want {want}"))
        }
    }

    #[test]
    fn errno_ret_is_returned() {
        let f = compiled(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                {"names": ["uname"], "action": "SCMP_ACT_ERRNO"}
            ]
        }));
        assert_ok(in_child(|| {
            f.load().map_err(|e| e.to_string())?;
            let mut buf = [0u8; 256];
            // SAFETY: valid buffer.
            let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
            let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
            expect("getcwd", if p.is_null() { e } else { 0 }, 38)?;
            expect("uname", sys_errno(libc::SYS_uname, 0, 0), libc::EPERM)?;
            expect("getpid", sys_errno(libc::SYS_getpid, 0, 0), 0)
        }));
    }

    #[test]
    fn seccomp_mode_is_filter_and_no_new_privs_untouched() {
        let f = compiled(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                      "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]
        }));
        assert_ok(in_child(|| {
            f.load().map_err(|e| e.to_string())?;
            let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
            let field = |k: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(k))
                    .map(str::trim)
                    .unwrap_or("")
                    .to_owned()
            };
            if field("Seccomp:") != "2" || field("NoNewPrivs:") != "0" {
                return Err(format!(
                    "Seccomp {:?} NoNewPrivs {:?}",
                    field("Seccomp:"),
                    field("NoNewPrivs:")
                ));
            }
            Ok(())
        }));
    }

    #[test]
    fn args_conditions() {
        let f = compiled(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                // two conditions on arg 0: either matches (runc's OR)
                {"names": ["umask"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                          {"index": 0, "value": 2, "op": "SCMP_CMP_EQ"}]},
                // conditions on different args: all must match (AND)
                {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 39,
                 "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"},
                          {"index": 1, "value": 12345, "op": "SCMP_CMP_EQ"}]},
                // masked: (arg0 & 0xf0) == 0x30
                {"names": ["setpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 40,
                 "args": [{"index": 0, "value": 240, "valueTwo": 48, "op": "SCMP_CMP_MASKED_EQ"}]},
                {"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 41,
                 "args": [{"index": 0, "value": 1000000, "op": "SCMP_CMP_GT"}]},
                {"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42,
                 "args": [{"index": 0, "value": 5, "op": "SCMP_CMP_NE"}]}
            ]
        }));
        assert_ok(in_child(|| {
            f.load().map_err(|e| e.to_string())?;
            expect("umask(1)", sys_errno(libc::SYS_umask, 1, 0), 38)?;
            expect("umask(2)", sys_errno(libc::SYS_umask, 2, 0), 38)?;
            expect("umask(3)", sys_errno(libc::SYS_umask, 3, 0), 0)?;
            expect(
                "getpriority(0,12345)",
                sys_errno(libc::SYS_getpriority, 0, 12345),
                39,
            )?;
            expect(
                "getpriority(0,0)",
                sys_errno(libc::SYS_getpriority, 0, 0),
                0,
            )?;
            if sys_errno(libc::SYS_getpriority, 1, 12345) == 39 {
                return Err("getpriority(1,12345) filtered".into());
            }
            expect("setpgid(0x35)", sys_errno(libc::SYS_setpgid, 0x35, 0), 40)?;
            expect(
                "getpgid(2000000)",
                sys_errno(libc::SYS_getpgid, 2_000_000, 0),
                41,
            )?;
            expect("getpgid(0)", sys_errno(libc::SYS_getpgid, 0, 0), 0)?;
            expect("getsid(0)", sys_errno(libc::SYS_getsid, 0, 0), 42)?;
            match sys_errno(libc::SYS_getsid, 5, 0) {
                42 => Err("getsid(5) filtered".into()),
                _ => Ok(()),
            }
        }));
    }

    #[test]
    fn default_errno_with_allow_list() {
        let f = compiled(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["exit", "exit_group", "write", "getpid", "rt_sigreturn",
                           "no_such_syscall_rt_test", "_llseek", "socketcall"],
                 "action": "SCMP_ACT_ALLOW"},
                // same action as the default: skipped, not an error
                {"names": ["getppid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
            ]
        }));
        assert_ok(in_child(|| {
            f.load().map_err(|e| e.to_string())?;
            expect("getpid", sys_errno(libc::SYS_getpid, 0, 0), 0)?;
            expect("getppid", sys_errno(libc::SYS_getppid, 0, 0), 38)?;
            expect("getuid", sys_errno(libc::SYS_getuid, 0, 0), 38)
        }));
    }

    #[test]
    fn other_arch_and_unknown_names_are_skipped() {
        // Names of other architectures' syscalls (negative pseudo numbers for the native
        // arch) and names libseccomp has never heard of.
        let f = compiled(json!({
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {"names": ["socketcall", "_llseek", "arm_fadvise64_64", "ipc", "no_such_call",
                           "exit_group", "getpid"],
                 "action": "SCMP_ACT_ALLOW"},
                {"names": ["bogus_call_one"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38,
                 "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}]}
            ]
        }));
        assert_ok(in_child(|| {
            f.load().map_err(|e| e.to_string())?;
            expect("getpid", sys_errno(libc::SYS_getpid, 0, 0), 0)?;
            expect("getuid", sys_errno(libc::SYS_getuid, 0, 0), libc::EPERM)
        }));
    }

    #[test]
    fn syscalls_newer_than_the_profile_get_enosys() {
        for archs in [
            json!([]),
            json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        ] {
            let f = compiled(json!({
                "defaultAction": "SCMP_ACT_ERRNO",
                "defaultErrnoRet": 1,
                "architectures": archs,
                "syscalls": [
                    {"names": ["exit", "exit_group", "write", "getpid"], "action": "SCMP_ACT_ALLOW"},
                    // same action as the default: skipped, but still the profile's highest
                    {"names": ["pidfd_getfd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
                ]
            }));
            assert_ok(in_child(|| {
                f.load().map_err(|e| e.to_string())?;
                expect("getpid", sys_errno(libc::SYS_getpid, 0, 0), 0)?;
                expect("getuid", sys_errno(libc::SYS_getuid, 0, 0), libc::EPERM)?;
                expect(
                    "pidfd_getfd",
                    sys_errno(libc::SYS_pidfd_getfd, -1, -1),
                    libc::EPERM,
                )?;
                expect("syscall 460", sys_errno(460, 0, 0), libc::ENOSYS)?;
                expect("syscall 1000", sys_errno(1000, 0, 0), libc::ENOSYS)
            }));
        }
    }

    #[test]
    fn no_enosys_stub_for_permissive_defaults() {
        for default in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"] {
            let f = compiled(json!({"defaultAction": default,
                "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}));
            let g = compiled(json!({"defaultAction": "SCMP_ACT_ERRNO",
                "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ALLOW"}]}));
            assert!(f.len() < g.len(), "{f:?} {g:?}");
        }
    }

    #[test]
    fn kill_process_and_trap_give_sigsys() {
        for act in ["SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL", "SCMP_ACT_TRAP"] {
            let f = compiled(json!({
                "defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["getppid"], "action": act}]
            }));
            let (st, msg) = in_child(|| {
                f.load().map_err(|e| e.to_string())?;
                sys_errno(libc::SYS_getppid, 0, 0);
                Err("getppid returned".into())
            });
            assert!(
                matches!(st, WaitStatus::Signaled(_, Signal::SIGSYS, _)),
                "{act}: {st:?} {msg}"
            );
        }
    }

    #[test]
    fn notify_returns_listener_fd() {
        let f = compiled(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": ["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"},
                         {"names": ["getcwd"], "action": "SCMP_ACT_LOG"}]
        }));
        assert!(f.uses_notify());
        assert_ok(in_child(|| {
            let fd = f
                .load()
                .map_err(|e| e.to_string())?
                .ok_or("no listener fd")?;
            let link = std::fs::read_link(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&fd)
            ))
            .map_err(|e| e.to_string())?;
            if !link.to_string_lossy().contains("seccomp notify") {
                return Err(format!("listener fd is {link:?}"));
            }
            Ok(())
        }));
        let f = compiled(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]
        }));
        assert!(!f.uses_notify());
        assert_ok(in_child(|| match f.load() {
            Ok(None) => Ok(()),
            other => Err(format!("{other:?}")),
        }));
    }

    #[test]
    fn notify_needs_a_listener_path() {
        let e = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert!(e.starts_with("linux.seccomp.listenerPath: "), "{e}");
    }

    /// The whole notify path: the child loads a NOTIFY filter, hands the listener to an
    /// agent (this test) over listenerPath, and its getppid gets the agent's answer.
    #[test]
    fn notify_agent_answers_through_listener_path() {
        use libseccomp::{ScmpNotifReq, ScmpNotifResp, ScmpNotifRespFlags};
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
        use std::os::unix::net::UnixListener;

        let dir = std::env::temp_dir().join(format!("rt-seccomp-agent-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("agent.sock");
        let listener = UnixListener::bind(&sock).unwrap();
        let cfg = spec(json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": sock,
            "listenerMetadata": "rt-test-meta",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}]
        }));
        let f = compile(&cfg).unwrap();
        let state = json!({"ociVersion": "1.0.2", "id": "c1", "status": "creating",
                           "pid": 1, "bundle": "/b"});

        let agent = std::thread::spawn(move || -> Result<(serde_json::Value, u64), String> {
            listener.set_nonblocking(true).map_err(|e| e.to_string())?;
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            let conn = loop {
                match listener.accept() {
                    Ok((c, _)) => break c,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(std::time::Duration::from_millis(5))
                    }
                    Err(e) => return Err(format!("accept: {e}")),
                }
            };
            conn.set_nonblocking(false).map_err(|e| e.to_string())?;
            let mut buf = vec![0u8; 4096];
            let mut cbuf = nix::cmsg_space!([std::os::fd::RawFd; 1]);
            let (n, fd) = {
                let mut iov = [std::io::IoSliceMut::new(&mut buf)];
                let m = recvmsg::<UnixAddr>(
                    conn.as_raw_fd(),
                    &mut iov,
                    Some(&mut cbuf),
                    MsgFlags::empty(),
                )
                .map_err(|e| e.to_string())?;
                let fd = m.cmsgs().map_err(|e| e.to_string())?.find_map(|c| match c {
                    ControlMessageOwned::ScmRights(f) => f.first().copied(),
                    _ => None,
                });
                (m.bytes, fd.ok_or("no fd")?)
            };
            let msg: serde_json::Value =
                serde_json::from_slice(&buf[..n]).map_err(|e| e.to_string())?;
            let req = ScmpNotifReq::receive(fd).map_err(|e| e.to_string())?;
            let nr = req.data.syscall.get_name().map_err(|e| e.to_string())?;
            if nr != "getppid" {
                return Err(format!("notified of {nr}"));
            }
            ScmpNotifResp::new_error(req.id, -77, ScmpNotifRespFlags::empty())
                .respond(fd)
                .map_err(|e| e.to_string())?;
            Ok((msg, u64::from(req.pid)))
        });

        let res = in_child(|| {
            let fd = f
                .load()
                .map_err(|e| e.to_string())?
                .ok_or("no listener fd")?;
            // SAFETY: getpid has no arguments.
            let pid = unsafe { libc::getpid() };
            send_to_listener(&cfg, fd.as_fd(), pid, &state).map_err(|e| format!("{e:#}"))?;
            drop(fd);
            expect("getppid", sys_errno(libc::SYS_getppid, 0, 0), 77)
        });
        let agent = agent.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert_ok(res);
        let (msg, pid) = agent.unwrap();
        assert_eq!(msg["fds"], json!(["seccompFd"]), "{msg}");
        assert_eq!(msg["metadata"], "rt-test-meta", "{msg}");
        assert_eq!(msg["state"]["id"], "c1", "{msg}");
        assert_eq!(msg["ociVersion"], "1.0.2", "{msg}");
        assert_eq!(msg["pid"].as_u64(), Some(pid), "{msg}");
    }

    #[test]
    fn load_without_nnp_and_cap_sys_admin_explains() {
        let f = compiled(json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_ERRNO"}]}));
        assert_ok(in_child(|| {
            let mut c = crate::sys::seccomp::capget().map_err(|e| e.to_string())?;
            c.effective &= !(1 << 21); // CAP_SYS_ADMIN
            crate::sys::seccomp::capset(c).map_err(|e| e.to_string())?;
            match f.load() {
                Err(e) if e.to_string().contains("CAP_SYS_ADMIN") => Ok(()),
                other => Err(format!("{other:?}")),
            }
        }));
    }

    #[test]
    fn errors_name_the_json_path() {
        let e = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["umask"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}));
        assert!(
            e.starts_with("linux.seccomp.syscalls[1].args[0].index: "),
            "{e}"
        );

        let e = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}]}));
        assert!(e.starts_with("linux.seccomp.syscalls[0].errnoRet: "), "{e}");

        let e = compile_err(json!({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 65536}));
        assert!(e.starts_with("linux.seccomp.defaultErrnoRet: "), "{e}");

        let e = compile_err(json!({"defaultAction": "SCMP_ACT_NOTIFY"}));
        assert!(e.starts_with("linux.seccomp.defaultAction: "), "{e}");

        let e = compile_err(json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert!(e.starts_with("linux.seccomp.syscalls[0].names[1]: "), "{e}");
    }

    #[test]
    fn unsupported_architecture_names_its_index() {
        // libseccomp 2.5 lacks these; with a newer library the filter just compiles.
        for a in ["SCMP_ARCH_LOONGARCH64", "SCMP_ARCH_M68K", "SCMP_ARCH_SH"] {
            if let Err(e) = compile(&spec(json!({"defaultAction": "SCMP_ACT_ALLOW",
                "architectures": ["SCMP_ARCH_X86", a]})))
            {
                let e = format!("{e:#}");
                assert!(e.starts_with("linux.seccomp.architectures[1]: "), "{e}");
            }
        }
    }

    #[test]
    fn oci_spec_rejects_unknown_enum_strings() {
        // What never reaches compile: serde refuses it, with the path in the error.
        for (v, path) in [
            (json!({"defaultAction": "SCMP_ACT_NOPE"}), "defaultAction"),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["x"], "action": "SCMP_ACT_BOGUS"}]}),
                "syscalls[0].action",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["x"],
                       "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 0, "op": "SCMP_CMP_XX"}]}]}),
                "syscalls[0].args[0].op",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_VAX"]}),
                "architectures[0]",
            ),
            (
                json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}),
                "flags[0]",
            ),
        ] {
            let s = v.to_string();
            let de = &mut serde_json::Deserializer::from_str(&s);
            let err = serde_path_to_error::deserialize::<_, LinuxSeccomp>(de).unwrap_err();
            assert_eq!(err.path().to_string(), path, "{err}");
        }
    }

    #[test]
    fn large_profile_compiles_fast() {
        // ~300 names, like Docker's default profile.
        let names: Vec<String> = (0..330)
            .filter_map(|nr| ScmpSyscall::from(nr).get_name().ok())
            .collect();
        let chunks: Vec<_> = names
            .chunks(20)
            .map(|c| json!({"names": c, "action": "SCMP_ACT_ALLOW"}))
            .collect();
        let v = json!({"defaultAction": "SCMP_ACT_ERRNO",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": chunks});
        let s = spec(v);
        let t = std::time::Instant::now();
        let f = compile(&s).unwrap();
        let took = t.elapsed();
        eprintln!("{} names -> {} insns in {took:?}", names.len(), f.len());
        assert!(!f.is_empty());
        assert!(f.len() <= BPF_MAXINSNS);
    }
}

/// libseccomp's version, for `--version` and `features`.
pub fn library_version() -> String {
    libseccomp::ScmpVersion::current()
        .map(|v| format!("{}.{}.{}", v.major, v.minor, v.micro))
        .unwrap_or_default()
}
