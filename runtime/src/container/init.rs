//! The container's init, from the clone to execve. It starts in the forked copy of rt
//! (single-threaded, every namespace already new or about to be joined) and re-execs from
//! a read-only mount of rt's binary (CVE-2019-5736, see crate::exe) as `rt __rt-init`.
//!
//! Stages, in order: join namespaces (in a user namespace: after rt's maps) → re-exec →
//! join the cgroup v1 hierarchies (with rt's Go) → mounts and /dev → runtime hooks (run by rt, once we sit in our cgroup) →
//! createContainer hooks → pivot_root → console → hostname, sysctl → masked and readonly
//! paths → process attributes → seccomp compiled → Ready → (start) → startContainer
//! hooks → capabilities, user, no_new_privs, seccomp → execve.
use super::channel::{Channel, Msg};
use crate::cgroups::Cgroup;
use crate::namespaces::{self, Plan};
use crate::{capabilities, console, hooks, process, rootfs, seccomp, sys, Result};
use anyhow::{anyhow, Context};
use nix::sys::signal::{SigSet, SigmaskHow};
use oci_spec::runtime::{Process, Spec};
use serde::{Deserialize, Serialize};
use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

pub struct InitArgs<'a> {
    pub spec: &'a Spec,
    pub rootfs: &'a Path,
    pub ns: &'a Plan,
    /// The joined namespaces were entered already (by the intermediate process).
    pub joined: bool,
    pub cgroup: &'a Cgroup,
    pub fifo: &'a Path,
    pub console: Option<UnixStream>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub extra_fds: u32,
    pub id: &'a str,
    /// rt's binary on a read-only mount (`crate::exe::sealed`): the init re-execs from
    /// it once rt lets it go. None when rt already runs from a read-only mount.
    pub sealed: Option<OwnedFd>,
}

/// What the init carries from its first stage (in the clone of rt) to the rest (after
/// its re-exec from the sealed binary, or straight on when there is none).
#[derive(Serialize, Deserialize)]
pub struct Resume {
    spec: Spec,
    rootfs: PathBuf,
    userns: bool,
    new_cgroup: bool,
    cgroup: Cgroup,
    fifo: PathBuf,
    /// The fd of the console socket, if any.
    console: Option<RawFd>,
    /// The fd of the channel to rt.
    chan: RawFd,
    no_pivot: bool,
    extra_fds: u32,
    /// The state JSON for hooks run inside the container, from rt's `Go`: received
    /// before the re-exec only in a user namespace (which needs rt's id maps first);
    /// otherwise the init re-execs while rt records it and makes its cgroup.
    hook_state: Option<String>,
    log: Option<crate::logging::Config>,
}

/// The init, in the clone of rt. Never returns: execs the container process or exits.
pub fn main(mut args: InitArgs, chan: Channel) -> ! {
    let sealed = args.sealed.take();
    let resume = match join(args, &chan) {
        Ok(r) => r,
        Err(e) => fail(&chan, e),
    };
    if let Some(bin) = sealed {
        // CVE-2019-5736 (see crate::exe): from here on the init runs from the read-only
        // mount. rt meanwhile makes our cgroup v1 directories.
        let keep: Vec<RawFd> = [Some(resume.chan), resume.console]
            .into_iter()
            .flatten()
            .collect();
        crate::logging::debug("init: re-exec from the sealed binary");
        let e = match serde_json::to_vec(&resume) {
            Ok(state) => crate::exe::exec_init(bin.as_fd(), &state, &keep),
            Err(e) => e.into(),
        };
        fail(&chan, e)
    }
    finish(resume, chan)
}

/// `rt __rt-init FD`: the init after its re-exec; `arg` names the memfd with its state.
pub fn resume_main(arg: Option<std::ffi::OsString>) -> ! {
    let resume = crate::exe::take_init_state(arg).and_then(|b| {
        serde_json::from_slice::<Resume>(&b).map_err(|e| anyhow!("the init's state: {e}"))
    });
    match resume {
        Ok(r) => {
            if let Some(log) = r.log.clone() {
                crate::logging::restore(log);
            }
            crate::logging::debug("init: running from the sealed binary");
            // SAFETY: the channel's fd, kept open across our exec by `main`; ours alone.
            let chan = unsafe { Channel::from_raw_fd(r.chan) };
            finish(r, chan)
        }
        Err(e) => {
            // No channel to report on: rt sees the init exit before it was ready.
            let _ = writeln!(std::io::stderr(), "rt: {e:#}");
            // SAFETY: _exit, nothing to flush.
            unsafe { libc::_exit(1) }
        }
    }
}

fn finish(resume: Resume, chan: Channel) -> ! {
    let err = match run(resume, &chan) {
        Ok(never) => match never {},
        Err(e) => e,
    };
    fail(&chan, err)
}

/// Report `err` to rt (or, once rt is gone, on the container's stderr) and exit.
fn fail(chan: &Channel, err: anyhow::Error) -> ! {
    let msg = format!("{err:#}");
    if chan.send(&Msg::Error(msg.clone())).is_err() {
        // rt is gone (we were started): the container's stderr is all we have.
        let _ = writeln!(std::io::stderr(), "rt: {msg}");
    }
    // SAFETY: _exit in a forked child, skipping the parent's atexit work.
    unsafe { libc::_exit(127) }
}

pub enum Never {}

/// The init's first stage, in the clone of rt: enter the joined namespaces and, in a
/// user namespace, wait for rt's `Go` (id maps written) and become its root, so that the
/// re-exec keeps the capabilities. Without one, the re-exec does not wait for rt.
fn join(args: InitArgs, chan: &Channel) -> Result<Resume> {
    let userns = args.ns.new_user || args.ns.join_user.is_some();
    // Defence in depth for CVE-2019-5736 (see crate::exe): until execve, nothing in the
    // container may ptrace us or open our /proc files (exe, fds). execve resets it. Not in
    // a user namespace, where it would make our own /proc files unreachable to us.
    if !userns {
        nix::sys::prctl::set_dumpable(false)?;
    }
    let hook_state = match userns {
        true => Some(go(chan, args.cgroup)?),
        false => None,
    };
    if !args.joined {
        namespaces::enter_joined(&args.ns.join)?;
    }
    if !args.no_new_keyring {
        // Best effort, as in runc: some kernels/LSMs refuse keyrings in containers.
        let _ = sys::join_session_keyring(args.id);
    }
    if userns {
        nix::unistd::setresgid(0.into(), 0.into(), 0.into())
            .map_err(|e| anyhow!("becoming root in the user namespace: {e}"))?;
        nix::unistd::setresuid(0.into(), 0.into(), 0.into())
            .map_err(|e| anyhow!("becoming root in the user namespace: {e}"))?;
    }
    Ok(Resume {
        spec: args.spec.clone(),
        rootfs: args.rootfs.to_path_buf(),
        userns,
        new_cgroup: args.ns.new_cgroup,
        cgroup: args.cgroup.clone(),
        fifo: args.fifo.to_path_buf(),
        console: args.console.map(IntoRawFd::into_raw_fd),
        chan: chan.raw_fd(),
        no_pivot: args.no_pivot,
        extra_fds: args.extra_fds,
        hook_state,
        log: crate::logging::current(),
    })
}

/// rt's `Go`: the state JSON for hooks run inside the container. We join our cgroup v1
/// hierarchies at once, through the `tasks` files it carries (see Cgroup::join_files).
fn go(chan: &Channel, cgroup: &Cgroup) -> Result<String> {
    match chan.recv_fds()? {
        (Msg::Go { state }, join) => {
            if !join.is_empty() {
                cgroup.join_self(join)?;
                crate::logging::debug("init: joined its cgroup v1 hierarchies");
            }
            Ok(state)
        }
        (m, _) => Err(anyhow!("protocol error: expected Go, got {m:?}")),
    }
}

fn run(args: Resume, chan: &Channel) -> Result<Never> {
    let spec = &args.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| anyhow!("process: missing"))?;
    let linux = spec.linux().as_ref();
    // Again after a re-exec, which made us dumpable (see `join`).
    if !args.userns {
        nix::sys::prctl::set_dumpable(false)?;
    }
    nix::sys::stat::umask(nix::sys::stat::Mode::empty());

    // CVE-2025-52881: rt's own procfs for its /proc writes, taken before any mount.
    process::pin_procfs().map_err(|e| anyhow!("opening a private procfs: {e}"))?;
    // The exec fifo is a host path: hold it before pivot_root.
    let fifo = nix::fcntl::open(
        &args.fifo,
        nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .context("opening the exec fifo")?;

    // rt has made our cgroup (mounted below) once it lets us go.
    let hook_state = match args.hook_state {
        Some(s) => s,
        None => go(chan, &args.cgroup)?,
    };
    crate::logging::debug("init: namespaces joined");
    // Mounts, /dev, then the hooks that want to see them.
    rootfs::prepare(spec, &args.rootfs, &args.cgroup, args.userns)?;
    // rt now moves us into our cgroup2 directory unless we were cloned into it, then runs
    // the prestart and createRuntime hooks and answers HooksDone. Hooks must see us in
    // our cgroup and run before pivot_root, so with hooks we wait here; without, the wait
    // moves to just before anything that needs the cgroup, and the two overlap.
    crate::logging::debug("init: mounts and /dev made");
    chan.send(&Msg::RunHooks)?;
    let mut in_cgroup = false;
    if let Some(h) = spec.hooks() {
        #[allow(deprecated)]
        let any = [h.prestart(), h.create_runtime(), h.create_container()]
            .iter()
            .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()));
        if any {
            chan.expect(Msg::HooksDone)?;
            in_cgroup = true;
        }
        hooks::run(
            "createContainer",
            h.create_container().as_deref().unwrap_or(&[]),
            hook_state.as_bytes(),
        )?;
    }
    crate::logging::debug("init: before pivot_root");
    rootfs::pivot(&args.rootfs, args.no_pivot)?;
    if let Some(fd) = args.console {
        // SAFETY: the console socket's fd, handed over by `join`; ours alone.
        let sock = unsafe { UnixStream::from_raw_fd(fd) };
        let size = process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup_with_size(sock, true, size)?;
    }
    // Before finalize: a missing cwd is created (as runc does) while / is still writable.
    process::set_cwd(process.cwd())?;
    // Before finalize, as runc: sysctls are written while /proc/sys is still writable
    // (Docker sets net.ipv4.* sysctls and lists /proc/sys in readonlyPaths).
    if let Some(h) = spec.hostname() {
        nix::unistd::sethostname(h).map_err(|e| anyhow!("hostname: {e}"))?;
    }
    if let Some(d) = spec.domainname() {
        set_domainname(d)?;
    }
    for (k, v) in linux
        .and_then(|l| l.sysctl().as_ref())
        .into_iter()
        .flatten()
    {
        write_sysctl(k, v)?;
    }
    rootfs::finalize(spec)?;

    crate::logging::debug("init: rootfs finalized");
    // The process: attributes that need privileges, then where and what to exec.
    set_attributes(process, linux.and_then(|l| l.personality().as_ref()))?;
    let (exe, argv, env) = command(process, args.extra_fds)?;
    let filter = linux
        .and_then(|l| l.seccomp().as_ref())
        .map(seccomp::compile)
        .transpose()?;

    crate::logging::debug("init: process attributes set, seccomp compiled");
    if !in_cgroup {
        chan.expect(Msg::HooksDone)?;
    }
    // rt has put us in our cgroup by now: it becomes the cgroup namespace's root.
    if args.new_cgroup {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWCGROUP)
            .map_err(|e| anyhow!("linux.namespaces: new cgroup namespace: {e}"))?;
    }

    // As runc: privileges are dropped and seccomp is on before `create` returns.
    let listener = lock_down(process, filter, args.extra_fds)?;
    hand_over_listener(chan, listener)?;
    crate::logging::debug("init: privileges dropped, ready");
    chan.send(&Msg::Ready)?;

    // Blocks until `rt start` opens the fifo for reading.
    let mut w = File::options()
        .write(true)
        .open(format!("/proc/self/fd/{}", fifo.as_raw_fd()))
        .context("waiting on the exec fifo")?;
    let _ = nix::unistd::close(fifo);
    if let Some(h) = spec.hooks() {
        let created = with_status(&hook_state, "created");
        hooks::run(
            "startContainer",
            h.start_container().as_deref().unwrap_or(&[]),
            &created,
        )?;
    }
    // `start` reads this byte, then waits for EOF: the fifo is close-on-exec, so EOF
    // means the execve happened (or the init died) and poststart may run.
    w.write_all(b"0").context("writing the exec fifo")?;
    exec(&exe, &argv, &env)
}

/// The process attributes that need privileges (shared with exec): rlimits, oomScoreAdj,
/// ioPriority, scheduler, personality, LSM labels.
pub fn set_attributes(
    process: &Process,
    personality: Option<&oci_spec::runtime::LinuxPersonality>,
) -> Result<()> {
    if let Some(r) = process.rlimits() {
        process::set_rlimits(r)?;
    }
    if let Some(adj) = process.oom_score_adj() {
        process::set_oom_score_adj(adj)?;
    }
    if let Some(p) = process.io_priority() {
        process::set_io_priority(p)?;
    }
    if let Some(s) = process.scheduler() {
        process::set_scheduler(s)?;
    }
    if let Some(p) = personality {
        process::set_personality(p)?;
    }
    process::set_lsm_labels(process)
}

/// Privileges down and seccomp on, in runc's order: signal mask and fds first (they need
/// no privileges and must not need the filter's permission), then seccomp while still
/// privileged when noNewPrivileges is false, the bounding set, uid/gid, capabilities,
/// and with noNewPrivileges the filter last. Returns the notify listener, if any.
pub fn lock_down(
    process: &Process,
    filter: Option<seccomp::Filter>,
    extra_fds: u32,
) -> Result<Option<OwnedFd>> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None)?;
    sys::cloexec_from(3 + extra_fds)?;
    let nnp = process.no_new_privileges().unwrap_or(false);
    let mut filter = filter;
    let mut listener = None;
    if !nnp {
        if let Some(f) = filter.take() {
            listener = f.load()?;
        }
    }
    // Absent capabilities mean none at all, as in runc.
    let caps = process
        .capabilities()
        .clone()
        .unwrap_or_else(capabilities::empty);
    capabilities::drop_bounding(&caps)?;
    process::set_user(process.user())?;
    capabilities::apply(&caps)?;
    if nnp {
        process::set_no_new_privileges()?;
        if let Some(f) = filter.take() {
            listener = f.load()?;
        }
    }
    // rt's procfs has none of the container's masks: closed before anything in the
    // container can reach our fds (`rt exec` while created).
    process::release_procfs();
    Ok(listener)
}

/// Give rt the seccomp listener (it takes it with pidfd_getfd), then close ours so it
/// does not reach the container process.
pub fn hand_over_listener(chan: &Channel, listener: Option<OwnedFd>) -> Result<()> {
    if let Some(fd) = listener {
        chan.send(&Msg::SeccompFd(fd.as_raw_fd()))?;
        chan.expect(Msg::SeccompDone)?;
    }
    Ok(())
}

/// execve, or the error saying why not.
pub fn exec(exe: &CString, argv: &[CString], env: &[String]) -> Result<Never> {
    let envc: Vec<CString> = env
        .iter()
        .filter_map(|e| CString::new(e.as_str()).ok())
        .collect();
    let e = nix::unistd::execve(exe, argv, &envc).unwrap_err();
    Err(anyhow!("exec {:?}: {e}", exe))
}

/// The hook state JSON with another status (startContainer runs "created").
fn with_status(state: &str, status: &str) -> Vec<u8> {
    match serde_json::from_str::<serde_json::Value>(state) {
        Ok(mut v) => {
            v["status"] = status.into();
            serde_json::to_vec(&v).unwrap_or_default()
        }
        Err(_) => state.as_bytes().to_vec(),
    }
}

/// What to execve: args[0] found on the container's PATH, the argv, the environment.
pub fn command(process: &Process, extra_fds: u32) -> Result<(CString, Vec<CString>, Vec<String>)> {
    let env = environment(process, extra_fds);
    let argv = argv(process)?;
    let args0 = process
        .args()
        .as_ref()
        .and_then(|a| a.first())
        .cloned()
        .unwrap_or_default();
    let exe = process::find_executable(&args0, &env)?;
    Ok((exe, argv, env))
}

pub fn argv(process: &Process) -> Result<Vec<CString>> {
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| anyhow!("process.args: empty"))?;
    args.iter()
        .enumerate()
        .map(|(i, a)| {
            CString::new(a.as_str()).map_err(|_| anyhow!("process.args[{i}]: contains a NUL byte"))
        })
        .collect()
}

/// process.env, plus HOME when missing and the socket-activation variables.
pub fn environment(process: &Process, extra_fds: u32) -> Vec<String> {
    let mut env = crate::process::env_with_home(process);
    if let Ok(n) = std::env::var("LISTEN_FDS") {
        if extra_fds > 0 {
            env.push(format!("LISTEN_FDS={n}"));
            env.push("LISTEN_PID=1".into());
        }
    }
    env
}

fn set_domainname(name: &str) -> Result<()> {
    sys::set_domainname(name).map_err(|e| anyhow!("domainname: {e}"))
}

/// linux.sysctl: written through the container's own /proc/sys, nowhere else.
fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let f = crate::process::open_proc(&path, true)
        .map_err(|e| anyhow!("linux.sysctl.{key}: {path}: {e}"))?;
    (&f).write_all(value.as_bytes())
        .map_err(|e| anyhow!("linux.sysctl.{key}: writing {value:?}: {e}"))?;
    Ok(())
}
