//! `exec`: a new process in a running container's namespaces and cgroup.
use super::channel::{self, Msg};
use super::init::{command, exec, hand_over_listener, lock_down, set_attributes};
use crate::state::State;
use crate::{console, namespaces, seccomp, sys, Result};
use anyhow::{anyhow, bail, Context};
use nix::sched::{setns, CloneFlags};
use oci_spec::runtime::{LinuxNamespaceType, Process};
use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;

pub struct Spawned {
    pub pid: i32,
    /// The host end of a terminal rt serves itself (no --console-socket).
    pub console: Option<UnixStream>,
}

pub fn spawn(
    st: &State,
    process: &Process,
    console_socket: Option<&Path>,
    extra_fds: u32,
) -> Result<Spawned> {
    let nss: Vec<(LinuxNamespaceType, File)> = namespaces::of_process(st.pid)
        .into_iter()
        .map(|(t, p)| {
            File::open(&p)
                .map(|f| (t, f))
                .map_err(|e| anyhow!("opening {}: {e}", p.display()))
        })
        .collect::<Result<_>>()?;
    let terminal = process.terminal().unwrap_or(false);
    let (console_child, console_host) = crate::console::endpoints(console_socket, terminal)?;
    let seccomp_cfg = st.config.linux().as_ref().and_then(|l| l.seccomp().clone());
    let (chan, child_chan) = channel::pair()?;

    // The pid namespace only applies to children: enter it here, around the clone.
    let pid_ns = nss.iter().find(|(t, _)| *t == LinuxNamespaceType::Pid);
    let back = match pid_ns {
        Some((_, f)) => {
            let own: std::os::fd::OwnedFd = File::open("/proc/self/ns/pid")?.into();
            setns(f.as_fd(), CloneFlags::CLONE_NEWPID)
                .map_err(|e| anyhow!("joining pid namespace: {e}"))?;
            Some(own)
        }
        None => None,
    };
    // Into the container's cgroup2 directory (clone3), else moved below; the v1
    // hierarchies it joins itself (Cgroup::join_files), with Go.
    let join = st.cgroup.join_files()?;
    let (pid, in_cgroup) = super::create::clone_into(&st.cgroup, 0)?;
    if pid == 0 {
        drop(chan);
        drop(join);
        let e = child(
            &nss,
            &st.cgroup,
            process,
            console_child,
            st.config.linux().as_ref(),
            extra_fds,
            &child_chan,
        )
        .unwrap_err();
        let _ = child_chan.send(&Msg::Error(format!("{e:#}")));
        // SAFETY: _exit in a forked child.
        unsafe { libc::_exit(127) }
    }
    drop(child_chan);
    drop(console_child);
    if let Some(own) = back {
        setns(own.as_fd(), CloneFlags::CLONE_NEWPID)?;
    }
    let fail = |e: anyhow::Error| {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
        e
    };
    if !in_cgroup {
        st.cgroup.add_task_unified(pid).map_err(fail)?;
    }
    let join_fds: Vec<_> = join.iter().map(AsFd::as_fd).collect();
    let go = Msg::Go {
        state: String::new(),
    };
    chan.send_fds(&go, &join_fds).map_err(fail)?;
    drop(join_fds);
    drop(join);
    // A successful execve closes the channel (CLOEXEC); an error comes as a message.
    loop {
        match chan.recv_opt() {
            Ok(None) => {
                return Ok(Spawned {
                    pid,
                    console: console_host,
                })
            }
            Ok(Some(Msg::SeccompFd(fd))) => {
                let running = crate::state::hook_state_json(st, crate::state::Status::Running);
                take_listener(pid, fd, seccomp_cfg.as_ref(), &running).map_err(fail)?;
                chan.send(&Msg::SeccompDone).map_err(fail)?;
            }
            Ok(Some(m)) => return Err(fail(anyhow!("protocol error: unexpected {m:?}"))),
            Err(e) => return Err(fail(e)),
        }
    }
}

fn child(
    nss: &[(LinuxNamespaceType, File)],
    cgroup: &crate::cgroups::Cgroup,
    process: &Process,
    console_sock: Option<UnixStream>,
    linux: Option<&oci_spec::runtime::Linux>,
    extra_fds: u32,
    chan: &channel::Channel,
) -> Result<std::convert::Infallible> {
    // As the init (see there): no ptrace or /proc access from the container until execve.
    if !nss.iter().any(|(t, _)| *t == LinuxNamespaceType::User) {
        nix::sys::prctl::set_dumpable(false)?;
    }
    let seccomp_cfg = linux.and_then(|l| l.seccomp().as_ref());
    let personality = linux.and_then(|l| l.personality().as_ref());
    match chan.recv_fds()? {
        (Msg::Go { .. }, join) => cgroup.join_self(join)?,
        (m, _) => bail!("protocol error: expected Go, got {m:?}"),
    }
    // CVE-2025-52881: rt's own procfs for its /proc writes, taken in the host's mount
    // namespace, before the container's is joined.
    crate::process::pin_procfs().map_err(|e| anyhow!("opening a private procfs: {e}"))?;
    // User first (it grants the rights to the others), mount last.
    let order = [
        LinuxNamespaceType::User,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Time,
        LinuxNamespaceType::Mount,
    ];
    for t in order {
        if let Some((_, f)) = nss.iter().find(|(x, _)| *x == t) {
            setns(f.as_fd(), namespaces::flag(t))
                .map_err(|e| anyhow!("joining {} namespace: {e}", namespaces::proc_name(t)))?;
        }
    }
    if nss.iter().any(|(t, _)| *t == LinuxNamespaceType::Mount) {
        nix::unistd::chdir("/")?;
    }
    set_attributes(process, personality)?;
    nix::unistd::chdir(process.cwd())
        .map_err(|e| anyhow!("process.cwd: {}: {e}", process.cwd().display()))?;
    crate::process::check_cwd_inside(process.cwd())?;
    if let Some(sock) = console_sock {
        let size = process
            .console_size()
            .as_ref()
            .map(|b| (b.height() as u16, b.width() as u16));
        console::setup_with_size(sock, false, size)?;
    }
    let (exe, argv, env) = command(process, extra_fds)?;
    let filter = seccomp_cfg
        .map(seccomp::compile)
        .transpose()
        .context("linux.seccomp")?;
    let listener = lock_down(process, filter, extra_fds)?;
    hand_over_listener(chan, listener)?;
    match exec(&exe, &argv, &env)? {}
}

/// Take the seccomp listener `fd` from process `pid` and hand it to the agent at
/// linux.seccomp.listenerPath.
pub fn take_listener(
    pid: i32,
    fd: i32,
    cfg: Option<&oci_spec::runtime::LinuxSeccomp>,
    state_json: &[u8],
) -> Result<()> {
    let cfg = cfg.ok_or_else(|| anyhow!("linux.seccomp: a listener without a seccomp config"))?;
    let pidfd = sys::pidfd_open(pid)?;
    let listener = sys::pidfd_getfd(pidfd.as_fd(), fd)
        .map_err(|e| anyhow!("taking the seccomp listener: {e}"))?;
    let state: serde_json::Value = serde_json::from_slice(state_json)?;
    seccomp::send_to_listener(cfg, listener.as_fd(), pid, &state)
}
