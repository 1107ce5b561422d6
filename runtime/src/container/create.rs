//! `create`: the creation pipeline, as seen from rt. Each stage is one function call;
//! whatever a later stage fails on, `Undo` removes what earlier stages made.
use super::channel::{self, Msg};
use super::init::{self, InitArgs};
use crate::cgroups::Cgroup;
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
    if terminal && opts.console_socket.is_none() && !foreground {
        bail!("process.terminal is true but no --console-socket was given: a detached container cannot get a terminal without one");
    }
    let linux = spec.linux().as_ref();
    let ns = namespaces::plan(linux)?;

    // 2. The container's directory claims the id.
    let dir = ContainerDir::create(root, id)?;
    let mut undo = Undo {
        dir: Some(&dir),
        cgroup: None,
        pid: None,
    };

    // 3. Its cgroup, with linux.resources applied.
    let mut cgroup = Cgroup::new(linux.and_then(|l| l.cgroups_path().as_deref()), id)?;
    cgroup.create(linux.and_then(|l| l.resources().as_ref()))?;
    undo.cgroup = Some(cgroup.clone());

    // 4. The exec fifo that `start` opens.
    let fifo = dir.exec_fifo();
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o622))
        .context("creating the exec fifo")?;
    // Exactly 0622 whatever the umask: the init may be root of a user namespace, "other" here.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))?;

    // 5. The console: the caller's socket, or a pair when rt serves the terminal itself.
    let (console_init, console_host) = match (&opts.console_socket, terminal) {
        (Some(path), true) => (
            Some(
                crate::console::connect(path)
                    .map_err(|e| anyhow!("--console-socket {}: {e}", path.display()))?,
            ),
            None,
        ),
        (None, true) => {
            let (a, b) = UnixStream::pair()?;
            (Some(a), Some(b))
        }
        _ => (None, None),
    };

    let mut state = State {
        id: id.to_string(),
        pid: 0,
        pid_start: 0,
        bundle: bundle.clone(),
        rootfs: rootfs.clone(),
        created: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        owner: String::new(),
        cgroup: cgroup.clone(),
        config: spec.clone(),
        creating: true,
    };

    // 6. The init, cloned straight into its namespaces.
    let (chan, init_chan) = channel::pair()?;
    let back = namespaces::enter_pid(ns.join_pid.as_ref())?;
    let pid = sys::clone_fork(ns.clone_flags.bits())
        .map_err(|e| anyhow!("linux.namespaces: clone: {e}"))?;
    if pid == 0 {
        drop(chan);
        init::main(
            InitArgs {
                spec: &spec,
                rootfs: &rootfs,
                ns: &ns,
                cgroup: &cgroup,
                fifo: &fifo,
                console: console_init,
                no_pivot: opts.no_pivot,
                no_new_keyring: opts.no_new_keyring,
                extra_fds: extra_fds(opts.preserve_fds),
                id,
            },
            init_chan,
        );
    }
    drop(init_chan);
    drop(console_init);
    undo.pid = Some(pid);
    namespaces::leave_pid(back)?;
    state.pid = pid;
    // Recorded now so that `delete -f` can clean up after a create that died half-way.
    state.pid_start = state::process_start_time(pid).unwrap_or(0);
    dir.save(&state)?;

    // 7. Id maps and the cgroup, then the init may go on.
    namespaces::write_id_maps(pid, linux)?;
    cgroup.add_task(pid)?;
    let creating = state::hook_state_json(&state, Status::Creating);
    chan.send(&Msg::Go {
        state: String::from_utf8_lossy(&creating).into_owned(),
    })?;

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

    // 9. The init is ready and waits for start: record it.
    chan.expect(Msg::Ready)?;
    state.creating = false;
    dir.save(&state)?;
    if let Some(pid_file) = &opts.pid_file {
        write_pid_file(pid_file, pid)?;
    }
    undo.dir = None;
    undo.cgroup = None;
    undo.pid = None;
    drop(undo);
    Ok(Created {
        dir,
        state,
        console: console_host,
    })
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
