//! The foreground of `run` and `exec`: forward signals to the process, serve its
//! terminal when rt owns it, reap, and turn its end into an exit code (128+N for signal N).
use crate::Result;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, sigprocmask, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::termios;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// Block every signal so they queue for the signalfd. Call before spawning; the
/// container side restores an empty mask before execve.
pub fn block_signals() -> Result<()> {
    sigprocmask(SigmaskHow::SIG_BLOCK, Some(&SigSet::all()), None)?;
    Ok(())
}

pub fn forward_and_wait(pid: i32, master: Option<OwnedFd>) -> Result<i32> {
    let sfd = SignalFd::with_flags(&SigSet::all(), SfdFlags::SFD_CLOEXEC)?;
    let stdin = std::io::stdin();
    let _raw = master.as_ref().and_then(|_| RawMode::enable(stdin.as_fd()));
    if let Some(m) = &master {
        resize(stdin.as_fd(), m.as_fd());
    }
    let mut stdin_open = master.is_some();
    let mut master_open = master.is_some();
    let mut buf = [0u8; 8192];
    loop {
        let mut fds = vec![PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if let Some(m) = master.as_ref().filter(|_| master_open) {
            fds.push(PollFd::new(m.as_fd(), PollFlags::POLLIN));
        }
        let stdin_idx = fds.len();
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Err(nix::Error::EINTR) => continue,
            r => r?,
        };
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (sig_ready, master_ready, stdin_ready) = (
            ready(0),
            master_open && ready(1),
            stdin_open && ready(stdin_idx),
        );
        drop(fds);
        if master_ready {
            if let Some(m) = &master {
                match nix::unistd::read(m.as_raw_fd(), &mut buf) {
                    Ok(n) if n > 0 => write_all(1, &buf[..n]),
                    _ => master_open = false,
                }
            }
        }
        if stdin_ready {
            match nix::unistd::read(0, &mut buf) {
                Ok(n) if n > 0 => {
                    if let Some(m) = &master {
                        write_all(m.as_raw_fd(), &buf[..n]);
                    }
                }
                _ => stdin_open = false,
            }
        }
        if sig_ready {
            if let Some(info) = sfd.read_signal()? {
                let sig = info.ssi_signo as i32;
                if sig == libc::SIGCHLD {
                    if let Some(code) = reap(pid)? {
                        if let Some(m) = &master {
                            drain(m.as_fd(), &mut buf);
                        }
                        return Ok(code);
                    }
                } else if sig == libc::SIGWINCH {
                    if let Some(m) = &master {
                        resize(stdin.as_fd(), m.as_fd());
                    }
                } else if let Ok(s) = Signal::try_from(sig) {
                    let _ = kill(Pid::from_raw(pid), s);
                }
            }
        }
    }
}

/// Reap every exited child (rt is a subreaper); Some(code) once `pid` is among them.
fn reap(pid: i32) -> Result<Option<i32>> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => result = Some(code),
            Ok(WaitStatus::Signaled(p, s, _)) if p.as_raw() == pid => result = Some(128 + s as i32),
            Ok(WaitStatus::StillAlive) | Err(nix::Error::ECHILD) => return Ok(result),
            Ok(_) => continue,
            Err(nix::Error::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

fn write_all(fd: i32, mut data: &[u8]) {
    // SAFETY: fd is open for the duration of the call.
    let fd = unsafe { BorrowedFd::borrow_raw(fd) };
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => continue,
            Err(_) => return,
        }
    }
}

fn drain(master: BorrowedFd, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::new(master, PollFlags::POLLIN)];
        if !matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0) {
            return;
        }
        match nix::unistd::read(master.as_raw_fd(), buf) {
            Ok(n) if n > 0 => write_all(1, &buf[..n]),
            _ => return,
        }
    }
}

fn resize(from: BorrowedFd, to: BorrowedFd) {
    if let Ok(ws) = crate::sys::process::get_winsize(from) {
        let _ = crate::sys::process::set_winsize(to, &ws);
    }
}

/// The host terminal in raw mode while rt relays a container's terminal.
struct RawMode {
    saved: termios::Termios,
}

impl RawMode {
    fn enable(fd: BorrowedFd) -> Option<RawMode> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, termios::SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(
            std::io::stdin().as_fd(),
            termios::SetArg::TCSANOW,
            &self.saved,
        );
    }
}
