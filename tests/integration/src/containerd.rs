//! A private containerd for tests: Debian's containerd 1.6 with its own root, state, gRPC
//! and ttrpc sockets and a config with the CRI plugin disabled, started by the test with a
//! PATH holding rt's shim (`containerd-shim-rt-v2`) and rt, and stopped by its pid. Images
//! come from a busybox OCI archive built here from busybox-static (layer tar, config,
//! manifest, index.json, sha256 digests) and imported with `ctr images import`: nothing is
//! pulled.
//!
//! containerd is installed by hack/containerd-setup.sh when missing; if that fails the test
//! fails.
use crate::{check_fresh, rt_bin, target_bin, unique_id};
use std::fs;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The image every test imports.
pub const IMAGE: &str = "docker.io/rt-test/busybox:latest";
/// How long one ctr command may take before the test fails.
pub const CTR_TIMEOUT: Duration = Duration::from_secs(120);

/// `$RT_SHIM_BIN`, else the workspace-built `containerd-shim-rt-v2` (newer than shim/).
pub fn shim_bin() -> PathBuf {
    static FRESH: OnceLock<()> = OnceLock::new();
    let p = target_bin("RT_SHIM_BIN", "containerd-shim-rt-v2");
    if std::env::var_os("RT_SHIM_BIN").is_none() {
        FRESH.get_or_init(|| check_fresh(&p, &["shim/src", "shim/Cargo.toml"]));
    }
    p
}

/// Installs containerd once per test process (hack/containerd-setup.sh), loudly.
pub fn ensure_containerd() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let found = ["containerd", "ctr", "containerd-shim-runc-v2"]
            .iter()
            .all(|c| which(c).is_some())
            && Path::new("/usr/lib/cni/static").is_file();
        crate::client::install_unless(found, "containerd-setup.sh");
    });
}

pub fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("sha256sum {}: {e}", path.display()));
    assert!(out.status.success(), "sha256sum {} failed", path.display());
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_else(|| panic!("sha256sum {}: no output", path.display()))
        .to_owned()
}

/// Moves `file` into the layout's blobs, returns (digest, size).
fn add_blob(layout: &Path, file: &Path) -> (String, u64) {
    let sum = sha256(file);
    let size = fs::metadata(file).map(|m| m.len()).unwrap_or(0);
    let dest = layout.join("blobs/sha256").join(&sum);
    fs::rename(file, &dest).unwrap_or_else(|e| panic!("rename {}: {e}", file.display()));
    (format!("sha256:{sum}"), size)
}

fn run_ok(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// An OCI image layout tar of a busybox-static rootfs (one uncompressed layer), built once
/// per test process under `$TMPDIR/rt-test-bundles/`.
pub fn busybox_archive() -> PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| oci_archive("busybox", &[(IMAGE, serde_json::json!(["sh"]))]))
        .clone()
}

/// The CRI plugin's sandbox ("pause") image: busybox sleeping forever. Imported with
/// [`busybox_archive`]'s image by [`Containerd::import_cri_images`].
pub const PAUSE_IMAGE: &str = "docker.io/rt-test/pause:latest";

/// One archive holding [`IMAGE`] and [`PAUSE_IMAGE`] (same layer, different Cmd).
pub fn cri_archive() -> PathBuf {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE
        .get_or_init(|| {
            oci_archive(
                "cri",
                &[
                    (IMAGE, serde_json::json!(["sh"])),
                    (
                        PAUSE_IMAGE,
                        serde_json::json!(["/bin/busybox", "sleep", "2147483647"]),
                    ),
                ],
            )
        })
        .clone()
}

/// An OCI image layout tar: one busybox-static layer shared by `images` (name, Cmd).
fn oci_archive(tag: &str, images: &[(&str, serde_json::Value)]) -> PathBuf {
    let dir = std::env::temp_dir()
        .join("rt-test-bundles")
        .join(format!("oci-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let layout = dir.join("layout");
    fs::create_dir_all(layout.join("blobs/sha256")).expect("mkdir layout");
    fs::create_dir_all(&dir).expect("mkdir archive dir");
    let layer = crate::client::busybox_image_tar(&dir);
    let (ldigest, lsize) = add_blob(&layout, &layer);
    let mut manifests = Vec::new();
    for (i, (name, cmd)) in images.iter().enumerate() {
        let config = serde_json::json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/bin"], "Cmd": cmd},
            "rootfs": {"type": "layers", "diff_ids": [ldigest]},
        });
        let cfg = dir.join(format!("config{i}.json"));
        fs::write(&cfg, config.to_string()).expect("write config");
        let (cdigest, csize) = add_blob(&layout, &cfg);
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": cdigest, "size": csize},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": ldigest, "size": lsize}],
        });
        let man = dir.join(format!("manifest{i}.json"));
        fs::write(&man, manifest.to_string()).expect("write manifest");
        let (mdigest, msize) = add_blob(&layout, &man);
        manifests.push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": mdigest, "size": msize,
            "annotations": {"io.containerd.image.name": name,
                            "org.opencontainers.image.ref.name": "latest"}}));
    }
    let index = serde_json::json!({"schemaVersion": 2, "manifests": manifests});
    fs::write(layout.join("index.json"), index.to_string()).expect("index.json");
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let archive = dir.join(format!("{tag}-oci.tar"));
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&layout)
            .arg("-cf")
            .arg(&archive)
            .arg("."),
    );
    let _ = fs::remove_dir_all(dir.join("rootfs"));
    archive
}

/// A private containerd; stopped (by pid) and its directories removed on drop.
pub struct Containerd {
    /// Holds root/ (content, snapshots), the config, the log.
    pub dir: PathBuf,
    /// The state directory (bundles, shim sockets' addresses), under /run.
    pub state: PathBuf,
    pub sock: PathBuf,
    /// The namespace the tests use (unique: cgroups are /<ns>/<id>).
    pub ns: String,
    /// The CRI plugin is on ([`Containerd::start_cri`]).
    pub cri: bool,
    child: Option<Child>,
    /// Container ids given to `ctr run`, for the shim socket check.
    ids: std::sync::Mutex<Vec<String>>,
}

impl Containerd {
    pub fn start() -> Containerd {
        Containerd::start_with(false)
    }

    /// With the CRI plugin on, in its namespace `k8s.io`: runtime `rt`
    /// (`io.containerd.rt.v2`; its options file sets BinaryName and Root: rt state under
    /// `<state>/rt`) as the default, the sandbox
    /// image [`PAUSE_IMAGE`], the test's own CNI config ([`Containerd::cni_conf_dir`]), the
    /// pods' network namespaces mounted under the state directory. See
    /// docs/clients/kubernetes.md.
    pub fn start_cri() -> Containerd {
        Containerd::start_with(true)
    }

    fn start_with(cri: bool) -> Containerd {
        ensure_containerd();
        let _ = rt_bin();
        let _ = shim_bin();
        let name = unique_id("ctd");
        let dir = std::env::temp_dir().join("rt-test-bundles").join(&name);
        let state = PathBuf::from("/run/rt-test").join(&name);
        fs::create_dir_all(&dir).expect("mkdir containerd dir");
        fs::create_dir_all(&state).expect("mkdir containerd state");
        let sock = state.join("c.sock");
        let mut config = format!(
            "version = 2\nroot = {:?}\nstate = {:?}\n\
             [grpc]\n  address = {:?}\n[ttrpc]\n  address = \"{}.ttrpc\"\n\
             [debug]\n  level = \"debug\"\n",
            dir.join("root"),
            state.join("s"),
            sock,
            sock.display()
        );
        if cri {
            let cni = dir.join("cni");
            fs::create_dir_all(&cni).expect("mkdir cni conf dir");
            fs::write(cni.join("10-rt-test.conflist"), cni_conflist(&name))
                .expect("write CNI config");
            // The runtime's options, in the file the CRI plugin's ConfigPath names.
            let opts = dir.join("rt-options.toml");
            let rt_opts = format!(
                "BinaryName = {:?}\nRoot = {:?}\nSystemdCgroup = false\n",
                rt_bin(),
                state.join("rt")
            );
            fs::write(&opts, rt_opts).expect("write rt-options.toml");
            // A second handler, "rt-badopts", whose options file has a key rt does not know.
            fs::write(dir.join("rt-bad-options.toml"), "Bogus = true\n")
                .expect("write rt-bad-options.toml");
            config.push_str(&cri_config(&cni, &opts));
        } else {
            config.insert_str(0, "disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n");
        }
        fs::write(dir.join("config.toml"), config).expect("write config.toml");
        let mut c = Containerd {
            dir,
            state,
            sock,
            ns: if cri {
                "k8s.io".to_owned()
            } else {
                name.replace('-', "")
            },
            cri,
            child: None,
            ids: Default::default(),
        };
        c.spawn();
        c
    }

    /// The CNI network name of a CRI containerd (CNI caches results as
    /// `/var/lib/cni/results/<network>-<sandbox id>-eth0`).
    pub fn cni_network(&self) -> String {
        cni_network_name(&self.dir)
    }

    /// Where rt keeps its state for this containerd's namespace: rt's shim's default root, or
    /// for a CRI containerd the `Root` its runtime options give.
    pub fn rt_roots(&self) -> Vec<PathBuf> {
        if self.cri {
            return vec![self.state.join("rt").join(&self.ns)];
        }
        ["/run/containerd/rt", "/run/containerd/runc"]
            .iter()
            .map(|r| Path::new(r).join(&self.ns))
            .collect()
    }

    /// Imports [`IMAGE`] and [`PAUSE_IMAGE`].
    pub fn import_cri_images(&self) {
        let archive = cri_archive();
        self.ctr_ok(&["images", "import", &archive.to_string_lossy()]);
    }

    /// Records a container (or sandbox) id for the shim socket check of
    /// [`Containerd::leftovers`].
    pub fn track(&self, id: &str) {
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        ids.push(id.to_owned());
    }

    fn spawn(&mut self) {
        let mut bins: Vec<PathBuf> = [shim_bin(), rt_bin()]
            .iter()
            .filter_map(|p| p.parent().map(Path::to_path_buf))
            .collect();
        if std::env::var_os("RT_BIN").is_some() {
            // rt's shim runs the `rt` beside its own binary: with another runtime in
            // $RT_BIN (a wrapper, say), a copy of the shim sits beside an `rt` link to it.
            let dir = self.dir.join("bin");
            fs::create_dir_all(&dir).expect("mkdir bin");
            let shim = dir.join("containerd-shim-rt-v2");
            if !shim.exists() {
                fs::copy(shim_bin(), &shim).expect("copy the shim");
                std::os::unix::fs::symlink(rt_bin(), dir.join("rt")).expect("link rt");
            }
            bins.insert(0, dir);
        }
        let path = std::env::join_paths(bins.into_iter().chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("containerd.log"))
            .expect("containerd.log");
        let log2 = log.try_clone().expect("dup log");
        let _ = fs::remove_file(&self.sock);
        let child = Command::new("containerd")
            .arg("--config")
            .arg(self.dir.join("config.toml"))
            .env("PATH", path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .process_group(0)
            .spawn()
            .expect("spawn containerd");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.sock.exists() && self.ctr(&["version"]).status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "containerd did not come up; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops containerd (its shims and containers go on), then starts it again.
    pub fn restart(&mut self) {
        self.stop_daemon();
        self.spawn();
    }

    fn stop_daemon(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("containerd.log")).unwrap_or_default()
    }

    /// `ctr -a SOCK -n NS ARGS`, ready to run.
    pub fn ctr_cmd(&self, args: &[&str]) -> Command {
        if args.first() == Some(&"run") {
            if let Some(i) = args.iter().position(|a| *a == IMAGE) {
                if let Some(id) = args.get(i + 1) {
                    let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
                    ids.push(id.to_string());
                }
            }
        }
        let mut c = Command::new("ctr");
        c.arg("-a")
            .arg(&self.sock)
            .args(["-n", &self.ns])
            .args(args);
        c
    }

    /// ctr under timeout(1), errors ignored (for cleanup): stdout.
    fn ctr_quiet(&self, args: &[&str]) -> String {
        let mut c = Command::new("timeout");
        c.arg("20").arg("ctr").arg("-a").arg(&self.sock);
        c.args(["-n", &self.ns]).args(args).stdin(Stdio::null());
        c.output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    pub fn ctr(&self, args: &[&str]) -> Output {
        let mut c = self.ctr_cmd(args);
        c.stdin(Stdio::null());
        crate::output_with_timeout(&mut c, CTR_TIMEOUT)
    }

    /// Runs ctr, asserts success, returns stdout.
    pub fn ctr_ok(&self, args: &[&str]) -> String {
        let out = self.ctr(args);
        assert!(
            out.status.success(),
            "ctr {} failed ({:?}):\nstdout: {}\nstderr: {}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn import_busybox(&self) {
        let archive = busybox_archive();
        self.ctr_ok(&["images", "import", &archive.to_string_lossy()]);
    }

    /// `ctr events` in the background, its output in a file read by [`Events::lines`].
    pub fn events(&self) -> Events {
        let path = self.dir.join(format!("{}.events", unique_id("ev")));
        let f = fs::File::create(&path).expect("events file");
        let child = self
            .ctr_cmd(&["events"])
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn ctr events");
        std::thread::sleep(Duration::from_millis(300));
        Events { child, path }
    }

    /// The task's status as `ctr task ls` shows it ("" when there is no task).
    pub fn task_status(&self, id: &str) -> String {
        self.task_ls_column(id, 2)
    }

    /// The task's pid as `ctr task ls` shows it ("" when there is no task).
    pub fn task_pid(&self, id: &str) -> String {
        self.task_ls_column(id, 1)
    }

    /// Column `col` (TASK PID STATUS) of the task's line in `ctr task ls`.
    fn task_ls_column(&self, id: &str, col: usize) -> String {
        let out = self.ctr_ok(&["task", "ls"]);
        out.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.first() == Some(&id)).then(|| f.get(col).unwrap_or(&"").to_string())
            })
            .unwrap_or_default()
    }

    pub fn wait_task_status(&self, id: &str, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = self.task_status(id);
            if s == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "task {id}: status {s:?}, want {want:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Shim processes serving this containerd (their -address is our socket).
    pub fn shims(&self) -> Vec<(i32, String)> {
        let want = self.sock.to_string_lossy().into_owned();
        let mut found = Vec::new();
        for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            let Ok(cmd) = fs::read(e.path().join("cmdline")) else {
                continue;
            };
            let args: Vec<String> = cmd
                .split(|b| *b == 0)
                .map(|a| String::from_utf8_lossy(a).into_owned())
                .collect();
            if args.first().is_some_and(|a| a.contains("containerd-shim")) && args.contains(&want) {
                found.push((pid, args.join(" ")));
            }
        }
        found
    }

    /// What a test may not leave behind: shims, mounts under the state/root dirs, rt state
    /// in the shim's default root, containers' cgroups under /<ns>/. Waits a little for shims
    /// to exit after their last delete.
    pub fn leftovers(&self) -> Vec<String> {
        // Shims exit, and containerd removes bundles (rename, then remove), after the
        // client's last call has returned: give both a moment.
        let bundles = self
            .state
            .join("s/io.containerd.runtime.v2.task")
            .join(&self.ns);
        let no_bundles = || {
            fs::read_dir(&bundles)
                .map(|mut r| r.next().is_none())
                .unwrap_or(true)
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while (!self.shims().is_empty() || !no_bundles()) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut left: Vec<String> = self
            .shims()
            .into_iter()
            .map(|(pid, cmd)| format!("shim process {pid}: {cmd}"))
            .collect();
        for dir in [&self.state, &self.dir] {
            for m in crate::mounts_under(dir) {
                left.push(format!("mount {m}"));
            }
        }
        for d in self.rt_roots() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                left.push(format!("rt state {}", e.path().display()));
            }
        }
        let cni_prefix = format!("{}-", self.cni_network());
        for e in fs::read_dir("/var/lib/cni/results")
            .into_iter()
            .flatten()
            .flatten()
        {
            if self.cri && e.file_name().to_string_lossy().starts_with(&cni_prefix) {
                left.push(format!("CNI result {}", e.path().display()));
            }
        }
        for cg in self.cgroup_dirs() {
            for e in fs::read_dir(&cg).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    left.push(format!("cgroup {}", e.path().display()));
                }
            }
        }
        let ids = self.ids.lock().unwrap_or_else(|e| e.into_inner()).clone();
        for id in ids {
            let p = self.shim_socket(&id);
            if p.exists() {
                left.push(format!("shim socket {} (container {id})", p.display()));
            }
        }
        for e in fs::read_dir(&bundles).into_iter().flatten().flatten() {
            left.push(format!("bundle {}", e.path().display()));
        }
        left
    }

    /// Where a shim for container `id` listens: /run/containerd/s/<sha256 of
    /// "<address>/<ns>/<id>">, the same for rt's shim and runc's.
    pub fn shim_socket(&self, id: &str) -> PathBuf {
        let key = format!("{}/{}/{id}", self.sock.display(), self.ns);
        let f = self.dir.join(format!("{}.key", unique_id("k")));
        fs::write(&f, key).expect("write key");
        let sum = sha256(&f);
        let _ = fs::remove_file(&f);
        Path::new("/run/containerd/s").join(sum)
    }

    pub fn assert_no_leftovers(&self) {
        let left = self.leftovers();
        assert!(left.is_empty(), "left behind:\n{}", left.join("\n"));
    }
}

impl Containerd {
    /// The `/<ns>` cgroup directories ctr's containers are created under (none for CRI,
    /// whose pods name their own cgroup parent).
    fn cgroup_dirs(&self) -> Vec<PathBuf> {
        if self.cri {
            return Vec::new();
        }
        cgroup_dirs(&self.ns)
    }
}

/// The CNI network of the containerd whose directory is `dir`.
fn cni_network_name(dir: &Path) -> String {
    let base = dir.file_name().unwrap_or_default().to_string_lossy();
    format!("rt-test-{base}")
}

/// The test's CNI network. containerd 1.6's CRI plugin adds the loopback network itself
/// and requires an address on `eth0`; the `static` IPAM plugin, run as the network's only
/// plugin, reports one without creating or configuring any interface, on the host or in the
/// pod: nothing outside the pod's network namespace is touched, and inside it only `lo` is
/// up.
fn cni_conflist(name: &str) -> String {
    serde_json::json!({
        "cniVersion": "1.0.0",
        "name": format!("rt-test-{name}"),
        "plugins": [{
            "type": "static",
            "ipam": {"type": "static", "addresses": [{"address": "10.255.77.2/24"}]},
        }],
    })
    .to_string()
}

/// containerd's `[plugins."io.containerd.grpc.v1.cri"]` section for a test: see
/// docs/clients/kubernetes.md.
fn cri_config(cni_conf_dir: &Path, options: &Path) -> String {
    let bad = options.with_file_name("rt-bad-options.toml");
    format!(
        r#"[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  disable_apparmor = true
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "rt"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rt]
      runtime_type = "io.containerd.rt.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rt.options]
        ConfigPath = {options:?}
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rt-badopts]
      runtime_type = "io.containerd.rt.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.rt-badopts.options]
        ConfigPath = {bad:?}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = {cni_conf_dir:?}
    max_conf_num = 1
"#
    )
}

/// The `/<ns>` cgroup directories containers of namespace `ns` are created under.
fn cgroup_dirs(ns: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    for e in fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let d = e.path().join(ns);
        if d.is_dir() {
            dirs.push(d);
        }
    }
    let d = Path::new("/sys/fs/cgroup").join(ns);
    if d.join("cgroup.procs").exists() {
        dirs.push(d);
    }
    dirs
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Take down what a failed test left running: tasks, then the daemon, then shims,
        // then containers whose shim is gone. Never panics (a panic here would abort).
        if self.child.is_some() {
            let ids = |args: &[&str]| -> Vec<String> {
                self.ctr_quiet(args)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            };
            for id in ids(&["task", "ls", "-q"]) {
                self.ctr_quiet(&["task", "kill", "-s", "KILL", &id]);
                self.ctr_quiet(&["task", "rm", "-f", &id]);
            }
            for id in ids(&["containers", "ls", "-q"]) {
                self.ctr_quiet(&["containers", "rm", &id]);
            }
        }
        self.stop_daemon();
        for (pid, _) in self.shims() {
            // SAFETY: kill(2) of a shim this test's containerd started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        for root in self.rt_roots() {
            for e in fs::read_dir(&root).into_iter().flatten().flatten() {
                let _ = Command::new(rt_bin())
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force"])
                    .arg(e.file_name())
                    .stdin(Stdio::null())
                    .output();
            }
        }
        for dir in [&self.state, &self.dir] {
            let mut ms = crate::mounts_under(dir);
            ms.sort_by_key(|m| std::cmp::Reverse(m.len()));
            for m in ms {
                let _ = nix_umount(&m);
            }
        }
        for cg in self.cgroup_dirs() {
            let _ = fs::remove_dir(&cg);
        }
        for root in self.rt_roots() {
            let _ = fs::remove_dir(root);
        }
        let _ = fs::remove_dir_all(&self.state);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn nix_umount(path: &str) -> std::io::Result<()> {
    let c = std::ffi::CString::new(path).map_err(std::io::Error::other)?;
    // SAFETY: umount2 with a valid C string.
    if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A running `ctr events`.
pub struct Events {
    child: Child,
    path: PathBuf,
}

impl Events {
    /// (topic, payload) of each event so far.
    pub fn lines(&self) -> Vec<(String, String)> {
        fs::read_to_string(&self.path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                // "<date> <time> <zone> <zone> <ns> <topic> <payload>"
                let f: Vec<&str> = l.splitn(7, ' ').collect();
                (f.len() == 7).then(|| (f[5].to_owned(), f[6].to_owned()))
            })
            .collect()
    }

    /// The task topics concerning container `id`, in order.
    pub fn task_topics(&self, id: &str) -> Vec<String> {
        let needle = format!("\"container_id\":\"{id}\"");
        self.lines()
            .into_iter()
            .filter(|(t, p)| t.starts_with("/tasks/") && p.contains(&needle))
            .map(|(t, _)| t)
            .collect()
    }

    /// Waits until `topic` shows for `id`.
    pub fn wait_for(&self, id: &str, topic: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.task_topics(id).iter().any(|t| t == topic) {
            assert!(
                Instant::now() < deadline,
                "no {topic} event for {id}; got {:?}",
                self.task_topics(id)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes `data` to a child's stdin and closes it.
pub fn feed(child: &mut Child, data: &[u8]) {
    if let Some(mut si) = child.stdin.take() {
        let _ = si.write_all(data);
    }
}
