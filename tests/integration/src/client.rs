//! What the real-client tests (Docker, podman, containerd) share: installing a client
//! through its hack/ script, running a client command with its output in files and a
//! time limit, and polling for an effect that shows asynchronously.
use crate::{unique_id, workspace};
use std::fs;
use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Runs `hack/<script>` unless `present`, failing the test loudly if it fails: a client
/// that is missing is installed, never skipped.
pub fn install_unless(present: bool, script: &str) {
    if present {
        return;
    }
    let script = workspace().join("hack").join(script);
    let out = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed ({}):\n{}{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A finished client command: its status, output, and the command line for messages.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub desc: String,
}

impl Out {
    pub fn code(&self) -> i32 {
        self.status.code().unwrap_or(-1)
    }

    /// Fails the test unless the command succeeded.
    pub fn ok(self) -> Out {
        assert!(
            self.status.success(),
            "{} failed ({}):\nstdout: {}\nstderr: {}",
            self.desc,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }
}

pub fn read_lossy(p: &Path) -> String {
    let mut v = Vec::new();
    if let Ok(mut f) = fs::File::open(p) {
        let _ = f.read_to_end(&mut v);
    }
    String::from_utf8_lossy(&v).into_owned()
}

/// Runs `cmd` with stdio in files under `scratch` (a container left running must not hold
/// a pipe we wait on), stdin from `stdin` or /dev/null, failing the test past `timeout`.
pub fn run_cmd(cmd: &mut Command, scratch: &Path, stdin: Option<&Path>, timeout: Duration) -> Out {
    let desc = format!("{cmd:?}");
    let n = unique_id("out");
    let (po, pe) = (
        scratch.join(format!("{n}.o")),
        scratch.join(format!("{n}.e")),
    );
    let fo = fs::File::create(&po).expect("stdout file");
    let fe = fs::File::create(&pe).expect("stderr file");
    let input = match stdin {
        Some(p) => Stdio::from(fs::File::open(p).expect("stdin file")),
        None => Stdio::null(),
    };
    let mut child = cmd
        .stdin(input)
        .stdout(fo)
        .stderr(fe)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{desc} still running after {timeout:?}; stderr so far:\n{}",
                read_lossy(&pe)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = Out {
        status,
        stdout: read_lossy(&po),
        stderr: read_lossy(&pe),
        desc,
    };
    let _ = fs::remove_file(&po);
    let _ = fs::remove_file(&pe);
    out
}

/// Polls `cond` until it holds or `timeout` passes; returns whether it held.
pub fn settle(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if cond() {
            return true;
        }
        if start.elapsed() > timeout {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A busybox image filesystem (busybox-static, its applet links in /bin, root in
/// /etc/passwd and /etc/group) built under `dir`/rootfs and packed, owned by root with
/// fixed times, into `dir`/busybox.tar; returns the tar. Clients import it: nothing is
/// pulled.
pub fn busybox_image_tar(dir: &Path) -> std::path::PathBuf {
    let rootfs = dir.join("rootfs");
    for d in ["bin", "proc", "sys", "dev", "tmp", "etc", "root"] {
        fs::create_dir_all(rootfs.join(d)).expect("mkdir rootfs dirs");
    }
    let bb = Path::new("/bin/busybox");
    assert!(
        bb.is_file(),
        "/bin/busybox missing (apt-get install busybox-static)"
    );
    fs::copy(bb, rootfs.join("bin/busybox")).expect("copy busybox");
    let list = Command::new(bb)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).split_whitespace() {
        let link = rootfs.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link).expect("applet link");
        }
    }
    fs::write(rootfs.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    fs::write(rootfs.join("etc/group"), "root:x:0:\n").expect("group");
    let tar = dir.join("busybox.tar");
    run_cmd(
        Command::new("tar")
            .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner"])
            .args(["--mtime=@0", "-C"])
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        dir,
        None,
        Duration::from_secs(120),
    )
    .ok();
    tar
}

/// Every cgroup hierarchy root (v1 controllers, name=systemd, the hybrid cgroup2 one).
pub fn cgroup_roots() -> Vec<std::path::PathBuf> {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut roots: Vec<std::path::PathBuf> = text
        .lines()
        .filter_map(|l| {
            let (pre, post) = l.split_once(" - ")?;
            let fstype = post.split_whitespace().next()?;
            if fstype != "cgroup" && fstype != "cgroup2" {
                return None;
            }
            pre.split_whitespace().nth(4).map(std::path::PathBuf::from)
        })
        .collect();
    roots.sort();
    roots.dedup();
    roots
}

/// The controller's directory of `pid`'s cgroup on this cgroup v1 host:
/// /sys/fs/cgroup/<controller>/<path from /proc/<pid>/cgroup>.
pub fn v1_cgroup_dir(pid: u64, controller: &str) -> std::path::PathBuf {
    let text = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("read /proc/PID/cgroup");
    let rel = text
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctrls, path) = (f.next()?, f.next()?, f.next()?);
            ctrls
                .split(',')
                .any(|c| c == controller)
                .then(|| path.trim_start_matches('/').to_owned())
        })
        .unwrap_or_else(|| panic!("no {controller} cgroup for {pid}: {text}"));
    Path::new("/sys/fs/cgroup").join(controller).join(rel)
}
