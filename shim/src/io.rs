//! A process's stdio. Without a terminal the container gets the fifos (or files) themselves,
//! not pipes the shim copies: output is in the fifo the moment it is written, nothing is lost
//! when a process exits fast, and the reader sees EOF when the last process holding them
//! exits. stdin is a pipe the shim feeds from the fifo (EOF when the client closes its end,
//! or at CloseIO). With a terminal, rt hands the pty master over `--console-socket` and the shim copies
//! between it and the fifos.

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use std::fs::{File, OpenOptions};
use std::io::{IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};

/// The ends given to rt (and so to the container) and what the shim keeps.
pub struct Ends {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
    /// The write end of the process's stdin pipe (fed from the fifo); CloseIO drops it.
    pub stdin_keep: Option<StdinWriter>,
}

fn uri_path(uri: &str) -> Result<Option<PathBuf>, String> {
    if uri.is_empty() {
        return Ok(None);
    }
    if let Some(p) = uri.strip_prefix("file://") {
        return Ok(Some(PathBuf::from(p)));
    }
    if uri.starts_with("binary://") {
        return Err(format!(
            "stdio {uri:?}: binary:// is for stdout/stderr only"
        ));
    }
    if let Some(rest) = uri.strip_prefix("fifo://") {
        return Ok(Some(PathBuf::from(rest)));
    }
    if uri.contains("://") {
        return Err(format!("stdio {uri:?}: unsupported scheme"));
    }
    Ok(Some(PathBuf::from(uri)))
}

/// Opens an output: a fifo read-write (never blocks, never EPIPE while it is held), a
/// `file://` for appending.
fn open_out(uri: &str) -> Result<Option<File>, String> {
    let Some(path) = uri_path(uri)? else {
        return Ok(None);
    };
    let file = uri.starts_with("file://");
    let mut o = OpenOptions::new();
    if file {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        o.append(true).create(true);
    } else {
        o.read(true).write(true);
    }
    o.custom_flags(libc::O_CLOEXEC)
        .open(&path)
        .map(Some)
        .map_err(|e| format!("open {}: {e}", path.display()))
}

/// Shared write end of a process's stdin: CloseIO takes it away.
pub type StdinWriter = Arc<Mutex<Option<File>>>;

/// Copies a stdin fifo into `sink` until the client closes its end (or CloseIO). A fifo no
/// writer has opened yet reads as EOF, so the reader polls first: poll(2) reports a hang-up
/// only after a writer has come and gone.
fn copy_fifo(path: PathBuf, sink: StdinWriter) -> Result<(), String> {
    let fifo = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| format!("open {}: {e}", path.display()))?;
    std::thread::spawn(move || {
        let mut fifo = fifo;
        let mut buf = [0u8; 8192];
        loop {
            let mut fds = [PollFd::new(fifo.as_fd(), PollFlags::POLLIN)];
            if poll(&mut fds, PollTimeout::NONE).is_err() {
                break;
            }
            let ev = fds[0].revents().unwrap_or(PollFlags::empty());
            let n = match fifo.read(&mut buf) {
                Ok(0) if ev.contains(PollFlags::POLLHUP) => break,
                Ok(0) => continue,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            let mut w = sink.lock().unwrap_or_else(|e| e.into_inner());
            let written = w.as_mut().is_some_and(|f| f.write_all(&buf[..n]).is_ok());
            if !written {
                break;
            }
        }
        // EOF for the process.
        sink.lock().unwrap_or_else(|e| e.into_inner()).take();
    });
    Ok(())
}

/// The process's stdin: a `file://` directly, a fifo through a pipe the shim feeds.
fn open_in(uri: &str) -> Result<(Option<File>, Option<StdinWriter>), String> {
    let Some(path) = uri_path(uri)? else {
        return Ok((None, None));
    };
    if uri.starts_with("file://") {
        let f = File::open(&path).map_err(|e| format!("open {}: {e}", path.display()))?;
        return Ok((Some(f), None));
    }
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let sink: StdinWriter = Arc::new(Mutex::new(Some(File::from(w))));
    copy_fifo(path, sink.clone())?;
    Ok((Some(File::from(r)), Some(sink)))
}

fn or_null(f: Option<File>) -> Stdio {
    f.map(Stdio::from).unwrap_or_else(Stdio::null)
}

/// The ends for a process without a terminal.
pub fn direct(
    stdin: &str,
    stdout: &str,
    stderr: &str,
    id: &str,
    namespace: &str,
) -> Result<Ends, String> {
    let (inp, keep) = open_in(stdin)?;
    if stdout.starts_with("binary://") {
        let (out, err) = binary_logger(stdout, id, namespace)?;
        return Ok(Ends {
            stdin: or_null(inp),
            stdout: Stdio::from(out),
            stderr: Stdio::from(err),
            stdin_keep: keep,
        });
    }
    let out = open_out(stdout)?;
    let err = if !stderr.is_empty() && stderr == stdout {
        out.as_ref()
            .map(|f| f.try_clone().map_err(|e| format!("dup stdout: {e}")))
            .transpose()?
    } else {
        open_out(stderr)?
    };
    Ok(Ends {
        stdin: or_null(inp),
        stdout: or_null(out),
        stderr: or_null(err),
        stdin_keep: keep,
    })
}

/// containerd's `binary://PATH?k=v&…` logging: PATH runs with args `k v …`, env
/// CONTAINER_ID and CONTAINER_NAMESPACE, the process's stdout on fd 3 and stderr on fd 4,
/// and closes fd 5 when it is ready. Returns the write ends for the process.
fn binary_logger(uri: &str, id: &str, namespace: &str) -> Result<(File, File), String> {
    let rest = uri.trim_start_matches("binary://");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() {
        return Err(format!("stdio {uri:?}: binary:// needs a path"));
    }
    let mut args = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        args.push(k.to_owned());
        if !v.is_empty() {
            args.push(v.to_owned());
        }
    }
    let pipe = || nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"));
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (ready_r, ready_w) = pipe()?;
    let fds = [out_r.as_raw_fd(), err_r.as_raw_fd(), ready_w.as_raw_fd()];
    let mut cmd = std::process::Command::new(path);
    cmd.args(&args)
        .env("CONTAINER_ID", id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: only dup2(2), async-signal-safe, between fork and exec; dup2 clears CLOEXEC.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            for (i, fd) in fds.iter().enumerate() {
                if libc::dup2(*fd, 3 + i as i32) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| format!("stdio {uri:?}: start {path}: {e}"))?;
    drop((out_r, err_r, ready_w));
    // Ready when the logger closes fd 5 (EOF here), within 10 s.
    let mut ready = File::from(ready_r);
    let mut fds = [PollFd::new(ready.as_fd(), PollFlags::POLLIN)];
    let n = poll(&mut fds, PollTimeout::from(10_000u16)).map_err(|e| format!("poll: {e}"))?;
    if n == 0 {
        return Err(format!(
            "stdio {uri:?}: the logging binary did not get ready in 10 s"
        ));
    }
    let _ = ready.read(&mut [0u8; 1]);
    Ok((File::from(out_w), File::from(err_w)))
}

/// A socket rt sends the pty master to.
pub struct ConsoleSocket {
    listener: UnixListener,
    pub path: PathBuf,
}

impl ConsoleSocket {
    pub fn new(dir: &Path, name: &str) -> Result<ConsoleSocket, String> {
        // sun_path is 108 bytes: fall back to /run when the bundle path is long.
        let mut path = dir.join(format!("{name}.console.sock"));
        if path.as_os_str().len() > 100 {
            path = PathBuf::from(format!("/run/rt-shim-{}-{name}.sock", std::process::id()));
        }
        let _ = std::fs::remove_file(&path);
        let listener =
            UnixListener::bind(&path).map_err(|e| format!("bind {}: {e}", path.display()))?;
        Ok(ConsoleSocket { listener, path })
    }

    /// The master rt sent (rt has exited successfully, so it is queued).
    pub fn receive(&self) -> Result<File, String> {
        self.listener
            .set_nonblocking(true)
            .map_err(|e| format!("console socket: {e}"))?;
        let (conn, _) = self
            .listener
            .accept()
            .map_err(|e| format!("console socket accept: {e}"))?;
        conn.set_nonblocking(false)
            .map_err(|e| format!("console socket: {e}"))?;
        let mut buf = [0u8; 256];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
        let msg = recvmsg::<()>(
            conn.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| format!("console socket recvmsg: {e}"))?;
        for c in msg.cmsgs().map_err(|e| format!("console socket: {e}"))? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&fd) = fds.first() {
                    // SAFETY: the fd was just received with SCM_RIGHTS and is owned by nobody else.
                    return Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }));
                }
            }
        }
        Err("console socket: no pty master received".into())
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Copies stdin fifo → master and master → stdout fifo. The output copier ends (closing
/// the fifo, the client's EOF) when the last slave is closed; the returned receiver then
/// sees its sender dropped, so a waiter wakes the moment the output is all out.
pub fn copy_tty(master: &File, stdin: &str, stdout: &str) -> Result<CopyDone, String> {
    if let Some(path) = uri_path(stdin)? {
        let m = master.try_clone().map_err(|e| format!("dup master: {e}"))?;
        copy_fifo(path, Arc::new(Mutex::new(Some(m))))?;
    }
    let out = open_out(stdout)?;
    let mut m = master.try_clone().map_err(|e| format!("dup master: {e}"))?;
    let (done, copied) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _done = done;
        let Some(mut out) = out else {
            let _ = std::io::copy(&mut m, &mut std::io::sink());
            return;
        };
        let mut buf = [0u8; 8192];
        loop {
            match m.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if out.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
    });
    Ok(copied)
}

/// Disconnected once a terminal's output copier has finished.
pub type CopyDone = std::sync::mpsc::Receiver<()>;

pub fn resize(master: &File, width: u32, height: u32) -> Result<(), String> {
    let ws = libc::winsize {
        ws_row: height as u16,
        ws_col: width as u16,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize from a valid pointer.
    let r = unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) };
    if r < 0 {
        return Err(format!("resize pty: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}
