//! Hardening against known container-escape classes (see docs/security.md). Each test here
//! fails on a runtime without the guard it names.
use integration::*;
use serde_json::{json, Value};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

// ---------------------------------------------------------------------------------------
// CVE-2019-5736: /proc/<pid>/exe of rt
// ---------------------------------------------------------------------------------------

/// A private copy of the rt binary under test (a vulnerable rt must not destroy the build).
struct RtCopy {
    dir: PathBuf,
    bin: PathBuf,
}

impl RtCopy {
    fn new() -> RtCopy {
        let dir = std::env::temp_dir().join(unique_id("rt-copy"));
        fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("rt");
        fs::copy(rt_bin(), &bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        RtCopy { dir, bin }
    }

    fn cmd(&self, rt: &Rt) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--root").arg(&rt.root).stdin(Stdio::null());
        c
    }

    fn sha256(&self) -> String {
        let out = Command::new("sha256sum").arg(&self.bin).output().unwrap();
        assert!(out.status.success(), "sha256sum failed");
        String::from_utf8_lossy(&out.stdout)
            .split(' ')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

impl Drop for RtCopy {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// The attacker: a container with CAP_SYS_PTRACE, in the pid namespace of `victim_pid`
/// when `join` (then the victim is its pid 1) or else in the host's, that holds an O_PATH
/// handle on /proc/<victim>/exe and, once `go` exists, reopens it for writing. Started with
/// the rt under test (not the copy, whose text must not be busy).
struct Attacker {
    child: std::process::Child,
    shared: PathBuf,
    _bundle: Bundle,
}

impl Attacker {
    fn start(rt: &Rt, victim_pid: i64, join: bool) -> Attacker {
        let mut b = Bundle::busybox(&[]);
        let shared = b.dir.join("shared");
        fs::create_dir_all(&shared).unwrap();
        let target = if join {
            b.set_namespace("pid", Some(&format!("/proc/{victim_pid}/ns/pid")));
            "1".to_string()
        } else {
            b.remove_namespace("pid");
            victim_pid.to_string()
        };
        b.set_args(&[
            "/bin/rt-probe",
            "overwrite-exe",
            &target,
            "/shared/ready",
            "/shared/go",
        ]);
        b.add_mount(json!({"destination": "/shared", "type": "bind",
            "source": shared.to_str().unwrap(), "options": ["rbind", "rw"]}));
        for set in ["bounding", "effective", "permitted"] {
            b.config["process"]["capabilities"][set]
                .as_array_mut()
                .unwrap()
                .push(json!("CAP_SYS_PTRACE"));
        }
        b.save();
        let id = unique_id("attacker");
        let child = rt
            .cmd()
            .args(["run", "--bundle", b.dir_str(), &id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        Attacker {
            child,
            shared,
            _bundle: b,
        }
    }

    fn wait_ready(&mut self) {
        let ready = self.shared.join("ready");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            if let Ok(Some(_)) = self.child.try_wait() {
                let out = self.child.wait_with_output_ref();
                panic!("the attacker container ended before it was ready: {out}");
            }
            assert!(Instant::now() < deadline, "attacker never got ready");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Lets it try the write; returns its report.
    fn go(mut self) -> Value {
        fs::write(self.shared.join("go"), "").unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            assert!(Instant::now() < deadline, "attacker never finished");
            std::thread::sleep(Duration::from_millis(10));
        }
        let out = self.child.wait_with_output_ref();
        serde_json::from_str(out.lines().next().unwrap_or_default())
            .unwrap_or_else(|e| panic!("attacker output is not JSON ({e}): {out}"))
    }
}

trait OutputRef {
    fn wait_with_output_ref(&mut self) -> String;
}

impl OutputRef for std::process::Child {
    fn wait_with_output_ref(&mut self) -> String {
        use std::io::Read;
        let mut s = String::new();
        if let Some(o) = self.stdout.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        let mut e = String::new();
        if let Some(o) = self.stderr.as_mut() {
            let _ = o.read_to_string(&mut e);
        }
        let _ = self.wait();
        format!(
            "{s}{}",
            if e.is_empty() {
                String::new()
            } else {
                format!("\nstderr: {e}")
            }
        )
    }
}

fn assert_exe_untouched(report: &Value, copy: &RtCopy, sha: &str) {
    assert_eq!(
        report["opath"]["ok"], true,
        "the attacker could not even open /proc/<pid>/exe (the test proves nothing): {report}"
    );
    assert_eq!(
        report["ok"], false,
        "the container wrote to the host's rt binary through /proc/<pid>/exe: {report}"
    );
    assert_eq!(copy.sha256(), sha, "the rt binary changed: {report}");
    // Refused because the mount is read-only, not by luck (e.g. ETXTBSY while rt runs).
    assert_eq!(report["open"]["errno"], libc::EROFS, "{report}");
}

/// The init (a clone of rt, waiting for `start`) is pid 1: a container in its pid
/// namespace holds /proc/1/exe and writes through it once rt is gone.
#[test]
fn proc_self_exe_of_the_init_is_not_writable() {
    let rt = Rt::new();
    let copy = RtCopy::new();
    let sha = copy.sha256();
    let victim = Bundle::busybox(&["sleep", "30"]);
    let id = unique_id("victim");
    let a = ["create", "--bundle", victim.dir_str(), &id];
    let out = output_with_timeout(copy.cmd(&rt).args(a), cmd_timeout());
    assert!(out.status.success(), "{}", describe(&a, &out));
    let pid = rt.state(&id)["pid"].as_i64().unwrap();

    let mut attacker = Attacker::start(&rt, pid, true);
    attacker.wait_ready();
    // The init execs the container process: no rt (of the copy) runs any more.
    let a = ["start", &id];
    let out = output_with_timeout(copy.cmd(&rt).args(a), cmd_timeout());
    assert!(out.status.success(), "{}", describe(&a, &out));
    let report = attacker.go();
    rt.ok(&["delete", "-f", &id]);
    assert_exe_untouched(&report, &copy, &sha);
}

/// Without a pid namespace the container sees rt itself: `rt run` in the foreground stays,
/// the container's parent, until the container ends. A container in the host's pid
/// namespace holds /proc/<rt>/exe and writes through it once rt is gone.
#[test]
fn rt_itself_is_sealed_when_the_container_shares_its_pid_namespace() {
    let rt = Rt::new();
    let copy = RtCopy::new();
    let sha = copy.sha256();
    let mut victim = Bundle::busybox(&["sleep", "60"]);
    victim.remove_namespace("pid");
    victim.save();
    let id = unique_id("victim");
    let mut run = copy
        .cmd(&rt)
        .args(["run", "--bundle", victim.dir_str(), &id])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = rt.cmd().args(["state", &id]).output().unwrap();
        let running =
            serde_json::from_slice::<Value>(&out.stdout).is_ok_and(|v| v["status"] == "running");
        if running {
            break;
        }
        if let Ok(Some(st)) = run.try_wait() {
            panic!("rt run of the victim ended early: {st}");
        }
        assert!(Instant::now() < deadline, "the victim never ran");
        std::thread::sleep(Duration::from_millis(10));
    }
    let rt_pid = i64::from(run.id());
    let exe_ino = fs::metadata(format!("/proc/{rt_pid}/exe"))
        .map(|m| m.ino())
        .ok();
    let mut attacker = Attacker::start(&rt, rt_pid, false);
    attacker.wait_ready();
    rt.ok(&["kill", &id, "KILL"]);
    let status = run.wait().unwrap();
    let report = attacker.go();
    let _ = rt.cmd().args(["delete", "-f", &id]).output();
    assert!(!status.success(), "rt run of the killed victim exited 0");
    assert_eq!(
        exe_ino,
        fs::metadata(&copy.bin).map(|m| m.ino()).ok(),
        "the victim's rt was not the copy under test: {report}"
    );
    assert_exe_untouched(&report, &copy, &sha);
}

/// A pipe whose buffer is full: whoever writes to it blocks.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let (r, w) = nix::unistd::pipe().unwrap();
    let fd = w.as_raw_fd();
    // SAFETY: fcntl on our own fd.
    let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    unsafe { libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) };
    let buf = [b'x'; 4096];
    // SAFETY: valid buffer.
    while unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) } > 0 {}
    // SAFETY: as above (blocking again, for the container's writes).
    unsafe { libc::fcntl(fd, libc::F_SETFL, fl) };
    (r, w)
}

/// The entrypoint `#!/proc/self/exe` makes the init exec the rt binary itself as the
/// container process; it stays (blocked writing its usage error to a full pipe) while a
/// container in the host's pid namespace (so that killing the victim does not end it)
/// takes /proc/<pid>/exe, and is killed before the write. The victim has its own pid
/// namespace: only the init's own re-exec protects it (not rt's, see the next test).
#[test]
fn shebang_proc_self_exe_entrypoint_cannot_overwrite_rt() {
    let rt = Rt::new();
    let copy = RtCopy::new();
    let sha = copy.sha256();
    let victim = Bundle::busybox(&["/entry"]);
    fs::write(victim.rootfs().join("entry"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(
        victim.rootfs().join("entry"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    victim.save();
    let id = unique_id("victim");
    let (_r, w) = full_pipe();
    let a = ["run", "-d", "--bundle", victim.dir_str(), &id];
    let status = copy
        .cmd(&rt)
        .args(a)
        .stdout(Stdio::from(w.try_clone().unwrap()))
        .stderr(Stdio::from(w))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "rt run -d of the #!/proc/self/exe entrypoint failed"
    );
    let pid = rt.state(&id)["pid"].as_i64().unwrap();
    let mut attacker = Attacker::start(&rt, pid, false);
    attacker.wait_ready();
    let exe_ino = fs::metadata(format!("/proc/{pid}/exe"))
        .map(|m| m.ino())
        .ok();
    let copy_ino = fs::metadata(&copy.bin).map(|m| m.ino()).ok();
    rt.ok(&["kill", &id, "KILL"]);
    rt.wait_status(&id, "stopped");
    let report = attacker.go();
    rt.ok(&["delete", "-f", &id]);
    assert_eq!(
        exe_ino, copy_ino,
        "the container process was not the rt binary: {report}"
    );
    assert_exe_untouched(&report, &copy, &sha);
}

/// The same through `rt exec`: its child is a clone of rt too; `rt exec -d` of a
/// `#!/proc/self/exe` script makes the exec'd process the rt binary.
#[test]
fn exec_of_a_shebang_proc_self_exe_cannot_overwrite_rt() {
    let rt = Rt::new();
    let copy = RtCopy::new();
    let sha = copy.sha256();
    let mut victim = Bundle::busybox(&["sleep", "60"]);
    victim.remove_namespace("pid");
    fs::write(victim.rootfs().join("entry"), "#!/proc/self/exe\n").unwrap();
    fs::set_permissions(
        victim.rootfs().join("entry"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    victim.save();
    let id = unique_id("victim");
    rt.ok(&["run", "-d", "--bundle", victim.dir_str(), &id]);
    let pid_file = victim.dir.join("exec.pid");
    let (_r, w) = full_pipe();
    let a = [
        "exec",
        "-d",
        "--pid-file",
        pid_file.to_str().unwrap(),
        &id,
        "/entry",
    ];
    let status = copy
        .cmd(&rt)
        .args(a)
        .stdout(Stdio::from(w.try_clone().unwrap()))
        .stderr(Stdio::from(w))
        .status()
        .unwrap();
    assert!(
        status.success(),
        "rt exec -d of the #!/proc/self/exe script failed"
    );
    let pid: i64 = fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let mut attacker = Attacker::start(&rt, pid, false);
    attacker.wait_ready();
    let exe_ino = fs::metadata(format!("/proc/{pid}/exe"))
        .map(|m| m.ino())
        .ok();
    let copy_ino = fs::metadata(&copy.bin).map(|m| m.ino()).ok();
    // SAFETY: kill(2) of the exec'd process (the rt binary blocked on a full pipe).
    unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    let deadline = Instant::now() + Duration::from_secs(10);
    while fs::metadata(format!("/proc/{pid}/exe")).is_ok() {
        assert!(
            Instant::now() < deadline,
            "exec'd process {pid} did not die"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let report = attacker.go();
    rt.ok(&["delete", "-f", &id]);
    assert_eq!(
        exe_ino, copy_ino,
        "the exec'd process was not the rt binary: {report}"
    );
    assert_exe_untouched(&report, &copy, &sha);
}

// ---------------------------------------------------------------------------------------
// CVE-2024-21626: leaked fds, process.cwd through /proc/self/fd/N
// ---------------------------------------------------------------------------------------

/// The fd numbers the probe saw open (its own directory handle excluded by the probe).
fn fd_numbers(p: &Value) -> Vec<u64> {
    let mut v: Vec<u64> = p["fds"]
        .as_object()
        .unwrap_or_else(|| panic!("no fds in {p}"))
        .keys()
        .filter_map(|k| k.parse().ok())
        .collect();
    v.sort();
    v
}

/// create + start (stdout into a file), run, and exec: only stdio reaches the container.
#[test]
fn only_stdio_reaches_the_container() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/rt-probe"]);
    let id = unique_id("fds");
    let p = probe_id(&rt, &mut b, &id, &[]);
    assert_eq!(fd_numbers(&p), [0, 1, 2], "run: {}", p["fds"]);

    let out_path = b.dir.join("out.json");
    let out = fs::File::create(&out_path).unwrap();
    let id = unique_id("fds");
    let a = ["create", "--bundle", b.dir_str(), &id];
    let status = rt
        .cmd()
        .args(a)
        .stdout(Stdio::from(out))
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "rt create failed");
    rt.ok(&["start", &id]);
    rt.wait_status(&id, "stopped");
    rt.ok(&["delete", &id]);
    let p: Value = serde_json::from_str(&fs::read_to_string(&out_path).unwrap()).unwrap();
    assert_eq!(fd_numbers(&p), [0, 1, 2], "create/start: {}", p["fds"]);

    b.set_args(&["sleep", "30"]);
    b.save();
    let id = unique_id("fds");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    let p = exec_probe(&rt, &id, &[]);
    rt.ok(&["delete", "-f", &id]);
    assert_eq!(fd_numbers(&p), [0, 1, 2], "exec: {}", p["fds"]);
}

/// A cwd of /proc/self/fd/N must never land in a directory outside the container: for
/// every N either rt refuses it or the probe's cwd is reachable from its root.
#[test]
fn cwd_through_proc_self_fd_never_escapes() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["sleep", "30"]);
    let id = unique_id("cwd");
    rt.ok(&["run", "-d", "--bundle", b.dir_str(), &id]);
    for n in 3..=12 {
        let cwd = format!("/proc/self/fd/{n}");
        // run (create + start in one)
        b.set_args(&["/bin/rt-probe"]);
        b.config["process"]["cwd"] = json!(cwd);
        b.save();
        let run_id = unique_id("cwd");
        let out = rt.run(&["run", "--bundle", b.dir_str(), &run_id]);
        check_cwd(&out, &cwd, "run");
        let _ = rt.run(&["delete", "-f", &run_id]);
        // exec
        let out = rt.run(&["exec", "--cwd", &cwd, &id, "/bin/rt-probe"]);
        check_cwd(&out, &cwd, "exec");
    }
    rt.ok(&["delete", "-f", &id]);
}

fn check_cwd(out: &std::process::Output, cwd: &str, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        assert!(
            stderr.contains("process.cwd") || stderr.contains("cwd"),
            "{what} with cwd {cwd}: failed, but not on the cwd: {stderr}"
        );
        return;
    }
    let p: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{what} with cwd {cwd}: not JSON ({e}): {stdout} {stderr}"));
    let got = p["cwd"].as_str().unwrap_or_default();
    assert!(
        got.starts_with('/') && !got.contains("unreachable"),
        "{what} with cwd {cwd}: the process runs in a directory outside the container \
         (getcwd: {got:?}, fds: {})",
        p["fds"]
    );
}

// ---------------------------------------------------------------------------------------
// CVE-2021-30465 / CVE-2025-52881: mount destinations under a racing symlink
// ---------------------------------------------------------------------------------------

/// Mount points (field 5) of a mountinfo file.
fn mount_points(path: &str) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .collect()
}

/// While containers are created one after the other, a thread swaps `rootfs/race`
/// between a directory and a symlink to `/` (renameat2 RENAME_EXCHANGE). Each create
/// stops just before pivot_root (rt --debug, RT_TEST_STOP_AT), where the init still sees
/// the host's tree: none of its mounts may be where `race` → `/` would put them.
#[test]
fn mount_destination_under_a_racing_symlink_stays_inside() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["true"]);
    let rootfs = b.rootfs();
    fs::create_dir_all(rootfs.join("race/mnt")).unwrap();
    std::os::unix::fs::symlink("/", rootfs.join("race-alt")).unwrap();
    b.add_mount(
        json!({"destination": "/race/mnt", "type": "tmpfs", "source": "tmpfs",
        "options": ["size=64k"]}),
    );
    b.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/race/mnt/masked"));
    b.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/race/mnt"));
    b.save();
    let host: std::collections::HashSet<String> =
        mount_points("/proc/self/mountinfo").into_iter().collect();
    let root_prefix = rootfs.to_string_lossy().into_owned();

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let swapper = {
        let stop = stop.clone();
        let a = std::ffi::CString::new(rootfs.join("race").to_str().unwrap()).unwrap();
        let z = std::ffi::CString::new(rootfs.join("race-alt").to_str().unwrap()).unwrap();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: two valid C strings.
                let r = unsafe {
                    libc::syscall(
                        libc::SYS_renameat2,
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        z.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    )
                };
                assert_eq!(r, 0, "renameat2: {}", std::io::Error::last_os_error());
                n += 1;
            }
            n
        })
    };
    let mut escaped = Vec::new();
    let mut made = 0;
    for _ in 0..40 {
        let id = unique_id("race");
        let mut child = rt
            .cmd()
            .args(["--debug", "create", "--bundle", b.dir_str(), &id])
            .env("RT_TEST_STOP_AT", "init: before pivot_root")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines =
            std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
        let mut seen = vec![];
        let mut at_stage = false;
        for l in lines.by_ref().map_while(Result::ok) {
            at_stage = l.contains("msg=\"init: before pivot_root\"");
            seen.push(l);
            if at_stage {
                break;
            }
        }
        if at_stage {
            made += 1;
            let out = rt.run(&["state", &id]);
            if !out.status.success() {
                let _ = child.kill();
                let _ = child.wait();
                seen.extend(lines.map_while(Result::ok));
                panic!(
                    "rt state {id} while its create is stopped: {}\ncreate's log:\n{}",
                    String::from_utf8_lossy(&out.stderr),
                    seen.join("\n")
                );
            }
            let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let pid = st["pid"].as_i64().unwrap();
            // Where the destination, the masked and the readonly path land if `race` is
            // followed to the host's /: /mnt, /mnt/masked. (Other mounts the init's copy
            // of the host's namespace may show are other users' of the machine.)
            for mp in mount_points(&format!("/proc/{pid}/mountinfo")) {
                let ours = mp == "/mnt" || mp.starts_with("/mnt/") || mp.starts_with("/race");
                if ours && !host.contains(&mp) && !mp.starts_with(&root_prefix) {
                    escaped.push(mp);
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
        rt.ok(&["delete", "-f", &id]);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let swaps = swapper.join().unwrap();
    assert!(made > 0, "no create reached the mounts ({swaps} swaps)");
    assert!(
        escaped.is_empty(),
        "mounts made outside the rootfs ({made} creates, {swaps} swaps): {escaped:?}"
    );
}

// ---------------------------------------------------------------------------------------
// CVE-2025-52565: /dev/console; CVE-2025-31133: /dev/null; writes only to procfs
// ---------------------------------------------------------------------------------------

/// Without a /dev tmpfs the rootfs's own /dev is used: a /dev/console symlink to a file
/// of the image must not get the terminal mounted over that file.
#[test]
fn dev_console_symlink_is_not_followed() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/rt-probe"]);
    b.config["process"]["terminal"] = json!(true);
    b.config["mounts"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["destination"] != "/dev");
    b.set_readonly(false);
    let rootfs = b.rootfs();
    fs::create_dir_all(rootfs.join("dev")).unwrap();
    let _ = fs::remove_file(rootfs.join("dev/console"));
    fs::write(rootfs.join("etc/secret"), "s3cret").unwrap();
    std::os::unix::fs::symlink("/etc/secret", rootfs.join("dev/console")).unwrap();
    b.save();
    let id = unique_id("console");
    let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
    let _ = rt.run(&["delete", "-f", &id]);
    let text = String::from_utf8_lossy(&out.stdout);
    let p: Value = text
        .lines()
        .find_map(|l| serde_json::from_str(l.trim()).ok())
        .unwrap_or_else(|| panic!("no probe JSON: {}", describe(&["run"], &out)));
    let mounts: Vec<&str> = p["mountinfo"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["mount_point"].as_str())
        .collect();
    assert!(
        !mounts.contains(&"/etc/secret"),
        "the terminal was mounted over the symlink's target: {mounts:?}"
    );
    assert!(mounts.contains(&"/dev/console"), "{mounts:?}");
    assert_eq!(
        fs::read_to_string(rootfs.join("etc/secret")).unwrap(),
        "s3cret"
    );
}

// ---------------------------------------------------------------------------------------
// CVE-2025-52881: rt's /proc writes redirected by a mount over a /proc file
// ---------------------------------------------------------------------------------------

/// `cat <file>` in the uts and ipc namespaces of `pid`, through the host's /proc (sysctls
/// of those namespaces read there are the container's).
fn ns_sysctl(pid: i64, file: &str) -> String {
    let out = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-u", "-i", "cat", file])
        .output()
        .expect("spawning nsenter (util-linux)");
    assert!(out.status.success(), "nsenter cat {file}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether `p` (followed, magic links too) is on procfs.
fn on_procfs(p: &std::path::Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(p.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: statfs only writes into the zeroed buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and buffer.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type == libc::PROC_SUPER_MAGIC }
}

/// A mount over a /proc file rt writes (a sysctl, oom_score_adj) never redirects the
/// write: the decoy (a host file, a directory of files over /proc/sys, or another procfs
/// file, whose writes procfs would accept) is untouched and the value lands in the real
/// target. rt writes through its own procfs (fsopen), where no such mount exists. With
/// and without a user namespace (there only the ipc sysctl cases, see below).
#[test]
fn proc_writes_are_not_redirected_by_mounts_over_proc() {
    let rt = Rt::new();
    // (name, mount source or "" for a host file, destination)
    let cases: [(&str, &str, &str); 5] = [
        ("file-over-sysctl", "", "/proc/sys/kernel/shmmax"),
        ("dir-over-proc-sys", "", "/proc/sys"),
        (
            "procfs-over-sysctl",
            "/proc/sys/kernel/shmall",
            "/proc/sys/kernel/shmmax",
        ),
        (
            "procfs-over-uts-sysctl",
            "/proc/sys/kernel/hostname",
            "/proc/sys/kernel/domainname",
        ),
        (
            "procfs-over-oom_score_adj",
            "/proc/sys/kernel/shmall",
            "/proc/1/oom_score_adj",
        ),
    ];
    let shmall_before = fs::read_to_string("/proc/sys/kernel/shmall").unwrap();
    let mut failures = Vec::new();
    for (userns, (name, source, dest)) in [false, true]
        .into_iter()
        .flat_map(|u| cases.map(|c| (u, c)))
    {
        // Not in a user namespace: the uts sysctls belong to the host's root there, and
        // oomScoreAdj fails there for every rt build so far (the init is not dumpable
        // after setresuid, so its /proc files belong to the host's root).
        if userns && (name == "procfs-over-uts-sysctl" || name == "procfs-over-oom_score_adj") {
            continue;
        }
        let name = format!("{name}{}", if userns { " (user namespace)" } else { "" });
        let mut b = Bundle::busybox(&["true"]);
        if userns {
            b.set_namespace("user", None);
            for m in ["uidMappings", "gidMappings"] {
                b.config["linux"][m] =
                    json!([{ "containerID": 0, "hostID": 100000, "size": 65536 }]);
            }
        }
        let decoy = b.dir.join("decoy");
        let source = match (source, dest) {
            ("", "/proc/sys") => {
                fs::create_dir_all(decoy.join("kernel")).unwrap();
                for f in ["domainname", "shmmax", "shmall"] {
                    fs::write(decoy.join("kernel").join(f), "orig").unwrap();
                }
                decoy.to_str().unwrap().to_string()
            }
            ("", _) => {
                fs::write(&decoy, "orig").unwrap();
                decoy.to_str().unwrap().to_string()
            }
            (s, _) => s.to_string(),
        };
        b.add_mount(json!({"destination": dest, "type": "bind",
            "source": source, "options": ["rbind", "rw"]}));
        b.config["linux"]["readonlyPaths"]
            .as_array_mut()
            .unwrap()
            .retain(|p| p != "/proc/sys");
        b.config["hostname"] = json!("rt-real-hostname");
        let oom = dest == "/proc/1/oom_score_adj";
        if oom {
            b.config["process"]["oomScoreAdj"] = json!(7);
        } else if userns {
            b.config["linux"]["sysctl"] = json!({"kernel.shmmax": "12345"});
        } else {
            b.config["linux"]["sysctl"] =
                json!({"kernel.domainname": "rt-sysctl-value", "kernel.shmmax": "12345"});
        }
        b.save();
        let id = unique_id("procw");
        let out = rt.run(&["create", "--bundle", b.dir_str(), &id]);
        let pid = if out.status.success() {
            rt.state(&id)["pid"].as_i64().unwrap_or(0)
        } else {
            0
        };
        let seen = (pid > 0).then(|| {
            let [h, d, m, a] = ["hostname", "domainname", "shmmax", "shmall"]
                .map(|f| ns_sysctl(pid, &format!("/proc/sys/kernel/{f}")));
            let o = fs::read_to_string(format!("/proc/{pid}/oom_score_adj")).unwrap_or_default();
            (h, d, m, a, o.trim().to_string())
        });
        // rt's procfs (no masks) is closed before `create` returns.
        let procfs_fds: Vec<String> = fs::read_dir(format!("/proc/{pid}/fd"))
            .map(|d| d.flatten().map(|e| e.path()).collect::<Vec<_>>())
            .unwrap_or_default()
            .into_iter()
            .filter(|p| on_procfs(p))
            .map(|p| p.display().to_string())
            .collect();
        if !procfs_fds.is_empty() {
            failures.push(format!("{name}: the init holds procfs fds {procfs_fds:?}"));
        }
        let _ = rt.run(&["delete", "-f", &id]);
        let files = ["domainname", "shmmax", "shmall"].map(|f| decoy.join("kernel").join(f));
        for f in std::iter::once(&decoy).chain(files.iter()) {
            if f.is_file() && fs::read_to_string(f).unwrap() != "orig" {
                failures.push(format!("{name}: rt wrote into the decoy {}", f.display()));
            }
        }
        if !out.status.success() {
            failures.push(format!("{name}: {}", describe(&["create"], &out)));
            continue;
        }
        let (hostname, domainname, shmmax, shmall, oom_adj) = seen.unwrap_or_default();
        // The procfs decoys: hostname (uts case), shmall (the others).
        let mut expect = vec![
            (
                "hostname (a decoy)",
                hostname,
                "rt-real-hostname".to_string(),
            ),
            ("shmall (a decoy)", shmall, shmall_before.trim().to_string()),
        ];
        if oom {
            expect.push(("oom_score_adj", oom_adj, "7".into()));
        } else {
            expect.push(("kernel.shmmax", shmmax, "12345".into()));
            if !userns {
                expect.push(("kernel.domainname", domainname, "rt-sysctl-value".into()));
            }
        }
        for (what, got, want) in expect {
            if got != want {
                failures.push(format!("{name}: {what} reads {got:?}, not {want:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// An image whose /dev/null is a regular file or a symlink to a file (no /dev tmpfs):
/// masking must still bind the real null device (char 1:3), never that file.
#[test]
fn masking_uses_the_real_null_device() {
    let rt = Rt::new();
    for fake in ["file", "symlink"] {
        let mut b = Bundle::busybox(&["/bin/rt-probe", "read", "/etc/masked"]);
        b.config["mounts"]
            .as_array_mut()
            .unwrap()
            .retain(|m| m["destination"] != "/dev");
        b.set_readonly(false);
        b.config["linux"]["maskedPaths"]
            .as_array_mut()
            .unwrap()
            .push(json!("/etc/masked"));
        let rootfs = b.rootfs();
        fs::create_dir_all(rootfs.join("dev")).unwrap();
        let _ = fs::remove_file(rootfs.join("dev/null"));
        fs::write(rootfs.join("etc/masked"), "masked-secret").unwrap();
        fs::write(rootfs.join("etc/fake-null"), "fake-null").unwrap();
        match fake {
            "file" => fs::write(rootfs.join("dev/null"), "fake-null").unwrap(),
            _ => std::os::unix::fs::symlink("/etc/fake-null", rootfs.join("dev/null")).unwrap(),
        }
        b.save();
        let id = unique_id("null");
        let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
        let _ = rt.run(&["delete", "-f", &id]);
        assert!(out.status.success(), "{fake}: {}", describe(&["run"], &out));
        let p: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Empty, or EACCES where the bundle is on a nodev filesystem (the device node rt
        // made there cannot be opened; a bind of the fake file would read it).
        assert!(
            p["data"] == "" || p["errno"] == libc::EACCES,
            "{fake}: the masked file reads {p}"
        );
        assert_eq!(
            fs::read_to_string(rootfs.join("etc/fake-null")).unwrap(),
            "fake-null",
            "{fake}"
        );
    }
}

/// The null device rt binds over masked files may sit on a nodev mount: here a /dev tmpfs
/// mounted nodev (as with an image without a /dev tmpfs whose rootfs is on a nodev
/// filesystem, e.g. a bundle under a Docker `--tmpfs /tmp`), where the device node rt makes
/// cannot be opened as a device. Masking must still work: rt only checks and clones the node
/// (O_PATH); an rt that opens /dev/null to check it fails the whole create with EACCES.
#[test]
fn masking_works_with_the_null_device_on_a_nodev_mount() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["/bin/rt-probe", "read", "/etc/masked"]);
    for m in b.config["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("nodev"));
        }
    }
    b.set_readonly(false);
    b.config["linux"]["maskedPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/etc/masked"));
    fs::write(b.rootfs().join("etc/masked"), "masked-secret").unwrap();
    b.save();
    let id = unique_id("nodev");
    let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
    let _ = rt.run(&["delete", "-f", &id]);
    assert!(out.status.success(), "{}", describe(&["run"], &out));
    let p: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The bind keeps the nodev of the mount it was cloned from: reading gives EACCES.
    assert!(
        p["data"] == "" || p["errno"] == libc::EACCES,
        "the masked file reads {p}"
    );
}

/// A config mount over `/proc/1/fd` (a host directory of symlinks `0`..`255`) makes every
/// `/proc/self/fd/N` of the container's /proc resolve elsewhere (here to the container's
/// exec fifo, rt's state directory bound in, so that the init's reopen of the fifo still
/// works). maskedPaths and readonlyPaths are mounted onto fds (open_tree, fsmount,
/// move_mount): the masked file and directory must be masked, the read-only directory
/// read-only, and the rest of the rootfs (not root.readonly) still writable. Each list is
/// checked alone: mounts through `/proc/self/fd/N` leave the masked paths silently
/// unmasked, and fail the read-only path with EINVAL.
#[test]
fn masked_and_readonly_paths_do_not_go_through_proc() {
    let rt = Rt::new();
    fs::create_dir_all(&rt.root).unwrap();
    let script = "cat /etc/masked; ls /etc/maskdir; \
                  touch /etc/rodir/x 2>/dev/null && echo ro-writable; \
                  touch /etc/rwfile && echo rw-ok";
    let cases = [
        (
            "masked",
            json!(["/etc/masked", "/etc/maskdir"]),
            json!([]),
            "ro-writable\nrw-ok",
        ),
        (
            "readonly",
            json!([]),
            json!(["/etc/rodir"]),
            "masked-secret\nhidden\nrw-ok",
        ),
    ];
    for (what, masked, readonly, want) in cases {
        let id = unique_id("procfd");
        let mut b = Bundle::busybox(&["sh", "-c", script]);
        b.set_readonly(false);
        let rootfs = b.rootfs();
        fs::write(rootfs.join("etc/masked"), "masked-secret\n").unwrap();
        fs::create_dir_all(rootfs.join("etc/maskdir")).unwrap();
        fs::write(rootfs.join("etc/maskdir/hidden"), "h").unwrap();
        fs::create_dir_all(rootfs.join("etc/rodir")).unwrap();
        fs::create_dir_all(rootfs.join("state")).unwrap();
        let fake = b.dir.join("fake-fd");
        fs::create_dir_all(&fake).unwrap();
        let fifo = format!("/state/{id}/exec.fifo");
        for n in 0..256 {
            std::os::unix::fs::symlink(&fifo, fake.join(n.to_string())).unwrap();
        }
        let mounts = b.config["mounts"].as_array_mut().unwrap();
        mounts.push(json!({"destination": "/state", "type": "bind",
            "source": rt.root.to_str().unwrap(), "options": ["rbind"]}));
        mounts.push(json!({"destination": "/proc/1/fd", "type": "bind",
            "source": fake.to_str().unwrap(), "options": ["rbind", "ro"]}));
        let linux = &mut b.config["linux"];
        linux["maskedPaths"] = masked;
        linux["readonlyPaths"] = readonly;
        let has_pidns = linux["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "pid");
        assert!(
            has_pidns,
            "the test needs the init to be pid 1 of its /proc"
        );
        b.save();
        let out = rt.run(&["run", "--bundle", b.dir_str(), &id]);
        let _ = rt.run(&["delete", "-f", &id]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{what}: run failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), want, "{what}");
    }
}
