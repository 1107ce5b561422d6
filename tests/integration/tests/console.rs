//! process.terminal with --console-socket (runc's protocol: one message carrying the pty
//! master as SCM_RIGHTS and its name as data), and `rt run` relaying a terminal itself.
use integration::*;
use serde_json::json;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// A listening console socket in a private temporary directory.
struct ConsoleSocket {
    dir: PathBuf,
    listener: UnixListener,
}

impl ConsoleSocket {
    fn new() -> ConsoleSocket {
        let dir = std::env::temp_dir().join(unique_id("rt-console"));
        std::fs::create_dir_all(&dir).unwrap();
        let listener = UnixListener::bind(dir.join("sock")).unwrap();
        ConsoleSocket { dir, listener }
    }
    fn path(&self) -> String {
        self.dir.join("sock").to_str().unwrap().to_string()
    }
    /// Accept the runtime's connection and receive (master, name).
    fn receive(&self) -> (OwnedFd, String) {
        self.listener.set_nonblocking(true).unwrap();
        let t = Instant::now();
        let stream = loop {
            match self.listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        t.elapsed() < Duration::from_secs(10),
                        "no console connection"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        recv_fd(&stream)
    }
}

impl Drop for ConsoleSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn recv_fd(stream: &UnixStream) -> (OwnedFd, String) {
    let mut buf = [0u8; 4096];
    let mut cmsg = [0u64; 16];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; every pointer in it refers to a live local buffer.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cmsg.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cmsg);
    // SAFETY: as above.
    let n = unsafe { libc::recvmsg(stream.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    assert!(n >= 0, "recvmsg: {}", std::io::Error::last_os_error());
    // SAFETY: walking the control buffer the kernel just filled.
    let fd = unsafe {
        let c = libc::CMSG_FIRSTHDR(&msg);
        assert!(!c.is_null(), "no control message");
        assert_eq!(
            ((*c).cmsg_level, (*c).cmsg_type),
            (libc::SOL_SOCKET, libc::SCM_RIGHTS)
        );
        assert_eq!(
            (*c).cmsg_len,
            libc::CMSG_LEN(std::mem::size_of::<i32>() as u32) as usize,
            "exactly one fd"
        );
        OwnedFd::from_raw_fd(std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const i32))
    };
    (fd, String::from_utf8_lossy(&buf[..n as usize]).into_owned())
}

/// Read the pty master until it hangs up (EIO) or `timeout` passes.
fn read_master(fd: &OwnedFd, timeout: Duration) -> String {
    let t = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = timeout.saturating_sub(t.elapsed());
        assert!(
            !left.is_zero(),
            "pty did not hang up; so far: {:?}",
            String::from_utf8_lossy(&out)
        );
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, left.as_millis() as i32) };
        // SAFETY: reading into a valid buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n > 0 {
            out.extend_from_slice(&buf[..n as usize]);
        } else if n == 0 {
            break;
        } else {
            let e = std::io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EIO) => break,
                Some(libc::EAGAIN) | Some(libc::EINTR) => continue,
                _ => panic!("read pty: {e}"),
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn terminal_bundle(args: &[&str]) -> Bundle {
    let mut b = Bundle::busybox(args);
    b.config["process"]["terminal"] = json!(true);
    b.save();
    b
}

fn wait_stopped(rt: &Rt, id: &str) {
    let t = Instant::now();
    while rt.state(id)["status"] != "stopped" {
        assert!(t.elapsed() < Duration::from_secs(20), "{id} did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn create_sends_the_master_and_output_flows_through_it() {
    let rt = Rt::new();
    let sock = ConsoleSocket::new();
    let b = terminal_bundle(&[
        "/bin/sh",
        "-c",
        "tty; stat -c '%F %t' /dev/console; for i in 0 1 2; do readlink /proc/$$/fd/$i; done; echo done",
    ]);
    let id = unique_id("console");
    rt.ok(&[
        "create",
        "--console-socket",
        &sock.path(),
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    let (master, name) = sock.receive();
    assert!(!name.is_empty(), "the message carries a name");
    rt.ok(&["start", &id]);
    let out = read_master(&master, Duration::from_secs(20));
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "tty: {out:?}");
    // /dev/console is the pty slave bind-mounted: a character device, major 136 (0x88).
    assert_eq!(lines[1], "character special file 88", "{out:?}");
    assert_eq!(
        &lines[2..5],
        &[lines[0]; 3],
        "fds 0, 1, 2 are the pty: {out:?}"
    );
    assert_eq!(lines[5], "done", "{out:?}");
    wait_stopped(&rt, &id);
    rt.ok(&["delete", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn input_written_to_the_master_reaches_the_container() {
    let rt = Rt::new();
    let sock = ConsoleSocket::new();
    let b = terminal_bundle(&["/bin/sh", "-c", "read line; echo \"got:$line\""]);
    let id = unique_id("console");
    rt.ok(&[
        "create",
        "--console-socket",
        &sock.path(),
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    let (master, _) = sock.receive();
    rt.ok(&["start", &id]);
    let mut f = std::fs::File::from(master.try_clone().unwrap());
    f.write_all(b"hello\n").unwrap();
    let out = read_master(&master, Duration::from_secs(20));
    assert!(out.contains("got:hello"), "{out:?}");
    wait_stopped(&rt, &id);
    rt.ok(&["delete", &id]);
}

#[test]
fn terminal_without_console_socket_fails_detached_create() {
    let rt = Rt::new();
    let b = terminal_bundle(&["true"]);
    let id = unique_id("console");
    let err = rt.fail(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(err.contains("console") || err.contains("terminal"), "{err}");
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn console_socket_without_terminal_fails() {
    let rt = Rt::new();
    let sock = ConsoleSocket::new();
    let b = Bundle::busybox(&["true"]);
    let id = unique_id("console");
    let err = rt.fail(&[
        "create",
        "--console-socket",
        &sock.path(),
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    assert!(err.contains("console") || err.contains("terminal"), "{err}");
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn exec_tty_with_console_socket() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["sleep", "30"]);
    let id = unique_id("console");
    rt.ok(&["run", "--detach", "--bundle", b.dir.to_str().unwrap(), &id]);
    let sock = ConsoleSocket::new();
    rt.ok(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        &sock.path(),
        &id,
        "/bin/sh",
        "-c",
        "tty; echo exec-done",
    ]);
    let (master, _) = sock.receive();
    let out = read_master(&master, Duration::from_secs(20));
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines[0].starts_with("/dev/pts/"), "{out:?}");
    assert_eq!(lines[1], "exec-done", "{out:?}");
    rt.ok(&["delete", "--force", &id]);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn foreground_run_relays_the_terminal() {
    let rt = Rt::new();
    let b = terminal_bundle(&["/bin/sh"]);
    let id = unique_id("console");
    let mut child = rt
        .cmd()
        .args(["run", "--bundle", b.dir.to_str().unwrap(), &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo hello-$((40+2))\nexit 7\n")
        .unwrap();
    let t = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("rt run did not finish");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("hello-42"),
        "{stdout:?} {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "rt run exits with the container's status"
    );
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn console_size_is_applied() {
    let rt = Rt::new();
    let sock = ConsoleSocket::new();
    let mut b = terminal_bundle(&["/bin/sh", "-c", "stty size"]);
    b.config["process"]["consoleSize"] = json!({"height": 40, "width": 101});
    b.save();
    let id = unique_id("console");
    rt.ok(&[
        "create",
        "--console-socket",
        &sock.path(),
        "--bundle",
        b.dir.to_str().unwrap(),
        &id,
    ]);
    let (master, _) = sock.receive();
    rt.ok(&["start", &id]);
    let out = read_master(&master, Duration::from_secs(20));
    assert_eq!(out.trim(), "40 101");
    wait_stopped(&rt, &id);
    rt.ok(&["delete", &id]);
}
