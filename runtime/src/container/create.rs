//! `create`: the creation pipeline, as seen from rt. Each stage is one function call;
//! whatever a later stage fails on, `Undo` removes what earlier stages made.
use super::channel::{self, Msg};
use super::init::{self, InitArgs};
use crate::cgroups::{Cgroup, Layout};
use crate::cli::CreateOpts;
use crate::state::{self, ContainerDir, State, Status};
use crate::{hooks, namespaces, rootfs, spec, sys, Result};
use anyhow::{anyhow, bail, Context};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// A created container: its init waits for `start`.
pub struct Created {
    pub dir: ContainerDir,
    pub state: State,
    /// The host end of a terminal rt itself must serve (`run` in the foreground).
    pub console: Option<UnixStream>,
}

/// What a failed create must take down again.
struct Undo<'a> {
    dir: Option<&'a ContainerDir>,
    cgroup: Option<Cgroup>,
    pid: Option<i32>,
    /// Once the init exists, a failed create ends like a delete: poststop hooks run.
    poststop: Option<(&'a [oci_spec::runtime::Hook], Vec<u8>)>,
}

impl Drop for Undo<'_> {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some(cg) = &self.cgroup {
            let _ = cg.destroy();
        }
        if let Some(dir) = self.dir {
            let _ = dir.remove();
        }
        if let Some((hooks, state)) = &self.poststop {
            if let Err(e) = hooks::run("poststop", hooks, state) {
                crate::logging::warn(&format!("{e:#}"));
            }
        }
    }
}

pub fn create(root: &Path, id: &str, opts: &CreateOpts, foreground: bool) -> Result<Created> {
    // 1. config.json, validated before anything is made on the host.
    let bundle = std::fs::canonicalize(&opts.bundle)
        .map_err(|e| anyhow!("--bundle {}: {e}", opts.bundle.display()))?;
    let spec = spec::load(&bundle)?;
    spec::validate(&spec, &bundle)?;
    let rootfs = rootfs::rootfs_path(&spec, &bundle)?;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| anyhow!("process: missing"))?;
    let terminal = process.terminal().unwrap_or(false);
    if !terminal && opts.console_socket.is_some() {
        bail!("--console-socket given but process.terminal is false: there is no terminal to send");
    }
    if terminal && opts.console_socket.is_none() && !foreground {
        bail!("process.terminal is true but no --console-socket was given: a detached container cannot get a terminal without one");
    }
    let linux = spec.linux().as_ref();
    let ns = namespaces::plan(linux)?;
    // CVE-2019-5736: a container in rt's own pid namespace can reach rt itself, so rt
    // runs from a read-only mount of its binary first (see crate::exe). Otherwise only the
    // init is reachable, and it re-execs itself from `sealed`, off the start path.
    if ns.shares_our_pid_ns()? {
        crate::exe::ensure_readonly()?;
    }
    let sealed = crate::exe::sealed()?;

    crate::logging::debug("create: config loaded and validated");
    // 2. The container's directory claims the id; its lock keeps other rt calls on this id
    // waiting until the container is created (or cleaned up).
    let dir = ContainerDir::create(root, id)?;
    // Declared before the Undo: dropped after it, so the lock covers the cleanup.
    let lock = dir.lock().inspect_err(|_| {
        let _ = dir.remove();
    })?;
    let mut undo = Undo {
        dir: Some(&dir),
        cgroup: None,
        pid: None,
        poststop: None,
    };

    // 3. Its cgroup. The state is recorded before any directory of it is made, naming
    // them, so that if rt dies from then on, `delete -f` finds and removes all of them.
    // The init is cloned into its cgroup2 directory, so that is made now (on pure v2 the
    // whole cgroup); v1 directories after the clone, while the init re-execs itself (see
    // crate::exe), and the init joins them itself (see Cgroup::join_files).
    let mut cgroup = Cgroup::new(linux.and_then(|l| l.cgroups_path().as_deref()), id)?;
    let resources = linux.and_then(|l| l.resources().as_ref());
    let mut state = State {
        id: id.to_string(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        owner: String::new(),
        cgroup: planned(&cgroup),
        config: spec.clone(),
        creating: true,
    };
    let cgroup_first = cgroup.layout == Layout::V2;
    let via_intermediate = ns.needs_intermediate();
    if cgroup_first {
        make_cgroup(&dir, &mut state, &mut cgroup, resources, &mut undo)?;
    } else if cgroup.unified_dir().is_some() && !via_intermediate {
        dir.save(&state)?;
        cgroup.create_unified()?;
        undo.cgroup = Some(cgroup.clone());
    }
    // 4. The exec fifo that `start` opens.
    let fifo = dir.exec_fifo();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .context("creating the exec fifo")?;
    // Exactly 0622 whatever the umask: the init may be root of a user namespace, "other" here.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))?;

    // 5. The console: the caller's socket, or a pair when rt serves the terminal itself.
    let (console_init, console_host) =
        crate::console::endpoints(opts.console_socket.as_deref(), terminal)?;

    // 6. The init, cloned straight into its namespaces.
    let (chan, init_chan) = channel::pair()?;
    let back = match via_intermediate {
        false => Some(namespaces::enter_for_children(&ns, linux)?),
        true => None,
    };
    let flags = if via_intermediate {
        0
    } else {
        ns.clone_flags.bits()
    };
    // The init is cloned straight into its cgroup2 directory (clone3 CLONE_INTO_CGROUP,
    // Linux 5.7+): no cgroup.procs write. Without one, or if the kernel refuses, a plain
    // clone, and rt moves it below.
    let (child, born_in_cgroup) = match via_intermediate {
        false => clone_into(&cgroup, flags)?,
        true => (
            sys::clone_fork(flags).map_err(|e| anyhow!("linux.namespaces: clone: {e}"))?,
            false,
        ),
    };
    if child == 0 {
        drop(chan);
        // Our copy only: closing it leaves rt's lock held (no LOCK_UN).
        drop(lock);
        if via_intermediate {
            match intermediate(&ns, linux, &init_chan) {
                Ok(0) => {}
                Ok(init) => {
                    let _ = init_chan.send(&Msg::InitPid(init));
                    // SAFETY: _exit in a forked child.
                    unsafe { libc::_exit(0) }
                }
                Err(e) => {
                    let _ = init_chan.send(&Msg::Error(format!("{e:#}")));
                    // SAFETY: _exit in a forked child.
                    unsafe { libc::_exit(1) }
                }
            }
        }
        init::main(
            InitArgs {
                spec: &spec,
                rootfs: &rootfs,
                ns: &ns,
                joined: via_intermediate,
                cgroup: &cgroup,
                fifo: &fifo,
                console: console_init,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                extra_fds: extra_fds(opts.preserve_fds),
                id,
                sealed,
            },
            init_chan,
        );
    }
    // Our copies of the child's ends: the init's EOF must reach us if it dies. The
    // init's copy of the sealed binary is the last: it goes at its exec, not at our exit.
    drop(init_chan);
    drop(console_init);
    drop(sealed);
    let pid = if via_intermediate {
        undo.pid = Some(child);
        let pid = await_init(child, &chan, linux)?;
        let _ = waitpid(Pid::from_raw(child), None);
        pid
    } else {
        child
    };
    undo.pid = Some(pid);
    if let Some(back) = back {
        namespaces::leave_for_children(back)?;
    }
    state.pid = pid;
    // Recorded now so that `delete -f` can clean up after a create that died half-way.
    state.pid_start = state::process_start_time(pid).unwrap_or(0);
    match cgroup_first {
        true => dir.save(&state)?,
        false => make_cgroup(&dir, &mut state, &mut cgroup, resources, &mut undo)?,
    }

    crate::logging::debug("create: init cloned");
    // 7. Id maps, then the init may go on (it needs them, and its cgroup, before it
    // mounts). It joins its v1 hierarchies itself, first thing, through the `tasks` files
    // sent with Go (Cgroup::join_files: no RCU grace period, unlike a move by rt).
    if !via_intermediate {
        namespaces::write_id_maps(pid, linux)?;
    }
    let creating = state::hook_state_json(&state, Status::Creating);
    if let Some(h) = spec.hooks().as_ref().and_then(|h| h.poststop().as_deref()) {
        undo.poststop = Some((h, state::hook_state_json(&state, Status::Stopped)));
    }
    let join = cgroup.join_files()?;
    let join_fds: Vec<_> = join.iter().map(std::os::fd::AsFd::as_fd).collect();
    let go = Msg::Go {
        state: String::from_utf8_lossy(&creating).into_owned(),
    };
    chan.send_fds(&go, &join_fds)?;
    drop(join_fds);
    drop(join);
    // Not cloned into its cgroup2 directory: moved there now, while the init mounts. The
    // init does not unshare its cgroup namespace, nor run anything of the container's,
    // before HooksDone, which comes after this.
    if born_in_cgroup {
        crate::logging::debug("create: init was cloned into its cgroup2 directory");
    } else if cgroup.unified_dir().is_some() {
        cgroup.add_task_unified(pid)?;
        crate::logging::debug("create: init moved into its cgroup2 directory");
    }
    crate::logging::debug("create: init sent to its cgroup");
    // 8. Hooks that run in the runtime's namespaces, once the init's mounts are made.
    chan.expect(Msg::RunHooks)?;
    if let Some(h) = spec.hooks() {
        #[allow(deprecated)]
        hooks::run(
            "prestart",
            h.prestart().as_deref().unwrap_or(&[]),
            &creating,
        )?;
        hooks::run(
            "createRuntime",
            h.create_runtime().as_deref().unwrap_or(&[]),
            &creating,
        )?;
    }
    chan.send(&Msg::HooksDone)?;

    crate::logging::debug("create: runtime hooks done");
    // 9. The init is ready and waits for start: record it (first handing its seccomp
    // listener, if any, to the agent).
    loop {
        let msg = chan.recv().map_err(|e| oom_hint(e, &cgroup, linux))?;
        match msg {
            Msg::Ready => break,
            Msg::SeccompFd(fd) => {
                let seccomp = linux.and_then(|l| l.seccomp().as_ref());
                super::exec::take_listener(pid, fd, seccomp, &creating)?;
                chan.send(&Msg::SeccompDone)?;
            }
            m => bail!("protocol error: expected Ready, got {m:?}"),
        }
    }
    state.creating = false;
    dir.save(&state)?;
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    undo.dir = None;
    undo.cgroup = None;
    undo.pid = None;
    undo.poststop = None;
    drop(undo);
    drop(lock);
    Ok(Created {
        dir,
        state,
        console: console_host,
    })
}

/// Record `state` (its cgroup: the directories about to be made, see `planned`), then make
/// the cgroup with linux.resources applied; from then on a failed create removes it.
fn make_cgroup<'a>(
    dir: &ContainerDir,
    state: &mut State,
    cgroup: &mut Cgroup,
    resources: Option<&oci_spec::runtime::LinuxResources>,
    undo: &mut Undo<'a>,
) -> Result<()> {
    dir.save(state)?;
    cgroup.create(resources)?;
    undo.cgroup = Some(cgroup.clone());
    state.cgroup = cgroup.clone();
    crate::logging::debug("create: cgroup made");
    Ok(())
}

/// `cgroup` as it will be once `create` has made every directory of it that does not
/// exist yet (parents before children), for the state recorded before it is made.
fn planned(cgroup: &Cgroup) -> Cgroup {
    let mut c = cgroup.clone();
    c.created.clear();
    for h in &cgroup.hierarchies {
        let mut cur = h.mount.clone();
        for comp in cgroup.path.split('/').filter(|c| !c.is_empty()) {
            cur.push(comp);
            if !cur.exists() && !c.created.contains(&cur) {
                c.created.push(cur.clone());
            }
        }
    }
    c
}

/// --preserve-fds plus the systemd socket-activation fds in $LISTEN_FDS.
fn extra_fds(preserve: u32) -> u32 {
    let listen = std::env::var("LISTEN_FDS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(0);
    preserve + listen
}

/// Write the pid file atomically, as runc does (callers poll for it).
pub fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("pid")
    ));
    std::fs::write(&tmp, pid.to_string())
        .map_err(|e| anyhow!("--pid-file {}: {e}", path.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| anyhow!("--pid-file {}: {e}", path.display()))?;
    Ok(())
}

/// An init that died while being created may have been OOM-killed by a memory limit
/// below what it needs: say so, naming the field, rather than "exited".
fn oom_hint(
    e: anyhow::Error,
    cgroup: &Cgroup,
    linux: Option<&oci_spec::runtime::Linux>,
) -> anyhow::Error {
    if cgroup.oom_count().unwrap_or(0) == 0 {
        return e;
    }
    let limit = linux
        .and_then(|l| l.resources().as_ref())
        .and_then(|r| r.memory().as_ref())
        .and_then(|m| m.limit());
    match limit {
        Some(l) => anyhow!("linux.resources.memory.limit: the container's init was OOM-killed during create: {l} bytes is too little"),
        None => anyhow!("the container's init was OOM-killed during create ({e})"),
    }
}

/// The intermediate process, for a joined user namespace (or a new one beside joined
/// namespaces): enter what is joined, then create what is new inside it, then clone the
/// init as rt's child (CLONE_PARENT), so its pid is valid in rt's pid namespace.
/// Returns 0 in the init, the init's pid in the intermediate.
fn intermediate(
    ns: &namespaces::Plan,
    linux: Option<&oci_spec::runtime::Linux>,
    chan: &channel::Channel,
) -> Result<i32> {
    use nix::sched::{setns, unshare, CloneFlags};
    use std::os::fd::AsFd;
    if let Some(u) = &ns.join_user {
        setns(u.as_fd(), CloneFlags::CLONE_NEWUSER)
            .map_err(|e| anyhow!("joining user namespace: {e}"))?;
    }
    namespaces::enter_joined(&ns.join)?;
    if ns.new_user {
        unshare(CloneFlags::CLONE_NEWUSER)
            .map_err(|e| anyhow!("linux.namespaces: new user namespace: {e}"))?;
        chan.send(&Msg::WriteMaps)?;
        chan.expect(Msg::MapsDone)?;
    }
    // The pid and time namespaces the init is born in (ours need no restoring: we exit).
    namespaces::enter_for_children(ns, linux)?;
    let rest = ns.clone_flags - CloneFlags::CLONE_NEWUSER;
    unshare(rest).map_err(|e| anyhow!("linux.namespaces: unshare: {e}"))?;
    sys::clone_fork(libc::CLONE_PARENT).map_err(|e| anyhow!("clone: {e}"))
}

/// rt's side of the intermediate: write its id maps when asked, learn the init's pid.
fn await_init(
    intermediate: i32,
    chan: &channel::Channel,
    linux: Option<&oci_spec::runtime::Linux>,
) -> Result<i32> {
    loop {
        match chan.recv()? {
            Msg::WriteMaps => {
                namespaces::write_id_maps(intermediate, linux)?;
                chan.send(&Msg::MapsDone)?;
            }
            Msg::InitPid(pid) => return Ok(pid),
            m => bail!("protocol error: expected InitPid, got {m:?}"),
        }
    }
}

/// Clone (fork semantics, `flags` as for `sys::clone_fork`) straight into `cg` where the
/// layout allows it (pure v2: clone3 CLONE_INTO_CGROUP), else a plain clone. Returns the
/// pid (0 in the child) and whether the child was born in the cgroup; if not, the caller
/// moves it with `add_task`.
pub(super) fn clone_into(cg: &Cgroup, flags: libc::c_int) -> Result<(i32, bool)> {
    if let Some(fd) = cg.clone_target() {
        match sys::clone_into_cgroup(flags, std::os::fd::AsFd::as_fd(&fd)) {
            Ok(pid) => return Ok((pid, true)),
            Err(e) => crate::logging::debug(&format!(
                "clone3 into the cgroup refused ({e}), cloning and moving the process"
            )),
        }
    }
    let pid = sys::clone_fork(flags).map_err(|e| anyhow!("linux.namespaces: clone: {e}"))?;
    Ok((pid, false))
}
