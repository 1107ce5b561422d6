use super::wait;
use crate::cli::Run;
use crate::console;
use crate::container::{create, lifecycle, start};
use crate::Result;
use std::path::Path;

/// create + start; in the foreground, also wait and delete (unless --keep).
pub fn run(root: &Path, a: Run) -> Result<i32> {
    if a.detach {
        let c = create::create(root, &a.id, &a.opts, false)?;
        start::start(&c.dir, &c.state)?;
        return Ok(0);
    }
    nix::sys::prctl::set_child_subreaper(true)?;
    wait::block_signals()?;
    let c = create::create(root, &a.id, &a.opts, true)?;
    let master = c.console.as_ref().map(console::receive).transpose()?;
    let started = start::start(&c.dir, &c.state);
    let code = match started {
        Ok(()) => wait::forward_and_wait(c.state.pid, master),
        Err(e) => Err(e),
    };
    if !a.keep {
        let deleted = c
            .dir
            .lock()
            .and_then(|_lock| lifecycle::delete(&c.dir, &c.state, true));
        if let Err(e) = deleted {
            crate::logging::warn(&format!("deleting {}: {e:#}", a.id));
        }
    }
    code
}
