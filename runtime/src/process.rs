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
//! `set_cwd`, `open_proc` (a /proc file that is verified to be on procfs).
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
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// The PATH execvp uses when the environment has none (runc's default too).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const CAP_SYS_RESOURCE: u32 = 24;

/// Open a file under /proc and check that it really is on procfs, so that a
/// container-controlled mount over /proc cannot redirect the write.
pub fn open_proc(path: &str, write: bool) -> io::Result<File> {
    let f = OpenOptions::new()
        .read(!write)
        .write(write)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)?;
    let fs = nix::sys::statfs::fstatfs(&f).map_err(io::Error::from)?;
    if fs.filesystem_type() != nix::sys::statfs::PROC_SUPER_MAGIC {
        return Err(io::Error::new(
            io::ErrorKind::Other,
            format!("{path} is not on procfs (something is mounted over /proc)"),
        ));
    }
    Ok(f)
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

fn fmt_limit(v: u64) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".to_string()
    } else {
        v.to_string()
    }
}

/// process.rlimits: setrlimit for each entry, in order. Duplicate types are an error
/// (checked before anything is applied).
pub fn set_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
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
            "process.rlimits[{i}]: setting {} to soft {} hard {}: {err}",
            r.typ(),
            fmt_limit(r.soft()),
            fmt_limit(r.hard())
        );
        if err.raw_os_error() != Some(libc::EPERM) {
            bail!(prefix);
        }
        let current = if have_cur {
            format!(" ({})", fmt_limit(cur.rlim_max))
        } else {
            String::new()
        };
        let nofile_hint = if r.typ() == PosixRlimitType::RlimitNofile {
            let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open").unwrap_or_default();
            format!(
                "; RLIMIT_NOFILE can never exceed fs.nr_open ({})",
                nr_open.trim()
            )
        } else {
            String::new()
        };
        match has_cap(CAP_SYS_RESOURCE) {
            Some(false) => bail!(
                "{prefix}: raising the hard limit above the current one{current} needs \
                 CAP_SYS_RESOURCE, which this process lacks{nofile_hint}"
            ),
            Some(true) => bail!(
                "{prefix}: the process has CAP_SYS_RESOURCE, so the value is above a \
                 system maximum{nofile_hint}"
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
    if !(-1000..=1000).contains(&adj) {
        bail!("process.oomScoreAdj: {adj} is out of range -1000..1000");
    }
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
        bail!("process.oomScoreAdj: writing {adj} to /proc/self/oom_score_adj: {e}{hint}");
    }
    Ok(())
}

/// process.ioPriority: ioprio_set(IOPRIO_WHO_PROCESS, self, class, priority).
pub fn set_io_priority(prio: &LinuxIOPriority) -> Result<()> {
    let level = prio.priority();
    if !(0..=7).contains(&level) {
        bail!("process.ioPriority.priority: {level} is out of range 0..7");
    }
    let class = match prio.class() {
        IOPriorityClass::IoprioClassRt => sys::IOPRIO_CLASS_RT,
        IOPriorityClass::IoprioClassBe => sys::IOPRIO_CLASS_BE,
        IOPriorityClass::IoprioClassIdle => sys::IOPRIO_CLASS_IDLE,
    };
    sys::ioprio_set_self(class, level as u32).map_err(|e| {
        anyhow!(
            "process.ioPriority: ioprio_set({}, {level}): {e}",
            prio.class()
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

/// process.scheduler: sched_setattr on the calling thread (inherited across fork/exec).
pub fn set_scheduler(sched: &Scheduler) -> Result<()> {
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
        anyhow!("process.scheduler: sched_setattr({policy}, nice {nice}, priority {priority}): {e}{hint}")
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
    sys::personality(persona)
        .map_err(|e| anyhow!("linux.personality: personality({persona:#x}): {e}"))?;
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
        let res = match write_proc("/proc/self/attr/apparmor/exec", data.as_bytes()) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                write_proc("/proc/self/attr/exec", data.as_bytes())
            }
            r => r,
        };
        res.map_err(|e| anyhow!("process.apparmorProfile: applying profile {profile:?}: {e}"))?;
    }
    if let Some(label) = process.selinux_label().as_deref().filter(|l| !l.is_empty()) {
        if !selinux_enabled() {
            bail!(
                "process.selinuxLabel: {label:?} requested but SELinux is not enabled on this host"
            );
        }
        write_proc("/proc/self/attr/exec", label.as_bytes())
            .map_err(|e| anyhow!("process.selinuxLabel: setting exec label {label:?}: {e}"))?;
    }
    Ok(())
}

/// process.user: umask (0022 when absent), supplementary groups, gid, uid. Permitted
/// capabilities survive the uid switch (PR_SET_KEEPCAPS); `capabilities::apply` sets the
/// sets afterwards.
pub fn set_user(user: &User) -> Result<()> {
    let umask = user.umask().unwrap_or(0o022);
    if umask > 0o777 {
        bail!("process.user.umask: {umask:#o} is not a permission mask (above 0777)");
    }
    // SAFETY: umask cannot fail.
    unsafe { libc::umask(umask as libc::mode_t) };

    let groups: Vec<nix::unistd::Gid> = user
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
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

/// process.cwd: chdir, inside the container.
pub fn set_cwd(cwd: &Path) -> Result<()> {
    nix::unistd::chdir(cwd).map_err(|e| anyhow!("process.cwd: {:?}: {}", cwd, e.desc()))
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
    let f = File::open(passwd).ok()?;
    let mut data = String::new();
    // The file is container-controlled: read at most 1 MiB.
    f.take(1 << 20).read_to_string(&mut data).ok()?;
    data.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        if fields.len() >= 7 && fields[2].parse::<u32>().ok()? == uid && !fields[5].is_empty() {
            Some(fields[5].to_string())
        } else {
            None
        }
    })
}
