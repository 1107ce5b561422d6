//! `start`: open the exec fifo for reading, which releases the init into execve.
use crate::state::{self, ContainerDir, State, Status};
use crate::{hooks, logging, sys, Result};
use anyhow::{anyhow, bail};
use nix::fcntl::{open, OFlag};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::stat::Mode;
use std::os::fd::{AsFd, OwnedFd};

pub fn start(dir: &ContainerDir, st: &State) -> Result<()> {
    match dir.status(st) {
        Status::Created => {}
        Status::Stopped => bail!("cannot start a container that has stopped"),
        s => bail!("cannot start an already {} container", s.as_str()),
    }
    let raw = open(
        &dir.exec_fifo(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| anyhow!("opening the exec fifo: {e}"))?;
    // SAFETY: `open` returned a fresh fd that nothing else owns.
    let fifo: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) };
    let pidfd =
        sys::pidfd_open(st.pid).map_err(|e| anyhow!("the container's init is gone: {e}"))?;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            r => r?,
        };
        if fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP))
        {
            let mut b = [0u8; 1];
            if nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fifo), &mut b)? == 1 {
                break;
            }
        }
        if fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            bail!("the container's init exited before start");
        }
    }
    let _ = std::fs::remove_file(dir.exec_fifo());
    if let Some(h) = st.config.hooks() {
        let json = state::hook_state_json(st, Status::Running);
        if let Err(e) = hooks::run("poststart", h.poststart().as_deref().unwrap_or(&[]), &json) {
            logging::warn(&format!("{e:#}"));
        }
    }
    Ok(())
}
