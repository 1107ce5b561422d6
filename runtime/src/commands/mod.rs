//! One file per command, each a thin layer over the library.
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod update;
pub mod wait;

use crate::cli::{Cli, Command};
use crate::Result;

pub const VERSION: &str = env!("CARGO_PKG_VERSION");
pub const SPEC_VERSION: &str = "1.2.0";

pub fn dispatch(cli: Cli) -> Result<i32> {
    if cli.systemd_cgroup {
        anyhow::bail!("--systemd-cgroup: the systemd cgroup driver is not supported yet; use the cgroupfs driver (drop the flag)");
    }
    let root = cli.root.as_path();
    let Some(cmd) = cli.command else {
        if cli.version {
            let v = crate::seccomp::library_version();
            println!("rt version {VERSION}\nspec: {SPEC_VERSION}\nlibseccomp: {v}");
            return Ok(0);
        }
        anyhow::bail!("no command given (see rt --help)");
    };
    match cmd {
        Command::Create(a) => create::run(root, a),
        Command::Start(a) => start::run(root, a),
        Command::Run(a) => run::run(root, a),
        Command::State(a) => state::run(root, a),
        Command::Kill(a) => kill::run(root, a),
        Command::Delete(a) => delete::run(root, a),
        Command::Exec(a) => exec::run(root, a),
        Command::Ps(a) => ps::run(root, a),
        Command::List(a) => list::run(root, a),
        Command::Pause(a) => pause::pause(root, a),
        Command::Resume(a) => pause::resume(root, a),
        Command::Events(a) => events::run(root, a),
        Command::Update(a) => update::run(root, a),
        Command::Spec(a) => spec::run(a),
        Command::Features => features::run(),
        Command::Checkpoint(_) | Command::Restore(_) => {
            anyhow::bail!("checkpoint/restore is not supported: rt has no CRIU support yet")
        }
    }
}
