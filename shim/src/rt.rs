//! Running the `rt` binary. Every container operation of the shim is an `rt` command, so the
//! rt CLI and the shim share one code path (rt's create clones the init from the calling
//! process and changes per-thread namespace state, which this multithreaded shim must not).
//!
//! The shim is a child subreaper and the containerd-shim crate's reaper thread reaps every
//! child, `rt` itself included: exit statuses come from the crate's monitor, subscribed to
//! before the spawn, never from `Child::wait`.

use containerd_shim::monitor::{monitor_subscribe, wait_pid, Subscription, Topic};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which rt binary, with which --root. Saved in the bundle (`rt.json`) at create, so the
/// `delete` action can clean up after a shim that died.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rt {
    pub binary: PathBuf,
    pub root: PathBuf,
}

/// The default state root; the namespace is appended, as runc's shim does.
pub const DEFAULT_ROOT: &str = "/run/containerd/rt";

impl Rt {
    /// `name` empty: `rt` next to the shim binary, then on PATH. A name with a slash is used
    /// as is, a bare name is looked up on PATH.
    pub fn new(name: &str, root: &str, namespace: &str) -> Result<Rt, String> {
        let root = if root.is_empty() { DEFAULT_ROOT } else { root };
        let binary = if name.is_empty() {
            let beside = std::env::current_exe()
                .ok()
                .and_then(|p| p.parent().map(|d| d.join("rt")))
                .filter(|p| p.is_file());
            match beside {
                Some(p) => p,
                None => {
                    lookup_path("rt").ok_or("rt binary not found next to the shim nor on PATH")?
                }
            }
        } else if name.contains('/') {
            PathBuf::from(name)
        } else {
            lookup_path(name).ok_or_else(|| format!("BinaryName {name:?} not found on PATH"))?
        };
        Ok(Rt {
            binary,
            root: Path::new(root).join(namespace),
        })
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root").arg(&self.root);
        c
    }

    /// Runs `rt ARGS`, returns stdout; an error carries rt's stderr.
    pub fn run(&self, args: &[&str]) -> Result<Vec<u8>, String> {
        let mut c = self.command();
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let t0 = std::time::Instant::now();
        let (code, out, err) = run_captured(c)?;
        log::debug!("rt {}: {:?}", args.first().unwrap_or(&""), t0.elapsed());
        if code != 0 {
            return Err(format!(
                "rt {}: exit {code}: {}",
                args.first().unwrap_or(&""),
                String::from_utf8_lossy(&err).trim()
            ));
        }
        Ok(out)
    }

    /// Runs a prepared command (stdio set by the caller, errors in the --log file).
    pub fn run_logged(&self, mut c: Command, log: &Path, what: &str) -> Result<(), String> {
        let t0 = std::time::Instant::now();
        let sub = subscribe()?;
        let child = c
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.binary.display()))?;
        drop(c);
        let code = wait_pid(child.id() as i32, sub);
        log::debug!("rt {what}: {:?}", t0.elapsed());
        if code != 0 {
            let msg = std::fs::read_to_string(log).unwrap_or_default();
            let last = msg
                .lines()
                .rev()
                .find_map(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v["msg"].as_str().map(str::to_owned))
                })
                .unwrap_or_else(|| msg.trim().to_owned());
            return Err(format!("rt {what}: exit {code}: {last}"));
        }
        Ok(())
    }
}

pub fn subscribe() -> Result<Subscription, String> {
    monitor_subscribe(Topic::Pid).map_err(|e| format!("subscribe to exits: {e}"))
}

fn run_captured(mut c: Command) -> Result<(i32, Vec<u8>, Vec<u8>), String> {
    let sub = subscribe()?;
    let mut child = c.spawn().map_err(|e| format!("spawn rt: {e}"))?;
    let mut out = Vec::new();
    let mut err = Vec::new();
    if let Some(mut o) = child.stdout.take() {
        let _ = o.read_to_end(&mut out);
    }
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_end(&mut err);
    }
    Ok((wait_pid(child.id() as i32, sub), out, err))
}

fn lookup_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}
