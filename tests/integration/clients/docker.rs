//! Docker as a real client of rt: Debian's docker.io 20.10 (dockerd, its managed containerd,
//! containerd-shim-runc-v2 with rt as the shim's runtime binary) runs containers exactly as
//! a user would, and each effect is checked, from inside the container or from the host.
//!
//! One private dockerd serves every test of this binary (started on first use, stopped at
//! process exit by an `atexit` handler, which fails the run if anything is left behind):
//! its own `--data-root`, `--exec-root`, `--pidfile`, unix socket and managed containerd,
//! all under one temp dir; a `--config-file` of our own (so /etc/docker/daemon.json is not
//! read, and the trust key is not written to /etc/docker) that registers rt as runtime "rt"
//! and makes it the default; `--bridge none --iptables=false --ip6tables=false
//! --ip-forward=false --ip-masq=false`, and every container gets `--network none`: the host
//! network is not touched; the cgroupfs driver with a `--cgroup-parent` of our own
//! (`/rt-test-docker-...`, removed at the end); the overlay2 storage driver. Root lacks
//! CAP_SYS_RESOURCE here, so the default ulimits are kept at or under the hard limits
//! (`--default-ulimit`), which any runtime needs.
//!
//! The image is a busybox rootfs imported with `docker import`: nothing is pulled. The
//! runtime is `$RT_BIN` or the debug build: with `RT_BIN=<wrapper>` the same checks run
//! against another runtime (docs/clients/docker.md shows a wrapper that drops the memory
//! limit, which the memory test then catches). The client is /usr/bin/docker (docker.io's,
//! matching the daemon), never another docker CLI on PATH.
//!
//! docker.io is installed by hack/docker-setup.sh when missing; if that fails the test fails.
use integration::client::{self, read_lossy, Out};
use integration::{rt_bin, unique_id};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

const DOCKER: &str = "/usr/bin/docker";
const DOCKERD: &str = "/usr/sbin/dockerd";
const IMAGE: &str = "rt-test-busybox:latest";
/// How long one docker command may take before the test fails.
const CMD_TIMEOUT: Duration = Duration::from_secs(120);
/// How long asynchronous effects (removal, state changes) may take to show.
const SETTLE: Duration = Duration::from_secs(20);

/// Installs docker.io once per test process (hack/docker-setup.sh), loudly.
fn ensure_docker() {
    let present = [DOCKER, DOCKERD, "/usr/bin/containerd", "/usr/bin/script"]
        .iter()
        .all(|p| Path::new(p).is_file());
    client::install_unless(present, "docker-setup.sh");
}

fn run_cmd(cmd: &mut Command, scratch: &Path, stdin: Option<&Path>) -> Out {
    client::run_cmd(cmd, scratch, stdin, CMD_TIMEOUT)
}

fn settle(cond: impl FnMut() -> bool) -> bool {
    client::settle(SETTLE, cond)
}

/// The root of the v1 hierarchy holding `controller` (e.g. "memory", "cpu").
fn v1_root(controller: &str) -> PathBuf {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in text.lines() {
        let Some((pre, post)) = l.split_once(" - ") else {
            continue;
        };
        let mut post = post.split_whitespace();
        if post.next() != Some("cgroup") {
            continue;
        }
        let opts = post.nth(1).unwrap_or_default();
        if opts.split(',').any(|o| o == controller) {
            if let Some(mp) = pre.split_whitespace().nth(4) {
                return PathBuf::from(mp);
            }
        }
    }
    panic!(
        "no cgroup v1 hierarchy with the {controller} controller (this test expects v1 or hybrid)"
    );
}

/// The private dockerd shared by the tests of this binary.
struct Dockerd {
    dir: PathBuf,
    cgroup_parent: String,
    rt: PathBuf,
    child: Mutex<Option<Child>>,
    /// /run/docker did not exist before we started (dockerd makes /run/docker/plugins).
    made_run_docker: bool,
}

static DAEMON: OnceLock<Dockerd> = OnceLock::new();

fn daemon() -> &'static Dockerd {
    DAEMON.get_or_init(Dockerd::start)
}

/// The OOM test runs alone in the daemon; every other test takes `shared()`. A CI run once
/// saw OOMKilled false (exit 137) while other tests' containers came and went in the same
/// dockerd: how dockerd 20.10 pairs containerd's TaskOOM with the next TaskExit is not
/// reliable then (with any runtime), and alone it passed every time.
static ALONE: std::sync::RwLock<()> = std::sync::RwLock::new(());

fn shared() -> std::sync::RwLockReadGuard<'static, ()> {
    ALONE.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive() -> std::sync::RwLockWriteGuard<'static, ()> {
    ALONE.write().unwrap_or_else(|e| e.into_inner())
}

impl Dockerd {
    fn start() -> Dockerd {
        ensure_docker();
        sweep_stale_daemons();
        let rt = rt_bin();
        let name = unique_id("rt-test-docker");
        let dir = std::env::temp_dir().join(&name);
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("client")).expect("docker temp dir");
        // The runtime is registered in daemon.json (docs/clients/docker.md); the trust key
        // goes to our dir instead of /etc/docker/key.json.
        let conf = serde_json::json!({
            "runtimes": { "rt": { "path": rt } },
            "default-runtime": "rt",
            "deprecated-key-path": dir.join("key.json"),
            "default-ulimits": {
                "nofile": { "Name": "nofile", "Soft": 1024, "Hard": 1024 },
                "nproc": { "Name": "nproc", "Soft": 1024, "Hard": 1024 }
            }
        });
        fs::write(dir.join("daemon.json"), conf.to_string()).expect("daemon.json");
        let made_run_docker = !Path::new("/run/docker").exists();
        let cgroup_parent = format!("/{name}");
        let log = fs::File::create(dir.join("dockerd.log")).expect("dockerd.log");
        let log2 = log.try_clone().expect("dockerd.log");
        let mut cmd = Command::new(DOCKERD);
        cmd.arg("--config-file")
            .arg(dir.join("daemon.json"))
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            .args(["--bridge", "none", "--iptables=false", "--ip6tables=false"])
            .args([
                "--ip-forward=false",
                "--ip-masq=false",
                "--userland-proxy=false",
            ])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
            .args(["--cgroup-parent", &cgroup_parent])
            .args(["--storage-driver", "overlay2"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {DOCKERD}: {e}"));
        let d = Dockerd {
            dir,
            cgroup_parent,
            rt,
            child: Mutex::new(Some(child)),
            made_run_docker,
        };
        // From here on, the daemon is stopped and everything removed at exit.
        // SAFETY: registers a plain extern "C" fn; it runs once at process exit.
        unsafe { libc::atexit(stop_at_exit) };
        let start = Instant::now();
        loop {
            let v = run_cmd(
                d.cmd().args(["version", "-f", "{{.Server.Version}}"]),
                &d.dir,
                None,
            );
            if v.status.success() {
                break;
            }
            if let Ok(mut c) = d.child.lock() {
                if let Some(Ok(Some(st))) = c.as_mut().map(|c| c.try_wait()) {
                    panic!(
                        "dockerd exited ({st}) while starting:\n{}",
                        read_lossy(&d.dir.join("dockerd.log"))
                    );
                }
            }
            if start.elapsed() > Duration::from_secs(60) {
                panic!(
                    "dockerd not answering after 60 s: {}\n{}",
                    v.stderr,
                    read_lossy(&d.dir.join("dockerd.log"))
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        d.import_busybox();
        d
    }

    /// /usr/bin/docker talking to our daemon, with a private client config dir.
    fn cmd(&self) -> Command {
        let mut c = Command::new(DOCKER);
        c.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir.join("docker.sock").display()),
        )
        .env("DOCKER_CONFIG", self.dir.join("client"))
        .env_remove("DOCKER_CONTEXT");
        c
    }

    fn docker(&self, args: &[&str]) -> Out {
        run_cmd(self.cmd().args(args), &self.dir, None)
    }

    /// `docker run --network none FLAGS IMAGE CMD...`; `flags` is split at whitespace.
    fn run(&self, flags: &str, cmd: &[&str]) -> Out {
        let mut c = self.cmd();
        c.args(["run", "--network", "none"])
            .args(flags.split_whitespace())
            .arg(IMAGE)
            .args(cmd);
        run_cmd(&mut c, &self.dir, None)
    }

    /// `docker run --network none FLAGS IMAGE sh -c SCRIPT`.
    fn sh(&self, flags: &str, script: &str) -> Out {
        self.run(flags, &["sh", "-c", script])
    }

    /// `docker run -d --network none FLAGS IMAGE CMD...`: the container id.
    fn run_d(&self, flags: &str, cmd: &[&str]) -> String {
        let out = self.run(&format!("-d {flags}"), cmd).ok();
        let id = out.stdout.trim().to_string();
        assert_eq!(id.len(), 64, "docker run -d printed {:?}", out.stdout);
        id
    }

    /// `docker exec ID sh -c SCRIPT`.
    fn exec_sh(&self, id: &str, script: &str) -> Out {
        self.docker(&["exec", id, "sh", "-c", script])
    }

    /// A cgroup file of container `id` (v1 hierarchy of `ctl`), read from the host.
    fn cgroup_file(&self, ctl: &str, id: &str, file: &str) -> String {
        let p = self.cgroup(&v1_root(ctl), id).join(file);
        fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    }

    /// Runs a shell command line under `script` (a pty on our side, for `-it`), stdin from
    /// `input`.
    fn script(&self, line: &str, input: &str) -> Out {
        let f = self.dir.join(unique_id("stdin"));
        fs::write(&f, input).expect("stdin file");
        let env = self.cmd();
        let mut c = Command::new("/usr/bin/script");
        c.envs(env.get_envs().filter_map(|(k, v)| Some((k, v?))))
            .args(["-qec", line, "/dev/null"]);
        let out = run_cmd(&mut c, &self.dir, Some(&f));
        let _ = fs::remove_file(&f);
        out
    }

    fn inspect(&self, id: &str, format: &str) -> String {
        self.docker(&["inspect", "-f", format, id])
            .ok()
            .stdout
            .trim()
            .to_string()
    }

    /// rt's state root as the runc shim gives it to rt (docker 20.10 names it after the
    /// default runc runtime, whatever the runtime is).
    fn rt_root(&self) -> PathBuf {
        self.dir.join("exec/runtime-runc/moby")
    }

    /// The container's cgroup directory in the hierarchy at `root`.
    fn cgroup(&self, root: &Path, id: &str) -> PathBuf {
        root.join(self.cgroup_parent.trim_start_matches('/'))
            .join(id)
    }

    /// A busybox rootfs (static busybox, applet links in /bin) as a tarball, imported.
    fn import_busybox(&self) {
        let tar = client::busybox_image_tar(&self.dir);
        let mut c = self.cmd();
        c.args(["import", "-", IMAGE]);
        run_cmd(&mut c, &self.dir, Some(&tar)).ok();
        let _ = fs::remove_dir_all(self.dir.join("rootfs"));
    }

    /// Stops dockerd (SIGTERM, by its pid, then SIGKILL) and removes everything it made.
    /// Returns what was left behind.
    fn stop(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let _ = run_cmd(
            self.cmd().args(["rm", "-f"]).args(
                self.docker(&["ps", "-aq"])
                    .stdout
                    .split_whitespace()
                    .collect::<Vec<_>>(),
            ),
            &self.dir,
            None,
        );
        if let Ok(mut guard) = self.child.lock() {
            if let Some(mut child) = guard.take() {
                let pid = child.id() as libc::pid_t;
                // SAFETY: our own child, not yet reaped, so the pid is still ours.
                unsafe { libc::kill(pid, libc::SIGTERM) };
                let start = Instant::now();
                loop {
                    match child.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if start.elapsed() > Duration::from_secs(30) => {
                            problems.push("dockerd ignored SIGTERM for 30 s".into());
                            let _ = child.kill();
                            let _ = child.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            }
        }
        problems.extend(remove_leftovers(&self.dir, &self.cgroup_parent));
        if self.made_run_docker {
            let _ = fs::remove_dir("/run/docker/plugins");
            let _ = fs::remove_dir("/run/docker");
        }
        let rm = Command::new("rm")
            .args(["-rf", "--one-file-system"])
            .arg(&self.dir)
            .status();
        if !rm.map(|s| s.success()).unwrap_or(false) || self.dir.exists() {
            problems.push(format!("cannot remove {}", self.dir.display()));
        }
        problems
    }
}

/// Removes what a stopped dockerd left under `dir` and in `cgroup_parent`: waits for the
/// processes that mention `dir` (containerd, shims), unmounts, removes the cgroups.
/// Returns what was left behind.
fn remove_leftovers(dir: &Path, cgroup_parent: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // Processes started under our dir (containerd, shims) must be gone with dockerd.
    let prefix = dir.to_string_lossy().into_owned();
    let gone = settle(|| {
        let Ok(rd) = fs::read_dir("/proc") else {
            return true;
        };
        !rd.flatten().any(|e| {
            fs::read(e.path().join("cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&prefix))
                .unwrap_or(false)
        })
    });
    if !gone {
        problems.push(format!("processes mentioning {prefix} outlived dockerd"));
    }
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(4))
        .filter(|m| m.starts_with(&prefix))
        .collect();
    points.sort_by_key(|m| std::cmp::Reverse(m.len()));
    for m in points {
        let _ = Command::new("umount").args(["-l", m]).status();
    }
    for root in client::cgroup_roots() {
        let parent = root.join(cgroup_parent.trim_start_matches('/'));
        if let Ok(rd) = fs::read_dir(&parent) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    problems.push(format!("cgroup {} left behind", e.path().display()));
                    let _ = fs::remove_dir(e.path());
                }
            }
        }
        if parent.exists() && fs::remove_dir(&parent).is_err() {
            problems.push(format!("cannot remove {}", parent.display()));
        }
    }
    problems
}

/// The daemons of earlier runs killed before their teardown (a timeout, kill -9): their
/// temp dir `rt-test-docker-<pid>-<n>` names a test process that is gone. Their processes
/// are killed and their dirs and cgroups removed, as hack/test.sh does for rt's tests.
fn sweep_stale_daemons() {
    let Ok(rd) = fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("rt-test-docker-")
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let dir = e.path();
        let prefix = dir.to_string_lossy().into_owned();
        let cgroup_parent = format!("/{name}");
        // dockerd, containerd, the shims, then the containers' processes.
        let mut victims: Vec<i32> = fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|p| {
                fs::read(p.path().join("cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&prefix))
                    .unwrap_or(false)
            })
            .filter_map(|p| p.file_name().to_string_lossy().parse().ok())
            .collect();
        for root in client::cgroup_roots() {
            let parent = root.join(cgroup_parent.trim_start_matches('/'));
            for c in fs::read_dir(&parent).into_iter().flatten().flatten() {
                let procs = fs::read_to_string(c.path().join("cgroup.procs")).unwrap_or_default();
                victims.extend(procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
            }
        }
        for v in victims {
            // SAFETY: plain kill(2) of processes of a dead test run's daemon.
            unsafe { libc::kill(v, libc::SIGKILL) };
        }
        // The containers' cgroups, once their killed processes are gone.
        settle(|| {
            let mut left = false;
            for root in client::cgroup_roots() {
                let parent = root.join(cgroup_parent.trim_start_matches('/'));
                for c in fs::read_dir(&parent).into_iter().flatten().flatten() {
                    let _ = fs::remove_dir(c.path());
                }
                let _ = fs::remove_dir(&parent);
                left |= parent.exists();
            }
            !left
        });
        let problems = remove_leftovers(&dir, &cgroup_parent);
        let _ = Command::new("rm")
            .args(["-rf", "--one-file-system"])
            .arg(&dir)
            .status();
        if !problems.is_empty() || dir.exists() {
            panic!("cannot clean up the stale {}: {problems:?}", dir.display());
        }
    }
}

extern "C" fn stop_at_exit() {
    let Some(d) = DAEMON.get() else {
        return;
    };
    let r = std::panic::catch_unwind(|| d.stop());
    let problems = r.unwrap_or_else(|_| vec!["stopping dockerd panicked".into()]);
    if !problems.is_empty() {
        eprintln!("docker test teardown left things behind:");
        for p in &problems {
            eprintln!("  {p}");
        }
        // SAFETY: ends the process with a failure status, as a failed test would.
        unsafe { libc::_exit(1) };
    }
}

/// Nothing of container `id` remains: not in `docker ps -a`, no rt state, no cgroup.
fn assert_gone(d: &Dockerd, id: &str) {
    let ps = || d.docker(&["ps", "-a", "-q", "--no-trunc"]).ok().stdout;
    assert!(
        settle(|| !ps().contains(id)),
        "docker still lists {id}: {}",
        ps()
    );
    let state = d.rt_root().join(id);
    assert!(
        settle(|| !state.exists()),
        "rt state dir {} still there after docker removed the container",
        state.display()
    );
    for root in client::cgroup_roots() {
        let cg = d.cgroup(&root, id);
        assert!(
            settle(|| !cg.exists()),
            "cgroup {} still there after docker removed the container",
            cg.display()
        );
    }
}

fn cid(d: &Dockerd) -> PathBuf {
    d.dir.join(unique_id("cid"))
}

fn read_cid(p: &Path) -> String {
    let id = fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "container id from {}: {id:?}", p.display());
    let _ = fs::remove_file(p);
    id
}

fn cap_eff(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no CapEff in {status:?}"))
}

#[test]
fn docker_run_rm_output_and_exit_codes() {
    let _alone = shared();
    let d = daemon();
    let f = cid(d);
    let out = d
        .run(&format!("--rm --cidfile {}", f.display()), &["echo", "hi"])
        .ok();
    assert_eq!(out.stdout, "hi\n", "stderr: {}", out.stderr);
    assert_gone(d, &read_cid(&f));

    for (script, code) in [("exit 3", 3), ("true", 0), ("exit 255", 255)] {
        let f = cid(d);
        let out = d.sh(&format!("--rm --cidfile {}", f.display()), script);
        assert_eq!(out.code(), code, "{}\nstderr: {}", out.desc, out.stderr);
        assert_gone(d, &read_cid(&f));
    }
    // A command that is not there: docker reports 127, as with runc, and shows rt's error.
    let f = cid(d);
    let out = d.run(
        &format!("--rm --cidfile {}", f.display()),
        &["/no/such/binary"],
    );
    assert_eq!(out.code(), 127, "{}\nstderr: {}", out.desc, out.stderr);
    assert!(
        out.stderr.contains("/no/such/binary"),
        "docker stderr: {}",
        out.stderr
    );
    assert_gone(d, &read_cid(&f));
}

#[test]
fn docker_detached_exec_logs_top_stats_pause_update_stop_rm() {
    let _alone = shared();
    let d = daemon();
    let id = d.run_d(
        "",
        &[
            "sh",
            "-c",
            "echo to-stdout; echo to-stderr >&2; exec sleep 1000",
        ],
    );
    // The runc shim ran rt: the state is rt's, in the root the shim gave it.
    let rt_state = || {
        let st = run_cmd(
            Command::new(&d.rt)
                .arg("--root")
                .arg(d.rt_root())
                .args(["state", &id]),
            &d.dir,
            None,
        )
        .ok();
        serde_json::from_str::<serde_json::Value>(&st.stdout).expect("rt state JSON")
    };
    let pid: i64 = d.inspect(&id, "{{.State.Pid}}").parse().expect("State.Pid");
    let st = rt_state();
    assert_eq!(st["status"], "running", "rt state: {st}");
    assert_eq!(st["pid"], pid, "rt state: {st}");

    let out = d.docker(&["exec", &id, "echo", "in-exec"]).ok();
    assert_eq!(out.stdout, "in-exec\n", "stderr: {}", out.stderr);
    let out = d.exec_sh(&id, "exit 5");
    assert_eq!(out.code(), 5, "{}\nstderr: {}", out.desc, out.stderr);
    let out = d.docker(&["exec", "-u", "1000:1000", &id, "id", "-u"]).ok();
    assert_eq!(out.stdout, "1000\n");

    // The log driver writes asynchronously.
    assert!(
        settle(|| d.docker(&["logs", &id]).ok().stderr.contains("to-stderr")),
        "docker logs never showed the output"
    );
    let logs = d.docker(&["logs", &id]).ok();
    assert_eq!(logs.stdout, "to-stdout\n", "docker logs stdout");
    assert_eq!(logs.stderr, "to-stderr\n", "docker logs stderr");

    let top = d.docker(&["top", &id]).ok();
    assert!(
        top.stdout.contains("sleep 1000") && top.stdout.contains(&format!(" {pid} ")),
        "docker top (pid {pid}): {}",
        top.stdout
    );
    let stats = d
        .docker(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.PIDs}} {{.MemUsage}}",
            &id,
        ])
        .ok();
    assert!(
        stats.stdout.starts_with("1 ") && !stats.stdout.starts_with("1 0B "),
        "docker stats: {}",
        stats.stdout
    );

    d.docker(&["pause", &id]).ok();
    assert_eq!(d.inspect(&id, "{{.State.Status}}"), "paused");
    assert_eq!(d.cgroup_file("freezer", &id, "freezer.state"), "FROZEN");
    assert_eq!(rt_state()["status"], "paused");
    d.docker(&["unpause", &id]).ok();
    assert_eq!(d.inspect(&id, "{{.State.Status}}"), "running");
    assert_eq!(d.cgroup_file("freezer", &id, "freezer.state"), "THAWED");

    // `docker update` reaches the cgroup through `rt update --resources`.
    let update = "update --memory 100m --memory-swap 200m --pids-limit 50 --cpus 0.25";
    let mut args: Vec<&str> = update.split_whitespace().collect();
    args.push(&id);
    d.docker(&args).ok();
    assert_eq!(
        d.cgroup_file("memory", &id, "memory.limit_in_bytes"),
        "104857600"
    );
    assert_eq!(d.cgroup_file("pids", &id, "pids.max"), "50");
    assert_eq!(d.cgroup_file("cpu", &id, "cpu.cfs_quota_us"), "25000");

    // sleep as pid 1 ignores SIGTERM: docker escalates to SIGKILL after the timeout.
    d.docker(&["stop", "-t", "1", &id]).ok();
    let exited = d.inspect(&id, "{{.State.Status}} {{.State.ExitCode}}");
    assert_eq!(exited, "exited 137");
    // Started again: a fresh `rt create` with the same id; then restarted.
    d.docker(&["start", &id]).ok();
    assert_eq!(d.inspect(&id, "{{.State.Status}}"), "running");
    d.docker(&["restart", "-t", "0", &id]).ok();
    assert_eq!(d.inspect(&id, "{{.State.Status}}"), "running");
    let npid: i64 = d.inspect(&id, "{{.State.Pid}}").parse().expect("State.Pid");
    d.docker(&["rm", "-f", &id]).ok();
    assert!(
        settle(|| !Path::new(&format!("/proc/{npid}")).exists()),
        "container process {npid} still alive after docker rm -f"
    );
    assert_gone(d, &id);
}

#[test]
fn docker_interactive_tty_run_and_exec() {
    let _alone = shared();
    let d = daemon();
    // -it through a pty: the container gets /dev/pts/0, TERM, and our input.
    let script = "tty; echo term=$TERM; read x; echo got=$x; exit 6";
    let line = format!("{DOCKER} run --rm -it --network none {IMAGE} sh -c '{script}'");
    let out = d.script(&line, "abc\n");
    assert_eq!(out.code(), 6, "{}\n{}{}", out.desc, out.stdout, out.stderr);
    for want in ["/dev/pts/0", "term=xterm", "got=abc"] {
        assert!(out.stdout.contains(want), "{want} not in {:?}", out.stdout);
    }
    // -i without a tty: stdin is piped.
    let f = d.dir.join(unique_id("in"));
    fs::write(&f, "piped-in\n").unwrap();
    let mut c = d.cmd();
    c.args(["run", "--rm", "-i", "--network", "none", IMAGE, "cat"]);
    let out = run_cmd(&mut c, &d.dir, Some(&f)).ok();
    let _ = fs::remove_file(&f);
    assert_eq!(out.stdout, "piped-in\n");

    let id = d.run_d("", &["sleep", "1000"]);
    let line = format!("{DOCKER} exec -it {id} sh -c 'tty; read x; echo got=$x; exit 7'");
    let out = d.script(&line, "def\n");
    assert_eq!(out.code(), 7, "{}\n{}{}", out.desc, out.stdout, out.stderr);
    for want in ["/dev/pts/", "got=def"] {
        assert!(out.stdout.contains(want), "{want} not in {:?}", out.stdout);
    }
    d.docker(&["rm", "-f", &id]).ok();
    assert_gone(d, &id);
}

#[test]
fn docker_memory_limit_oom_is_reported() {
    let _alone = exclusive();
    let d = daemon();
    let name = unique_id("oom");
    let out = d.sh(
        &format!("--name {name} --memory 32m --memory-swap 32m"),
        // 2^28 bytes, doubled: far over the limit, yet bounded if the limit is missing.
        // The sleep first: containerd's runc shim starts watching memory.oom_control only
        // after Start returns, and an OOM kill before that is reported as a plain exit
        // (OOMKilled false) with any runtime.
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes; sleep 1; \
         x=a; i=0; while [ $i -lt 28 ]; do x=$x$x; i=$((i+1)); done",
    );
    assert_eq!(out.code(), 137, "{}\nstderr: {}", out.desc, out.stderr);
    assert_eq!(
        d.inspect(&name, "{{.State.OOMKilled}} {{.State.ExitCode}}"),
        "true 137",
        "docker inspect after the OOM kill"
    );
    assert_eq!(
        out.stdout.lines().next(),
        Some("33554432"),
        "{}",
        out.stderr
    );
    let id = d.inspect(&name, "{{.Id}}");
    d.docker(&["rm", &name]).ok();
    assert_gone(d, &id);
}

#[test]
fn docker_cpu_pids_cpuset_limits() {
    let _alone = shared();
    let d = daemon();
    let ncpu = std::thread::available_parallelism().map_or(1, |n| n.get());
    let cpu = (ncpu - 1).to_string();
    let flags =
        format!("--cpus 0.5 --cpu-shares 512 --pids-limit 20 --cpuset-cpus {cpu} --memory 64m");
    let id = d.run_d(&flags, &["sleep", "1000"]);
    // From the host: the container's cgroup files.
    assert_eq!(d.cgroup_file("cpu", &id, "cpu.cfs_quota_us"), "50000");
    assert_eq!(d.cgroup_file("cpu", &id, "cpu.cfs_period_us"), "100000");
    assert_eq!(d.cgroup_file("cpu", &id, "cpu.shares"), "512");
    assert_eq!(d.cgroup_file("pids", &id, "pids.max"), "20");
    assert_eq!(d.cgroup_file("cpuset", &id, "cpuset.cpus"), cpu);
    assert_eq!(
        d.cgroup_file("memory", &id, "memory.limit_in_bytes"),
        "67108864"
    );
    // From inside: the same files through the container's cgroup namespace, and the
    // affinity the cpuset gives.
    let out = d
        .exec_sh(
            &id,
            "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/pids/pids.max \
             /sys/fs/cgroup/cpuset/cpuset.cpus; grep Cpus_allowed_list /proc/self/status",
        )
        .ok();
    let allowed = format!("Cpus_allowed_list:\t{cpu}");
    let want = ["50000", "20", cpu.as_str(), allowed.as_str()];
    assert_eq!(out.stdout.lines().collect::<Vec<_>>(), want);
    // The pids limit bites: forks beyond 20 fail (ash gives up at the first failure),
    // and the cgroup counts the refusals.
    let out = d.exec_sh(&id, "while :; do sleep 30 & done");
    assert_ne!(out.code(), 0, "{}", out.desc);
    assert!(
        out.stderr.contains("can't fork"),
        "forks beyond the limit should fail: {}",
        out.stderr
    );
    let current: u32 = d.cgroup_file("pids", &id, "pids.current").parse().unwrap();
    assert!(current <= 20, "pids.current {current} over pids.max 20");
    let events = d.cgroup_file("pids", &id, "pids.events");
    let refused: u64 = events
        .strip_prefix("max ")
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("pids.events: {events:?}"));
    assert!(refused > 0, "pids.events: {events:?}");
    d.docker(&["rm", "-f", &id]).ok();
    assert_gone(d, &id);
}

#[test]
fn docker_capabilities_seccomp_privileged() {
    let _alone = shared();
    let d = daemon();
    let status = "cat /proc/self/status";
    // Docker's default set: CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID SETPCAP
    // NET_BIND_SERVICE NET_RAW SYS_CHROOT MKNOD AUDIT_WRITE SETFCAP.
    let out = d.sh("--rm", status).ok();
    assert_eq!(cap_eff(&out.stdout), 0xa80425fb, "{}", out.stdout);
    let out = d.sh("--rm --cap-drop ALL", status).ok();
    assert_eq!(cap_eff(&out.stdout), 0);
    let out = d
        .sh(
            "--rm --cap-drop ALL --cap-add CHOWN --cap-add NET_ADMIN",
            status,
        )
        .ok();
    assert_eq!(cap_eff(&out.stdout), (1 << 0) | (1 << 12));
    // CAP_CHOWN dropped: chown fails even as root.
    let out = d.sh("--rm --cap-drop CHOWN", "touch /f && chown 1 /f");
    assert_ne!(out.code(), 0, "chown without CAP_CHOWN succeeded");

    // Docker's default seccomp profile refuses unshare(CLONE_NEWUSER), which needs no
    // capability; unconfined, the same call succeeds.
    let script = "grep ^Seccomp: /proc/self/status; unshare -U true";
    let out = d.sh("--rm", script);
    assert_eq!(out.stdout, "Seccomp:\t2\n");
    assert_ne!(
        out.code(),
        0,
        "unshare -U allowed under docker's seccomp profile"
    );
    assert!(
        out.stderr.contains("Operation not permitted"),
        "{}",
        out.stderr
    );
    let out = d.sh("--rm --security-opt seccomp=unconfined", script).ok();
    assert_eq!(out.stdout, "Seccomp:\t0\n");

    // --privileged asks for every capability. Where root holds them all, the container
    // gets them, no seccomp and a writable /sys; where root lacks some (CAP_SYS_RESOURCE
    // on the development VM), no runtime can grant them: rt refuses, naming the missing
    // capability (runc refuses too, with "unable to apply caps").
    let host = fs::read_to_string("/proc/self/status").unwrap();
    let bnd = host
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .expect("CapBnd");
    let last: u32 = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .expect("cap_last_cap");
    let all = (1u64 << (last + 1)) - 1;
    let script = "cat /proc/self/status; touch /sys/kernel/uevent_helper && echo sys-rw";
    let out = d.sh("--rm --privileged", script);
    if bnd & all == all {
        let out = out.ok();
        // docker 20.10 knows capabilities 0..=37
        assert_eq!(
            cap_eff(&out.stdout),
            all & ((1 << 38) - 1),
            "{}",
            out.stdout
        );
        assert!(out.stdout.contains("Seccomp:\t0"), "{}", out.stdout);
        assert!(out.stdout.contains("sys-rw"), "{}", out.stdout);
    } else {
        assert_eq!(
            out.code(),
            125,
            "{}\n{}{}",
            out.desc,
            out.stdout,
            out.stderr
        );
        assert!(
            out.stderr.contains("not held by the runtime"),
            "rt should name the capability it lacks: {}",
            out.stderr
        );
        // What --privileged does, with the capabilities root has: all of them (docker
        // 20.10 knows capabilities 0..=37), no seccomp, a host device.
        let flags = "--rm --cap-add ALL --cap-drop SYS_RESOURCE --security-opt \
                     seccomp=unconfined --device /dev/loop-control";
        let out = d
            .sh(flags, "cat /proc/self/status; ls /dev/loop-control")
            .ok();
        let want = ((1u64 << 38) - 1) & !(1 << 24); // CAP_SYS_RESOURCE is 24
        assert_eq!(cap_eff(&out.stdout), want, "{:x}", cap_eff(&out.stdout));
        assert!(out.stdout.contains("Seccomp:\t0"), "{}", out.stdout);
        assert!(out.stdout.contains("/dev/loop-control"), "{}", out.stdout);
    }
}

#[test]
fn docker_filesystem_user_env_network() {
    let _alone = shared();
    let d = daemon();
    // --read-only root, with --tmpfs for scratch space.
    let out = d.sh(
        "--rm --read-only --tmpfs /scratch:size=1m",
        "echo x > /scratch/f && cat /scratch/f; grep ' /scratch ' /proc/mounts; touch /f",
    );
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

    // -v bind mounts: read-write reaches the host; :ro refuses writes.
    let host = d.dir.join(unique_id("bind"));
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("in"), "from-host\n").unwrap();
    let rw = format!("--rm -v {}:/data", host.display());
    let out = d.sh(&rw, "cat /data/in; echo from-ctr > /data/out").ok();
    assert_eq!(out.stdout, "from-host\n");
    assert_eq!(fs::read_to_string(host.join("out")).unwrap(), "from-ctr\n");
    let out = d.sh(&format!("{rw}:ro"), "echo x > /data/out2");
    assert_ne!(out.code(), 0);
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    assert!(!host.join("out2").exists());
    let _ = fs::remove_dir_all(&host);

    // --user, --hostname, --env, -w
    let out = d
        .sh(
            "--rm --user 1000:1000 --hostname rt-host -e FOO=bar -w /tmp",
            "echo $(id -u):$(id -g) $(hostname) $FOO $(pwd)",
        )
        .ok();
    assert_eq!(out.stdout, "1000:1000 rt-host bar /tmp\n");

    // --network none: a network namespace of its own, with only lo.
    let out = d
        .sh(
            "--rm",
            "readlink /proc/self/ns/net; tail -n +3 /proc/net/dev",
        )
        .ok();
    let mut lines = out.stdout.lines();
    let ns = lines.next().unwrap_or_default();
    let host_ns = fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        Path::new(ns),
        host_ns,
        "container shares the host network namespace"
    );
    let ifaces: Vec<&str> = lines
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(ifaces, ["lo"], "{}", out.stdout);
    let mode = d
        .docker(&["run", "-d", "--network", "none", IMAGE, "true"])
        .ok();
    let id = mode.stdout.trim();
    assert_eq!(d.inspect(id, "{{.HostConfig.NetworkMode}}"), "none");
    d.docker(&["rm", "-f", id]).ok();
    assert_gone(d, id);
}
