use super::wait;
use crate::cli::Exec;
use crate::container::{create::write_pid_file, exec, lifecycle};
use crate::state::Status;
use crate::{console, Result};
use anyhow::{anyhow, bail};
use oci_spec::runtime::{Capability, Process};
use std::path::Path;
use std::str::FromStr;

pub fn run(root: &Path, a: Exec) -> Result<i32> {
    let (dir, st) = lifecycle::load(root, &a.id)?;
    match dir.status(&st) {
        Status::Running | Status::Created => {}
        Status::Paused if a.ignore_paused => {}
        s => bail!("cannot exec in container {}: it is {}", a.id, s.as_str()),
    }
    let process = build_process(&a, st.config.process().as_ref())?;
    crate::spec::validate::validate_process(
        &process,
        if a.process.is_some() { "" } else { "process" },
    )?;
    if process.terminal().unwrap_or(false) && a.detach && a.console_socket.is_none() {
        bail!("--tty with --detach needs --console-socket");
    }
    let extra = a.preserve_fds;
    if !a.detach {
        nix::sys::prctl::set_child_subreaper(true)?;
        wait::block_signals()?;
    }
    let spawned = exec::spawn(&st, &process, a.console_socket.as_deref(), extra)?;
    if let Some(pid_file) = &a.pid_file {
        write_pid_file(pid_file, spawned.pid)?;
    }
    if a.detach {
        return Ok(0);
    }
    let master = spawned.console.as_ref().map(console::receive).transpose()?;
    wait::forward_and_wait(spawned.pid, master)
}

/// The process to exec: `-p process.json`, or the container's own process with the
/// command line's args and overrides, as runc builds it.
fn build_process(a: &Exec, base: Option<&Process>) -> Result<Process> {
    if let Some(path) = &a.process {
        let data = std::fs::read(path).map_err(|e| anyhow!("--process {}: {e}", path.display()))?;
        let de = &mut serde_json::Deserializer::from_slice(&data);
        return serde_path_to_error::deserialize(de)
            .map_err(|e| anyhow!("--process {}: {}: {}", path.display(), e.path(), e.inner()));
    }
    if a.args.is_empty() {
        bail!("exec: no command given (pass the command after the container id, or --process)");
    }
    let mut p = base.cloned().unwrap_or_default();
    p.set_args(Some(a.args.clone()));
    p.set_terminal(Some(a.tty));
    p.set_console_size(None);
    if !a.env.is_empty() {
        let mut env = p.env().clone().unwrap_or_default();
        env.extend(a.env.iter().cloned());
        p.set_env(Some(env));
    }
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.into());
    }
    if let Some(u) = &a.user {
        let mut user = p.user().clone();
        let (uid, gid) = u.split_once(':').unwrap_or((u, ""));
        user.set_uid(
            uid.parse()
                .map_err(|_| anyhow!("--user {u:?}: want <uid>[:<gid>]"))?,
        );
        user.set_gid(if gid.is_empty() {
            0
        } else {
            gid.parse()
                .map_err(|_| anyhow!("--user {u:?}: want <uid>[:<gid>]"))?
        });
        p.set_user(user);
    }
    if !a.additional_gids.is_empty() {
        let mut user = p.user().clone();
        user.set_additional_gids(Some(a.additional_gids.clone()));
        p.set_user(user);
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let cap =
                Capability::from_str(c).map_err(|_| anyhow!("--cap {c:?}: unknown capability"))?;
            let add = |s: &Option<oci_spec::runtime::Capabilities>| {
                let mut s = s.clone().unwrap_or_default();
                s.insert(cap);
                Some(s)
            };
            caps.set_bounding(add(caps.bounding()));
            caps.set_effective(add(caps.effective()));
            caps.set_permitted(add(caps.permitted()));
        }
        p.set_capabilities(Some(caps));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if let Some(l) = &a.apparmor {
        p.set_apparmor_profile(Some(l.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}
