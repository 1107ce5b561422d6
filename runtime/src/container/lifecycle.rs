//! kill, delete, pause and resume: shared by the CLI and the shim.
use crate::state::{self, ContainerDir, State, Status};
use crate::{hooks, logging, sys, Result};
use anyhow::{anyhow, bail};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::os::fd::AsFd;
use std::path::Path;
use std::str::FromStr;

/// Open a container: its directory and state (an error if it does not exist).
pub fn load(root: &Path, id: &str) -> Result<(ContainerDir, State)> {
    let dir = ContainerDir::open(root, id)?;
    let st = dir
        .load()?
        .ok_or_else(|| anyhow!("container {id} is still being created"))?;
    Ok((dir, st))
}

/// `load`, holding the container's lock (see `ContainerDir::lock`) until the returned
/// lock is dropped.
pub fn load_locked(root: &Path, id: &str) -> Result<(ContainerDir, State, state::DirLock)> {
    let dir = ContainerDir::open(root, id)?;
    let lock = dir.lock()?;
    let st = dir
        .load()?
        .ok_or_else(|| anyhow!("container {id} is still being created"))?;
    Ok((dir, st, lock))
}

/// Signal names with or without SIG, or numbers, as runc takes them.
pub fn parse_signal(s: &str) -> Result<Signal> {
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| anyhow!("invalid signal {s:?}"));
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).map_err(|_| anyhow!("invalid signal {s:?}"))
}

/// Signal the init (or, with `all`, every process in the container's cgroup).
pub fn kill(dir: &ContainerDir, st: &State, sig: Signal, all: bool) -> Result<()> {
    let status = dir.status(st);
    if status == Status::Stopped {
        bail!("container {} is not running", st.id);
    }
    // pidfd: no race with a recycled pid after the start-time check above. Taken before
    // `--all` signals the cgroup, whose SIGKILL may end the init and let its parent (a
    // containerd shim, a subreaper) reap it before the init is signalled below.
    let pidfd =
        sys::pidfd_open(st.pid).map_err(|_| anyhow!("container {} is not running", st.id))?;
    if all {
        let pids = st.cgroup.pids()?;
        for pid in pids {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), sig);
        }
        if status == Status::Paused && sig == Signal::SIGKILL {
            let _ = st.cgroup.thaw();
        }
    }
    match sys::pidfd_send_signal(pidfd.as_fd(), sig as i32) {
        Ok(()) => Ok(()),
        // With --all the init was signalled as a member of the cgroup and is gone already.
        Err(_) if all => Ok(()),
        Err(e) => Err(anyhow!("signalling container {}: {e}", st.id)),
    }
}

/// Wait (up to `timeout_ms`) for a process that is not our child to exit.
pub fn wait_exit(pid: i32, timeout_ms: u16) -> bool {
    let Ok(pidfd) = sys::pidfd_open(pid) else {
        return true;
    };
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, PollTimeout::from(timeout_ms)), Ok(n) if n > 0)
}

/// Delete a container: refuse a live one unless `force`, else kill what is left, remove
/// its cgroup and state, then run the poststop hooks.
pub fn delete(dir: &ContainerDir, st: &State, force: bool) -> Result<()> {
    let status = dir.status(st);
    match status {
        // The init is gone, but without a pid namespace its children may live on in
        // the cgroup (runc kills them too): the cgroup could not be removed otherwise.
        Status::Stopped => {
            if st.cgroup.owns_dir() {
                kill_all(st)
            }
        }
        Status::Created | Status::Creating => kill_all(st),
        Status::Running | Status::Paused if force => kill_all(st),
        s => bail!(
            "cannot delete container {} that is not stopped: {}",
            st.id,
            s.as_str()
        ),
    }
    st.cgroup.destroy()?;
    dir.remove()?;
    if let Some(h) = st.config.hooks() {
        let json = state::hook_state_json(st, Status::Stopped);
        if let Err(e) = hooks::run("poststop", h.poststop().as_deref().unwrap_or(&[]), &json) {
            logging::warn(&format!("{e:#}"));
        }
    }
    Ok(())
}

fn kill_all(st: &State) {
    for pid in st.cgroup.pids().unwrap_or_default() {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = st.cgroup.thaw();
    if state::process_start_time(st.pid) == Some(st.pid_start) {
        if let Ok(pidfd) = sys::pidfd_open(st.pid) {
            let _ = sys::pidfd_send_signal(pidfd.as_fd(), libc::SIGKILL);
        }
        if !wait_exit(st.pid, 10_000) {
            logging::warn(&format!(
                "container {}: init {} did not exit after SIGKILL",
                st.id, st.pid
            ));
        }
    }
}

pub fn pause(dir: &ContainerDir, st: &State) -> Result<()> {
    match dir.status(st) {
        Status::Running => st.cgroup.freeze(),
        s => bail!("container {} is not running: {}", st.id, s.as_str()),
    }
}

pub fn resume(dir: &ContainerDir, st: &State) -> Result<()> {
    match dir.status(st) {
        Status::Paused => st.cgroup.thaw(),
        s => bail!("container {} is not paused: {}", st.id, s.as_str()),
    }
}
