//! The command line, with runc's names and flags. Only clap structs live here; each
//! command's behaviour is in `commands/<name>.rs`.
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "rt",
    about = "rt: an OCI container runtime",
    disable_version_flag = true
)]
pub struct Cli {
    /// root directory for storage of container state
    #[arg(long, global = true, default_value = "/run/rt")]
    pub root: PathBuf,
    /// set the log file to write rt logs to (default is stderr)
    #[arg(long, global = true)]
    pub log: Option<PathBuf>,
    /// set the log format ('text' or 'json')
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: String,
    /// enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// enable systemd cgroup support
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// ignored: accepted for runc compatibility
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    /// ignore cgroup permission errors ('true', 'false', or 'auto')
    #[arg(long = "rootless", id = "global_rootless", hide = true)]
    pub rootless: Option<String>,
    /// print the version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// create a container
    Create(Create),
    /// executes the user defined process in a created container
    Start(Id),
    /// create and run a container
    Run(Run),
    /// output the state of a container
    State(Id),
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(Kill),
    /// delete any resources held by the container
    Delete(Delete),
    /// execute new process inside the container
    Exec(Exec),
    /// ps displays the processes running inside a container
    Ps(Ps),
    /// lists containers started by rt with the given root
    List(List),
    /// pause suspends all processes inside the container
    Pause(Id),
    /// resumes all processes that have been previously paused
    Resume(Id),
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(Events),
    /// update container resource constraints
    Update(Update),
    /// create a new specification file
    Spec(SpecCmd),
    /// show the enabled features
    Features,
    /// checkpoint a running container (not supported)
    Checkpoint(Passthrough),
    /// restore a container from a previous checkpoint (not supported)
    Restore(Passthrough),
}

#[derive(Args, Debug)]
pub struct Id {
    pub id: String,
}

#[derive(Args, Debug, Clone, Default)]
pub struct CreateOpts {
    /// path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// path to an AF_UNIX socket which will receive the pseudoterminal master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
}

#[derive(Args, Debug)]
pub struct Create {
    #[command(flatten)]
    pub opts: CreateOpts,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Run {
    #[command(flatten)]
    pub opts: CreateOpts,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Kill {
    /// send the specified signal to all processes inside the container
    #[arg(short = 'a', long)]
    pub all: bool,
    pub id: String,
    #[arg(default_value = "SIGTERM")]
    pub signal: String,
}

#[derive(Args, Debug)]
pub struct Delete {
    /// forcibly delete the container if it is still running (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct Exec {
    /// path to the process.json
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// path to an AF_UNIX socket which will receive the pseudoterminal master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// add a capability to the bounding set for the process
    #[arg(short = 'c', long = "cap")]
    pub cap: Vec<String>,
    /// set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// pass N additional file descriptors to the process
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// set the asm process label for the process commonly used with selinux
    #[arg(long = "process-label")]
    pub process_label: Option<String>,
    /// set the apparmor profile for the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// ignored: accepted for runc compatibility
    #[arg(long = "ignore-paused", hide = true)]
    pub ignore_paused: bool,
    /// ignored: accepted for runc compatibility
    #[arg(long = "cgroup", hide = true)]
    pub cgroup: Vec<String>,
    pub id: String,
    /// the command and its arguments (when -p is not given)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct Ps {
    /// select one of: table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    pub id: String,
    /// arguments passed to ps
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct List {
    /// select one of: table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// display only container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct Events {
    /// set the stats collection interval
    #[arg(long, default_value = "5s")]
    pub interval: String,
    /// display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    pub id: String,
}

#[derive(Args, Debug, Default)]
pub struct Update {
    /// path to a file containing the resources to update, or '-' to read from stdin
    #[arg(short = 'r', long)]
    pub resources: Option<String>,
    /// block IO weight (10-1000)
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    /// CPU CFS period in microseconds
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    /// CPU CFS quota in microseconds per period
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPU shares (relative weight)
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    /// CPU realtime period in microseconds
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    /// CPU realtime runtime in microseconds
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    /// CPUs to use (e.g. 0-2,4)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// memory nodes to use (e.g. 0-1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// memory limit (e.g. 256m, -1 for unlimited)
    #[arg(long)]
    pub memory: Option<String>,
    /// memory reservation or soft limit (e.g. 128m)
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// total memory plus swap limit (e.g. 1g, -1 for unlimited)
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    /// maximum number of pids (-1 for unlimited)
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    /// ignored: accepted for runc compatibility
    #[arg(long = "kernel-memory", hide = true)]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp", hide = true)]
    pub kernel_memory_tcp: Option<String>,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct SpecCmd {
    /// path to the root of the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

#[derive(Args, Debug)]
pub struct Passthrough {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
