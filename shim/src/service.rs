//! The task service: containers and their processes, each a small state machine
//! (created → running → stopped, paused beside running), driven through `rt`.
//!
//! Ordering: every state change and every event is made under one lock, and the handlers
//! that start a process hold it while `rt start`/`rt exec` run. A process's exit is recorded
//! by a thread that takes the same lock, so TaskStart/TaskExecStarted always precede its
//! TaskExit, as containerd expects, however fast the process exits. Events go through a
//! channel to one publisher thread, so they keep that order on the wire.

use crate::io::{self, ConsoleSocket};
use crate::rt::{self, Rt};
use crate::{oom, stats};
use containerd_shim::api::{self, Status};
use containerd_shim::event::Event;
use containerd_shim::monitor::{wait_pid, Subscription};
use containerd_shim::protos::events::task::{
    TaskCreate, TaskDelete, TaskExecAdded, TaskExecStarted, TaskExit, TaskIO, TaskOOM, TaskPaused,
    TaskResumed, TaskStart,
};
use containerd_shim::protos::protobuf::well_known_types::any::Any;
use containerd_shim::protos::protobuf::well_known_types::timestamp::Timestamp;
use containerd_shim::protos::protobuf::{Message, MessageField};
use containerd_shim::protos::ttrpc::{get_status, Code, Error as TtrpcError};
use containerd_shim::protos::types::task::ProcessInfo;
use containerd_shim::publisher::RemotePublisher;
use containerd_shim::{
    Config, DeleteResponse, ExitSignal, Flags, StartOpts, TtrpcContext, TtrpcResult,
};
use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SANDBOX_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

fn err(code: Code, msg: impl ToString) -> TtrpcError {
    TtrpcError::RpcStatus(get_status(code, msg))
}

fn internal(msg: impl ToString) -> TtrpcError {
    err(Code::INTERNAL, msg)
}

fn not_found(what: &str) -> TtrpcError {
    err(Code::NOT_FOUND, format!("{what}: not found"))
}

fn now() -> Timestamp {
    containerd_shim::util::timestamp().unwrap_or_default()
}

/// One process: the init or an exec.
#[derive(Default)]
struct Proc {
    pid: u32,
    status: Status,
    exit_status: u32,
    exited_at: Option<Timestamp>,
    stdin: String,
    stdout: String,
    stderr: String,
    terminal: bool,
    stdin_keep: Option<io::StdinWriter>,
    console: Option<File>,
    copier: Option<io::CopyDone>,
    /// An exec's OCI process (JSON), until it is started.
    spec: Vec<u8>,
}

impl Proc {
    fn exited_at(&self) -> MessageField<Timestamp> {
        MessageField::from_option(self.exited_at.clone())
    }
}

struct Container {
    bundle: PathBuf,
    rt: Rt,
    init: Proc,
    execs: HashMap<String, Proc>,
    paused: bool,
    rootfs_mounted: bool,
    /// The init's OOM watch: looked at once more when the init exits.
    oom: Option<oom::Watch>,
}

impl Container {
    fn proc(&self, exec_id: &str) -> TtrpcResult<&Proc> {
        if exec_id.is_empty() {
            Ok(&self.init)
        } else {
            self.execs.get(exec_id).ok_or_else(|| not_found(exec_id))
        }
    }

    fn proc_mut(&mut self, exec_id: &str) -> TtrpcResult<&mut Proc> {
        if exec_id.is_empty() {
            Ok(&mut self.init)
        } else {
            self.execs
                .get_mut(exec_id)
                .ok_or_else(|| not_found(exec_id))
        }
    }
}

type Ev = crate::publish::Encoded;

/// Events sent to the publisher thread and not yet published: the shim drains them before
/// it exits (TaskDelete is the last thing a shim says).
#[derive(Default)]
struct Pending {
    count: Mutex<u64>,
    done: Condvar,
}

impl Pending {
    fn add(&self, n: i64) {
        let mut c = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *c = c.saturating_add_signed(n);
        self.done.notify_all();
    }

    fn drain(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        let mut c = self.count.lock().unwrap_or_else(|e| e.into_inner());
        while *c > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            c = self
                .done
                .wait_timeout(c, left)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

struct Inner {
    pending: Arc<Pending>,
    containers: Mutex<HashMap<String, Container>>,
    exited: Condvar,
    events: Mutex<Sender<Ev>>,
    exit: Arc<ExitSignal>,
    namespace: String,
    /// A pure cgroup v2 host: Stats answers with v2 Metrics.
    cgroup_v2: bool,
    unmounts: Unmounts,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Container>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish<E: Event + Message>(&self, e: E) {
        let ev = crate::publish::encode(&e);
        let tx = self.events.lock().unwrap_or_else(|e| e.into_inner());
        self.pending.add(1);
        if tx.send(ev).is_err() {
            self.pending.add(-1);
        }
    }
}

#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

/// The shim: the `start` and `delete` actions, and the server's lifetime.
pub struct Shim {
    exit: Arc<ExitSignal>,
    pending: Arc<Pending>,
    unmounts: Unmounts,
    socket: String,
    debug: bool,
    namespace: String,
    id: String,
    bundle: String,
}

fn bundle_dir(flag: &str) -> PathBuf {
    if flag.is_empty() {
        std::env::current_dir().unwrap_or_default()
    } else {
        PathBuf::from(flag)
    }
}

impl containerd_shim::Shim for Shim {
    type T = Service;

    fn new(_runtime_id: &str, args: &Flags, _config: &mut Config) -> Self {
        Shim {
            exit: Arc::new(ExitSignal::default()),
            pending: Arc::default(),
            unmounts: Unmounts::default(),
            socket: args.socket.clone(),
            debug: args.debug,
            namespace: args.namespace.clone(),
            id: args.id.clone(),
            bundle: args.bundle.clone(),
        }
    }

    /// One shim per pod when the CRI sandbox annotation is present, else one per container.
    fn start_shim(&mut self, opts: StartOpts) -> containerd_shim::Result<String> {
        let config = std::fs::read(bundle_dir(&self.bundle).join("config.json"))
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
        let grouping = config
            .as_ref()
            .and_then(|c| c["annotations"][SANDBOX_ANNOTATION].as_str())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| opts.id.clone());
        if !crate::daemon::single_threaded() {
            let (_pid, address) = containerd_shim::spawn(opts, &grouping, Vec::new())?;
            containerd_shim::util::write_address(&address)?;
            return Ok(address);
        }
        let address = containerd_shim::socket_address(&opts.address, &opts.namespace, &grouping);
        let other = containerd_shim::Error::Other;
        let listener = match crate::daemon::listen(&address).map_err(other)? {
            crate::daemon::Listen::Served => {
                containerd_shim::util::write_address(&address)?;
                return Ok(address);
            }
            crate::daemon::Listen::Bound(l) => l,
        };
        if crate::daemon::fork_daemon().map_err(other)? {
            drop(listener);
            containerd_shim::util::write_address(&address)?;
            return Ok(address);
        }
        // The daemon: serve, then exit without returning into the crate's `start` path.
        self.socket = address;
        let code = match self.serve(listener) {
            Ok(()) => 0,
            Err(e) => {
                log::error!("shim daemon: {e}");
                1
            }
        };
        std::process::exit(code)
    }

    /// Cleans up after a shim that is gone: force-deletes the container, unmounts the rootfs.
    fn delete_shim(&mut self) -> containerd_shim::Result<DeleteResponse> {
        let bundle = bundle_dir(&self.bundle);
        if let Ok(b) = std::fs::read(bundle.join("rt.json")) {
            // containerd runs this action after most clean shim exits too (its disconnect
            // callback races with its own delete): with rt's state already gone there is
            // nothing for `rt delete` to do, and not running it saves an exec.
            let rt = serde_json::from_slice::<Rt>(&b)
                .ok()
                .filter(|rt| rt.root.join(&self.id).exists());
            if let Some(rt) = rt {
                if let Err(e) = rt.run(&["delete", "--force", &self.id]) {
                    log::warn!("delete {}: {e}", self.id);
                }
            }
        }
        unmount_rootfs(&bundle);
        // A killed shim leaves its socket. Remove it when nothing answers there (a pod's
        // shim may still be serving the pod's other containers).
        if let Ok(addr) = std::fs::read_to_string(bundle.join("address")) {
            let addr = addr.trim();
            let path = addr.strip_prefix("unix://").unwrap_or(addr);
            if !path.is_empty() && std::os::unix::net::UnixStream::connect(path).is_err() {
                let _ = std::fs::remove_file(path);
            }
        }
        Ok(DeleteResponse {
            exit_status: 128 + libc::SIGKILL as u32,
            exited_at: MessageField::some(now()),
            ..Default::default()
        })
    }

    fn wait(&mut self) {
        self.exit.wait();
        log::debug!("exit signalled, draining events");
        self.pending.drain(Duration::from_secs(5));
        log::debug!("events drained");
        self.unmounts.wait(None);
        // The crate removes the socket named in the bundle's address file, which containerd
        // may have deleted by now: remove it by the -socket flag.
        let path = self.socket.strip_prefix("unix://").unwrap_or(&self.socket);
        if !path.is_empty() {
            let _ = std::fs::remove_file(path);
        }
    }

    fn create_task_service(&self, publisher: RemotePublisher) -> Service {
        // The crate's publisher is replaced by publish.rs (no protobuf reflection).
        drop(publisher);
        self.service()
    }
}

impl Shim {
    /// The forked daemon's life (see daemon.rs): what the crate's bootstrap does for a
    /// serving shim, on the socket the `start` action bound.
    fn serve(&mut self, listener: std::os::unix::net::UnixListener) -> Result<(), String> {
        crate::daemon::start_reaper()?;
        let task = Arc::new(self.service());
        crate::daemon::serve(listener, task, || containerd_shim::Shim::wait(self))
    }

    fn service(&self) -> Service {
        crate::logger::init(self.debug);
        let (tx, rx) = channel::<Ev>();
        let ns = self.namespace.clone();
        let pending = self.pending.clone();
        let address = std::env::var("TTRPC_ADDRESS").unwrap_or_default();
        std::thread::spawn(move || crate::publish::run(address, ns, rx, || pending.add(-1)));
        Service {
            inner: Arc::new(Inner {
                pending: self.pending.clone(),
                containers: Mutex::new(HashMap::new()),
                exited: Condvar::new(),
                events: Mutex::new(tx),
                exit: self.exit.clone(),
                namespace: self.namespace.clone(),
                cgroup_v2: stats::host_is_v2(),
                unmounts: self.unmounts.clone(),
            }),
        }
    }
}

fn unmount_rootfs(bundle: &Path) {
    let rootfs = bundle.join("rootfs");
    // Only if something is mounted there (the bundle's own rootfs dir is left alone).
    let _ = nix::mount::umount2(&rootfs, nix::mount::MntFlags::MNT_DETACH);
}

/// Mounts one of the rootfs mounts containerd sends. The containerd-shim crate's
/// `mount_rootfs` forks a child for every mount (so that it may chdir for overlay lowerdirs
/// too long for one page), which costs a fork and a wait for the reaper on every Create.
/// The snapshotter's usual mount, an overlay with only `key=value` options that fit in a
/// page, is mounted here directly, as the crate's child would; anything else goes to the
/// crate.
fn mount_rootfs(
    m: &containerd_shim::protos::types::mount::Mount,
    target: &Path,
) -> containerd_shim::Result<()> {
    let data = m.options.join(",");
    if m.type_ == "overlay" && m.options.iter().all(|o| o.contains('=')) && data.len() < 4096 - 512
    {
        let source = Some(m.source.as_str()).filter(|s| !s.is_empty());
        return nix::mount::mount(
            source,
            target,
            Some("overlay"),
            nix::mount::MsFlags::empty(),
            Some(data.as_str()),
        )
        .map_err(|e| containerd_shim::Error::Other(format!("mount overlay: {e}")));
    }
    containerd_shim::mount::mount_rootfs(
        Some(m.type_.as_str()).filter(|t| !t.is_empty()),
        Some(m.source.as_str()).filter(|s| !s.is_empty()),
        &m.options,
        target,
    )
}

/// Rootfs unmounts after Delete, off the critical path. umount2 detaches the mount at once,
/// then waits in the kernel for an RCU grace period before it returns (1.5-8 ms here), and
/// joining the thread cost Delete 2-6 ms on average, 30 ms at worst under load; Delete no
/// longer waits for it. Nothing depends on the wait: what containerd
/// does next with the bundle (its own unmount loop, then removal) sees the mount gone, or,
/// if this thread has not run yet, unmounts it itself. A Create on the same bundle (a pod's
/// shim re-creating an id) and the shim's exit wait for the pending unmount first.
#[derive(Clone, Default)]
struct Unmounts(Arc<Mutex<Vec<PendingUnmount>>>);

/// A bundle whose rootfs a thread is unmounting.
type PendingUnmount = (PathBuf, JoinHandle<()>);

impl Unmounts {
    fn lock(&self) -> MutexGuard<'_, Vec<PendingUnmount>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn start(&self, bundle: &Path) {
        let b = bundle.to_owned();
        let h = std::thread::spawn(move || unmount_rootfs(&b));
        let mut all = self.lock();
        all.retain(|(_, h)| !h.is_finished());
        all.push((bundle.to_owned(), h));
    }

    /// Waits for the pending unmount of `bundle` (all of them with `None`).
    fn wait(&self, bundle: Option<&Path>) {
        let waiting: Vec<_> = {
            let mut all = self.lock();
            let (w, keep) = std::mem::take(&mut *all)
                .into_iter()
                .partition(|(b, _)| bundle.is_none_or(|want| b == want));
            *all = keep;
            w
        };
        for (_, h) in waiting {
            let _ = h.join();
        }
    }
}

/// Runtime options: containerd's runc options type (ctr, and the CRI plugin for runc's
/// runtime types) or the CRI plugin's `runtimeoptions.v1.Options` (a `ConfigPath`).
fn runtime_options(any: &MessageField<Any>) -> TtrpcResult<api::Options> {
    let Some(any) = any.as_ref() else {
        return Ok(api::Options::default());
    };
    let opts = if any.value.is_empty() {
        api::Options::default()
    } else if any.type_url.ends_with("containerd.runc.v1.Options") {
        api::Options::parse_from_bytes(&any.value).map_err(|e| {
            err(
                Code::INVALID_ARGUMENT,
                format!("options ({}): {e}", any.type_url),
            )
        })?
    } else if any.type_url.ends_with("runtimeoptions.v1.Options") {
        config_path_options(&any.value).map_err(|e| err(Code::INVALID_ARGUMENT, e))?
    } else {
        // Other option types carry nothing rt uses.
        api::Options::default()
    };
    if opts.systemd_cgroup {
        return Err(err(
            Code::INVALID_ARGUMENT,
            "options.SystemdCgroup: rt has no systemd cgroup driver; use cgroupfs (SystemdCgroup = false)",
        ));
    }
    Ok(opts)
}

/// The options in the file named by containerd's `runtimeoptions.v1.Options` (`TypeUrl` = 1,
/// `ConfigPath` = 2): what containerd 1.6's CRI plugin sends for a runtime type other than
/// runc's, from `[...runtimes.NAME.options] ConfigPath = "..."`. The file is TOML with runc's
/// option names; an unknown key is an error.
fn config_path_options(value: &[u8]) -> Result<api::Options, String> {
    use containerd_shim::protos::protobuf::rt::WireType;
    use containerd_shim::protos::protobuf::CodedInputStream;
    let bad = |e: &dyn std::fmt::Display| format!("options (runtimeoptions.v1.Options): {e}");
    let mut input = CodedInputStream::from_bytes(value);
    let mut config_path = String::new();
    while let Some(tag) = input.read_raw_tag_or_eof().map_err(|e| bad(&e))? {
        if tag == (2 << 3) | 2 {
            config_path = input.read_string().map_err(|e| bad(&e))?;
        } else {
            let wt =
                WireType::new(tag & 7).ok_or_else(|| bad(&format!("wire type of tag {tag}")))?;
            input.skip_field(wt).map_err(|e| bad(&e))?;
        }
    }
    if config_path.is_empty() {
        return Ok(api::Options::default());
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct FileOptions {
        #[serde(rename = "BinaryName", default)]
        binary_name: String,
        #[serde(rename = "Root", default)]
        root: String,
        #[serde(rename = "SystemdCgroup", default)]
        systemd_cgroup: bool,
    }
    let text = std::fs::read_to_string(&config_path)
        .map_err(|e| format!("options.ConfigPath {config_path}: {e}"))?;
    let f: FileOptions = basic_toml::from_str(&text)
        .map_err(|e| format!("options.ConfigPath {config_path}: {e}"))?;
    Ok(api::Options {
        binary_name: f.binary_name,
        root: f.root,
        systemd_cgroup: f.systemd_cgroup,
        ..Default::default()
    })
}

fn read_pid(path: &Path) -> TtrpcResult<u32> {
    let s = std::fs::read_to_string(path)
        .map_err(|e| internal(format!("read {}: {e}", path.display())))?;
    s.trim()
        .parse()
        .map_err(|e| internal(format!("{}: {e}", path.display())))
}

/// The ends of a process's stdio, set on an rt command; with a terminal, the console socket.
fn stdio(
    cmd: &mut Command,
    p: &Proc,
    sock_dir: &Path,
    name: &str,
    (cid, namespace): (&str, &str),
) -> TtrpcResult<StdioSetup> {
    if p.terminal {
        let sock = ConsoleSocket::new(sock_dir, name).map_err(internal)?;
        cmd.arg("--console-socket").arg(&sock.path);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null());
        return Ok(StdioSetup {
            console: Some(sock),
            stdin_keep: None,
        });
    }
    let ends = io::direct(&p.stdin, &p.stdout, &p.stderr, cid, namespace).map_err(internal)?;
    cmd.stdin(ends.stdin)
        .stdout(ends.stdout)
        .stderr(ends.stderr);
    Ok(StdioSetup {
        console: None,
        stdin_keep: ends.stdin_keep,
    })
}

struct StdioSetup {
    console: Option<ConsoleSocket>,
    stdin_keep: Option<io::StdinWriter>,
}

impl StdioSetup {
    /// After rt succeeded: take the pty master and start copying.
    fn finish(self, p: &mut Proc) -> TtrpcResult<()> {
        p.stdin_keep = self.stdin_keep;
        if let Some(sock) = self.console {
            let master = sock.receive().map_err(internal)?;
            p.copier = Some(io::copy_tty(&master, &p.stdin, &p.stdout).map_err(internal)?);
            p.console = Some(master);
        }
        Ok(())
    }
}

impl Service {
    /// `rt pause` or `rt resume` of container `id`, the state that State reports, and
    /// `event`, published while the container is still locked (events stay in order).
    fn set_paused<E: Event + Message>(&self, id: &str, paused: bool, event: E) -> TtrpcResult<()> {
        let mut all = self.inner.lock();
        let c = all.get_mut(id).ok_or_else(|| not_found(id))?;
        c.rt.run(&[if paused { "pause" } else { "resume" }, id])
            .map_err(internal)?;
        c.paused = paused;
        self.inner.publish(event);
        Ok(())
    }

    /// Records the exit of `pid` (init when `exec_id` is empty) and publishes TaskExit.
    fn watch_exit(&self, cid: String, exec_id: String, pid: u32, sub: Subscription) {
        let inner = self.inner.clone();
        std::thread::spawn(move || {
            let code = wait_pid(pid as i32, sub);
            // A terminal's output is copied out before the exit is reported.
            let copier = inner
                .lock()
                .get_mut(&cid)
                .and_then(|c| c.proc_mut(&exec_id).ok())
                .and_then(|p| p.copier.take());
            if let Some(done) = copier {
                let _ = done.recv_timeout(Duration::from_secs(2));
            }
            let mut all = inner.lock();
            let Some(c) = all.get_mut(&cid) else {
                return;
            };
            // An OOM kill comes before the exit it caused (docker's OOMKilled needs it).
            if let (true, Some(w)) = (exec_id.is_empty(), &c.oom) {
                w.check();
            }
            let Ok(p) = c.proc_mut(&exec_id) else {
                return;
            };
            p.status = Status::STOPPED;
            p.exit_status = code as u32;
            p.exited_at = Some(now());
            p.stdin_keep = None;
            let ev = TaskExit {
                container_id: cid.clone(),
                id: if exec_id.is_empty() {
                    cid.clone()
                } else {
                    exec_id.clone()
                },
                pid,
                exit_status: code as u32,
                exited_at: p.exited_at(),
                ..Default::default()
            };
            inner.publish(ev);
            inner.exited.notify_all();
        });
    }

    fn start_exec(&self, c: &mut Container, cid: &str, exec_id: &str) -> TtrpcResult<u32> {
        let bundle = c.bundle.clone();
        let p = c.proc_mut(exec_id)?;
        if p.status != Status::CREATED {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("exec {exec_id} already started"),
            ));
        }
        let spec_path = bundle.join(format!("{exec_id}.process.json"));
        let pid_path = bundle.join(format!("{exec_id}.pid"));
        let log = bundle.join(format!("{exec_id}.log.json"));
        std::fs::write(&spec_path, &p.spec).map_err(|e| internal(format!("write process: {e}")))?;
        let mut cmd = c_rt_cmd(&c.rt, &log);
        cmd.args(["exec", "--detach", "--pid-file"])
            .arg(&pid_path)
            .arg("--process")
            .arg(&spec_path);
        let p = c.execs.get_mut(exec_id).ok_or_else(|| not_found(exec_id))?;
        let setup = stdio(&mut cmd, p, &bundle, exec_id, (cid, &self.inner.namespace))?;
        cmd.arg(cid);
        let sub = rt::subscribe().map_err(internal)?;
        let r = c.rt.run_logged(cmd, &log, "exec");
        let _ = std::fs::remove_file(&spec_path);
        r.map_err(internal)?;
        let pid = read_pid(&pid_path)?;
        let _ = std::fs::remove_file(&pid_path);
        let _ = std::fs::remove_file(&log);
        let p = c.execs.get_mut(exec_id).ok_or_else(|| not_found(exec_id))?;
        p.pid = pid;
        p.status = Status::RUNNING;
        setup.finish(p)?;
        self.inner.publish(TaskExecStarted {
            container_id: cid.to_owned(),
            exec_id: exec_id.to_owned(),
            pid,
            ..Default::default()
        });
        self.watch_exit(cid.to_owned(), exec_id.to_owned(), pid, sub);
        Ok(pid)
    }
}

fn c_rt_cmd(rt: &Rt, log: &Path) -> Command {
    let mut cmd = rt.command();
    cmd.arg("--log").arg(log).args(["--log-format", "json"]);
    cmd
}

impl containerd_shim::Task for Service {
    fn create(
        &self,
        _ctx: &TtrpcContext,
        req: api::CreateTaskRequest,
    ) -> TtrpcResult<api::CreateTaskResponse> {
        let t0 = Instant::now();
        let mut all = self.inner.lock();
        if all.contains_key(&req.id) {
            return Err(err(
                Code::ALREADY_EXISTS,
                format!("container {}: already exists", req.id),
            ));
        }
        if !req.checkpoint.is_empty() {
            return Err(err(
                Code::UNIMPLEMENTED,
                "create from checkpoint: not implemented",
            ));
        }
        let opts = runtime_options(&req.options)?;
        let rt = Rt::new(&opts.binary_name, &opts.root, &self.inner.namespace)
            .map_err(|e| err(Code::FAILED_PRECONDITION, e))?;
        let bundle = PathBuf::from(&req.bundle);
        if let Ok(j) = serde_json::to_vec(&rt) {
            let _ = std::fs::write(bundle.join("rt.json"), j);
        }
        self.inner.unmounts.wait(Some(&bundle));
        let rootfs = bundle.join("rootfs");
        let mounted = !req.rootfs.is_empty();
        for m in &req.rootfs {
            let _ = std::fs::create_dir_all(&rootfs);
            mount_rootfs(m, &rootfs).map_err(|e| {
                unmount_rootfs(&bundle);
                internal(format!("mount rootfs ({}): {e}", m.type_))
            })?;
        }
        log::debug!("create {}: rootfs mounted after {:?}", req.id, t0.elapsed());
        let mut init = Proc {
            status: Status::CREATED,
            stdin: req.stdin.clone(),
            stdout: req.stdout.clone(),
            stderr: req.stderr.clone(),
            terminal: req.terminal,
            ..Default::default()
        };
        let pid_path = bundle.join("init.pid");
        let log = bundle.join("rt-log.json");
        let result = (|| {
            let mut cmd = c_rt_cmd(&rt, &log);
            cmd.args(["create", "--bundle"])
                .arg(&bundle)
                .arg("--pid-file")
                .arg(&pid_path);
            let setup = stdio(
                &mut cmd,
                &init,
                &bundle,
                "init",
                (&req.id, &self.inner.namespace),
            )?;
            cmd.arg(&req.id);
            let sub = rt::subscribe().map_err(internal)?;
            rt.run_logged(cmd, &log, "create").map_err(internal)?;
            let pid = read_pid(&pid_path)?;
            init.pid = pid;
            if let Err(e) = setup.finish(&mut init) {
                let _ = rt.run(&["delete", "--force", &req.id]);
                return Err(e);
            }
            Ok(sub)
        })();
        let sub = match result {
            Ok(s) => s,
            Err(e) => {
                if mounted {
                    unmount_rootfs(&bundle);
                }
                return Err(e);
            }
        };
        let pid = init.pid;
        let (inner, cid) = (self.inner.clone(), req.id.clone());
        let oom = oom::watch(pid, move || {
            inner.publish(TaskOOM {
                container_id: cid.clone(),
                ..Default::default()
            })
        });
        all.insert(
            req.id.clone(),
            Container {
                bundle: bundle.clone(),
                rt,
                init,
                execs: HashMap::new(),
                paused: false,
                rootfs_mounted: mounted,
                oom,
            },
        );
        self.inner.publish(TaskCreate {
            container_id: req.id.clone(),
            bundle: req.bundle.clone(),
            rootfs: req.rootfs.clone(),
            io: MessageField::some(TaskIO {
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                ..Default::default()
            }),
            checkpoint: req.checkpoint.clone(),
            pid,
            ..Default::default()
        });
        drop(all);
        self.watch_exit(req.id.clone(), String::new(), pid, sub);
        log::debug!("create {}: done after {:?}", req.id, t0.elapsed());
        Ok(api::CreateTaskResponse {
            pid,
            ..Default::default()
        })
    }

    fn start(
        &self,
        _ctx: &TtrpcContext,
        req: api::StartRequest,
    ) -> TtrpcResult<api::StartResponse> {
        let mut all = self.inner.lock();
        let c = all.get_mut(&req.id).ok_or_else(|| not_found(&req.id))?;
        let pid = if req.exec_id.is_empty() {
            if c.init.status != Status::CREATED {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("container {} already started", req.id),
                ));
            }
            c.rt.run(&["start", &req.id]).map_err(internal)?;
            c.init.status = Status::RUNNING;
            self.inner.publish(TaskStart {
                container_id: req.id.clone(),
                pid: c.init.pid,
                ..Default::default()
            });
            c.init.pid
        } else {
            self.start_exec(c, &req.id, &req.exec_id)?
        };
        Ok(api::StartResponse {
            pid,
            ..Default::default()
        })
    }

    fn state(
        &self,
        _ctx: &TtrpcContext,
        req: api::StateRequest,
    ) -> TtrpcResult<api::StateResponse> {
        let all = self.inner.lock();
        let c = all.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let p = c.proc(&req.exec_id)?;
        let status = if req.exec_id.is_empty() && c.paused && p.status == Status::RUNNING {
            Status::PAUSED
        } else {
            p.status
        };
        Ok(api::StateResponse {
            id: if req.exec_id.is_empty() {
                req.id.clone()
            } else {
                req.exec_id.clone()
            },
            bundle: c.bundle.to_string_lossy().into_owned(),
            pid: p.pid,
            status: status.into(),
            stdin: p.stdin.clone(),
            stdout: p.stdout.clone(),
            stderr: p.stderr.clone(),
            terminal: p.terminal,
            exit_status: p.exit_status,
            exited_at: p.exited_at(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        })
    }

    fn delete(
        &self,
        _ctx: &TtrpcContext,
        req: api::DeleteRequest,
    ) -> TtrpcResult<api::DeleteResponse> {
        let mut all = self.inner.lock();
        let c = all.get_mut(&req.id).ok_or_else(|| not_found(&req.id))?;
        if !req.exec_id.is_empty() {
            let p = c.proc(&req.exec_id)?;
            if p.status == Status::RUNNING {
                return Err(err(
                    Code::FAILED_PRECONDITION,
                    format!("exec {} is running", req.exec_id),
                ));
            }
            let p = c
                .execs
                .remove(&req.exec_id)
                .ok_or_else(|| not_found(&req.exec_id))?;
            // A Wait on an exec deleted before it started ends (NotFound), never hangs.
            self.inner.exited.notify_all();
            return Ok(api::DeleteResponse {
                pid: p.pid,
                exit_status: p.exit_status,
                exited_at: p.exited_at(),
                ..Default::default()
            });
        }
        if c.init.status == Status::RUNNING {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("container {} is running", req.id),
            ));
        }
        let args: &[&str] = if c.init.status == Status::STOPPED {
            &["delete", &req.id]
        } else {
            &["delete", "--force", &req.id]
        };
        // The rootfs unmount runs beside `rt delete` (the container is stopped, or killed by
        // `delete --force`; a leftover process keeps its detached mount), and Delete does
        // not wait for it (see Unmounts).
        if c.rootfs_mounted {
            self.inner.unmounts.start(&c.bundle);
        }
        c.rt.run(args).map_err(internal)?;
        for f in ["init.pid", "rt-log.json"] {
            let _ = std::fs::remove_file(c.bundle.join(f));
        }
        let Some(c) = all.remove(&req.id) else {
            return Err(not_found(&req.id));
        };
        let p = &c.init;
        self.inner.publish(TaskDelete {
            container_id: req.id.clone(),
            pid: p.pid,
            exit_status: p.exit_status,
            exited_at: p.exited_at(),
            id: req.id.clone(),
            ..Default::default()
        });
        self.inner.exited.notify_all();
        Ok(api::DeleteResponse {
            pid: p.pid,
            exit_status: p.exit_status,
            exited_at: p.exited_at(),
            ..Default::default()
        })
    }

    fn pids(&self, _ctx: &TtrpcContext, req: api::PidsRequest) -> TtrpcResult<api::PidsResponse> {
        let rt = {
            let all = self.inner.lock();
            all.get(&req.id)
                .ok_or_else(|| not_found(&req.id))?
                .rt
                .clone()
        };
        let out = rt
            .run(&["ps", "--format", "json", &req.id])
            .map_err(internal)?;
        let pids: Vec<u32> = serde_json::from_slice::<Option<Vec<u32>>>(&out)
            .map_err(|e| internal(format!("rt ps output: {e}")))?
            .unwrap_or_default();
        Ok(api::PidsResponse {
            processes: pids
                .into_iter()
                .map(|pid| ProcessInfo {
                    pid,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    fn pause(&self, _ctx: &TtrpcContext, req: api::PauseRequest) -> TtrpcResult<api::Empty> {
        let event = TaskPaused {
            container_id: req.id.clone(),
            ..Default::default()
        };
        self.set_paused(&req.id, true, event)?;
        Ok(api::Empty::new())
    }

    fn resume(&self, _ctx: &TtrpcContext, req: api::ResumeRequest) -> TtrpcResult<api::Empty> {
        let event = TaskResumed {
            container_id: req.id.clone(),
            ..Default::default()
        };
        self.set_paused(&req.id, false, event)?;
        Ok(api::Empty::new())
    }

    fn kill(&self, _ctx: &TtrpcContext, req: api::KillRequest) -> TtrpcResult<api::Empty> {
        let all = self.inner.lock();
        let c = all.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let p = c.proc(&req.exec_id)?;
        if p.status == Status::STOPPED && !req.all {
            return Err(err(Code::NOT_FOUND, "process already finished: not found"));
        }
        if req.exec_id.is_empty() {
            let sig = req.signal.to_string();
            let mut args = vec!["kill"];
            if req.all {
                args.push("--all");
            }
            args.extend([req.id.as_str(), sig.as_str()]);
            c.rt.run(&args).map_err(|e| {
                // containerd (the CRI plugin's Delete with WithProcessKill, after an exit)
                // kills --all a stopped task and expects NotFound, as runc's shim answers.
                if p.status == Status::STOPPED || e.contains("is not running") {
                    err(Code::NOT_FOUND, format!("process already finished: {e}"))
                } else {
                    internal(e)
                }
            })?;
        } else {
            let sig = nix::sys::signal::Signal::try_from(req.signal as i32).map_err(|e| {
                err(
                    Code::INVALID_ARGUMENT,
                    format!("signal {}: {e}", req.signal),
                )
            })?;
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(p.pid as i32), sig).map_err(|e| {
                match e {
                    nix::errno::Errno::ESRCH => err(
                        Code::NOT_FOUND,
                        format!("process already finished: kill {}: {e}", p.pid),
                    ),
                    _ => internal(format!("kill {}: {e}", p.pid)),
                }
            })?;
        }
        Ok(api::Empty::new())
    }

    fn exec(&self, _ctx: &TtrpcContext, req: api::ExecProcessRequest) -> TtrpcResult<api::Empty> {
        let mut all = self.inner.lock();
        let c = all.get_mut(&req.id).ok_or_else(|| not_found(&req.id))?;
        if c.execs.contains_key(&req.exec_id) {
            return Err(err(
                Code::ALREADY_EXISTS,
                format!("exec {}: already exists", req.exec_id),
            ));
        }
        if c.init.status != Status::RUNNING {
            return Err(err(
                Code::FAILED_PRECONDITION,
                format!("container {} is not running", req.id),
            ));
        }
        let spec = req
            .spec
            .as_ref()
            .map(|a| a.value.clone())
            .unwrap_or_default();
        c.execs.insert(
            req.exec_id.clone(),
            Proc {
                status: Status::CREATED,
                stdin: req.stdin.clone(),
                stdout: req.stdout.clone(),
                stderr: req.stderr.clone(),
                terminal: req.terminal,
                spec,
                ..Default::default()
            },
        );
        self.inner.publish(TaskExecAdded {
            container_id: req.id.clone(),
            exec_id: req.exec_id.clone(),
            ..Default::default()
        });
        Ok(api::Empty::new())
    }

    fn resize_pty(
        &self,
        _ctx: &TtrpcContext,
        req: api::ResizePtyRequest,
    ) -> TtrpcResult<api::Empty> {
        let all = self.inner.lock();
        let c = all.get(&req.id).ok_or_else(|| not_found(&req.id))?;
        let p = c.proc(&req.exec_id)?;
        if let Some(m) = &p.console {
            io::resize(m, req.width, req.height).map_err(internal)?;
        }
        Ok(api::Empty::new())
    }

    fn close_io(&self, _ctx: &TtrpcContext, req: api::CloseIORequest) -> TtrpcResult<api::Empty> {
        let mut all = self.inner.lock();
        let c = all.get_mut(&req.id).ok_or_else(|| not_found(&req.id))?;
        let p = c.proc_mut(&req.exec_id)?;
        if req.stdin {
            if let Some(w) = p.stdin_keep.take() {
                w.lock().unwrap_or_else(|e| e.into_inner()).take();
            }
        }
        Ok(api::Empty::new())
    }

    fn update(&self, _ctx: &TtrpcContext, req: api::UpdateTaskRequest) -> TtrpcResult<api::Empty> {
        let (rt, bundle) = {
            let all = self.inner.lock();
            let c = all.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            (c.rt.clone(), c.bundle.clone())
        };
        let Some(res) = req.resources.as_ref() else {
            return Ok(api::Empty::new());
        };
        let path = bundle.join("update.json");
        std::fs::write(&path, &res.value).map_err(|e| internal(format!("write resources: {e}")))?;
        let path_s = path.to_string_lossy().into_owned();
        let r = rt.run(&["update", "--resources", &path_s, &req.id]);
        let _ = std::fs::remove_file(&path);
        r.map_err(internal)?;
        Ok(api::Empty::new())
    }

    fn wait(&self, _ctx: &TtrpcContext, req: api::WaitRequest) -> TtrpcResult<api::WaitResponse> {
        let mut all = self.inner.lock();
        loop {
            let c = all.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            let p = c.proc(&req.exec_id)?;
            if p.status == Status::STOPPED {
                return Ok(api::WaitResponse {
                    exit_status: p.exit_status,
                    exited_at: p.exited_at(),
                    ..Default::default()
                });
            }
            all = self
                .inner
                .exited
                .wait(all)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    fn stats(
        &self,
        _ctx: &TtrpcContext,
        req: api::StatsRequest,
    ) -> TtrpcResult<api::StatsResponse> {
        let (rt, pid) = {
            let all = self.inner.lock();
            let c = all.get(&req.id).ok_or_else(|| not_found(&req.id))?;
            (c.rt.clone(), c.init.pid)
        };
        let out = rt.run(&["events", "--stats", &req.id]).map_err(internal)?;
        let v: serde_json::Value =
            serde_json::from_slice(&out).map_err(|e| internal(format!("rt events output: {e}")))?;
        let (type_url, value) = if self.inner.cgroup_v2 {
            let events = oom::memory_cgroup(pid)
                .filter(|(_, v2)| *v2)
                .map(|(dir, _)| stats::memory_events(&dir))
                .unwrap_or_default();
            (stats::V2_TYPE, stats::metrics_v2(&v["data"], &events))
        } else {
            let m = stats::metrics(&v["data"]);
            let value = m
                .write_to_bytes()
                .map_err(|e| internal(format!("metrics: {e}")))?;
            (stats::V1_TYPE, value)
        };
        Ok(api::StatsResponse {
            stats: MessageField::some(Any {
                type_url: type_url.into(),
                value,
                ..Default::default()
            }),
            ..Default::default()
        })
    }

    fn connect(
        &self,
        _ctx: &TtrpcContext,
        req: api::ConnectRequest,
    ) -> TtrpcResult<api::ConnectResponse> {
        let all = self.inner.lock();
        let task_pid = all.get(&req.id).map(|c| c.init.pid).unwrap_or(0);
        Ok(api::ConnectResponse {
            shim_pid: std::process::id(),
            task_pid,
            version: env!("CARGO_PKG_VERSION").into(),
            ..Default::default()
        })
    }

    fn shutdown(&self, _ctx: &TtrpcContext, req: api::ShutdownRequest) -> TtrpcResult<api::Empty> {
        log::debug!("shutdown request");
        if req.now || self.inner.lock().is_empty() {
            self.inner.exit.signal();
        }
        Ok(api::Empty::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(opts: &api::Options) -> MessageField<Any> {
        MessageField::some(Any {
            type_url: "containerd.runc.v1.Options".into(),
            value: opts.write_to_bytes().unwrap_or_default(),
            ..Default::default()
        })
    }

    #[test]
    fn systemd_cgroup_option_is_refused_by_name() {
        let opts = api::Options {
            systemd_cgroup: true,
            ..Default::default()
        };
        let e = runtime_options(&any(&opts)).err().map(|e| format!("{e:?}"));
        assert!(e.is_some_and(|e| e.contains("SystemdCgroup")));
    }

    #[test]
    fn binary_name_and_root_options_are_read() {
        let opts = api::Options {
            binary_name: "/opt/rt".into(),
            root: "/run/x".into(),
            ..Default::default()
        };
        let o = runtime_options(&any(&opts)).ok();
        assert_eq!(o.as_ref().map(|o| o.binary_name.as_str()), Some("/opt/rt"));
        let rt = Rt::new("/opt/rt", "/run/x", "ns").ok();
        assert_eq!(rt.map(|r| r.root), Some(PathBuf::from("/run/x/ns")));
    }

    #[test]
    fn other_option_types_and_no_options_mean_defaults() {
        let other = MessageField::some(Any {
            type_url: "runtimeoptions.v1.Options".into(),
            value: vec![10, 3, 97, 98, 99],
            ..Default::default()
        });
        assert!(runtime_options(&other).is_ok_and(|o| o.binary_name.is_empty()));
        assert!(runtime_options(&MessageField::none()).is_ok());
    }

    #[test]
    fn missing_binary_name_is_an_error_naming_it() {
        let e = Rt::new("no-such-rt-binary-xyz", "", "ns").err();
        assert!(e.is_some_and(|e| e.contains("BinaryName")));
    }
}
