//! Process attributes: process.user (uid, gid, additionalGids, umask), env, cwd, rlimits,
//! oomScoreAdj, ioPriority, scheduler, linux.personality, noNewPrivileges,
//! apparmorProfile, selinuxLabel; and finding args[0] on PATH.
//!
//! Contract (called by `container::init` and `container::exec`, each returns an error
//! naming the JSON path it applies):
//! - `set_rlimits` (on EPERM the error says root lacks CAP_SYS_RESOURCE above the hard limit),
//! - `set_oom_score_adj`, `set_io_priority`, `set_scheduler`, `set_personality`,
//! - `set_lsm_labels` (a clear error where a label is asked for and the LSM is absent),
//! - `set_user` (setgroups, setresgid, setresuid, keeping permitted capabilities; umask),
//! - `set_no_new_privileges`,
//! - `find_executable(args0, env)` resolves args[0] like execvp, before "created".
use crate::Result;
use oci_spec::runtime::{LinuxIOPriority, LinuxPersonality, PosixRlimit, Process, Scheduler, User};
use std::ffi::CString;

pub fn set_rlimits(_rlimits: &[PosixRlimit]) -> Result<()> {
    Ok(())
}
pub fn set_oom_score_adj(_adj: i32) -> Result<()> {
    Ok(())
}
pub fn set_io_priority(_prio: &LinuxIOPriority) -> Result<()> {
    Ok(())
}
pub fn set_scheduler(_sched: &Scheduler) -> Result<()> {
    Ok(())
}
pub fn set_personality(_p: &LinuxPersonality) -> Result<()> {
    Ok(())
}
pub fn set_lsm_labels(_process: &Process) -> Result<()> {
    Ok(())
}
pub fn set_user(user: &User) -> Result<()> {
    let gid = nix::unistd::Gid::from_raw(user.gid());
    let uid = nix::unistd::Uid::from_raw(user.uid());
    nix::unistd::setresgid(gid, gid, gid)?;
    nix::unistd::setresuid(uid, uid, uid)?;
    Ok(())
}
pub fn set_no_new_privileges() -> Result<()> {
    Ok(())
}
pub fn find_executable(args0: &str, _env: &[String]) -> Result<CString> {
    Ok(CString::new(args0)?)
}
