//! Process attributes: process.user (uid, gid, additionalGids, umask), env, cwd, rlimits,
//! oomScoreAdj, ioPriority, scheduler, linux.personality, noNewPrivileges,
//! apparmorProfile, selinuxLabel; and finding args[0] on PATH.
//!
//! Contract (called by `container::init` and `container::exec`, each returns an error
//! naming the JSON path it applies):
//! - `set_rlimits` (on EPERM the error says root lacks CAP_SYS_RESOURCE above the hard limit),
//! - `set_oom_score_adj`, `set_io_priority`, `set_scheduler`, `set_personality`,
//! - `set_lsm_labels` (a clear error where a label is asked for and the LSM is absent),
//! - `set_user` (setgroups, setresgid, setresuid, keeping permitted capabilities; umask),
//! - `set_no_new_privileges`,
//! - `find_executable(args0, env)` resolves args[0] like execvp, before "created".
//!
//! Helpers: `env_with_home` (HOME from the container's /etc/passwd, as runc does),
//! `passwd_entry` (an /etc/passwd entry by uid),
//! `set_cwd`, `pin_procfs` + `open_proc` (a /proc file opened through rt's own procfs
//! instance, never through a mount over it: CVE-2025-52881).
use crate::sys::process as sys;
use crate::Result;
use anyhow::{anyhow, bail, Context};
use oci_spec::runtime::{
    IOPriorityClass, LinuxIOPriority, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag,
    LinuxSchedulerPolicy, PosixRlimit, PosixRlimitType, Process, Scheduler, User,
};
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The PATH execvp uses when the environment has none (runc's default too).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const CAP_SYS_RESOURCE: u32 = 24;

/// The procfs that rt's own /proc reads and writes go through (CVE-2025-52881): a private
/// instance (fsopen + fsmount, attached to no mount tree, so nothing can be mounted over
/// its files) or, where the kernel refuses one, /proc as it was when pinned, which the
/// init and the exec child do before the container's mounts exist (`pin_procfs`).
struct ProcRoot {
    fd: OwnedFd,
    mnt_id: u64,
}

static PROCFS: Mutex<Option<ProcRoot>> = Mutex::new(None);

/// Take this process's procfs handle now (before the container's mounts are made or
/// its mount namespace is joined). Idempotent; later /proc accesses use the handle.
pub fn pin_procfs() -> io::Result<()> {
    with_proc_root(|_| Ok(()))
}

/// Close the handle (before the container's processes can reach this one's fds: the
/// instance has none of the container's masked or read-only paths). A later /proc
/// access would take a new one.
pub fn release_procfs() {
    if let Ok(mut g) = PROCFS.lock() {
        g.take();
    }
}

fn with_proc_root<T>(f: impl FnOnce(&ProcRoot) -> io::Result<T>) -> io::Result<T> {
    let mut g = PROCFS
        .lock()
        .map_err(|_| io::Error::other("procfs handle: poisoned lock"))?;
    if let Some(r) = g.as_ref() {
        return f(r);
    }
    let fd = match crate::sys::procfs::fsmount_proc() {
        Ok(fd) => fd,
        Err(_) => OwnedFd::from(
            OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .open("/proc")?,
        ),
    };
    let fs = nix::sys::statfs::fstatfs(&fd).map_err(io::Error::from)?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(io::Error::from)?;
    // PROC_ROOT_INO: the root directory of a procfs instance.
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC || st.st_ino != 1 {
        return Err(io::Error::other("/proc is not the root of a procfs"));
    }
    let mnt_id = crate::sys::procfs::mnt_id(fd.as_fd())?;
    f(g.insert(ProcRoot { fd, mnt_id }))
}

/// `rel` (a path below /proc) with a leading `self` or `thread-self` replaced by what
/// those links read in rt's procfs: `<tgid>` or `<tgid>/task/<tid>`, so that no symlink
/// is followed when it is opened.
fn resolve_self(root: &ProcRoot, rel: &str) -> io::Result<String> {
    let (first, rest) = rel.split_once('/').unwrap_or((rel, ""));
    if first != "self" && first != "thread-self" {
        return Ok(rel.to_string());
    }
    let target =
        nix::fcntl::readlinkat(Some(root.fd.as_raw_fd()), first).map_err(io::Error::from)?;
    let target = target
        .to_str()
        .filter(|t| !t.starts_with('/') && !t.split('/').any(|c| c.is_empty() || c == ".."))
        .ok_or_else(|| io::Error::other(format!("/proc/{first} reads {target:?}")))?;
    Ok(if rest.is_empty() {
        target.to_string()
    } else {
        format!("{target}/{rest}")
    })
}

/// Open a file under /proc (`path` starts with "/proc/") through rt's own procfs (see
/// `ProcRoot`), never through the container's mounts: openat2 from the procfs root with
/// RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS (`self` resolved
/// explicitly), then checked to be on procfs and on the root's mount.
pub fn open_proc(path: &str, write: bool) -> io::Result<File> {
    let rel = path
        .strip_prefix("/proc/")
        .ok_or_else(|| io::Error::other(format!("{path} is not under /proc")))?;
    with_proc_root(|root| open_in(root, path, rel, write))
}

fn open_in(root: &ProcRoot, path: &str, rel: &str, write: bool) -> io::Result<File> {
    use crate::sys::{RESOLVE_NO_MAGICLINKS, RESOLVE_NO_SYMLINKS, RESOLVE_NO_XDEV};
    let rel = resolve_self(root, rel)?;
    let flags = if write {
        libc::O_WRONLY
    } else {
        libc::O_RDONLY
    } | libc::O_NOCTTY;
    let fd = crate::sys::openat2(
        root.fd.as_fd(),
        Path::new(&rel),
        flags,
        0,
        RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS,
    )
    .map_err(|e| match e.raw_os_error() {
        Some(libc::EXDEV) | Some(libc::ELOOP) => io::Error::other(format!(
            "{path} crosses a mount or a symlink in procfs (refused): {e}"
        )),
        _ => e,
    })?;
    let fs = nix::sys::statfs::fstatfs(&fd).map_err(io::Error::from)?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(io::Error::other(format!(
            "{path} is not on procfs (something is mounted over /proc)"
        )));
    }
    if crate::sys::procfs::mnt_id(fd.as_fd())? != root.mnt_id {
        return Err(io::Error::other(format!(
            "{path} is on another mount than rt's procfs (something is mounted over it)"
        )));
    }
    Ok(File::from(fd))
}

fn read_proc(path: &str) -> io::Result<String> {
    let mut s = String::new();
    open_proc(path, false)?.read_to_string(&mut s)?;
    Ok(s)
}

/// Write `data` to a /proc file in one write(2), as the kernel's attr files want.
fn write_proc(path: &str, data: &[u8]) -> io::Result<()> {
    let mut f = open_proc(path, true)?;
    let n = f.write(data)?;
    if n != data.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write to {path} ({n} of {} bytes)", data.len()),
        ));
    }
    Ok(())
}

/// The effective capability set of this process, from /proc/self/status.
fn cap_eff() -> Option<u64> {
    let status = read_proc("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line["CapEff:".len()..].trim(), 16).ok()
}

fn has_cap(cap: u32) -> Option<bool> {
    cap_eff().map(|c| c & (1u64 << cap) != 0)
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    use PosixRlimitType::*;
    match t {
        RlimitCpu => libc::RLIMIT_CPU,
        RlimitFsize => libc::RLIMIT_FSIZE,
        RlimitData => libc::RLIMIT_DATA,
        RlimitStack => libc::RLIMIT_STACK,
        RlimitCore => libc::RLIMIT_CORE,
        RlimitRss => libc::RLIMIT_RSS,
        RlimitNproc => libc::RLIMIT_NPROC,
        RlimitNofile => libc::RLIMIT_NOFILE,
        RlimitMemlock => libc::RLIMIT_MEMLOCK,
        RlimitAs => libc::RLIMIT_AS,
        RlimitLocks => libc::RLIMIT_LOCKS,
        RlimitSigpending => libc::RLIMIT_SIGPENDING,
        RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        RlimitNice => libc::RLIMIT_NICE,
        RlimitRtprio => libc::RLIMIT_RTPRIO,
        RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// "permission denied" rather than "Permission denied (os error 13)".
fn errno_desc(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::Error::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}

fn fmt_limit(v: u64) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        v.to_string()
    }
}

fn check_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for (i, r) in rlimits.iter().enumerate() {
        if let Some(j) = rlimits[..i].iter().position(|o| o.typ() == r.typ()) {
            bail!(
                "process.rlimits[{i}]: duplicate type {} (already set by process.rlimits[{j}])",
                r.typ()
            );
        }
        if r.soft() > r.hard() {
            bail!(
                "process.rlimits[{i}]: {}: soft limit {} is above hard limit {}",
                r.typ(),
                fmt_limit(r.soft()),
                fmt_limit(r.hard())
            );
        }
    }
    Ok(())
}

fn check_oom_score_adj(adj: i32) -> Result<()> {
    if !(-1000..=1000).contains(&adj) {
        bail!("process.oomScoreAdj: {adj} is out of range -1000..1000");
    }
    Ok(())
}

fn check_io_priority(prio: &LinuxIOPriority) -> Result<()> {
    let level = prio.priority();
    if !(0..=7).contains(&level) {
        bail!("process.ioPriority.priority: {level} is out of range 0..7");
    }
    Ok(())
}

fn check_umask(umask: u32) -> Result<()> {
    if umask > 0o777 {
        bail!("process.user.umask: 0{umask:o} is not a permission mask (above 0777)");
    }
    Ok(())
}

/// process.rlimits: setrlimit for each entry, in order. Duplicate types are an error
/// (checked before anything is applied).
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    check_rlimits(rlimits)?;
    for (i, r) in rlimits.iter().enumerate() {
        let res = rlimit_resource(r.typ());
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `cur` is a valid rlimit to write into.
        let have_cur = unsafe { libc::getrlimit(res, &mut cur) } == 0;
        let new = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: `new` is a valid rlimit.
        if unsafe { libc::setrlimit(res, &new) } == 0 {
            continue;
        }
        let err = io::Error::last_os_error();
        let prefix = format!(
            "process.rlimits[{i}]: setting {} to soft {} hard {}: {}",
            r.typ(),
            fmt_limit(r.soft()),
            fmt_limit(r.hard()),
            errno_desc(&err)
        );
        if err.raw_os_error() != Some(libc::EPERM) {
            bail!(prefix);
        }
        let current = if have_cur {
            format!(" ({})", fmt_limit(cur.rlim_max))
        } else {
            String::new()
        };
        let nr_open: Option<u64> = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok());
        let nofile_hint = match nr_open {
            Some(n) if r.typ() == PosixRlimitType::RlimitNofile && r.hard() > n => {
                format!("; RLIMIT_NOFILE can never exceed fs.nr_open ({n})")
            }
            _ => String::new(),
        };
        match has_cap(CAP_SYS_RESOURCE) {
            Some(true) => bail!("{prefix}: the value is above a system maximum{nofile_hint}"),
            Some(false) => bail!(
                "{prefix}: raising the hard limit above the current one{current} needs \
                 CAP_SYS_RESOURCE, which this process lacks{nofile_hint}"
            ),
            None => bail!(
                "{prefix}: raising the hard limit above the current one{current} needs \
                 CAP_SYS_RESOURCE{nofile_hint}"
            ),
        }
    }
    Ok(())
}

/// process.oomScoreAdj: write /proc/self/oom_score_adj.
pub fn set_oom_score_adj(adj: i32) -> Result<()> {
    check_oom_score_adj(adj)?;
    if let Err(e) = write_proc("/proc/self/oom_score_adj", adj.to_string().as_bytes()) {
        let hint = if e.raw_os_error() == Some(libc::EACCES) {
            let cur = read_proc("/proc/self/oom_score_adj").unwrap_or_default();
            format!(
                ": lowering oom_score_adj below its current value ({}) needs CAP_SYS_RESOURCE",
                cur.trim()
            )
        } else {
            String::new()
        };
        bail!(
            "process.oomScoreAdj: writing {adj} to /proc/self/oom_score_adj: {}{hint}",
            errno_desc(&e)
        );
    }
    Ok(())
}

/// process.ioPriority: ioprio_set(IOPRIO_WHO_PROCESS, self, class, priority).
pub fn set_io_priority(prio: &LinuxIOPriority) -> Result<()> {
    check_io_priority(prio)?;
    let level = prio.priority();
    let class = match prio.class() {
        IOPriorityClass::IoprioClassRt => sys::IOPRIO_CLASS_RT,
        IOPriorityClass::IoprioClassBe => sys::IOPRIO_CLASS_BE,
        IOPriorityClass::IoprioClassIdle => sys::IOPRIO_CLASS_IDLE,
    };
    sys::ioprio_set_self(class, level as u32).map_err(|e| {
        anyhow!(
            "process.ioPriority: ioprio_set({}, {level}): {}",
            prio.class(),
            errno_desc(&e)
        )
    })
}

fn sched_policy(p: LinuxSchedulerPolicy) -> u32 {
    use LinuxSchedulerPolicy::*;
    match p {
        SchedOther => sys::SCHED_OTHER,
        SchedFifo => sys::SCHED_FIFO,
        SchedRr => sys::SCHED_RR,
        SchedBatch => sys::SCHED_BATCH,
        SchedIso => sys::SCHED_ISO,
        SchedIdle => sys::SCHED_IDLE,
        SchedDeadline => sys::SCHED_DEADLINE,
    }
}

fn sched_flag(f: LinuxSchedulerFlag) -> u64 {
    use LinuxSchedulerFlag::*;
    match f {
        SchedResetOnFork => sys::SCHED_FLAG_RESET_ON_FORK,
        SchedFlagReclaim => sys::SCHED_FLAG_RECLAIM,
        SchedFlagDLOverrun => sys::SCHED_FLAG_DL_OVERRUN,
        SchedFlagKeepPolicy => sys::SCHED_FLAG_KEEP_POLICY,
        SchedFlagKeepParams => sys::SCHED_FLAG_KEEP_PARAMS,
        SchedFlagUtilClampMin => sys::SCHED_FLAG_UTIL_CLAMP_MIN,
        SchedFlagUtilClampMax => sys::SCHED_FLAG_UTIL_CLAMP_MAX,
    }
}

fn check_scheduler(sched: &Scheduler) -> Result<()> {
    let policy = *sched.policy();
    let nice = sched.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        bail!("process.scheduler.nice: {nice} is out of range -20..19");
    }
    let priority = sched.priority().unwrap_or(0);
    let realtime = matches!(
        policy,
        LinuxSchedulerPolicy::SchedFifo | LinuxSchedulerPolicy::SchedRr
    );
    if realtime && !(1..=99).contains(&priority) {
        bail!("process.scheduler.priority: {priority} is out of range 1..99 for {policy}");
    }
    if !realtime && priority != 0 {
        bail!("process.scheduler.priority: only SCHED_FIFO and SCHED_RR take a priority, not {policy}");
    }
    let (runtime, deadline, period) = (
        sched.runtime().unwrap_or(0),
        sched.deadline().unwrap_or(0),
        sched.period().unwrap_or(0),
    );
    if policy != LinuxSchedulerPolicy::SchedDeadline && (runtime | deadline | period) != 0 {
        bail!(
            "process.scheduler: runtime, deadline and period apply only to SCHED_DEADLINE, not {policy}"
        );
    }
    Ok(())
}

/// process.scheduler: sched_setattr on the calling thread (inherited across fork/exec).
pub fn set_scheduler(sched: &Scheduler) -> Result<()> {
    check_scheduler(sched)?;
    let policy = *sched.policy();
    let nice = sched.nice().unwrap_or(0);
    let priority = sched.priority().unwrap_or(0);
    let (runtime, deadline, period) = (
        sched.runtime().unwrap_or(0),
        sched.deadline().unwrap_or(0),
        sched.period().unwrap_or(0),
    );
    let flags = sched
        .flags()
        .iter()
        .flatten()
        .fold(0u64, |acc, f| acc | sched_flag(*f));
    let attr = sys::SchedAttr {
        sched_policy: sched_policy(policy),
        sched_flags: flags,
        sched_nice: nice,
        sched_priority: priority as u32,
        sched_runtime: runtime,
        sched_deadline: deadline,
        sched_period: period,
        ..Default::default()
    };
    sys::sched_setattr_self(&attr).map_err(|e| {
        let hint = match (e.raw_os_error(), policy) {
            (Some(libc::EINVAL), LinuxSchedulerPolicy::SchedIso) => {
                ": the kernel has no SCHED_ISO"
            }
            (Some(libc::EINVAL), LinuxSchedulerPolicy::SchedDeadline) => {
                ": SCHED_DEADLINE needs 1024 <= runtime <= deadline <= period (ns)"
            }
            (Some(libc::EPERM), _) | (Some(libc::EBUSY), _) => {
                ": needs CAP_SYS_NICE, and realtime/deadline policies need bandwidth \
                 available in the cgroup (cpu.rt_runtime_us)"
            }
            _ => "",
        };
        anyhow!(
            "process.scheduler: sched_setattr({policy}, nice {nice}, priority {priority}): {}{hint}",
            errno_desc(&e)
        )
    })
}

const PERSONALITY_FLAGS: &[(&str, u64)] = &[
    ("UNAME26", 0x0020000),
    ("ADDR_NO_RANDOMIZE", 0x0040000),
    ("FDPIC_FUNCPTRS", 0x0080000),
    ("MMAP_PAGE_ZERO", 0x0100000),
    ("ADDR_COMPAT_LAYOUT", 0x0200000),
    ("READ_IMPLIES_EXEC", 0x0400000),
    ("ADDR_LIMIT_32BIT", 0x0800000),
    ("SHORT_INODE", 0x1000000),
    ("WHOLE_SECONDS", 0x2000000),
    ("STICKY_TIMEOUTS", 0x4000000),
    ("ADDR_LIMIT_3GB", 0x8000000),
];

/// linux.personality: personality(domain | flags). Flags the kernel knows are applied;
/// others are ignored with a warning (runc ignores all flags).
pub fn set_personality(p: &LinuxPersonality) -> Result<()> {
    let mut persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => sys::PER_LINUX,
        LinuxPersonalityDomain::PerLinux32 => sys::PER_LINUX32,
    };
    for (i, flag) in p.flags().iter().flatten().enumerate() {
        match PERSONALITY_FLAGS.iter().find(|(n, _)| n == flag) {
            Some((_, v)) => persona |= v,
            None => crate::logging::warn(&format!(
                "linux.personality.flags[{i}]: ignoring unknown flag {flag:?}"
            )),
        }
    }
    sys::personality(persona).map_err(|e| {
        anyhow!(
            "linux.personality: personality({persona:#x}): {}",
            errno_desc(&e)
        )
    })?;
    Ok(())
}

fn apparmor_enabled() -> bool {
    if let Ok(s) = std::fs::read_to_string("/sys/module/apparmor/parameters/enabled") {
        return s.starts_with('Y');
    }
    // /sys may not be mounted here (inside the container); AppArmor answers on its own
    // attr directory only when it is an active LSM.
    read_proc("/proc/self/attr/apparmor/current").is_ok()
}

fn selinux_enabled() -> bool {
    // selinuxfs registers itself only when SELinux is enabled at boot.
    std::fs::read_to_string("/proc/filesystems")
        .map(|s| s.lines().any(|l| l.trim_end().ends_with("\tselinuxfs")))
        .unwrap_or(false)
}

/// process.apparmorProfile and process.selinuxLabel: labels that take effect at the next
/// execve. Call just before exec (after pivot_root, with /proc mounted).
pub fn set_lsm_labels(process: &Process) -> Result<()> {
    if let Some(profile) = process
        .apparmor_profile()
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if !apparmor_enabled() {
            bail!(
                "process.apparmorProfile: {profile:?} requested but AppArmor is not enabled \
                 on this host"
            );
        }
        let data = format!("exec {profile}");
        let res = match write_proc("/proc/thread-self/attr/apparmor/exec", data.as_bytes()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_proc("/proc/thread-self/attr/exec", data.as_bytes())
            }
            r => r,
        };
        res.map_err(|e| {
            anyhow!(
                "process.apparmorProfile: applying profile {profile:?}: {}",
                errno_desc(&e)
            )
        })?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if !selinux_enabled() {
            bail!(
                "process.selinuxLabel: {label:?} requested but SELinux is not enabled on this host"
            );
        }
        write_proc("/proc/thread-self/attr/exec", label.as_bytes()).map_err(|e| {
            anyhow!(
                "process.selinuxLabel: setting exec label {label:?}: {}",
                errno_desc(&e)
            )
        })?;
    }
    Ok(())
}

/// process.user: umask (0022 when absent), supplementary groups, gid, uid. Permitted
/// capabilities survive the uid switch (PR_SET_KEEPCAPS); `capabilities::apply` sets the
/// sets afterwards.
pub fn set_user(user: &User) -> Result<()> {
    let umask = user.umask().unwrap_or(0o022);
    check_umask(umask)?;
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(umask as libc::mode_t) };

    let groups: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    // By path, not `read_proc`: this runs under the container's seccomp filter (which may
    // refuse openat2 or statx), and a wrong answer only changes an error message.
    let setgroups_denied = std::fs::read_to_string("/proc/self/setgroups")
        .map(|s| s.trim() == "deny")
        .unwrap_or(false);
    if setgroups_denied {
        if !groups.is_empty() {
            bail!(
                "process.user.additionalGids: cannot set supplementary groups: setgroups is \
                 denied in this user namespace (/proc/self/setgroups is \"deny\")"
            );
        }
    } else {
        nix::unistd::setgroups(&groups).map_err(|e| {
            anyhow!(
                "process.user.additionalGids: setgroups({:?}): {e}",
                user.additional_gids().as_deref().unwrap_or(&[])
            )
        })?;
    }

    nix::sys::prctl::set_keepcaps(true).context("process.user: prctl(PR_SET_KEEPCAPS, 1)")?;
    let gid = nix::unistd::Gid::from_raw(user.gid());
    nix::unistd::setresgid(gid, gid, gid).map_err(|e| {
        anyhow!(
            "process.user.gid: setresgid({}): {e}{}",
            user.gid(),
            unmapped_hint(e)
        )
    })?;
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresuid(uid, uid, uid).map_err(|e| {
        anyhow!(
            "process.user.uid: setresuid({}): {e}{}",
            user.uid(),
            unmapped_hint(e)
        )
    })?;
    nix::sys::prctl::set_keepcaps(false).context("process.user: prctl(PR_SET_KEEPCAPS, 0)")?;
    Ok(())
}

fn unmapped_hint(e: nix::Error) -> &'static str {
    if e == nix::Error::EINVAL {
        " (the id is not mapped in the container's user namespace)"
    } else {
        ""
    }
}

/// process.noNewPrivileges.
pub fn set_no_new_privileges() -> Result<()> {
    nix::sys::prctl::set_no_new_privs()
        .map_err(|e| anyhow!("process.noNewPrivileges: prctl(PR_SET_NO_NEW_PRIVS): {e}"))
}

/// process.cwd: chdir inside the container, creating the directory (0755, as the
/// current user) when it does not exist, as runc does.
pub fn set_cwd(cwd: &Path) -> Result<()> {
    match nix::unistd::chdir(cwd) {
        Err(nix::Error::ENOENT) => {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(cwd)
                .map_err(|e| anyhow!("process.cwd: creating {:?}: {e}", cwd))?;
            nix::unistd::chdir(cwd)
        }
        r => r,
    }
    .map_err(|e| anyhow!("process.cwd: {:?}: {}", cwd, e.desc()))?;
    check_cwd_inside(cwd)
}

/// CVE-2024-21626: a cwd reached through a leaked fd (`/proc/self/fd/N`) or any other
/// magic link may lie outside the container's root. The kernel's getcwd then reports the
/// path as "(unreachable)/..." (glibc: ENOENT): refuse to exec there.
pub fn check_cwd_inside(cwd: &Path) -> Result<()> {
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(anyhow!(
            "process.cwd: {:?} resolves outside the container's root",
            cwd
        )),
    }
}

/// The value of `key` in a KEY=VALUE list (the last one wins, like setenv).
fn env_get<'a>(env: &'a [String], key: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(key)?.strip_prefix('='))
}

enum Candidate {
    Ok,
    Missing,
    IsDir,
    NoExec,
}

fn check_candidate(path: &Path) -> Candidate {
    match std::fs::metadata(path) {
        Err(_) => Candidate::Missing,
        Ok(m) if m.is_dir() => Candidate::IsDir,
        Ok(m) if !m.is_file() => Candidate::NoExec,
        Ok(_) => {
            let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
                return Candidate::Missing;
            };
            // SAFETY: `c` is a valid NUL-terminated path.
            let r = unsafe {
                libc::faccessat(libc::AT_FDCWD, c.as_ptr(), libc::X_OK, libc::AT_EACCESS)
            };
            if r == 0 {
                Candidate::Ok
            } else {
                Candidate::NoExec
            }
        }
    }
}

/// Resolve process.args[0] like execvp: a name with '/' is used as is, else the first
/// executable regular file in $PATH (from `env`, else DEFAULT_PATH) wins.
/// Runs inside the container (after pivot_root).
pub fn find_executable(args0: &str, env: &[String]) -> Result<CString> {
    if args0.is_empty() {
        bail!("process.args[0]: empty executable name");
    }
    if args0.contains('\0') {
        bail!("process.args[0]: {args0:?} contains a NUL byte");
    }
    if args0.contains('/') {
        return match check_candidate(Path::new(args0)) {
            Candidate::Ok => Ok(CString::new(args0)?),
            Candidate::Missing => bail!("process.args[0]: {args0:?}: no such file or directory"),
            Candidate::IsDir => bail!("process.args[0]: {args0:?}: is a directory"),
            Candidate::NoExec => bail!("process.args[0]: {args0:?}: permission denied"),
        };
    }
    let path_var = env_get(env, "PATH").unwrap_or(DEFAULT_PATH);
    let mut denied: Option<PathBuf> = None;
    for dir in path_var.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(args0);
        match check_candidate(&candidate) {
            Candidate::Ok => return Ok(CString::new(candidate.as_os_str().as_bytes())?),
            Candidate::NoExec => {
                denied.get_or_insert(candidate);
            }
            Candidate::Missing | Candidate::IsDir => {}
        }
    }
    match denied {
        Some(p) => bail!(
            "process.args[0]: {args0:?}: permission denied ({})",
            p.display()
        ),
        None => bail!("process.args[0]: {args0:?}: executable file not found in $PATH"),
    }
}

/// process.env plus HOME when it is absent: the home of process.user.uid in the
/// container's /etc/passwd, else "/" (runc's behaviour). Call inside the container.
pub fn env_with_home(process: &Process) -> Vec<String> {
    let mut env = process.env().clone().unwrap_or_default();
    if env_get(&env, "HOME").is_none() {
        let home = passwd_home(Path::new("/etc/passwd"), process.user().uid())
            .unwrap_or_else(|| "/".to_string());
        env.push(format!("HOME={home}"));
    }
    env
}

fn passwd_home(passwd: &Path, uid: u32) -> Option<String> {
    passwd_entry(passwd, uid)
        .map(|f| f[5].clone())
        .filter(|h| !h.is_empty())
}

/// The seven fields of the first entry for `uid` in an /etc/passwd-format file (read at
/// most 1 MiB: the container's file is container-controlled), or None.
pub fn passwd_entry(passwd: &Path, uid: u32) -> Option<Vec<String>> {
    let f = File::open(passwd).ok()?;
    let mut data = String::new();
    f.take(1 << 20).read_to_string(&mut data).ok()?;
    data.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.len() >= 7 && fields[2].parse::<u32>().ok()? == uid)
            .then(|| fields.iter().map(|s| s.to_string()).collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Run `f` in a forked child; its Ok string or error text comes back through a pipe.
    fn in_child(f: impl FnOnce() -> Result<String>) -> std::result::Result<String, String> {
        let (r, w) = nix::unistd::pipe().unwrap();
        // SAFETY: the child runs `f`, writes, and _exits; glibc malloc is fork-safe.
        match unsafe { libc::fork() } {
            0 => {
                drop(r);
                let (code, msg) = match f() {
                    Ok(s) => (0, s),
                    Err(e) => (1, format!("{e:#}")),
                };
                let _ = nix::unistd::write(&w, msg.as_bytes());
                // SAFETY: leave without running the parent's destructors.
                unsafe { libc::_exit(code) }
            }
            pid if pid > 0 => {
                drop(w);
                let mut out = String::new();
                File::from(r).read_to_string(&mut out).unwrap();
                let mut st = 0;
                // SAFETY: our own child.
                unsafe { libc::waitpid(pid, &mut st, 0) };
                assert!(libc::WIFEXITED(st), "child died: {st:#x} {out}");
                if libc::WEXITSTATUS(st) == 0 {
                    Ok(out)
                } else {
                    Err(out)
                }
            }
            _ => panic!("fork failed"),
        }
    }

    fn drop_effective(cap: caps::Capability) -> Result<()> {
        caps::drop(None, caps::CapSet::Effective, cap)?;
        Ok(())
    }

    fn rlimits(v: serde_json::Value) -> Vec<PosixRlimit> {
        serde_json::from_value(v).unwrap()
    }

    fn status_field(name: &str) -> String {
        let s = read_proc("/proc/self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap_or("")
            .trim()
            .to_string()
    }

    #[test]
    fn rlimits_below_the_hard_limit_apply() {
        let out = in_child(|| {
            set_rlimits(&rlimits(json!([
                {"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200},
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            ])))?;
            let (s, h) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)?;
            let (cs, ch) =
                nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE)?;
            Ok(format!("{s} {h} {cs} {ch}"))
        });
        assert_eq!(out.unwrap(), "100 200 0 0");
    }

    #[test]
    fn rlimit_above_the_hard_limit_needs_cap_sys_resource() {
        let err = in_child(|| {
            drop_effective(caps::Capability::CAP_SYS_RESOURCE)?;
            let (_, h) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NPROC)?;
            let h = if h == libc::RLIM_INFINITY { 1000 } else { h };
            if h == 1000 {
                set_rlimits(&rlimits(
                    json!([{"type": "RLIMIT_NPROC", "soft": 1000, "hard": 1000}]),
                ))?;
            }
            set_rlimits(&rlimits(json!([
                {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
                {"type": "RLIMIT_NPROC", "soft": 10, "hard": h + 1},
            ])))?;
            Ok(String::new())
        })
        .unwrap_err();
        assert!(
            err.starts_with("process.rlimits[1]: setting RLIMIT_NPROC"),
            "{err}"
        );
        assert!(
            err.contains("needs CAP_SYS_RESOURCE, which this process lacks"),
            "{err}"
        );
    }

    #[test]
    fn rlimit_errors_before_applying() {
        let e = set_rlimits(&rlimits(json!([
            {"type": "RLIMIT_NOFILE", "soft": 10, "hard": 10},
            {"type": "RLIMIT_CORE", "soft": 0, "hard": 0},
            {"type": "RLIMIT_NOFILE", "soft": 20, "hard": 20},
        ])))
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "process.rlimits[2]: duplicate type RLIMIT_NOFILE (already set by process.rlimits[0])"
        );
        let e = set_rlimits(&rlimits(
            json!([{"type": "RLIMIT_CORE", "soft": 5, "hard": 1}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("process.rlimits[0]: RLIMIT_CORE: soft limit 5"),
            "{e}"
        );
    }

    #[test]
    fn oom_score_adj() {
        let out = in_child(|| {
            set_oom_score_adj(500)?;
            Ok(read_proc("/proc/self/oom_score_adj")?.trim().to_string())
        });
        assert_eq!(out.unwrap(), "500");
        let err = in_child(|| {
            drop_effective(caps::Capability::CAP_SYS_RESOURCE)?;
            set_oom_score_adj(-999)?;
            Ok(String::new())
        })
        .unwrap_err();
        assert!(err.starts_with("process.oomScoreAdj: "), "{err}");
        assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
        let e = set_oom_score_adj(1001).unwrap_err().to_string();
        assert!(
            e.starts_with("process.oomScoreAdj: 1001 is out of range"),
            "{e}"
        );
    }

    #[test]
    fn io_priority() {
        let out = in_child(|| {
            let p: LinuxIOPriority =
                serde_json::from_value(json!({"class": "IOPRIO_CLASS_BE", "priority": 6}))?;
            set_io_priority(&p)?;
            let be = sys::ioprio_get_self()?;
            let p: LinuxIOPriority =
                serde_json::from_value(json!({"class": "IOPRIO_CLASS_IDLE", "priority": 0}))?;
            set_io_priority(&p)?;
            let idle = sys::ioprio_get_self()?;
            Ok(format!("{be:?} {idle:?}"))
        });
        assert_eq!(out.unwrap(), "(2, 6) (3, 0)");
        let p: LinuxIOPriority =
            serde_json::from_value(json!({"class": "IOPRIO_CLASS_RT", "priority": 8})).unwrap();
        let e = set_io_priority(&p).unwrap_err().to_string();
        assert_eq!(e, "process.ioPriority.priority: 8 is out of range 0..7");
    }

    #[test]
    fn scheduler() {
        let out = in_child(|| {
            let s: Scheduler = serde_json::from_value(json!({"policy": "SCHED_BATCH", "nice": 5}))?;
            set_scheduler(&s)?;
            let a = sys::sched_getattr_self()?;
            Ok(format!("{} {}", a.sched_policy, a.sched_nice))
        });
        assert_eq!(out.unwrap(), "3 5");
        let out = in_child(|| {
            let s: Scheduler = serde_json::from_value(
                json!({"policy": "SCHED_IDLE", "flags": ["SCHED_RESET_ON_FORK"]}),
            )?;
            set_scheduler(&s)?;
            let a = sys::sched_getattr_self()?;
            Ok(format!("{} {}", a.sched_policy, a.sched_flags & 1))
        });
        assert_eq!(out.unwrap(), "5 1");
        let s: Scheduler =
            serde_json::from_value(json!({"policy": "SCHED_OTHER", "priority": 3})).unwrap();
        let e = set_scheduler(&s).unwrap_err().to_string();
        assert!(e.starts_with("process.scheduler.priority: "), "{e}");
        let s: Scheduler =
            serde_json::from_value(json!({"policy": "SCHED_OTHER", "nice": 20})).unwrap();
        let e = set_scheduler(&s).unwrap_err().to_string();
        assert!(e.starts_with("process.scheduler.nice: "), "{e}");
    }

    #[test]
    fn personality() {
        let out = in_child(|| {
            let p: LinuxPersonality = serde_json::from_value(
                json!({"domain": "LINUX32", "flags": ["ADDR_NO_RANDOMIZE"]}),
            )?;
            set_personality(&p)?;
            Ok(format!("{:#x}", sys::personality(sys::PER_QUERY)?))
        });
        assert_eq!(out.unwrap(), "0x40008");
    }

    #[test]
    fn lsm_labels_without_the_lsm() {
        let p: Process = serde_json::from_value(json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "apparmorProfile": "rt-test"
        }))
        .unwrap();
        if !apparmor_enabled() {
            let e = set_lsm_labels(&p).unwrap_err().to_string();
            assert!(e.starts_with("process.apparmorProfile: \"rt-test\""), "{e}");
        }
        let p: Process = serde_json::from_value(json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "selinuxLabel": "system_u:system_r:x:s0"
        }))
        .unwrap();
        if !selinux_enabled() {
            let e = set_lsm_labels(&p).unwrap_err().to_string();
            assert!(e.starts_with("process.selinuxLabel: "), "{e}");
        }
        let p: Process =
            serde_json::from_value(json!({"user": {"uid": 0, "gid": 0}, "cwd": "/"})).unwrap();
        set_lsm_labels(&p).unwrap();
    }

    #[test]
    fn user_switch_keeps_permitted_caps() {
        let out = in_child(|| {
            let u: User = serde_json::from_value(
                json!({"uid": 1000, "gid": 1001, "additionalGids": [10, 20], "umask": 63}),
            )?;
            set_user(&u)?;
            let r = nix::unistd::getresuid()?;
            let g = nix::unistd::getresgid()?;
            let groups = nix::unistd::getgroups()?;
            Ok(format!(
                "{} {} {} {} {} {:?} umask={} prm_kept={} eff={} keepcaps={}",
                r.real,
                r.effective,
                r.saved,
                g.real,
                g.saved,
                groups.iter().map(|g| g.as_raw()).collect::<Vec<_>>(),
                status_field("Umask"),
                status_field("CapPrm") != "0000000000000000",
                status_field("CapEff"),
                nix::sys::prctl::get_keepcaps()?,
            ))
        });
        assert_eq!(
            out.unwrap(),
            "1000 1000 1000 1001 1001 [10, 20] umask=0077 prm_kept=true \
             eff=0000000000000000 keepcaps=false"
        );
        let out = in_child(|| {
            set_user(&serde_json::from_value(json!({"uid": 0, "gid": 0}))?)?;
            Ok(status_field("Umask"))
        });
        assert_eq!(out.unwrap(), "0022");
    }

    #[test]
    fn cwd_is_created_when_missing() {
        let d = std::env::temp_dir().join(format!("rt-cwd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        let target = d.join("a/b");
        let t2 = target.clone();
        let out = in_child(move || {
            set_cwd(&t2)?;
            Ok(std::env::current_dir()?.display().to_string())
        });
        assert_eq!(out.unwrap(), target.display().to_string());
        let e = set_cwd(Path::new("/proc/self/status/x"))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("process.cwd: "), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn validate_names_the_field() {
        use crate::spec::validate::validate_process;
        let cases = [
            (
                json!({"rlimits": [{"type": "RLIMIT_AS", "soft": 1, "hard": 1},
                                {"type": "RLIMIT_AS", "soft": 1, "hard": 1}]}),
                "process.rlimits[1].type: duplicate",
            ),
            (json!({"oomScoreAdj": -1001}), "process.oomScoreAdj: "),
            (
                json!({"ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": -1}}),
                "process.ioPriority.priority: ",
            ),
            (
                json!({"scheduler": {"policy": "SCHED_RR"}}),
                "process.scheduler.priority: ",
            ),
            (
                json!({"user": {"uid": 0, "gid": 0, "umask": 4095}}),
                "process.user.umask: ",
            ),
        ];
        for (extra, want) in cases {
            let mut v = json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh"]});
            for (k, x) in extra.as_object().unwrap() {
                v[k] = x.clone();
            }
            let p: Process = serde_json::from_value(v).unwrap();
            let e = validate_process(&p, "process").unwrap_err().to_string();
            assert!(e.starts_with(want), "{e} (want {want})");
        }
        let p: Process = serde_json::from_value(
            json!({"user": {"uid": 0, "gid": 0}, "cwd": "/", "args": ["sh"], "oomScoreAdj": 5}),
        )
        .unwrap();
        validate_process(&p, "process").unwrap();
    }

    #[test]
    fn no_new_privileges() {
        let out = in_child(|| {
            set_no_new_privileges()?;
            Ok(status_field("NoNewPrivs"))
        });
        assert_eq!(out.unwrap(), "1");
    }

    #[test]
    fn find_executable_like_execvp() {
        use std::os::unix::fs::PermissionsExt;
        let d = std::env::temp_dir().join(format!("rt-findexec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        for sub in ["a", "b", "c"] {
            std::fs::create_dir_all(d.join(sub)).unwrap();
        }
        let mk = |p: &Path, mode: u32| {
            std::fs::write(p, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
        };
        mk(&d.join("a/noexec"), 0o644);
        mk(&d.join("b/noexec"), 0o644);
        mk(&d.join("b/tool"), 0o755);
        mk(&d.join("c/tool"), 0o755);
        std::fs::create_dir(d.join("a/tool")).unwrap(); // a directory is skipped
        let path = format!(
            "PATH={}:{}:{}",
            d.join("a").display(),
            d.join("b").display(),
            d.join("c").display()
        );
        let env = vec!["A=1".to_string(), path];
        let got = find_executable("tool", &env).unwrap();
        assert_eq!(got.to_str().unwrap(), d.join("b/tool").to_str().unwrap());
        let e = find_executable("nope", &env).unwrap_err().to_string();
        assert_eq!(
            e,
            "process.args[0]: \"nope\": executable file not found in $PATH"
        );
        let e = find_executable("noexec", &env).unwrap_err().to_string();
        assert!(
            e.starts_with("process.args[0]: \"noexec\": permission denied"),
            "{e}"
        );
        let abs = d.join("a/tool").display().to_string();
        let e = find_executable(&abs, &env).unwrap_err().to_string();
        assert_eq!(e, format!("process.args[0]: {abs:?}: is a directory"));
        let e = find_executable("/no/such", &env).unwrap_err().to_string();
        assert_eq!(
            e,
            "process.args[0]: \"/no/such\": no such file or directory"
        );
        // No PATH in the env: the default one.
        assert_eq!(
            find_executable("sh", &[]).unwrap().to_str().unwrap(),
            which_sh()
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn which_sh() -> String {
        DEFAULT_PATH
            .split(':')
            .map(|p| format!("{p}/sh"))
            .find(|p| Path::new(p).exists())
            .unwrap()
    }

    #[test]
    fn home_from_passwd() {
        let d = std::env::temp_dir().join(format!("rt-passwd-{}", std::process::id()));
        std::fs::write(
            &d,
            "root:x:0:0:root:/root:/bin/sh\nbad line\nu:x:1000:1000::/home/u:/bin/sh\n",
        )
        .unwrap();
        assert_eq!(passwd_home(&d, 1000).as_deref(), Some("/home/u"));
        assert_eq!(passwd_home(&d, 0).as_deref(), Some("/root"));
        assert_eq!(passwd_home(&d, 5), None);
        std::fs::remove_file(&d).unwrap();
        let p: Process = serde_json::from_value(json!({
            "user": {"uid": 0, "gid": 0}, "cwd": "/", "env": ["HOME=/x", "A=b"]
        }))
        .unwrap();
        assert_eq!(env_with_home(&p), vec!["HOME=/x", "A=b"]);
    }
}
