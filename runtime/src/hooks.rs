//! hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop.
//!
//! Contract: `run(kind, hooks, state_json)` runs each hook in order: path, args (args[0] is
//! argv[0]), env, the container state JSON on stdin, `timeout` seconds (the hook is killed
//! and the call fails when it is exceeded). An error names the hook: `hooks.prestart[1]`
//! and its exit status and stderr. Whether a failure is fatal is the caller's business
//! (poststart/poststop failures are warnings).
//!
//! Each hook gets exactly its own env (empty when absent), the caller's cwd, and no fds
//! but the three pipes (std::process::Command; our other fds are CLOEXEC). The state is
//! written in full then stdin is closed; a hook that does not read it is fine (EPIPE).
//! The hook is done when it exits: output still held open by a process it left behind
//! is not waited for.
use crate::sys;
use crate::Result;
use anyhow::{anyhow, bail};
use oci_spec::runtime::Hook;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Output kept per stream (the rest is read and dropped).
const OUTPUT_CAP: usize = 64 * 1024;

pub fn run(kind: &str, hooks: &[Hook], state_json: &[u8]) -> Result<()> {
    for (i, hook) in hooks.iter().enumerate() {
        run_one(&format!("hooks.{kind}[{i}]"), hook, state_json)?;
    }
    Ok(())
}

/// A captured output stream.
struct Sink {
    fd: Option<std::fs::File>,
    data: Vec<u8>,
}

impl Sink {
    fn new(fd: Option<OwnedFd>) -> io::Result<Sink> {
        if let Some(fd) = &fd {
            sys::set_nonblocking(fd.as_fd())?;
        }
        Ok(Sink {
            fd: fd.map(std::fs::File::from),
            data: Vec::new(),
        })
    }

    /// Read what is available; close on EOF or error.
    fn drain(&mut self) {
        let mut buf = [0u8; 8192];
        while let Some(f) = self.fd.as_mut() {
            match f.read(&mut buf) {
                Ok(0) => self.fd = None,
                Ok(n) => {
                    let room = OUTPUT_CAP.saturating_sub(self.data.len());
                    self.data.extend_from_slice(&buf[..n.min(room)]);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => self.fd = None,
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).trim().to_string()
    }
}

/// SIGPIPE ignored while alive; the previous disposition is restored on drop.
struct SigpipeIgnored(Option<nix::sys::signal::SigHandler>);

impl SigpipeIgnored {
    fn new() -> SigpipeIgnored {
        use nix::sys::signal::{signal, SigHandler, Signal};
        // SAFETY: SIG_IGN installs no handler code.
        SigpipeIgnored(unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.ok())
    }
}

impl Drop for SigpipeIgnored {
    fn drop(&mut self) {
        if let Some(old) = self.0 {
            // SAFETY: restoring the disposition that was installed before.
            let _ = unsafe { nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, old) };
        }
    }
}

fn spawn(name: &str, hook: &Hook) -> Result<Child> {
    let path = hook.path();
    if !path.is_absolute() {
        bail!("{name}.path: {path:?} is not an absolute path");
    }
    let mut cmd = Command::new(path);
    if let Some(args) = hook.args() {
        if let Some((argv0, rest)) = args.split_first() {
            cmd.arg0(argv0);
            cmd.args(rest);
        }
    }
    cmd.env_clear();
    for (j, kv) in hook.env().iter().flatten().enumerate() {
        match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                cmd.env(k, v);
            }
            _ => bail!("{name}.env[{j}]: {kv:?} is not KEY=VALUE"),
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd.spawn()
        .map_err(|e| anyhow!("{name} ({}): {e}", path.display()))
}

fn run_one(name: &str, hook: &Hook, state: &[u8]) -> Result<()> {
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => bail!("{name}.timeout: {t} must be greater than zero"),
        Some(t) => Some(t as u64),
        None => None,
    };
    // A hook that exits without reading its stdin makes our write fail with EPIPE; keep
    // SIGPIPE from killing us meanwhile, whatever the caller's disposition is.
    let _sigpipe = SigpipeIgnored::new();
    let mut child = spawn(name, hook)?;
    let deadline = timeout.map(|t| Instant::now() + Duration::from_secs(t));
    let result = supervise(name, hook, &mut child, state, deadline, timeout);
    if result.is_err() {
        // Whatever went wrong, leave no hook behind (a no-op when it was reaped).
        let _ = child.kill();
        let _ = child.wait();
    }
    result
}

/// Feed the state, collect the output, wait for the exit or the deadline.
fn supervise(
    name: &str,
    hook: &Hook,
    child: &mut Child,
    state: &[u8],
    deadline: Option<Instant>,
    timeout: Option<u64>,
) -> Result<()> {
    let mut stdin: Option<std::fs::File> = match child.stdin.take() {
        Some(s) => {
            let fd = OwnedFd::from(s);
            sys::set_nonblocking(fd.as_fd())?;
            Some(fd.into())
        }
        None => None,
    };
    let mut written = 0usize;
    let mut out = Sink::new(child.stdout.take().map(OwnedFd::from))?;
    let mut err = Sink::new(child.stderr.take().map(OwnedFd::from))?;
    let pidfd = sys::pidfd_open(child.id() as libc::pid_t).ok();

    let status: ExitStatus = loop {
        if stdin.is_some() && written >= state.len() {
            stdin = None; // close: the hook sees EOF
        }
        if let Some(st) = child.try_wait()? {
            out.drain();
            err.drain();
            break st;
        }
        let now = Instant::now();
        if let Some(d) = deadline {
            if now >= d {
                bail!("{name}: timed out after {}s", timeout.unwrap_or(0));
            }
        }
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(4);
        let mut push = |fd: i32, events: i16| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            })
        };
        if let Some(f) = &stdin {
            push(f.as_raw_fd(), libc::POLLOUT);
        }
        if let Some(f) = &out.fd {
            push(f.as_raw_fd(), libc::POLLIN);
        }
        if let Some(f) = &err.fd {
            push(f.as_raw_fd(), libc::POLLIN);
        }
        if let Some(p) = &pidfd {
            push(p.as_fd().as_raw_fd(), libc::POLLIN);
        }
        // Without a pidfd, wake up regularly to check on the child.
        let mut wait_ms: i64 = if pidfd.is_some() { -1 } else { 10 };
        if let Some(d) = deadline {
            let left = d.saturating_duration_since(now).as_millis() as i64 + 1;
            wait_ms = if wait_ms < 0 { left } else { wait_ms.min(left) };
        }
        // SAFETY: `fds` is a valid array of pollfd of the given length.
        let r = unsafe {
            libc::poll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                wait_ms.clamp(-1, i32::MAX as i64) as libc::c_int,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                bail!("{name}: poll: {e}");
            }
            continue;
        }
        if let Some(f) = stdin.as_mut() {
            match f.write(&state[written..]) {
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // EPIPE: the hook does not read its stdin, which is fine.
                Err(_) => stdin = None,
            }
        }
        out.drain();
        err.drain();
    };
    drop(stdin);

    if status.success() {
        return Ok(());
    }
    let how = match (status.code(), status.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(s)) => {
            let sig = nix::sys::signal::Signal::try_from(s)
                .map(|s| s.as_str().to_string())
                .unwrap_or_else(|_| s.to_string());
            format!("killed by signal {sig}")
        }
        _ => format!("{status}"),
    };
    let mut msg = format!("{name} ({}): {how}", hook.path().display());
    let text = match err.text() {
        t if t.is_empty() => out.text(),
        t => t,
    };
    if !text.is_empty() {
        msg.push_str(": ");
        msg.push_str(&text);
    }
    Err(anyhow!(msg))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn hook(v: serde_json::Value) -> Hook {
        serde_json::from_value(v).unwrap()
    }

    fn sh(script: &str) -> Hook {
        hook(json!({"path": "/bin/sh", "args": ["sh", "-c", script]}))
    }

    fn tmpdir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("rt-hooks-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn runs_in_order_with_state_on_stdin() {
        let d = tmpdir("order");
        let f = d.join("log");
        let f = f.display();
        let hooks = vec![
            sh(&format!("echo first >> {f}; cat >> {f}; echo >> {f}")),
            sh(&format!("echo second >> {f}; cat >> {f}")),
        ];
        run("prestart", &hooks, br#"{"status":"created"}"#).unwrap();
        let got = std::fs::read_to_string(d.join("log")).unwrap();
        assert_eq!(
            got,
            "first\n{\"status\":\"created\"}\nsecond\n{\"status\":\"created\"}"
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn env_is_exactly_the_hooks_and_argv0_is_args0() {
        let d = tmpdir("env");
        let f = d.join("out");
        let h = hook(json!({
            "path": "/bin/sh",
            "args": ["my-hook-name", "-c",
                     format!("tr '\\0' ' ' < /proc/$$/cmdline > {0}; echo >> {0}; env >> {0}",
                             f.display())],
            "env": ["FOO=bar", "EMPTY="]
        }));
        run("createRuntime", &[h], b"{}").unwrap();
        let got = std::fs::read_to_string(&f).unwrap();
        let mut lines = got.lines();
        assert!(
            lines.next().unwrap().starts_with("my-hook-name -c "),
            "{got}"
        );
        let env: Vec<&str> = lines.collect();
        assert!(env.contains(&"FOO=bar"), "{got}");
        assert!(env.contains(&"EMPTY="), "{got}");
        // Nothing from our environment (the shell adds PWD and maybe SHLVL).
        for e in &env {
            let k = e.split('=').next().unwrap();
            assert!(
                ["FOO", "EMPTY", "PWD", "SHLVL", "OLDPWD", "_"].contains(&k),
                "unexpected {e} in {got}"
            );
        }
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn no_args_means_argv0_is_path() {
        let d = tmpdir("noargs");
        let script = d.join("hook.sh");
        let out = d.join("out");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$0\" > {}\n", out.display()),
        )
        .unwrap();
        let mut perm = std::fs::metadata(&script).unwrap().permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perm, 0o755);
        std::fs::set_permissions(&script, perm).unwrap();
        run("poststop", &[hook(json!({"path": script}))], b"{}").unwrap();
        assert_eq!(
            std::fs::read_to_string(&out).unwrap().trim(),
            script.display().to_string()
        );
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn exit_status_and_stderr_in_error() {
        let hooks = vec![sh("true"), sh("echo oops >&2; exit 3")];
        let e = run("createRuntime", &hooks, b"{}").unwrap_err().to_string();
        assert_eq!(e, "hooks.createRuntime[1] (/bin/sh): exit status 3: oops");
    }

    #[test]
    fn killed_by_signal() {
        let e = run("poststart", &[sh("kill -TERM $$")], b"{}")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "hooks.poststart[0] (/bin/sh): killed by signal SIGTERM");
    }

    #[test]
    fn failure_stops_the_sequence() {
        let d = tmpdir("stop");
        let f = d.join("ran");
        let hooks = vec![sh("exit 1"), sh(&format!("touch {}", f.display()))];
        assert!(run("prestart", &hooks, b"{}").is_err());
        assert!(!f.exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn timeout_kills_the_hook() {
        let d = tmpdir("timeout");
        let pidf = d.join("pid");
        let mut h = sh(&format!("echo $$ > {}; exec sleep 30", pidf.display()));
        h.set_timeout(Some(1));
        let t = Instant::now();
        let hooks = vec![sh("true"), h];
        let e = run("prestart", &hooks, b"{}").unwrap_err().to_string();
        assert_eq!(e, "hooks.prestart[1]: timed out after 1s");
        assert!(t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
        let pid: i32 = std::fs::read_to_string(&pidf)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        // Killed and reaped: the pid is gone.
        assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn hook_that_ignores_a_large_state_is_fine() {
        let state = vec![b'x'; 4 << 20];
        run("poststart", &[sh("exit 0")], &state).unwrap();
        // And one that reads all of it gets all of it.
        run(
            "poststart",
            &[sh(&format!("test $(wc -c) -eq {}", state.len()))],
            &state,
        )
        .unwrap();
    }

    #[test]
    fn background_process_holding_stdout_does_not_block() {
        let t = Instant::now();
        run("poststart", &[sh("sleep 5 & exit 0")], b"{}").unwrap();
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn bad_hooks_are_named() {
        let e = run("prestart", &[hook(json!({"path": "bin/true"}))], b"{}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("hooks.prestart[0].path: "), "{e}");
        let e = run(
            "prestart",
            &[hook(json!({"path": "/nonexistent/hook"}))],
            b"{}",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("hooks.prestart[0] (/nonexistent/hook): No such file"),
            "{e}"
        );
        let e = run(
            "startContainer",
            &[hook(json!({"path": "/bin/true", "timeout": 0}))],
            b"{}",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("hooks.startContainer[0].timeout: "), "{e}");
    }
}
