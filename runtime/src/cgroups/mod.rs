//! linux.cgroupsPath and linux.resources.
//!
//! Contract (called by `container::create`, the lifecycle commands and `exec`):
//! - `Cgroup::new(cgroups_path, id)` resolves where the container lives: an absolute
//!   `cgroupsPath`, a relative one (under the hierarchy root), or `/<id>` when absent.
//!   It detects the host layout (v1, v1 hybrid with a cgroup2 mount at
//!   /sys/fs/cgroup/unified, pure v2) and touches nothing.
//! - `create(resources)` makes the directories (remembering which it made, so `destroy`
//!   removes exactly those) and applies `linux.resources`; errors name the JSON path
//!   (`linux.resources.memory.limit`) and leave nothing behind.
//! - `add_task(pid)` moves a process in (every hierarchy, the hybrid cgroup2 one too).
//! - `update`, `freeze`/`thaw`/`is_frozen`, `pids`, `stats`, `destroy`.
//! - `Cgroup` is serialized into the container's state.json.
use crate::Result;
use oci_spec::runtime::LinuxResources;
use serde::{Deserialize, Serialize};
use std::path::Path;

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Cgroup {
    /// The container's cgroup path relative to each hierarchy root, e.g. `/rt/abc`.
    pub path: String,
}

impl Cgroup {
    pub fn new(cgroups_path: Option<&Path>, id: &str) -> Result<Cgroup> {
        let path = match cgroups_path {
            Some(p) if p.is_absolute() => p.display().to_string(),
            Some(p) => format!("/{}", p.display()),
            None => format!("/{id}"),
        };
        Ok(Cgroup { path })
    }
    pub fn create(&mut self, _resources: Option<&LinuxResources>) -> Result<()> {
        Ok(())
    }
    pub fn add_task(&self, _pid: i32) -> Result<()> {
        Ok(())
    }
    pub fn update(&self, _resources: &LinuxResources) -> Result<()> {
        Ok(())
    }
    pub fn freeze(&self) -> Result<()> {
        anyhow::bail!("freezer: not implemented yet")
    }
    pub fn thaw(&self) -> Result<()> {
        anyhow::bail!("freezer: not implemented yet")
    }
    pub fn is_frozen(&self) -> Result<bool> {
        Ok(false)
    }
    /// Every process in the container's cgroup (host pids).
    pub fn pids(&self) -> Result<Vec<i32>> {
        Ok(vec![])
    }
    /// runc's `events --stats` JSON `data` object.
    pub fn stats(&self) -> Result<serde_json::Value> {
        Ok(serde_json::json!({}))
    }
    /// Remove the directories `create` made (the caller has killed every process).
    pub fn destroy(&self) -> Result<()> {
        Ok(())
    }
    /// For a `cgroup` mount inside the container: (host directory, name under the mount)
    /// per hierarchy, e.g. ("/sys/fs/cgroup/memory/rt/abc", "memory"); v2: one entry, "".
    pub fn mount_sources(&self) -> Vec<(std::path::PathBuf, String)> {
        vec![]
    }
}
