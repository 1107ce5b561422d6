//! hooks: prestart, createRuntime, createContainer, startContainer, poststart, poststop.
//!
//! Contract: `run(kind, hooks, state_json)` runs each hook in order: path, args (args[0] is
//! argv[0]), env, the container state JSON on stdin, `timeout` seconds (the hook is killed
//! and the call fails when it is exceeded). An error names the hook: `hooks.prestart[1]`
//! and its exit status and stderr. Whether a failure is fatal is the caller's business
//! (poststart/poststop failures are warnings).
use crate::Result;
use oci_spec::runtime::Hook;

pub fn run(_kind: &str, _hooks: &[Hook], _state_json: &[u8]) -> Result<()> {
    Ok(())
}
