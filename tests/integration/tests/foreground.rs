//! `rt run` in the foreground: signals reach the container process, socket-activation fds
//! ($LISTEN_FDS) are passed on as runc passes them.
use integration::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Stdio;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Start `rt run` with stdout piped; return the child and its stdout lines (read by a
/// thread, so a missing line fails the test after a timeout instead of hanging it).
fn run_until_ready(rt: &Rt, b: &Bundle, id: &str) -> (std::process::Child, mpsc::Receiver<String>) {
    let mut child = rt
        .cmd()
        .args(["run", "--bundle", b.dir_str(), id])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn rt run");
    let out = BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    assert_eq!(next_line(&rx), "ready", "the container did not start");
    (child, rx)
}

fn next_line(rx: &mpsc::Receiver<String>) -> String {
    rx.recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| "<no line within 20s>".into())
}

fn wait_with_timeout(child: &mut std::process::Child, t: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + t;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("rt run did not exit within {t:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: plain kill(2).
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill {pid} {sig}");
}

#[test]
fn run_forwards_signals_to_the_container() {
    let rt = Rt::new();
    // pid 1 of a pid namespace only gets signals it handles: the traps make it handle them.
    let script = "trap 'echo got-usr1' USR1; trap 'echo got-term; exit 7' TERM; echo ready; \
                  while :; do sleep 0.05; done";
    let b = Bundle::busybox(&["/bin/sh", "-c", script]);
    let id = unique_id("fg");
    let (mut child, lines) = run_until_ready(&rt, &b, &id);
    let rt_pid = child.id() as i32;
    signal(rt_pid, libc::SIGUSR1);
    assert_eq!(next_line(&lines), "got-usr1", "SIGUSR1 was not forwarded");
    signal(rt_pid, libc::SIGTERM);
    let status = wait_with_timeout(&mut child, Duration::from_secs(20));
    assert_eq!(next_line(&lines), "got-term", "SIGTERM was not forwarded");
    assert_eq!(
        status.code(),
        Some(7),
        "rt run exits with the container's status"
    );
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn run_passes_listen_fds() {
    let rt = Rt::new();
    let b = Bundle::busybox(&["/bin/rt-probe"]);
    let f3 = std::fs::File::create(b.dir.join("socket-activation")).unwrap();
    let id = unique_id("fg");
    let raw = f3.as_raw_fd();
    let mut c = rt.cmd();
    c.args(["run", "--bundle", b.dir_str(), &id])
        .env("LISTEN_FDS", "1")
        .env("LISTEN_PID", "1");
    // SAFETY: dup2 is async-signal-safe; `raw` is open in the parent.
    unsafe {
        c.pre_exec(move || {
            let t = libc::fcntl(raw, libc::F_DUPFD, 100);
            if t < 0 || libc::dup2(t, 3) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(t);
            Ok(())
        });
    }
    let out = output_with_timeout(&mut c, cmd_timeout());
    assert!(out.status.success(), "{}", describe(&["run"], &out));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        p["fds"]["3"]
            .as_str()
            .unwrap_or_default()
            .ends_with("socket-activation"),
        "fd 3 in the container: {}",
        p["fds"]
    );
    assert!(
        p["fds"].get("4").is_none(),
        "more fds than LISTEN_FDS: {}",
        p["fds"]
    );
    assert_eq!(p["env"]["LISTEN_FDS"], "1", "env: {}", p["env"]);
    assert_eq!(p["env"]["LISTEN_PID"], "1", "env: {}", p["env"]);
    assert_no_leftovers(&rt, &id, &b);
}
