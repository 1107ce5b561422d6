//! process.terminal and --console-socket: a pty whose master goes to the caller.
//!
//! Contract:
//! - `connect(path)` connects to the caller's AF_UNIX socket. Called by rt (`create`,
//!   `exec`) before the container process is forked (the path is a host path).
//! - `setup(socket)` called in init after pivot_root: opens a pty through the container's
//!   /dev/ptmx, sends the master over `socket` with SCM_RIGHTS (runc's protocol: one
//!   message, the fd, and the name of the pty), bind-mounts the slave onto /dev/console
//!   when `mount_console`, then makes the slave the controlling terminal and fds 0, 1, 2.
//!   `setup_with_size` also applies process.consoleSize (init and `exec` call this one).
//!   `send_fd`/`receive_named` are the SCM_RIGHTS halves of that protocol.
//! - `receive(listener)` for `rt run` in the foreground: accept one connection and
//!   return the master fd it carries (`receive` reads it from a connected stream,
//!   `accept_and_receive` accepts first).
//! - `copy_io(master, stop)` relays our stdin to the master and the master to our stdout
//!   (host terminal in raw mode while it runs) until the pty hangs up or `stop` (e.g. a
//!   pidfd of the container process) becomes readable; `copy_io_fds` is the same relay
//!   between given fds.
use crate::sys::process as sys;
use crate::Result;
use anyhow::{anyhow, bail, Context};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags};
use std::fs::OpenOptions;
use std::io::{self, IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;

/// runc's limit on the name sent with the master.
const MAX_NAME_LEN: usize = 4096;

/// The caller (create, exec) names `--console-socket` in its error.
pub fn connect(path: &Path) -> Result<UnixStream> {
    Ok(UnixStream::connect(path)?)
}

pub fn setup(socket: UnixStream, mount_console: bool) -> Result<()> {
    setup_with_size(socket, mount_console, None)
}

/// `setup`, and the pty gets process.consoleSize (height, width) when given.
pub fn setup_with_size(
    socket: UnixStream,
    mount_console: bool,
    size: Option<(u16, u16)>,
) -> Result<()> {
    let flags = libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC;
    let master: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
        .open("/dev/ptmx")
        .map_err(|e| anyhow!("process.terminal: opening /dev/ptmx: {e}"))?
        .into();
    sys::pty_unlock(master.as_fd()).map_err(|e| anyhow!("process.terminal: unlockpt: {e}"))?;
    let n =
        sys::pty_number(master.as_fd()).map_err(|e| anyhow!("process.terminal: ptsname: {e}"))?;
    let name = format!("/dev/pts/{n}");
    let slave: OwnedFd = match sys::pty_peer(master.as_fd(), flags) {
        Ok(fd) => fd,
        Err(_) => OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(&name)
            .map_err(|e| anyhow!("process.terminal: opening {name}: {e}"))?
            .into(),
    };
    if let Some((height, width)) = size {
        let ws = libc::winsize {
            ws_row: height,
            ws_col: width,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        sys::set_winsize(master.as_fd(), &ws)
            .map_err(|e| anyhow!("process.consoleSize: TIOCSWINSZ: {e}"))?;
    }
    if mount_console {
        mount_dev_console(&name, slave.as_fd())?;
    }
    send_fd(&socket, &name, master.as_fd())
        .map_err(|e| anyhow!("--console-socket: sending the pty master: {e}"))?;
    drop(master);
    drop(socket);

    if let Err(e) = nix::unistd::setsid() {
        // Already a session leader is fine.
        if nix::unistd::getsid(None).ok() != Some(nix::unistd::getpid()) {
            bail!("process.terminal: setsid: {e}");
        }
    }
    sys::set_controlling_tty(slave.as_fd())
        .map_err(|e| anyhow!("process.terminal: TIOCSCTTY: {e}"))?;
    for target in 0..=2 {
        if slave.as_raw_fd() != target {
            nix::unistd::dup2(slave.as_raw_fd(), target)
                .map_err(|e| anyhow!("process.terminal: dup2 onto fd {target}: {e}"))?;
        }
    }
    if slave.as_raw_fd() <= 2 {
        // It is one of 0, 1, 2 itself: keep it, and let it survive exec.
        let fd = slave.into_raw_fd();
        // SAFETY: fcntl on an fd we hold.
        unsafe { libc::fcntl(fd, libc::F_SETFD, 0) };
    }
    Ok(())
}

/// Bind the pty slave onto /dev/console, creating it as a plain file when missing
/// (or when the rootfs has a symlink there). The mount goes onto the file opened here
/// (O_PATH|O_NOFOLLOW; open_tree + move_mount, no path through /proc), checked to be a regular file or a
/// character device: a symlink swapped in meanwhile cannot redirect it (CVE-2025-52565).
fn mount_dev_console(name: &str, slave: BorrowedFd<'_>) -> Result<()> {
    let console = Path::new("/dev/console");
    match std::fs::symlink_metadata(console) {
        Ok(m) if m.file_type().is_symlink() => std::fs::remove_file(console)
            .map_err(|e| anyhow!("process.terminal: removing symlink /dev/console: {e}"))?,
        _ => {}
    }
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(console)
    {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(anyhow!("process.terminal: creating /dev/console: {e}")),
    }
    let target = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_PATH | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(console)
        .map_err(|e| anyhow!("process.terminal: opening /dev/console: {e}"))?;
    let kind = target.metadata()?.file_type();
    use std::os::unix::fs::FileTypeExt;
    if !(kind.is_file() || kind.is_char_device()) {
        bail!("process.terminal: /dev/console is not a file or a character device");
    }
    // A detached bind of the slave itself, attached onto the fd: no path is resolved
    // (neither the pty's name nor /proc/self/fd of the container's /proc).
    let bind = crate::sys::open_tree_clone_fd(slave, false)
        .map_err(|e| anyhow!("process.terminal: open_tree of {name}: {e}"))?;
    crate::sys::move_mount_fd(bind.as_fd(), target.as_fd())
        .map_err(|e| anyhow!("process.terminal: bind-mounting {name} onto /dev/console: {e}"))?;
    Ok(())
}

/// One sendmsg: `name` as the data, `fd` as SCM_RIGHTS (runc's utils.SendFd).
pub fn send_fd(socket: &UnixStream, name: &str, fd: BorrowedFd<'_>) -> io::Result<()> {
    if name.len() > MAX_NAME_LEN {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "name too long"));
    }
    let fds = [fd.as_raw_fd()];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [IoSlice::new(name.as_bytes())];
    nix::sys::socket::sendmsg::<()>(socket.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None)?;
    Ok(())
}

/// Receive one fd and the name sent with it.
pub fn receive_named(socket: &UnixStream) -> Result<(OwnedFd, String)> {
    let mut buf = vec![0u8; MAX_NAME_LEN];
    let mut cmsg_buf = nix::cmsg_space!([RawFd; 4]);
    let (fds, len) = loop {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = match nix::sys::socket::recvmsg::<()>(
            socket.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_buf),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::Error::EINTR) => continue,
            r => r.context("console socket: recvmsg")?,
        };
        let mut fds: Vec<OwnedFd> = Vec::new();
        for c in msg
            .cmsgs()
            .context("console socket: too many fds received")?
        {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: the kernel installed these fds for us.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        break (fds, msg.bytes);
    };
    let mut fds = fds.into_iter();
    let Some(fd) = fds.next() else {
        bail!("console socket: the message carried no file descriptor");
    };
    if fds.next().is_some() {
        bail!("console socket: the message carried more than one file descriptor");
    }
    let name = String::from_utf8_lossy(&buf[..len]).into_owned();
    Ok((fd, name))
}

/// Receive the pty master from a connected console socket.
pub fn receive(socket: &UnixStream) -> Result<OwnedFd> {
    Ok(receive_named(socket)?.0)
}

/// Accept one connection on the listener and receive the master it carries.
pub fn accept_and_receive(listener: &UnixListener) -> Result<OwnedFd> {
    let (stream, _) = listener.accept().context("console socket: accept")?;
    receive(&stream)
}

/// Puts a terminal in raw mode; restores the saved settings on drop.
struct RawMode {
    fd: RawFd,
    saved: nix::sys::termios::Termios,
}

impl RawMode {
    fn enter(fd: BorrowedFd<'_>) -> Option<RawMode> {
        use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
        let saved = tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        cfmakeraw(&mut raw);
        tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode {
            fd: fd.as_raw_fd(),
            saved,
        })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: the fd was valid when we entered raw mode and belongs to our caller,
        // who outlives this guard (it lives inside copy_io).
        let fd = unsafe { BorrowedFd::borrow_raw(self.fd) };
        let _ = nix::sys::termios::tcsetattr(fd, nix::sys::termios::SetArg::TCSAFLUSH, &self.saved);
    }
}

/// Relay our stdin to the master and the master to our stdout until the pty hangs up
/// (every slave fd closed) or `stop` becomes readable. The host terminal, when stdin is
/// one, is put in raw mode meanwhile and gives its size to the pty.
pub fn copy_io(master: OwnedFd, stop: Option<BorrowedFd<'_>>) -> Result<()> {
    // SAFETY: fds 0 and 1 stay open for the life of the process.
    let (stdin, stdout) = unsafe { (BorrowedFd::borrow_raw(0), BorrowedFd::borrow_raw(1)) };
    let _raw = if nix::unistd::isatty(0).unwrap_or(false) {
        if let Ok(ws) = sys::get_winsize(stdin) {
            let _ = sys::set_winsize(master.as_fd(), &ws);
        }
        RawMode::enter(stdin)
    } else {
        None
    };
    copy_io_fds(master, Some(stdin), stdout, stop)
}

fn read_fd(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd.as_raw_fd(), buf) {
            Err(nix::Error::EINTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Write all of `data`, waiting (poll) when the fd is non-blocking and full.
fn write_all_fd(fd: BorrowedFd<'_>, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match nix::unistd::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(nix::Error::EINTR) => {}
            Err(nix::Error::EAGAIN) => {
                let mut p = [libc::pollfd {
                    fd: fd.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                }];
                // SAFETY: one valid pollfd.
                unsafe { libc::poll(p.as_mut_ptr(), 1, -1) };
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// `copy_io` on explicit fds (`input` None: nothing to send).
pub fn copy_io_fds(
    master: OwnedFd,
    mut input: Option<BorrowedFd<'_>>,
    output: BorrowedFd<'_>,
    stop: Option<BorrowedFd<'_>>,
) -> Result<()> {
    crate::sys::set_nonblocking(master.as_fd()).context("console: master O_NONBLOCK")?;
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    let mut stopping = false;
    loop {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(3);
        let mut events = libc::POLLIN;
        if !pending.is_empty() {
            events |= libc::POLLOUT;
        }
        fds.push(libc::pollfd {
            fd: master.as_raw_fd(),
            events,
            revents: 0,
        });
        let in_idx = match input {
            Some(i) if pending.is_empty() && !stopping => {
                fds.push(libc::pollfd {
                    fd: i.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                Some(fds.len() - 1)
            }
            _ => None,
        };
        let stop_idx = match stop {
            Some(s) if !stopping => {
                fds.push(libc::pollfd {
                    fd: s.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
                Some(fds.len() - 1)
            }
            _ => None,
        };
        // Once stopping, give the pty a moment to deliver what is still in flight.
        let timeout = if stopping { 100 } else { -1 };
        // SAFETY: `fds` is a valid pollfd array of that length.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(anyhow!("console: poll: {e}"));
        }
        if r == 0 && stopping {
            return Ok(());
        }
        let m = fds[0].revents;
        if m & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
            match read_fd(master.as_fd(), &mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => write_all_fd(output, &buf[..n]).context("console: writing output")?,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // EIO: every slave fd is closed.
                Err(e) if e.raw_os_error() == Some(libc::EIO) => return Ok(()),
                Err(e) => return Err(anyhow!("console: reading the pty: {e}")),
            }
        }
        if m & libc::POLLOUT != 0 && !pending.is_empty() {
            match nix::unistd::write(master.as_fd(), &pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(nix::Error::EAGAIN) | Err(nix::Error::EINTR) => {}
                Err(nix::Error::EIO) => return Ok(()),
                Err(e) => return Err(anyhow!("console: writing to the pty: {e}")),
            }
        }
        if let Some(i) = in_idx {
            if fds[i].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                if let Some(fd) = input {
                    match read_fd(fd, &mut buf) {
                        Ok(0) => input = None,
                        Ok(n) => pending.extend_from_slice(&buf[..n]),
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(_) => input = None,
                    }
                }
            }
        }
        if let Some(i) = stop_idx {
            if fds[i].revents != 0 {
                stopping = true;
            }
        }
    }
}

/// The two ends of a terminal for a new process: what the container side uses (the
/// caller's --console-socket, connected now while its path is still a host path, or one end
/// of a pair) and, without a console socket, the end rt keeps to serve the terminal itself.
pub fn endpoints(
    console_socket: Option<&Path>,
    terminal: bool,
) -> Result<(Option<UnixStream>, Option<UnixStream>)> {
    Ok(match (console_socket, terminal) {
        (Some(path), true) => {
            let s =
                connect(path).map_err(|e| anyhow!("--console-socket {}: {e}", path.display()))?;
            (Some(s), None)
        }
        (None, true) => {
            let (a, b) = UnixStream::pair()?;
            (Some(a), Some(b))
        }
        _ => (None, None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn write_str(fd: RawFd, s: &str) {
        // SAFETY: writing a valid buffer.
        unsafe { libc::write(fd, s.as_ptr().cast(), s.len()) };
    }

    /// Fork; the child runs `f` (after `setup`) and _exits 0, or prints the error and
    /// _exits 1.
    fn fork_child(f: impl FnOnce() -> Result<()>) -> libc::pid_t {
        // SAFETY: the child only runs `f` then _exits; glibc keeps malloc usable after fork.
        match unsafe { libc::fork() } {
            0 => {
                let code = match f() {
                    Ok(()) => 0,
                    Err(e) => {
                        write_str(2, &format!("child: {e:#}\n"));
                        1
                    }
                };
                // SAFETY: leave without running anything of the parent's.
                unsafe { libc::_exit(code) }
            }
            pid if pid > 0 => pid,
            _ => panic!("fork: {}", io::Error::last_os_error()),
        }
    }

    fn wait(pid: libc::pid_t) -> i32 {
        let mut st = 0;
        // SAFETY: waiting for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut st, 0) }, pid);
        st
    }

    fn read_all(fd: &OwnedFd) -> String {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match read_fd(fd.as_fd(), &mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.raw_os_error() == Some(libc::EIO) => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn child_output_arrives_through_the_master() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let pid = fork_child(move || {
            setup_with_size(theirs, false, Some((40, 132)))?;
            let tty = nix::unistd::ttyname(std::io::stdout())?;
            let ws = sys::get_winsize(std::io::stdin().as_fd())?;
            // SAFETY: plain getters.
            let (sid, pgrp, me) = unsafe { (libc::getsid(0), libc::tcgetpgrp(0), libc::getpid()) };
            write_str(
                1,
                &format!(
                    "hello tty={} isatty={} size={}x{} sid_ok={} fg_ok={}\n",
                    tty.display(),
                    nix::unistd::isatty(2)?,
                    ws.ws_row,
                    ws.ws_col,
                    sid == me,
                    pgrp == me
                ),
            );
            Ok(())
        });
        let (master, name) = receive_named(&ours).unwrap();
        let out = read_all(&master);
        assert_eq!(wait(pid), 0, "{out}");
        assert!(name.starts_with("/dev/pts/"), "{name}");
        assert_eq!(
            out,
            format!("hello tty={name} isatty=true size=40x132 sid_ok=true fg_ok=true\r\n")
        );
    }

    #[test]
    fn mount_console_binds_the_slave_onto_dev_console() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let pid = fork_child(move || {
            // A private mount namespace so the bind stays ours.
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            nix::mount::mount(
                None::<&str>,
                "/",
                None::<&str>,
                nix::mount::MsFlags::MS_REC | nix::mount::MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
            setup(theirs, true)?;
            let console = std::fs::metadata("/dev/console")?.rdev();
            let stdin = nix::sys::stat::fstat(0)?.st_rdev;
            write_str(1, &format!("console_is_pty={}\n", console == stdin));
            Ok(())
        });
        let master = receive(&ours).unwrap();
        let out = read_all(&master);
        assert_eq!(wait(pid), 0, "{out}");
        assert_eq!(out, "console_is_pty=true\r\n");
    }

    #[test]
    fn copy_io_relays_both_ways() {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let pid = fork_child(move || {
            setup(theirs, false)?;
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            write_str(1, &format!("got: {}\n", line.trim()));
            Ok(())
        });
        let master = receive(&ours).unwrap();
        let (in_r, in_w) = nix::unistd::pipe().unwrap();
        let (out_r, out_w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&in_w, b"abc\n").unwrap();
        drop(in_w);
        copy_io_fds(master, Some(in_r.as_fd()), out_w.as_fd(), None).unwrap();
        drop(out_w);
        let out = read_all(&out_r);
        assert_eq!(wait(pid), 0, "{out}");
        // The pty echoes the input, then the child's answer.
        assert_eq!(out, "abc\r\ngot: abc\r\n");
    }

    #[test]
    fn receive_without_fd_is_an_error() {
        let (a, b) = UnixStream::pair().unwrap();
        std::io::Write::write_all(&mut &a, b"no fd here").unwrap();
        let e = receive(&b).unwrap_err().to_string();
        assert!(e.contains("no file descriptor"), "{e}");
    }
}
