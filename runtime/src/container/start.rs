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
        Status::Stopped => bail!("cannot start container {}: it has stopped", st.id),
        s => bail!(
            "cannot start container {}: it is already {}",
            st.id,
            s.as_str()
        ),
    }
    // The pidfd first: opening the fifo lets the process run, and one that exits at once
    // and is reaped by its parent would otherwise look like a missing init.
    let pidfd =
        sys::pidfd_open(st.pid).map_err(|e| anyhow!("the container's init is gone: {e}"))?;
    let raw = open(
        &dir.exec_fifo(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| anyhow!("opening the exec fifo: {e}"))?;
    // SAFETY: `open` returned a fresh fd that nothing else owns.
    let fifo: OwnedFd = unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) };
    // The init writes one byte once startContainer hooks ran; EOF follows at its execve.
    let mut got_byte = false;
    loop {
        let mut fds = [
            PollFd::new(fifo.as_fd(), PollFlags::POLLIN),
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            r => r?,
        };
        let fifo_ready = fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP));
        let init_gone = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        if fifo_ready {
            let mut b = [0u8; 1];
            match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(&fifo), &mut b) {
                Ok(1) => got_byte = true,
                Ok(_) if got_byte => break,
                Ok(_) | Err(nix::Error::EAGAIN) => {}
                Err(e) => return Err(e.into()),
            }
        }
        if init_gone {
            if got_byte {
                break;
            }
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
