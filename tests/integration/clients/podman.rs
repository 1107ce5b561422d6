//! podman as a real client of rt: Debian's podman 4.3 (with conmon) runs containers with
//! `--runtime <rt>`, exactly as a user would, and the results are checked from outside.
//!
//! podman is private to each test: its own graph root, run root, tmp dir, events log,
//! network config dir and volume path under a temp dir; the cgroupfs manager with a
//! `--cgroup-parent` of our own (`/rt-test-podman-...`, removed at the end); the vfs storage
//! driver; `--network none`; a containers.conf (CONTAINERS_CONF) that lowers the default
//! ulimits, since root here lacks CAP_SYS_RESOURCE and podman's defaults (nofile 1048576)
//! exceed the hard limit, which fails for any runtime; `runtime_supports_json` lists "rt" so
//! podman hands rt `--log <file> --log-format json`. The image is a busybox rootfs
//! tarball brought in with `podman import`: nothing is pulled.
//!
//! Rootful podman passes no `--root` to the OCI runtime, so rt keeps its state in its
//! default root, /run/rt (`--runtime-flag root=...` would reach conmon but not podman's
//! cleanup process, which then leaves `--rm` containers behind; runc behaves the same).
//!
//! podman is installed by hack/podman-setup.sh when missing; if that fails the test fails.
use integration::client::{self, Out};
use integration::{rt_bin, unique_id};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// rt's state root as podman uses it (podman passes no `--root`).
const RT_DEFAULT_ROOT: &str = "/run/rt";
/// How long one podman command may take before the test fails.
const CMD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long cleanup (conmon's exit command, state removal) may take to show.
const SETTLE: Duration = Duration::from_secs(15);

/// Installs podman once per test process (hack/podman-setup.sh), loudly.
fn ensure_podman() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let present = Command::new("sh")
            .args(["-c", "command -v podman && command -v conmon"])
            .stdout(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        client::install_unless(present, "podman-setup.sh");
    });
}

/// Runs `cmd` with stdio in files, failing the test past CMD_TIMEOUT.
fn run_cmd(cmd: &mut Command, scratch: &Path) -> Out {
    client::run_cmd(cmd, scratch, None, CMD_TIMEOUT)
}

fn settle(cond: impl FnMut() -> bool) -> bool {
    client::settle(SETTLE, cond)
}

/// (pid, start time) of a live process, to tell it from a later one reusing the pid.
fn proc_identity(pid: i32) -> Option<(i32, String)> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_comm = stat.rsplit_once(')')?.1;
    // Fields after comm start at field 3 (state); starttime is field 22.
    let start = after_comm.split_whitespace().nth(19)?.to_string();
    Some((pid, start))
}

/// A private podman: everything it writes lives under `dir` (and the cgroup parent).
struct Podman {
    dir: PathBuf,
    cgroup_parent: String,
    rt: PathBuf,
    image: String,
}

impl Podman {
    fn new() -> Podman {
        ensure_podman();
        let rt = rt_bin();
        let name = unique_id("rt-test-podman");
        let dir = std::env::temp_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("podman temp dir");
        let conf = format!(
            r#"[containers]
# root lacks CAP_SYS_RESOURCE: keep rlimits at or under the current hard limits
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
netns = "none"
log_driver = "k8s-file"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
# podman passes `--log FILE --log-format json` only to runtimes named here, then reports
# the last error line of FILE: rt writes runc's JSON log lines
runtime_supports_json = ["crun", "runc", "kata", "runsc", "youki", "krun", "rt"]
events_logfile_path = "{d}/events.log"
tmp_dir = "{d}/tmp"
volume_path = "{d}/volumes"

[network]
network_config_dir = "{d}/net"
"#,
            d = dir.display()
        );
        fs::write(dir.join("containers.conf"), conf).expect("containers.conf");
        let storage = format!(
            "[storage]\ndriver = \"vfs\"\ngraphroot = \"{d}/root\"\nrunroot = \"{d}/runroot\"\n",
            d = dir.display()
        );
        fs::write(dir.join("storage.conf"), storage).expect("storage.conf");
        let p = Podman {
            cgroup_parent: format!("/{name}"),
            dir,
            rt,
            image: "localhost/rt-test-busybox:latest".into(),
        };
        p.import_busybox();
        p
    }

    /// `podman` with the private global flags; the runtime is rt.
    fn cmd(&self) -> Command {
        let d = &self.dir;
        let mut c = Command::new("podman");
        // conmon writes an `oom` file into its working directory when the container
        // is OOM-killed: keep it in our dir, not the source tree.
        c.current_dir(d)
            .env("CONTAINERS_CONF", d.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .args(["--storage-driver", "vfs"])
            .args(["--cgroup-manager", "cgroupfs"])
            .args(["--events-backend", "file"])
            .arg("--tmpdir")
            .arg(d.join("tmp"))
            .arg("--runtime")
            .arg(&self.rt);
        c
    }

    fn podman(&self, args: &[&str]) -> Out {
        run_cmd(self.cmd().args(args), &self.dir)
    }

    /// `podman run` with the per-test cgroup parent and no network, then `args`.
    fn run(&self, args: &[&str]) -> Out {
        let mut c = self.cmd();
        c.args([
            "run",
            "--network",
            "none",
            "--cgroup-parent",
            &self.cgroup_parent,
        ]);
        c.args(args);
        run_cmd(&mut c, &self.dir)
    }

    /// A busybox rootfs (static busybox, applet links in /bin) as a tarball, imported.
    fn import_busybox(&self) {
        let tar = client::busybox_image_tar(&self.dir);
        self.podman(&["import", tar.to_str().unwrap(), &self.image])
            .ok();
    }

    /// The container's bundle config.json as podman wrote it (vfs driver layout).
    fn config(&self, id: &str) -> serde_json::Value {
        let p = self
            .dir
            .join("root/vfs-containers")
            .join(id)
            .join("userdata/config.json");
        let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        serde_json::from_str(&text).expect("config.json")
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        // Best effort: containers, mounts under our dir, our cgroups, the dir.
        let _ = run_cmd(self.cmd().args(["rm", "-a", "-f", "-t", "0"]), &self.dir);
        let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = self.dir.to_string_lossy().into_owned();
        let mut points: Vec<&str> = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        points.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in points {
            let _ = Command::new("umount").args(["-l", m]).status();
        }
        // conmon leaves its cgroup (<parent>/conmon) only when it exits, after podman's
        // cleanup process: retry until the whole parent is gone.
        let roots = client::cgroup_roots();
        let gone = settle(|| {
            let mut left = false;
            for root in &roots {
                let parent = root.join(self.cgroup_parent.trim_start_matches('/'));
                if let Ok(entries) = fs::read_dir(&parent) {
                    for e in entries.flatten() {
                        if e.path().is_dir() {
                            let _ = fs::remove_dir(e.path());
                        }
                    }
                }
                let _ = fs::remove_dir(&parent);
                left |= parent.exists();
            }
            !left
        });
        if !gone && !std::thread::panicking() {
            panic!("cgroup parent {} could not be removed", self.cgroup_parent);
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn cid(cidfile: &Path) -> String {
    let id = fs::read_to_string(cidfile)
        .unwrap_or_else(|e| panic!("{}: {e}", cidfile.display()))
        .trim()
        .to_string();
    assert_eq!(
        id.len(),
        64,
        "container id from {}: {id:?}",
        cidfile.display()
    );
    id
}

/// Nothing of container `id` remains: no rt state, no cgroup, no podman record.
fn assert_gone(p: &Podman, id: &str, cgroups_path: Option<&str>) {
    let state = Path::new(RT_DEFAULT_ROOT).join(id);
    assert!(
        settle(|| !state.exists()),
        "rt state dir {} still there after podman removed the container",
        state.display()
    );
    if let Some(cg) = cgroups_path {
        for root in client::cgroup_roots() {
            let d = root.join(cg.trim_start_matches('/'));
            assert!(
                settle(|| !d.exists()),
                "cgroup {} still there after podman removed the container",
                d.display()
            );
        }
    }
    let ps = p.podman(&["ps", "-a", "-q", "--no-trunc"]).ok();
    assert!(
        !ps.stdout.contains(id),
        "podman still lists {id}: {}",
        ps.stdout
    );
}

#[test]
fn podman_run_rm_prints_output() {
    let p = Podman::new();
    let cidfile = p.dir.join("cid");
    let out = p
        .run(&[
            "--rm",
            "--cidfile",
            cidfile.to_str().unwrap(),
            &p.image,
            "echo",
            "hi",
        ])
        .ok();
    assert_eq!(out.stdout, "hi\n", "stderr: {}", out.stderr);
    let id = cid(&cidfile);
    assert_gone(&p, &id, None);
}

#[test]
fn podman_run_propagates_exit_code() {
    let p = Podman::new();
    let out = p.run(&["--rm", &p.image, "sh", "-c", "exit 3"]);
    assert_eq!(out.code(), 3, "{}\nstderr: {}", out.desc, out.stderr);
    let out = p.run(&["--rm", &p.image, "true"]);
    assert_eq!(out.code(), 0, "{}\nstderr: {}", out.desc, out.stderr);
    let out = p.run(&["--rm", &p.image, "sh", "-c", "exit 255"]);
    assert_eq!(out.code(), 255, "{}\nstderr: {}", out.desc, out.stderr);
    // A command that is not there: podman reports 127, as with runc.
    let out = p.run(&["--rm", &p.image, "/no/such/binary"]);
    assert_eq!(out.code(), 127, "{}\nstderr: {}", out.desc, out.stderr);
    // rt's error comes back through its JSON log
    assert!(
        out.stderr.contains("/no/such/binary"),
        "podman stderr: {}",
        out.stderr
    );
}

#[test]
fn podman_detached_exec_then_rm_leaves_nothing() {
    let p = Podman::new();
    let out = p.run(&["-d", &p.image, "sleep", "100"]).ok();
    let id = out.stdout.trim().to_string();
    assert_eq!(id.len(), 64, "podman run -d printed {:?}", out.stdout);

    // podman gave rt no --root: the state is in rt's default root.
    let state = Path::new(RT_DEFAULT_ROOT).join(id.as_str());
    assert!(state.is_dir(), "no rt state at {}", state.display());
    let cfg = p.config(&id);
    let cgroups_path = cfg["linux"]["cgroupsPath"]
        .as_str()
        .expect("linux.cgroupsPath in podman's config.json")
        .to_string();
    assert!(
        cgroups_path.starts_with(&p.cgroup_parent),
        "cgroupsPath {cgroups_path} not under {}",
        p.cgroup_parent
    );

    let insp = p
        .podman(&["inspect", "-f", "{{.State.Status}} {{.State.Pid}}", &id])
        .ok();
    let mut it = insp.stdout.split_whitespace();
    assert_eq!(it.next(), Some("running"), "inspect: {}", insp.stdout);
    let pid: i32 = it.next().and_then(|s| s.parse().ok()).expect("State.Pid");
    let ident = proc_identity(pid).expect("container process alive");

    let out = p.podman(&["exec", &id, "echo", "in-exec"]).ok();
    assert_eq!(out.stdout, "in-exec\n", "stderr: {}", out.stderr);
    // exec's exit code comes back too
    let out = p.podman(&["exec", &id, "sh", "-c", "exit 5"]);
    assert_eq!(out.code(), 5, "{}\nstderr: {}", out.desc, out.stderr);
    // and rt's state agrees with podman's
    let st = run_cmd(
        Command::new(&p.rt)
            .args(["--root", RT_DEFAULT_ROOT, "state"])
            .arg(&id),
        &p.dir,
    )
    .ok();
    let st: serde_json::Value = serde_json::from_str(&st.stdout).expect("rt state JSON");
    assert_eq!(st["status"], "running", "rt state: {st}");
    assert_eq!(st["pid"], pid, "rt state: {st}");

    p.podman(&["rm", "-f", "-t", "0", &id]).ok();
    assert!(
        settle(|| proc_identity(pid) != Some(ident.clone())),
        "container process {pid} still alive after podman rm -f"
    );
    assert_gone(&p, &id, Some(&cgroups_path));
}

#[test]
fn podman_stop_start_restart() {
    let p = Podman::new();
    let out = p
        .run(&["-d", "--name", "ss", &p.image, "sleep", "1000"])
        .ok();
    let id = out.stdout.trim().to_string();
    // sleep as pid 1 ignores SIGTERM: podman escalates to SIGKILL after the timeout.
    p.podman(&["stop", "-t", "1", "ss"]).ok();
    let insp = p
        .podman(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "ss",
        ])
        .ok();
    assert_eq!(insp.stdout.trim(), "exited 137", "after stop");
    // Started again: a fresh `rt create` with the same id.
    p.podman(&["start", "ss"]).ok();
    let insp = p.podman(&["inspect", "-f", "{{.State.Status}}", "ss"]).ok();
    assert_eq!(insp.stdout.trim(), "running", "after start");
    let out = p.podman(&["exec", "ss", "cat", "/proc/1/cmdline"]).ok();
    assert_eq!(out.stdout, "sleep\x001000\x00");
    p.podman(&["restart", "-t", "0", "ss"]).ok();
    let insp = p.podman(&["inspect", "-f", "{{.State.Status}}", "ss"]).ok();
    assert_eq!(insp.stdout.trim(), "running", "after restart");
    p.podman(&["rm", "-f", "-t", "0", "ss"]).ok();
    assert_gone(&p, &id, None);
}

#[test]
fn podman_run_options_reach_the_container() {
    let p = Podman::new();
    // -t: a pty from rt's console socket
    let out = p.run(&["--rm", "-t", &p.image, "tty"]).ok();
    assert_eq!(out.stdout.trim(), "/dev/pts/0", "stderr: {}", out.stderr);
    // -i: stdin reaches the container through conmon
    let mut c = p.cmd();
    c.args(["run", "--rm", "-i", "--network", "none"]).args([
        "--cgroup-parent",
        &p.cgroup_parent,
        &p.image,
        "cat",
    ]);
    let input = p.dir.join("stdin");
    fs::write(&input, "hello-stdin\n").unwrap();
    let desc = format!("{c:?} < {}", input.display());
    let o = c
        .stdin(fs::File::open(&input).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("{desc}: {e}"));
    assert!(
        o.status.success(),
        "{desc}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello-stdin\n");
    // user, environment, working directory
    let out = p
        .run(&[
            "--rm",
            "--user",
            "1000:1000",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            &p.image,
            "sh",
            "-c",
            "echo $(id -u):$(id -g) $FOO $(pwd)",
        ])
        .ok();
    assert_eq!(out.stdout, "1000:1000 bar /tmp\n", "stderr: {}", out.stderr);
    // a resource limit podman puts in linux.resources lands in the container's cgroup
    let out = p
        .run(&[
            "--rm",
            "--memory",
            "64m",
            &p.image,
            "sh",
            "-c",
            "grep -E '^[0-9]+:memory:' /proc/self/cgroup; cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
        ])
        .ok();
    let mut lines = out.stdout.lines();
    let cg = lines.next().unwrap_or_default();
    assert!(
        cg.contains(&format!("{}/libpod-", p.cgroup_parent)),
        "memory cgroup {cg:?} not under {}",
        p.cgroup_parent
    );
    assert_eq!(lines.next(), Some("67108864"), "stdout: {}", out.stdout);
}

#[test]
fn podman_pause_unpause_update_top() {
    let p = Podman::new();
    let id = p
        .run(&["-d", &p.image, "sleep", "1000"])
        .ok()
        .stdout
        .trim()
        .to_string();
    let cgroups_path = p.config(&id)["linux"]["cgroupsPath"]
        .as_str()
        .expect("linux.cgroupsPath")
        .to_string();
    let memory = Path::new("/sys/fs/cgroup/memory").join(cgroups_path.trim_start_matches('/'));
    let freezer = Path::new("/sys/fs/cgroup/freezer").join(cgroups_path.trim_start_matches('/'));
    let status = |p: &Podman| {
        p.podman(&["inspect", "-f", "{{.State.Status}}", &id])
            .ok()
            .stdout
            .trim()
            .to_string()
    };

    p.podman(&["pause", &id]).ok();
    assert_eq!(status(&p), "paused");
    if freezer.is_dir() {
        let st = fs::read_to_string(freezer.join("freezer.state")).unwrap_or_default();
        assert_eq!(st.trim(), "FROZEN", "{}", freezer.display());
    }
    p.podman(&["unpause", &id]).ok();
    assert_eq!(status(&p), "running");

    // `podman update` goes through `rt update --resources -`
    p.podman(&["update", "--memory", "128m", &id]).ok();
    let limit = fs::read_to_string(memory.join("memory.limit_in_bytes"))
        .unwrap_or_else(|e| panic!("{}: {e}", memory.display()));
    assert_eq!(limit.trim(), "134217728");

    let top = p.podman(&["top", &id]).ok();
    assert!(
        top.stdout.contains("sleep 1000"),
        "podman top: {}",
        top.stdout
    );

    let out = p.podman(&["exec", "-t", &id, "tty"]).ok();
    assert!(
        out.stdout.trim().starts_with("/dev/pts/"),
        "exec -t: {}",
        out.stdout
    );

    p.podman(&["rm", "-f", "-t", "0", &id]).ok();
    assert_gone(&p, &id, Some(&cgroups_path));
}

/// `s` quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A v1 cgroup file of a container whose linux.cgroupsPath is `cg`, read from the host.
fn cgroup_file(ctl: &str, cg: &str, file: &str) -> String {
    let p = Path::new("/sys/fs/cgroup")
        .join(ctl)
        .join(cg.trim_start_matches('/'))
        .join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

fn cap_eff(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no CapEff in {status:?}"))
}

#[test]
fn podman_logs_and_interactive_exec() {
    let p = Podman::new();
    let id = p
        .run(&[
            "-d",
            &p.image,
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; exec sleep 1000",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    assert!(
        settle(|| p.podman(&["logs", &id]).ok().stdout.contains("to-stdout")),
        "podman logs never showed the output"
    );
    let logs = p.podman(&["logs", &id]).ok();
    assert_eq!(logs.stdout, "to-stdout\n", "podman logs stdout");
    assert_eq!(logs.stderr, "to-stderr\n", "podman logs stderr");

    // exec -it through a pty on our side (script): a pty inside, our input, the exit code.
    let mut line: Vec<String> = vec![];
    let c = p.cmd();
    for (k, v) in c.get_envs() {
        if let Some(v) = v {
            line.push(format!(
                "{}={}",
                k.to_string_lossy(),
                sh_quote(&v.to_string_lossy())
            ));
        }
    }
    line.push(sh_quote(&c.get_program().to_string_lossy()));
    line.extend(c.get_args().map(|a| sh_quote(&a.to_string_lossy())));
    for a in [
        "exec",
        "-it",
        &id,
        "sh",
        "-c",
        "tty; read x; echo got=$x; exit 7",
    ] {
        line.push(sh_quote(a));
    }
    let input = p.dir.join("tty-in");
    fs::write(&input, "abc\n").unwrap();
    let mut s = Command::new("/usr/bin/script");
    s.args(["-qec", &line.join(" "), "/dev/null"]);
    let desc = format!("{s:?}");
    let o = s
        .stdin(fs::File::open(&input).unwrap())
        .output()
        .unwrap_or_else(|e| panic!("{desc}: {e}"));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(7), "{desc}\n{stdout}");
    assert!(stdout.contains("/dev/pts/"), "exec -it: {stdout:?}");
    assert!(stdout.contains("got=abc"), "exec -it: {stdout:?}");

    p.podman(&["rm", "-f", "-t", "0", &id]).ok();
    assert_gone(&p, &id, None);
}

#[test]
fn podman_resources_oom_cpu_pids_cpuset_stats() {
    let p = Podman::new();
    // The memory limit holds: a child that outgrows it is OOM-killed (exit 137) and the
    // cgroup counts the kill. (podman 4.3's conmon does not report OOMKilled on this
    // cgroup v1 hybrid host, with runc either, so the effect is read from the cgroup.)
    let id = p
        .run(&[
            "-d",
            "--memory",
            "32m",
            "--memory-swap",
            "32m",
            &p.image,
            "sh",
            "-c",
            // 2^28 bytes, doubled: far over the limit, yet bounded if the limit is missing
            "sh -c 'x=a; i=0; while [ $i -lt 28 ]; do x=$x$x; i=$((i+1)); done'; \
             echo child=$?; exec sleep 1000",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let cg = p.config(&id)["linux"]["cgroupsPath"]
        .as_str()
        .expect("linux.cgroupsPath")
        .to_string();
    assert_eq!(
        cgroup_file("memory", &cg, "memory.limit_in_bytes"),
        "33554432"
    );
    let logs = || p.podman(&["logs", &id]).ok().stdout;
    assert!(
        settle(|| logs().contains("child=")),
        "no child exit in the logs"
    );
    assert_eq!(logs().trim(), "child=137", "the allocating child");
    let oom = cgroup_file("memory", &cg, "memory.oom_control");
    assert!(
        oom.lines()
            .any(|l| l.starts_with("oom_kill ") && l != "oom_kill 0"),
        "memory.oom_control: {oom}"
    );
    p.podman(&["rm", "-f", "-t", "0", &id]).ok();
    assert_gone(&p, &id, Some(&cg));

    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = (ncpu - 1).to_string();
    let id = p
        .run(&[
            "-d",
            "--cpus",
            "0.5",
            "--pids-limit",
            "20",
            "--cpuset-cpus",
            &cpu,
            &p.image,
            "sleep",
            "1000",
        ])
        .ok()
        .stdout
        .trim()
        .to_string();
    let cg = p.config(&id)["linux"]["cgroupsPath"]
        .as_str()
        .expect("linux.cgroupsPath")
        .to_string();
    assert_eq!(cgroup_file("cpu", &cg, "cpu.cfs_quota_us"), "50000");
    assert_eq!(cgroup_file("cpu", &cg, "cpu.cfs_period_us"), "100000");
    assert_eq!(cgroup_file("pids", &cg, "pids.max"), "20");
    assert_eq!(cgroup_file("cpuset", &cg, "cpuset.cpus"), cpu);
    let out = p
        .podman(&[
            "exec",
            &id,
            "sh",
            "-c",
            "cat /sys/fs/cgroup/pids/pids.max; grep Cpus_allowed_list /proc/self/status",
        ])
        .ok();
    assert_eq!(out.stdout, format!("20\nCpus_allowed_list:\t{cpu}\n"));
    // The pids limit bites: forks beyond 20 fail, and the cgroup counts the refusals.
    let out = p.podman(&["exec", &id, "sh", "-c", "while :; do sleep 30 & done"]);
    assert_ne!(out.code(), 0, "{}", out.desc);
    assert!(out.stderr.contains("can't fork"), "{}", out.stderr);
    let events = cgroup_file("pids", &cg, "pids.events");
    let refused: u64 = events
        .strip_prefix("max ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("pids.events: {events:?}"));
    assert!(refused > 0, "pids.events: {events:?}");
    let stats = p
        .podman(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.PIDs}} {{.MemUsage}}",
            &id,
        ])
        .ok();
    let npids: u32 = stats
        .stdout
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("podman stats: {}", stats.stdout));
    assert!((2..=20).contains(&npids), "podman stats: {}", stats.stdout);
    p.podman(&["rm", "-f", "-t", "0", &id]).ok();
    assert_gone(&p, &id, Some(&cg));
}

#[test]
fn podman_security_filesystem_network_flags() {
    let p = Podman::new();
    let status = ["cat", "/proc/self/status"];
    let run_status = |flags: &[&str]| {
        let mut a = vec!["--rm"];
        a.extend_from_slice(flags);
        a.push(&p.image);
        a.extend_from_slice(&status);
        cap_eff(&p.run(&a).ok().stdout)
    };
    // containers-common's default set (as docker's): CHOWN DAC_OVERRIDE FOWNER FSETID KILL
    // SETGID SETUID SETPCAP NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
    assert_eq!(run_status(&[]), 0xa80425fb);
    assert_eq!(run_status(&["--cap-drop", "ALL"]), 0);
    let caps = run_status(&["--cap-drop", "ALL", "--cap-add", "CHOWN,NET_ADMIN"]);
    assert_eq!(caps, (1 << 0) | (1 << 12));

    // Seccomp: podman's default profile is loaded (it allows unshare, for nested user
    // namespaces); a profile given with --security-opt refuses it; unconfined has none.
    let script = "grep ^Seccomp: /proc/self/status; unshare -U true";
    let out = p.run(&["--rm", &p.image, "sh", "-c", script]).ok();
    assert_eq!(out.stdout, "Seccomp:\t2\n");
    let profile = p.dir.join("no-unshare.json");
    let json = r#"{"defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["unshare"], "action": "SCMP_ACT_ERRNO"}]}"#;
    fs::write(&profile, json).unwrap();
    let opt = format!("seccomp={}", profile.display());
    let out = p.run(&["--rm", "--security-opt", &opt, &p.image, "sh", "-c", script]);
    assert_eq!(out.stdout, "Seccomp:\t2\n");
    assert_ne!(out.code(), 0, "unshare allowed under a profile refusing it");
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    let out = p
        .run(&[
            "--rm",
            "--security-opt",
            "seccomp=unconfined",
            &p.image,
            "sh",
            "-c",
            script,
        ])
        .ok();
    assert_eq!(out.stdout, "Seccomp:\t0\n");

    // --privileged: podman grants the capabilities in its own bounding set (all of them,
    // or all but CAP_SYS_RESOURCE on the development VM), no seccomp, the host's devices
    // and a read-write /sys.
    let bnd = fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .expect("CapBnd");
    let out = p
        .run(&[
            "--rm",
            "--privileged",
            &p.image,
            "sh",
            "-c",
            "cat /proc/self/status; ls /dev/loop-control; grep ' /sys ' /proc/mounts",
        ])
        .ok();
    assert_eq!(cap_eff(&out.stdout), bnd, "{}", out.stdout);
    assert!(out.stdout.contains("Seccomp:\t0"), "{}", out.stdout);
    assert!(
        out.stdout.contains("\n/dev/loop-control\n"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains(" /sys sysfs rw,"), "{}", out.stdout);

    // --read-only with --tmpfs; -v bind mounts rw and ro; --hostname; --network none.
    let out = p.run(&[
        "--rm",
        "--read-only",
        "--tmpfs",
        "/scratch:size=1m",
        &p.image,
        "sh",
        "-c",
        "echo x > /scratch/f && cat /scratch/f; grep ' /scratch ' /proc/mounts; touch /f",
    ]);
    assert_ne!(out.code(), 0, "touch on a read-only root succeeded");
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("x"));
    let m = lines.next().unwrap_or_default();
    assert!(
        m.starts_with("tmpfs /scratch tmpfs ") && m.contains("size=1024k"),
        "{m}"
    );

    let host = p.dir.join("bind");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("in"), "from-host\n").unwrap();
    let rw = format!("{}:/data", host.display());
    let out = p
        .run(&[
            "--rm",
            "-v",
            &rw,
            &p.image,
            "sh",
            "-c",
            "cat /data/in; echo from-ctr > /data/out",
        ])
        .ok();
    assert_eq!(out.stdout, "from-host\n");
    assert_eq!(fs::read_to_string(host.join("out")).unwrap(), "from-ctr\n");
    let ro = format!("{rw}:ro");
    let out = p.run(&[
        "--rm",
        "-v",
        &ro,
        &p.image,
        "sh",
        "-c",
        "echo x > /data/out2",
    ]);
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );

    let out = p
        .run(&[
            "--rm",
            "--hostname",
            "rt-host",
            &p.image,
            "sh",
            "-c",
            "hostname; readlink /proc/self/ns/net; tail -n +3 /proc/net/dev",
        ])
        .ok();
    let mut lines = out.stdout.lines();
    assert_eq!(lines.next(), Some("rt-host"));
    let host_ns = fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(lines.next().map(Path::new), Some(host_ns.as_path()));
    let ifaces: Vec<&str> = lines
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{}", out.stdout);
}
