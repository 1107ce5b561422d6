//! linux.seccomp with SCMP_ACT_NOTIFY: rt hands the listener fd and the container state to
//! the agent at listenerPath (runtime-spec "seccomp notify" protocol), for the init at create
//! and for exec; the agent (this test) answers the notified syscall and the container sees
//! the answer.
use integration::*;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
use serde_json::{json, Value};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The agent's answer to every notified syscall.
const ANSWER_ERRNO: i32 = 77;

#[repr(C)]
#[derive(Default)]
struct SeccompData {
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

#[repr(C)]
#[derive(Default)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    data: SeccompData,
}

#[repr(C)]
#[derive(Default)]
struct NotifResp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

// _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp).
const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// Answer notifications on `fd` with -ANSWER_ERRNO until every filter user is gone or
/// the deadline passes; returns the syscall numbers seen.
fn serve(fd: OwnedFd, deadline: Instant) -> Vec<i32> {
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(nix::Error::EINTR) => continue,
            Ok(_) => {}
            Err(_) => break,
        }
        let ev = fds[0].revents().unwrap_or(PollFlags::empty());
        if ev.contains(PollFlags::POLLIN) {
            let mut req = Notif::default();
            // SAFETY: SECCOMP_IOCTL_NOTIF_RECV fills a zeroed struct seccomp_notif.
            if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut req) } == 0 {
                seen.push(req.data.nr);
                let resp = NotifResp {
                    id: req.id,
                    val: 0,
                    error: -ANSWER_ERRNO,
                    flags: 0,
                };
                // SAFETY: SECCOMP_IOCTL_NOTIF_SEND with a valid response.
                unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &resp) };
            }
        } else if ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
            break;
        }
    }
    seen
}

/// The agent: accept `n` connections at `sock`; for each, the message rt sent and the
/// syscalls it answered.
fn agent(listener: UnixListener, n: usize) -> mpsc::Receiver<(Value, Vec<i32>)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for _ in 0..n {
            let Ok((conn, _)) = listener.accept() else {
                return;
            };
            let mut buf = vec![0u8; 8192];
            let mut cbuf = nix::cmsg_space!([RawFd; 1]);
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let Ok(m) = recvmsg::<UnixAddr>(
                conn.as_raw_fd(),
                &mut iov,
                Some(&mut cbuf),
                MsgFlags::empty(),
            ) else {
                return;
            };
            let fd = m.cmsgs().ok().and_then(|mut c| {
                c.find_map(|c| match c {
                    ControlMessageOwned::ScmRights(f) => f.first().copied(),
                    _ => None,
                })
            });
            let bytes = m.bytes;
            let msg: Value = serde_json::from_slice(&buf[..bytes]).unwrap_or(Value::Null);
            let Some(fd) = fd else {
                let _ = tx.send((msg, vec![]));
                continue;
            };
            // SAFETY: SCM_RIGHTS gave us this fd.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let seen = serve(fd, Instant::now() + Duration::from_secs(30));
                let _ = tx.send((msg, seen));
            });
        }
    });
    rx
}

fn notify_bundle(sock: &std::path::Path, args: &[&str]) -> Bundle {
    let mut b = Bundle::busybox(args);
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock,
        "listenerMetadata": "rt-test-metadata",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"},
            // The listener reaches rt without them (pidfd_getfd; the init writes its number).
            {"names": ["sendmsg", "recvmsg", "sendto", "recvfrom"], "action": "SCMP_ACT_ERRNO"}
        ]
    });
    b.save();
    b
}

#[test]
fn notify_agent_answers_for_the_init_and_for_exec() {
    let rt = Rt::new();
    let dir = std::env::temp_dir().join(unique_id("rt-notify"));
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("agent.sock");
    // Three listeners: the first init, the second init, the exec into the second.
    let rx = agent(UnixListener::bind(&sock).unwrap(), 3);

    // The init: the container's mkdir gets the agent's answer.
    let mut b = notify_bundle(&sock, &["/bin/rt-probe"]);
    let id = unique_id("notify");
    let out = probe_id(&rt, &mut b, &id, &["mkdir", "/tmp/notified"]);
    assert_eq!(out["ok"], false, "{out}");
    assert_eq!(
        out["errno"], ANSWER_ERRNO,
        "mkdir was not answered by the agent: {out}"
    );
    let (msg, seen) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the agent got no listener");
    assert_eq!(msg["fds"], json!(["seccompFd"]), "{msg}");
    assert_eq!(msg["metadata"], "rt-test-metadata", "{msg}");
    assert_eq!(msg["state"]["id"], id.as_str(), "{msg}");
    assert_eq!(msg["state"]["status"], "creating", "{msg}");
    assert!(!seen.is_empty(), "the agent answered nothing");
    assert_no_leftovers(&rt, &id, &b);

    // exec: a second listener, with the state of a running container.
    let b2 = notify_bundle(&sock, &["sleep", "100"]);
    let id2 = unique_id("notify");
    rt.ok(&["run", "-d", "--bundle", b2.dir_str(), &id2]);
    let out = exec_probe(&rt, &id2, &["mkdir", "/tmp/notified"]);
    assert_eq!(
        out["errno"], ANSWER_ERRNO,
        "exec's mkdir was not answered: {out}"
    );
    // Listeners arrive in any order (the second init's, then exec's): wait for exec's.
    let mut msgs = vec![];
    let deadline = Instant::now() + Duration::from_secs(30);
    let is_exec = |m: &Value| m["state"]["status"] == "running" && m["state"]["id"] == id2.as_str();
    while !msgs.iter().any(is_exec) && Instant::now() < deadline {
        if let Ok((m, _)) = rx.recv_timeout(Duration::from_secs(1)) {
            msgs.push(m);
        }
    }
    assert!(msgs.iter().any(is_exec), "no listener for exec: {msgs:?}");
    rt.ok(&["delete", "-f", &id2]);
    assert_no_leftovers(&rt, &id2, &b2);
    let _ = std::fs::remove_dir_all(&dir);
}
