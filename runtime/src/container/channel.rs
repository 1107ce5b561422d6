//! Typed messages between rt and the container's init, over a SOCK_SEQPACKET socketpair.
use crate::Result;
use anyhow::{anyhow, bail};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use serde::{Deserialize, Serialize};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// The most fds one message carries (one per cgroup v1 hierarchy, see `Msg::Go`).
const MAX_FDS: usize = 32;

#[derive(Debug, Serialize, Deserialize)]
pub enum Msg {
    /// intermediate → rt: I have a new user namespace: write its id maps.
    WriteMaps,
    /// rt → intermediate: maps written.
    MapsDone,
    /// intermediate → rt: the init's pid (in rt's pid namespace).
    InitPid(i32),
    /// rt → init: id maps written, the init's pid recorded. Carries the state JSON (with
    /// the init's host pid) that hooks run inside the container get. An init in a user
    /// namespace waits for it before anything else; others only before the hooks. Sent
    /// with the `tasks` files of the init's cgroup v1 hierarchies, which the init joins
    /// itself at once (`cgroups::join_self`).
    Go { state: String },
    /// init → rt: namespaces and mounts are ready: run prestart/createRuntime hooks.
    RunHooks,
    /// rt → init: hooks done.
    HooksDone,
    /// init/exec child → rt: the seccomp notify listener is this fd number in the
    /// sender; rt takes it with pidfd_getfd and hands it to the agent.
    SeccompFd(i32),
    /// rt → init/exec child: the listener has been handed over.
    SeccompDone,
    /// init → rt: waiting for `start`.
    Ready,
    /// either way: a fatal error.
    Error(String),
}

pub struct Channel {
    fd: OwnedFd,
}

pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?;
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    /// The socket's fd number (to keep it across the init's re-exec).
    pub fn raw_fd(&self) -> std::os::fd::RawFd {
        self.fd.as_raw_fd()
    }

    /// The channel on `fd`, inherited across the init's re-exec.
    ///
    /// # Safety
    /// `fd` must be open, a socket of `pair()`, and owned by nothing else.
    pub unsafe fn from_raw_fd(fd: std::os::fd::RawFd) -> Channel {
        Channel {
            fd: std::os::fd::FromRawFd::from_raw_fd(fd),
        }
    }

    /// Send `msg`. If the peer is gone, its last words (an `Error` it sent before
    /// exiting) are the error, not EPIPE.
    pub fn send(&self, msg: &Msg) -> Result<()> {
        self.send_fds(msg, &[])
    }

    /// Send `msg` with `fds` (SCM_RIGHTS) in one datagram; `recv_fds` takes both.
    /// Without fds it is a plain write(2): the init and the exec child send under the
    /// container's seccomp filter, and as with runc a profile need only allow write,
    /// read, close, openat and execve after it (not sendmsg or recvmsg).
    pub fn send_fds(&self, msg: &Msg, fds: &[BorrowedFd]) -> Result<()> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
        let buf = serde_json::to_vec(msg)?;
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        let cmsg = [ControlMessage::ScmRights(&raw)];
        let iov = [std::io::IoSlice::new(&buf)];
        let sent = loop {
            let r = match raw.is_empty() {
                true => nix::unistd::write(&self.fd, &buf),
                false => sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, MsgFlags::empty(), None),
            };
            match r {
                Err(nix::Error::EINTR) => continue,
                r => break r,
            }
        };
        match sent {
            Ok(_) => Ok(()),
            Err(e @ (nix::Error::EPIPE | nix::Error::ECONNRESET)) => match self.recv_opt() {
                Err(peer) => Err(peer),
                _ => Err(anyhow!("the container's init exited ({e})")),
            },
            Err(e) => Err(e.into()),
        }
    }

    /// Next message; an `Error` from the other side becomes an Err; EOF too.
    pub fn recv(&self) -> Result<Msg> {
        self.recv_opt()?
            .ok_or_else(|| anyhow!("the container's init exited before it was ready"))
    }

    /// Next message, or None at EOF (the peer exited, or exec'd: the socket is CLOEXEC).
    /// Fds sent with it are closed.
    pub fn recv_opt(&self) -> Result<Option<Msg>> {
        Ok(self.recv_with_fds(false)?.map(|(m, _)| m))
    }

    /// Next message and the fds sent with it (close-on-exec); EOF is an error.
    pub fn recv_fds(&self) -> Result<(Msg, Vec<OwnedFd>)> {
        self.recv_with_fds(true)?
            .ok_or_else(|| anyhow!("the container's init exited before it was ready"))
    }

    /// With `want_fds` false a plain read(2) (see `send_fds`); fds sent anyway are
    /// closed by the kernel.
    fn recv_with_fds(&self, want_fds: bool) -> Result<Option<(Msg, Vec<OwnedFd>)>> {
        let mut buf = vec![0u8; 64 * 1024];
        let mut reset = false;
        let (n, fds) = loop {
            let r = match want_fds {
                true => self.recvmsg(&mut buf),
                false => nix::unistd::read(self.fd.as_raw_fd(), &mut buf).map(|n| (n, vec![])),
            };
            match r {
                Err(nix::Error::EINTR) => continue,
                // A peer that exited with a message of ours unread leaves ECONNRESET
                // pending (reported once, before its queued messages): read again for
                // its last words.
                Err(nix::Error::ECONNRESET) if !reset => reset = true,
                Err(nix::Error::ECONNRESET) => return Ok(None),
                Err(e) => return Err(e.into()),
                Ok(got) => break got,
            }
        };
        if n == 0 {
            return Ok(None);
        }
        match serde_json::from_slice(&buf[..n])
            .map_err(|e| anyhow!("bad message from init: {e}"))?
        {
            Msg::Error(e) => Err(anyhow!(e)),
            m => Ok(Some((m, fds))),
        }
    }

    /// One recvmsg(2): the bytes read into `buf` and the fds that came with them.
    fn recvmsg(&self, buf: &mut [u8]) -> nix::Result<(usize, Vec<OwnedFd>)> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
        let mut cmsg_buf = nix::cmsg_space!([RawFd; MAX_FDS]);
        let mut iov = [std::io::IoSliceMut::new(buf)];
        let msg = recvmsg::<()>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_buf),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut fds = Vec::new();
        for c in msg.cmsgs().into_iter().flatten() {
            if let ControlMessageOwned::ScmRights(raw) = c {
                // SAFETY: the kernel installed these fds for us.
                fds.extend(
                    raw.into_iter()
                        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) }),
                );
            }
        }
        Ok((msg.bytes, fds))
    }

    /// The next message, which must be `want` (compared by variant).
    pub fn expect(&self, want: Msg) -> Result<Msg> {
        let m = self.recv()?;
        if std::mem::discriminant(&m) != std::mem::discriminant(&want) {
            bail!("protocol error: expected {want:?}, got {m:?}");
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The peer's Error survives the peer closing with our message unread.
    #[test]
    fn error_of_a_peer_that_left_our_message_unread() {
        let (rt, init) = pair().unwrap();
        rt.send(&Msg::Go {
            state: String::new(),
        })
        .unwrap();
        init.send(&Msg::Error("linux.seccomp: bad".into())).unwrap();
        drop(init);
        let err = rt.recv().unwrap_err().to_string();
        assert_eq!(err, "linux.seccomp: bad");
        // then EOF
        assert!(rt.recv_opt().unwrap().is_none());
    }
}
