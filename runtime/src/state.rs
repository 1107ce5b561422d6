//! The state store: `<root>/<id>/state.json` plus the exec fifo, written atomically.
//!
//! A container directory exists from the first moment of `create` to the end of
//! `delete`; its status is derived, never stored: `creating` until the init has reported,
//! `created` while the exec fifo exists, `running` while the init lives, `paused` when the
//! cgroup is frozen, `stopped` once the init is gone (or its pid was reused: the start
//! time recorded at create must match /proc/<pid>/stat).
use crate::cgroups::Cgroup;
use crate::Result;
use anyhow::{anyhow, bail, Context};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// What rt remembers about a container between calls.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub id: String,
    /// Host pid of the container's init; 0 while creating.
    pub pid: i32,
    /// /proc/<pid>/stat start time, to tell the init from a recycled pid.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// RFC 3339 with nanoseconds, UTC.
    pub created: String,
    pub owner: String,
    pub cgroup: Cgroup,
    /// The config the container was created with (exec and delete need it).
    pub config: Spec,
    /// True until the init has reported Ready.
    #[serde(default)]
    pub creating: bool,
}

impl State {
    pub fn annotations(&self) -> HashMap<String, String> {
        self.config.annotations().clone().unwrap_or_default()
    }
}

/// One container's directory under the state root.
pub struct ContainerDir {
    pub dir: PathBuf,
}

/// An exclusive flock(2) on a container's directory: the commands that change a
/// container (create, start, kill, delete, pause, resume, update) hold it, so that two of
/// them on one id run one after the other. Released when dropped (the fd is closed; a
/// forked child that closes its copy does not release it).
pub struct DirLock {
    _file: fs::File,
}

pub fn validate_id(id: &str) -> Result<()> {
    // At most NAME_MAX: the id names a directory under --root (and the default cgroup).
    let ok = !id.is_empty()
        && id.len() <= 255
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+-.".contains(&b));
    if !ok {
        bail!("invalid container id {id:?}: it must be 1 to 255 characters of [A-Za-z0-9_+.-], not '.' or '..'");
    }
    Ok(())
}

impl ContainerDir {
    pub fn path(root: &Path, id: &str) -> Result<PathBuf> {
        validate_id(id)?;
        Ok(root.join(id))
    }

    /// Make the directory for a new container; fails if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<ContainerDir> {
        let dir = Self::path(root, id)?;
        fs::create_dir_all(root)
            .with_context(|| format!("creating state root {}", root.display()))?;
        match fs::create_dir(&dir) {
            Ok(()) => Ok(ContainerDir { dir }),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("container with id {id} already exists")
            }
            Err(e) => Err(anyhow!("creating {}: {e}", dir.display())),
        }
    }

    pub fn open(root: &Path, id: &str) -> Result<ContainerDir> {
        let dir = Self::path(root, id)?;
        if !dir.is_dir() {
            bail!("container {id} does not exist");
        }
        Ok(ContainerDir { dir })
    }

    /// Wait for the container's lock. Fails, saying the container does not exist, when
    /// the directory was removed (by a delete) while we waited.
    pub fn lock(&self) -> Result<DirLock> {
        let id = self.id();
        let gone = || anyhow!("container {id} does not exist");
        let file = fs::File::open(&self.dir).map_err(|_| gone())?;
        file.lock()
            .map_err(|e| anyhow!("locking {}: {e}", self.dir.display()))?;
        use std::os::unix::fs::MetadataExt;
        let locked = file.metadata()?;
        match fs::symlink_metadata(&self.dir) {
            Ok(now) if now.ino() == locked.ino() && now.dev() == locked.dev() => {
                Ok(DirLock { _file: file })
            }
            _ => Err(gone()),
        }
    }

    fn id(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn exec_fifo(&self) -> PathBuf {
        self.dir.join(EXEC_FIFO)
    }

    /// Write state.json atomically (temp file + rename).
    pub fn save(&self, state: &State) -> Result<()> {
        let tmp = self.dir.join(".state.json.tmp");
        // One write: serde_json on an unbuffered File issues a syscall per token.
        fs::write(&tmp, serde_json::to_vec(state)?)?;
        fs::rename(&tmp, self.dir.join(STATE_FILE))?;
        Ok(())
    }

    /// None while the container is still being created (no state.json yet).
    pub fn load(&self) -> Result<Option<State>> {
        match fs::read(self.dir.join(STATE_FILE)) {
            Ok(data) => Ok(Some(serde_json::from_slice(&data).with_context(|| {
                format!("corrupt state file {}", self.dir.join(STATE_FILE).display())
            })?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub fn remove(&self) -> Result<()> {
        match fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(anyhow!("removing {}: {e}", self.dir.display())),
        }
    }

    pub fn status(&self, state: &State) -> Status {
        if state.pid <= 0 {
            return Status::Creating;
        }
        if process_start_time(state.pid) != Some(state.pid_start) {
            return Status::Stopped;
        }
        if state.creating {
            return Status::Creating;
        }
        if self.exec_fifo().exists() {
            return Status::Created;
        }
        if state.cgroup.is_frozen().unwrap_or(false) {
            return Status::Paused;
        }
        Status::Running
    }
}

/// Field 22 of /proc/<pid>/stat; None when the process is gone or a zombie.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // comm (field 2) may hold spaces and parentheses: parse after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?;
    if state == "Z" || state == "X" {
        return None;
    }
    // rest starts at field 3; start time is field 22.
    fields.nth(18)?.parse().ok()
}

/// runc's `state` JSON, fields in runc's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OciState {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: &'static str,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
}

pub fn oci_state(state: &State, status: Status) -> OciState {
    let pid = if matches!(status, Status::Stopped) {
        0
    } else {
        state.pid
    };
    OciState {
        oci_version: state.config.version().clone(),
        id: state.id.clone(),
        pid,
        status: status.as_str(),
        bundle: state.bundle.clone(),
        rootfs: state.rootfs.clone(),
        created: state.created.clone(),
        owner: state.owner.clone(),
        annotations: state.annotations(),
    }
}

/// The state given to hooks on stdin (the runtime spec's State).
pub fn hook_state_json(state: &State, status: Status) -> Vec<u8> {
    let mut v = serde_json::json!({
        "ociVersion": state.config.version(),
        "id": state.id,
        "status": status.as_str(),
        "bundle": state.bundle,
    });
    if state.pid > 0 {
        v["pid"] = state.pid.into();
    }
    if let Some(a) = state.config.annotations() {
        v["annotations"] = serde_json::to_value(a).unwrap_or_default();
    }
    serde_json::to_vec(&v).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    /// `rt state`, `list` or `delete` reading state.json while `create` rewrites it never
    /// sees a truncated or half-written file (save writes a temp file, then renames it).
    #[test]
    fn load_never_sees_a_half_written_state() {
        let tmp = std::env::temp_dir().join(format!("rt-state-atomic-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        let dir = ContainerDir { dir: tmp.clone() };
        let state = State {
            id: "atomic".into(),
            pid: 1,
            pid_start: 1,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            created: "2026-12-02T00:00:00.000000000Z".into(),
            owner: "root".into(),
            cgroup: Cgroup::default(),
            config: Spec::default(),
            creating: false,
        };
        dir.save(&state).unwrap();
        let done = AtomicBool::new(false);
        let (mut reads, mut bad) = (0u32, vec![]);
        std::thread::scope(|s| {
            s.spawn(|| {
                for _ in 0..5_000 {
                    dir.save(&state).unwrap();
                }
                done.store(true, Ordering::Relaxed);
            });
            while !done.load(Ordering::Relaxed) {
                reads += 1;
                match dir.load() {
                    Ok(Some(st)) if st.id == "atomic" => {}
                    other => bad.push(format!("{other:?}")),
                }
            }
        });
        fs::remove_dir_all(&tmp).unwrap();
        assert!(reads > 100, "only {reads} reads overlapped the writes");
        assert!(
            bad.is_empty(),
            "{} of {reads} reads failed: {:?}",
            bad.len(),
            bad.first()
        );
    }
}
