//! Test harness for rt: bundles with a busybox rootfs, an `rt` wrapper with a private
//! `--root`, the `rt-probe` helper, and leftover checks.
//!
//! Tests run real containers as root. Every test should:
//! ```no_run
//! # use integration::{assert_no_leftovers, unique_id, Bundle, Rt};
//! let rt = Rt::new();
//! let b = Bundle::busybox(&["true"]);
//! let id = unique_id("t");
//! rt.ok(&["run", "--bundle", b.dir_str(), &id]);
//! assert_no_leftovers(&rt, &id, &b);
//! ```
//! Binaries are never built here: `cargo build --workspace` first (hack/test.sh does).
//! A missing binary or busybox is a loud panic, never a skip.
use serde_json::{json, Value};
use std::ffi::OsStr;
use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

pub use serde_json;

/// The workspace root (tests/integration/../..).
pub fn workspace() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    p.canonicalize().unwrap_or(p)
}

fn target_bin(env: &str, name: &str) -> PathBuf {
    let p = match std::env::var_os(env) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => workspace()
            .join("target/x86_64-unknown-linux-gnu/debug")
            .join(name),
    };
    if !p.is_file() {
        panic!(
            "{name} binary not found at {} (set ${env} or run `cargo build --workspace`; \
             hack/test.sh does both)",
            p.display()
        );
    }
    p
}

/// Newest modification time of the .rs/.toml files under `paths` (recursively).
fn newest_mtime(paths: &[PathBuf]) -> Option<std::time::SystemTime> {
    let mut newest = None;
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        if md.is_dir() {
            if let Ok(rd) = fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else if p.extension().is_some_and(|e| e == "rs" || e == "toml") {
            if let Ok(t) = md.modified() {
                newest = newest.max(Some(t));
            }
        }
    }
    newest
}

/// Panics when the workspace-built binary `bin` is older than its sources: `cargo test`
/// does not rebuild the `rt` binary, and testing a stale one misleads.
fn check_fresh(bin: &Path, sources: &[&str]) {
    let ws = workspace();
    let srcs: Vec<PathBuf> = sources.iter().map(|s| ws.join(s)).collect();
    let (Ok(bt), Some(st)) = (
        fs::metadata(bin).and_then(|m| m.modified()),
        newest_mtime(&srcs),
    ) else {
        return;
    };
    if st > bt {
        panic!(
            "{} is older than its sources ({}): run `cargo build --workspace` \
             (hack/test.sh does)",
            bin.display(),
            sources.join(", ")
        );
    }
}

/// `$RT_BIN`, else `<workspace>/target/x86_64-unknown-linux-gnu/debug/rt` (which must be
/// newer than runtime/).
pub fn rt_bin() -> PathBuf {
    static FRESH: OnceLock<()> = OnceLock::new();
    let p = target_bin("RT_BIN", "rt");
    if std::env::var_os("RT_BIN").is_none() {
        FRESH.get_or_init(|| check_fresh(&p, &["runtime/src", "runtime/Cargo.toml"]));
    }
    p
}

/// `$RT_PROBE_BIN`, else `<workspace>/target/x86_64-unknown-linux-gnu/debug/rt-probe`
/// (which must be newer than tests/oci-validation/src).
pub fn probe_bin() -> PathBuf {
    static FRESH: OnceLock<()> = OnceLock::new();
    let p = target_bin("RT_PROBE_BIN", "rt-probe");
    if std::env::var_os("RT_PROBE_BIN").is_none() {
        FRESH.get_or_init(|| check_fresh(&p, &["tests/oci-validation/src"]));
    }
    p
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// `prefix-<pid>-<n>`: unique across test processes and threads, short. `<pid>` is
/// `pid_tag()`.
pub fn unique_id(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{prefix}-{}-{n}", pid_tag())
}

/// This process's pid for names made from it: `<pid>` in the initial pid namespace (the
/// host), `<pid>p<inode of the namespace>` in another (a container, e.g. Dockerfile.test's
/// image). Cgroups such as `/rt-test-<pid>-<n>` are shared with the host and with other
/// containers, whose pids start at 1 too: two test processes with one pid in two
/// containers (two image lanes at once) would make, join and limit one cgroup.
pub fn pid_tag() -> String {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        // PROC_PID_INIT_INO: the initial pid namespace's inode.
        const INIT_PID_NS: u64 = 0xEFFF_FFFC;
        let pid = std::process::id();
        match fs::metadata("/proc/self/ns/pid") {
            Ok(m) if m.ino() != INIT_PID_NS => {
                format!("{pid}p{}", m.ino())
            }
            _ => pid.to_string(),
        }
    })
    .clone()
}

/// How long one `rt` invocation may take before the test fails ($RT_TEST_TIMEOUT secs).
pub fn cmd_timeout() -> Duration {
    let secs = std::env::var("RT_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

// ---------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------

fn reader<R: Read + Send + 'static>(
    mut r: R,
) -> (Arc<Mutex<Vec<u8>>>, std::sync::mpsc::Receiver<()>) {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let b2 = buf.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        loop {
            match r.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => b2.lock().unwrap().extend_from_slice(&chunk[..n]),
            }
        }
        let _ = tx.send(());
    });
    (buf, rx)
}

/// Runs `cmd` with stdin from /dev/null (unless already set) and stdout/stderr captured,
/// failing the test after `timeout`.
///
/// Unlike `Command::output`, this returns once the command itself exits, even when a
/// process it left behind (a detached container, `rt create`'s init) still holds the
/// pipes: whatever arrived within a short grace period is returned.
pub fn output_with_timeout(cmd: &mut Command, timeout: Duration) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let desc = format!("{cmd:?}");
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let (out, out_done) = reader(child.stdout.take().unwrap());
    let (err, err_done) = reader(child.stderr.take().unwrap());
    let start = Instant::now();
    let status: ExitStatus = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(e) => panic!("waiting for {desc}: {e}"),
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(200));
            panic!(
                "{desc} did not finish within {timeout:?}\nstdout: {}\nstderr: {}",
                String::from_utf8_lossy(&out.lock().unwrap()),
                String::from_utf8_lossy(&err.lock().unwrap())
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let grace = Instant::now() + Duration::from_millis(300);
    for rx in [&out_done, &err_done] {
        let left = grace.saturating_duration_since(Instant::now());
        let _ = rx.recv_timeout(left);
    }
    let stdout = out.lock().unwrap().clone();
    let stderr = err.lock().unwrap().clone();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// A human-readable account of a finished command, for assertion messages.
pub fn describe(args: &[&str], out: &Output) -> String {
    format!(
        "rt {}\nexit: {:?} (signal {:?})\nstdout:\n{}\nstderr:\n{}",
        args.join(" "),
        out.status.code(),
        std::os::unix::process::ExitStatusExt::signal(&out.status),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

// ---------------------------------------------------------------------------------------
// Rt
// ---------------------------------------------------------------------------------------

/// An `rt` with its own `--root` under /run/rt-test/, removed (after `delete -f` of every
/// container still in it) on drop.
pub struct Rt {
    pub root: PathBuf,
}

impl Default for Rt {
    fn default() -> Self {
        Self::new()
    }
}

impl Rt {
    pub fn new() -> Rt {
        let _ = rt_bin(); // fail loudly and early if it is missing
        let root = PathBuf::from("/run/rt-test").join(unique_id("r"));
        fs::create_dir_all(&root)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", root.display()));
        Rt { root }
    }

    /// `rt --root <root>`, ready for arguments.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(rt_bin());
        c.arg("--root").arg(&self.root);
        c.stdin(Stdio::null());
        c
    }

    /// Runs `rt --root <root> args...` (stdin /dev/null, output captured, with a timeout).
    pub fn run(&self, args: &[&str]) -> Output {
        let mut c = self.cmd();
        c.args(args);
        output_with_timeout(&mut c, cmd_timeout())
    }

    /// Runs rt, asserts exit 0, returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "expected success from:\n{}",
            describe(args, &out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs rt, asserts exit 1, returns stderr.
    pub fn fail(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "expected exit 1 from:\n{}",
            describe(args, &out)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `rt state <id>` parsed.
    pub fn state(&self, id: &str) -> Value {
        let s = self.ok(&["state", id]);
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("rt state {id}: not JSON ({e}):\n{s}"))
    }

    /// The `status` field of `rt state <id>`.
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_else(|| panic!("rt state {id}: no status"))
            .to_string()
    }

    /// Polls `rt state` until the status is `want` (or the timeout passes: panic).
    pub fn wait_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let st = self.status(id);
            if st == want {
                return;
            }
            if Instant::now() > deadline {
                panic!("container {id}: status {st:?}, waited for {want:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Container ids that have a directory under the root.
    pub fn ids(&self) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(&self.root)
            .map(|rd| {
                rd.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }
}

impl Drop for Rt {
    fn drop(&mut self) {
        for id in self.ids() {
            let mut c = self.cmd();
            c.args(["delete", "-f", &id]);
            // Never panic in drop (it may run while unwinding).
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                output_with_timeout(&mut c, Duration::from_secs(20))
            }));
            if !matches!(&r, Ok(o) if o.status.success()) {
                eprintln!("rt-test: cleanup `rt delete -f {id}` failed");
            }
        }
        let _ = fs::remove_dir_all(&self.root);
    }
}

// ---------------------------------------------------------------------------------------
// The rootfs template
// ---------------------------------------------------------------------------------------

const BUSYBOX: &str = "/bin/busybox";

/// A lock file held with flock(2) for as long as the value lives.
struct Flock {
    _file: fs::File,
}

impl Flock {
    fn new(path: &Path, exclusive: bool) -> Flock {
        let f = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("cannot open lock {}: {e}", path.display()));
        let op = if exclusive {
            libc::LOCK_EX
        } else {
            libc::LOCK_SH
        };
        loop {
            // SAFETY: flock on a valid fd we own.
            let r = unsafe { libc::flock(f.as_raw_fd(), op) };
            if r == 0 {
                break;
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                panic!("flock {}: {e}", path.display());
            }
        }
        Flock { _file: f }
    }
}

fn stamp_of(p: &Path) -> String {
    match fs::metadata(p) {
        Ok(m) => format!(
            "{} {} {} {}",
            p.display(),
            m.len(),
            m.mtime(),
            m.mtime_nsec()
        ),
        Err(_) => format!("{} missing", p.display()),
    }
}

fn template_dir() -> PathBuf {
    workspace().join("target/rt-test-rootfs")
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                      user:x:1000:1000:user:/home/user:/bin/sh\n\
                      nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n";

fn build_template(dir: &Path) {
    let bin = dir.join("bin");
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/user",
        "usr/bin",
        "sbin",
    ] {
        fs::create_dir_all(dir.join(d)).unwrap();
    }
    fs::set_permissions(dir.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
    fs::copy(probe_bin(), bin.join("rt-probe")).unwrap();
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    assert!(list.status.success(), "busybox --list failed");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let applet = applet.trim();
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let l = bin.join(applet);
        if l.symlink_metadata().is_err() {
            std::os::unix::fs::symlink("busybox", &l).unwrap();
        }
    }
    if bin.join("sh").symlink_metadata().is_err() {
        std::os::unix::fs::symlink("busybox", bin.join("sh")).unwrap();
    }
    fs::write(dir.join("etc/passwd"), PASSWD).unwrap();
    fs::write(dir.join("etc/group"), GROUP).unwrap();
    fs::write(dir.join("etc/hostname"), "rt-test\n").unwrap();
    std::os::unix::fs::chown(dir.join("home/user"), Some(1000), Some(1000)).unwrap();
}

/// The rootfs template under target/rt-test-rootfs, (re)built when missing or when
/// busybox/rt-probe changed. Built once per process; across processes a lock file
/// serialises builders.
fn template() -> PathBuf {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        if !Path::new(BUSYBOX).is_file() {
            panic!("{BUSYBOX} is missing: run hack/setup.sh (it installs busybox-static)");
        }
        let dir = template_dir();
        let parent = dir.parent().unwrap().to_path_buf();
        fs::create_dir_all(&parent).unwrap();
        let _lock = Flock::new(&parent.join("rt-test-rootfs.lock"), true);
        let want = format!(
            "{}\n{}\n",
            stamp_of(Path::new(BUSYBOX)),
            stamp_of(&probe_bin())
        );
        let stamp = dir.join(".rt-test-stamp");
        if fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
            return dir;
        }
        let tmp = parent.join(format!("rt-test-rootfs.tmp-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp).unwrap();
        build_template(&tmp);
        fs::write(tmp.join(".rt-test-stamp"), &want).unwrap();
        if dir.exists() {
            let old = parent.join(format!("rt-test-rootfs.old-{}", std::process::id()));
            fs::rename(&dir, &old).unwrap();
            let _ = fs::remove_dir_all(&old);
        }
        fs::rename(&tmp, &dir).unwrap();
        dir
    })
    .clone()
}

// ---------------------------------------------------------------------------------------
// Bundle
// ---------------------------------------------------------------------------------------

/// `runc spec` (runc 1.1.5) output, verbatim.
pub const RUNC_SPEC: &str = r#"{
	"ociVersion": "1.0.2-dev",
	"process": {
		"terminal": true,
		"user": { "uid": 0, "gid": 0 },
		"args": [ "sh" ],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"effective": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"permitted": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ],
			"ambient": [ "CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE" ]
		},
		"rlimits": [ { "type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024 } ],
		"noNewPrivileges": true
	},
	"root": { "path": "rootfs", "readonly": true },
	"hostname": "runc",
	"mounts": [
		{ "destination": "/proc", "type": "proc", "source": "proc" },
		{ "destination": "/dev", "type": "tmpfs", "source": "tmpfs",
		  "options": [ "nosuid", "strictatime", "mode=755", "size=65536k" ] },
		{ "destination": "/dev/pts", "type": "devpts", "source": "devpts",
		  "options": [ "nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5" ] },
		{ "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
		  "options": [ "nosuid", "noexec", "nodev", "mode=1777", "size=65536k" ] },
		{ "destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
		  "options": [ "nosuid", "noexec", "nodev" ] },
		{ "destination": "/sys", "type": "sysfs", "source": "sysfs",
		  "options": [ "nosuid", "noexec", "nodev", "ro" ] },
		{ "destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
		  "options": [ "nosuid", "noexec", "nodev", "relatime", "ro" ] }
	],
	"linux": {
		"resources": { "devices": [ { "allow": false, "access": "rwm" } ] },
		"namespaces": [
			{ "type": "pid" }, { "type": "network" }, { "type": "ipc" },
			{ "type": "uts" }, { "type": "mount" }
		],
		"maskedPaths": [
			"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
			"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
		]
	}
}"#;

/// `runc spec`'s default config with terminal false, the given args, hostname "rt-test"
/// and `linux.cgroupsPath` = `cgroups_path`.
pub fn default_config(args: &[&str], cgroups_path: &str) -> Value {
    let mut c: Value = serde_json::from_str(RUNC_SPEC).expect("RUNC_SPEC is valid JSON");
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(args);
    c["hostname"] = json!("rt-test");
    c["linux"]["cgroupsPath"] = json!(cgroups_path);
    c
}

/// A bundle directory (config.json + its own copy of the busybox rootfs), removed on drop.
pub struct Bundle {
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    /// A fresh bundle under $TMPDIR/rt-test-bundles/ with the busybox rootfs and
    /// `default_config(args, "/rt-test-<unique>")`. config.json is written already; call
    /// `save()` again after editing `config`.
    pub fn busybox(args: &[&str]) -> Bundle {
        let tpl = template();
        let dir = std::env::temp_dir()
            .join("rt-test-bundles")
            .join(unique_id("b"));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        {
            let _lock = Flock::new(&template_dir().with_extension("lock"), false);
            let st = Command::new("cp")
                .arg("-a")
                .arg(&tpl)
                .arg(dir.join("rootfs"))
                .status()
                .expect("spawning cp");
            assert!(st.success(), "cp -a {} failed", tpl.display());
        }
        let _ = fs::remove_file(dir.join("rootfs/.rt-test-stamp"));
        let cg = format!("/{}", unique_id("rt-test"));
        let b = Bundle {
            dir,
            config: default_config(args, &cg),
        };
        b.save();
        b
    }

    /// Writes `config` to `<dir>/config.json`.
    pub fn save(&self) {
        let s = serde_json::to_string_pretty(&self.config).unwrap();
        fs::write(self.dir.join("config.json"), s).unwrap();
    }

    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The bundle dir as &str (for argument lists).
    pub fn dir_str(&self) -> &str {
        self.dir.to_str().expect("bundle path is UTF-8")
    }

    /// `linux.cgroupsPath` of the config.
    pub fn cgroups_path(&self) -> String {
        self.config["linux"]["cgroupsPath"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Sets process.args.
    pub fn set_args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
    }

    /// Sets root.readonly (the runc default is true).
    pub fn set_readonly(&mut self, ro: bool) {
        self.config["root"]["readonly"] = json!(ro);
    }

    /// Appends a mount to the config.
    pub fn add_mount(&mut self, m: Value) {
        self.config["mounts"].as_array_mut().unwrap().push(m);
    }

    /// Appends a namespace `{type, path?}` (replacing one of the same type).
    pub fn set_namespace(&mut self, typ: &str, path: Option<&str>) {
        let ns = self.config["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != typ);
        let mut n = json!({ "type": typ });
        if let Some(p) = path {
            n["path"] = json!(p);
        }
        ns.push(n);
    }

    /// Removes a namespace type from linux.namespaces.
    pub fn remove_namespace(&mut self, typ: &str) {
        if let Some(ns) = self.config["linux"]["namespaces"].as_array_mut() {
            ns.retain(|n| n["type"] != typ);
        }
    }
}

/// Removes `dir` recursively, never crossing into another filesystem (a leaked mount
/// under a bundle must not take host files with it).
fn remove_tree_one_fs(dir: &Path, dev: u64) -> bool {
    let md = match fs::symlink_metadata(dir) {
        Ok(m) => m,
        Err(_) => return true,
    };
    if !md.is_dir() {
        return fs::remove_file(dir).is_ok();
    }
    if md.dev() != dev {
        eprintln!(
            "rt-test: not removing {}: another filesystem",
            dir.display()
        );
        return false;
    }
    let mut ok = true;
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            ok &= remove_tree_one_fs(&e.path(), dev);
        }
    }
    ok && fs::remove_dir(dir).is_ok()
}

/// Mount points at or under `dir` in our mount namespace, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    let mi = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<String> = mi
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(unescape_mountinfo)
        .filter(|mp| mp == &d || mp.starts_with(&format!("{d}/")))
        .collect();
    v.sort_by_key(|s| std::cmp::Reverse(s.len()));
    v
}

fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| c.is_ascii_digit()) {
            let v = u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 4]).unwrap(), 8);
            if let Ok(v) = v {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Drop for Bundle {
    fn drop(&mut self) {
        // A failed test may leave container processes behind (e.g. children of an init
        // without a pid namespace): kill whatever still has its root in this bundle.
        for (pid, cmdline) in pids_in_rootfs(&self.rootfs()) {
            eprintln!("rt-test: killing leftover process {pid} ({cmdline})");
            // SAFETY: plain kill(2) of a process that runs in our test rootfs.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for mp in mounts_under(&self.dir) {
            eprintln!("rt-test: unmounting leaked mount {mp}");
            if let Ok(c) = std::ffi::CString::new(mp) {
                // SAFETY: valid C string.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        if let Ok(md) = fs::symlink_metadata(&self.dir) {
            if !remove_tree_one_fs(&self.dir, md.dev()) {
                eprintln!("rt-test: could not fully remove {}", self.dir.display());
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// probe / leftovers
// ---------------------------------------------------------------------------------------

/// Sets process.args to `["/bin/rt-probe", probe_args...]`, saves, `rt run`s it under a
/// fresh id and returns its stdout parsed as JSON.
pub fn probe(rt: &Rt, bundle: &mut Bundle, probe_args: &[&str]) -> Value {
    let id = unique_id("p");
    probe_id(rt, bundle, &id, probe_args)
}

/// `probe` with a caller-chosen container id (for `assert_no_leftovers` afterwards).
pub fn probe_id(rt: &Rt, bundle: &mut Bundle, id: &str, probe_args: &[&str]) -> Value {
    let mut args = vec!["/bin/rt-probe"];
    args.extend_from_slice(probe_args);
    bundle.set_args(&args);
    bundle.save();
    let a = ["run", "--bundle", bundle.dir_str(), id];
    let out = rt.run(&a);
    assert!(
        out.status.success(),
        "rt-probe container failed:\n{}",
        describe(&a, &out)
    );
    parse_json(&out.stdout, &a, &out)
}

fn parse_json(bytes: &[u8], a: &[&str], out: &Output) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("output is not one JSON value ({e}):\n{}", describe(a, out)))
}

/// `rt exec <id> /bin/rt-probe args...`, asserting success, parsed.
pub fn exec_probe(rt: &Rt, id: &str, probe_args: &[&str]) -> Value {
    let mut a = vec!["exec", id, "/bin/rt-probe"];
    a.extend_from_slice(probe_args);
    let out = rt.run(&a);
    assert!(
        out.status.success(),
        "rt exec of rt-probe failed:\n{}",
        describe(&a, &out)
    );
    parse_json(&out.stdout, &a, &out)
}

/// Processes whose root directory is `rootfs` (or under it), with their command lines.
pub fn pids_in_rootfs(rootfs: &Path) -> Vec<(i32, String)> {
    let mut v = Vec::new();
    let rmd = fs::metadata(rootfs).ok();
    let Ok(rd) = fs::read_dir("/proc") else {
        return v;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name.to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let root = e.path().join("root");
        let by_path = fs::read_link(&root)
            .map(|t| t.starts_with(rootfs))
            .unwrap_or(false);
        let by_ino = match (&rmd, fs::metadata(&root)) {
            (Some(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        };
        if by_path || by_ino {
            let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
            v.push((pid, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
        }
    }
    v
}

fn leftovers(rt: &Rt, id: &str, bundle: &Bundle) -> Vec<String> {
    let mut found = Vec::new();
    let sd = rt.root.join(id);
    if sd.symlink_metadata().is_ok() {
        found.push(format!("state dir {} exists", sd.display()));
    }
    let cg = bundle.cgroups_path();
    let rel = cg.trim_start_matches('/');
    if !rel.is_empty() {
        let mut hier: Vec<PathBuf> = fs::read_dir("/sys/fs/cgroup")
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        hier.push(PathBuf::from("/sys/fs/cgroup"));
        hier.push(PathBuf::from("/sys/fs/cgroup/unified"));
        for h in hier {
            let p = h.join(rel);
            if p.symlink_metadata().is_ok() {
                found.push(format!("cgroup {} exists", p.display()));
            }
        }
    }
    let d = bundle.dir.to_string_lossy().into_owned();
    for l in fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
    {
        if l.contains(&d) {
            found.push(format!("mount: {l}"));
        }
    }
    for (pid, cmdline) in pids_in_rootfs(&bundle.rootfs()) {
        found.push(format!(
            "process {pid} ({cmdline}) has its root in the bundle"
        ));
    }
    found
}

/// Asserts that container `id` left nothing behind: no state dir under the root, no
/// cgroup dir for the bundle's cgroupsPath in any hierarchy, no mount under the bundle
/// dir, no process whose root is the bundle's rootfs. Retries for up to 3 s (process
/// teardown is asynchronous) before failing.
pub fn assert_no_leftovers(rt: &Rt, id: &str, bundle: &Bundle) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let found = leftovers(rt, id, bundle);
        if found.is_empty() {
            return;
        }
        if Instant::now() > deadline {
            panic!(
                "container {id} left things behind:\n  {}",
                found.join("\n  ")
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------
// Small helpers for tests
// ---------------------------------------------------------------------------------------

/// Inode of /proc/<pid>/ns/<ns> (pid "self" allowed).
pub fn ns_inode(pid: &str, ns: &str) -> u64 {
    fs::metadata(format!("/proc/{pid}/ns/{ns}"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/ns/{ns}: {e}"))
        .ino()
}

/// Whether a pid exists (kill(pid, 0) succeeds or fails with EPERM).
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// A host process that sleeps (in its own new namespaces if `unshare_flags` is given,
/// via `unshare(1)`), killed on drop. For "join the namespace of a process" tests.
pub struct Sleeper {
    pub child: std::process::Child,
}

impl Sleeper {
    /// `unshare <flags...> sleep 1000` (flags like "--net", "--uts", "--ipc"); with no
    /// flags just `sleep 1000`. Waits until the process has entered its namespaces.
    pub fn new(unshare_flags: &[&str]) -> Sleeper {
        let mut c = if unshare_flags.is_empty() {
            Command::new("sleep")
        } else {
            let mut c = Command::new("unshare");
            c.args(unshare_flags).arg("sleep");
            c
        };
        c.arg("1000").stdin(Stdio::null());
        let child = c.spawn().expect("spawning sleeper");
        let pid = child.id();
        // Wait until the exec of sleep happened (comm is "sleep").
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            if comm.trim() == "sleep" {
                break;
            }
            if Instant::now() > deadline {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                panic!("sleeper `{c:?}` did not start (comm {comm:?})");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Sleeper { child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn ns_path(&self, ns: &str) -> String {
        format!("/proc/{}/ns/{ns}", self.pid())
    }
}

impl Drop for Sleeper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Convenience: `OsStr` of a path for Command args.
pub fn os(p: &Path) -> &OsStr {
    p.as_os_str()
}

/// A private containerd for the containerd client tests (tests/containerd.rs).
pub mod client;
pub mod containerd;
