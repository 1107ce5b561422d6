//! Kubernetes' Container Runtime Interface drives rt: containerd 1.6's CRI plugin with rt's
//! shim (`io.containerd.rt.v2`) as its default runtime, driven over gRPC (the `k8s-cri`
//! crate's client) as the kubelet would: a pod sandbox, two containers sharing its network
//! and IPC namespaces, ExecSync, CRI logs, stop and removal, then nothing left behind; and
//! UpdateContainerResources reaching the container's cgroup files.
//!
//! A private containerd (`integration::containerd::Containerd::start_cri`): its own root,
//! state, sockets, CNI config (no interface is created, see `cni_conflist`), rt state under a
//! `Root` of its own; images built here and imported into `k8s.io` (nothing is pulled). All
//! traffic is over 127.0.0.1 inside the pod's network namespace.
use integration::client::v1_cgroup_dir;
use integration::containerd::{Containerd, IMAGE, PAUSE_IMAGE};
use integration::unique_id;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use k8s_cri::v1::*;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint, Uri};

/// A CRI client over containerd's unix socket, with its own tokio runtime (the tests are
/// synchronous).
struct Cri {
    rt: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
}

impl Cri {
    fn connect(sock: &Path) -> Cri {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let sock = sock.to_path_buf();
        let channel = rt
            .block_on(async move {
                Endpoint::try_from("http://[::]:50051")?
                    .connect_with_connector(tower::service_fn(move |_: Uri| {
                        let sock = sock.clone();
                        async move {
                            let s = tokio::net::UnixStream::connect(sock).await?;
                            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
                        }
                    }))
                    .await
            })
            .expect("connect to containerd's CRI socket");
        Cri {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
        }
    }

    /// Runs one call with a deadline; panics with the gRPC status on failure.
    fn call<T, F>(&self, what: &str, f: F) -> T
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match self.try_call(what, f) {
            Ok(resp) => resp,
            Err(status) => panic!("CRI {what} failed: {status:?}"),
        }
    }

    /// Runs one call with a deadline; panics only if there is no answer.
    fn try_call<T, F>(&self, what: &str, f: F) -> Result<T, tonic::Status>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        let r = self
            .rt
            .block_on(async { tokio::time::timeout(Duration::from_secs(120), f).await });
        match r {
            Ok(r) => r.map(tonic::Response::into_inner),
            Err(_) => panic!("CRI {what}: no answer in 120 s"),
        }
    }

    fn exec_sync(&self, id: &str, cmd: &[&str]) -> ExecSyncResponse {
        let mut c = self.runtime.clone();
        let req = ExecSyncRequest {
            container_id: id.to_owned(),
            cmd: cmd.iter().map(|s| s.to_string()).collect(),
            timeout: 30,
        };
        self.call("ExecSync", c.exec_sync(req))
    }

    /// ExecSync that must exit 0: its stdout.
    fn exec_ok(&self, id: &str, cmd: &[&str]) -> String {
        let r = self.exec_sync(id, cmd);
        assert_eq!(
            r.exit_code,
            0,
            "ExecSync {cmd:?} in {id}: exit {}, stdout {:?}, stderr {:?}",
            r.exit_code,
            String::from_utf8_lossy(&r.stdout),
            String::from_utf8_lossy(&r.stderr)
        );
        String::from_utf8_lossy(&r.stdout).into_owned()
    }

    fn container_state(&self, id: &str) -> i32 {
        let mut c = self.runtime.clone();
        let req = ContainerStatusRequest {
            container_id: id.to_owned(),
            verbose: false,
        };
        let st = self.call("ContainerStatus", c.container_status(req));
        st.status.map(|s| s.state).unwrap_or(-1)
    }
}

/// The cgroup parent of the pod: `/<name>` in every v1 hierarchy (and the unified one); the
/// test removes the directories when done.
struct CgroupParent {
    name: String,
}

impl CgroupParent {
    fn dirs(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        for e in fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
        {
            let d = e.path().join(&self.name);
            if d.is_dir() {
                v.push(d);
            }
        }
        v
    }

    /// Child cgroups still under the parent.
    fn children(&self) -> Vec<String> {
        let mut v = Vec::new();
        for d in self.dirs() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    v.push(e.path().display().to_string());
                }
            }
        }
        v
    }
}

impl Drop for CgroupParent {
    /// Dropped after containerd (declared before it), so after a failed test whose
    /// containers containerd's cleanup deleted; the children first, then the parent.
    fn drop(&mut self) {
        for d in self.dirs() {
            for e in fs::read_dir(&d).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    let _ = fs::remove_dir(e.path());
                }
            }
            let _ = fs::remove_dir(d);
        }
    }
}

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The messages of a CRI log file ("<RFC3339 time> <stream> <P|F> <message>" lines) on
/// `stream`, partial lines joined.
fn cri_log(path: &Path, stream: &str) -> Vec<String> {
    let text = fs::read_to_string(path).unwrap_or_default();
    let mut out = Vec::new();
    let mut partial = String::new();
    for line in text.lines() {
        let f: Vec<&str> = line.splitn(4, ' ').collect();
        assert!(
            f.len() >= 3 && (f[2] == "F" || f[2] == "P") && f[0].contains('T'),
            "not a CRI log line in {}: {line:?}",
            path.display()
        );
        if f[1] != stream {
            continue;
        }
        partial.push_str(f.get(3).unwrap_or(&""));
        if f[2] == "F" {
            out.push(std::mem::take(&mut partial));
        }
    }
    out
}

/// A private containerd with the CRI plugin, its images imported, a client, and the tag
/// and cgroup parent (removed when dropped) of one test's pod.
fn start(prefix: &str) -> (String, CgroupParent, Containerd, Cri) {
    let tag = unique_id(prefix).replace('-', "");
    let cg = CgroupParent {
        name: format!("rt-test-{tag}"),
    };
    let ctd = Containerd::start_cri();
    ctd.import_cri_images();
    let cri = Cri::connect(&ctd.sock);
    (tag, cg, ctd, cri)
}

#[test]
fn cri_pod_with_two_containers_sharing_network_and_ipc() {
    let (tag, cg, ctd, cri) = start("cri");
    let mut rs = cri.runtime.clone();
    let mut is = cri.images.clone();

    // The CRI plugin is up, rt is its runtime and both images are visible.
    let v = cri.call(
        "Version",
        rs.version(VersionRequest {
            version: "v1".into(),
        }),
    );
    assert_eq!(v.runtime_name, "containerd", "{v:?}");
    for image in [IMAGE, PAUSE_IMAGE] {
        let st = cri.call(
            "ImageStatus",
            is.image_status(ImageStatusRequest {
                image: Some(ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            }),
        );
        assert!(st.image.is_some(), "image {image} not known to CRI: {st:?}");
    }

    let logs = ctd.dir.join("pod-logs");
    fs::create_dir_all(&logs).expect("mkdir pod log dir");
    let hostname = format!("pod-{tag}");
    let ns_opts = NamespaceOption {
        network: NamespaceMode::Pod as i32,
        pid: NamespaceMode::Container as i32,
        ipc: NamespaceMode::Pod as i32,
        ..Default::default()
    };
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: format!("pod-{tag}"),
            uid: format!("uid-{tag}"),
            namespace: "rt-test".into(),
            attempt: 0,
        }),
        hostname: hostname.clone(),
        log_directory: logs.to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: format!("/{}", cg.name),
            security_context: Some(LinuxSandboxSecurityContext {
                namespace_options: Some(ns_opts.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    // A runtime handler whose options file has an unknown key: the sandbox is refused with
    // an error naming the key, and nothing is left of it (checked at the end).
    let bad = cri.try_call(
        "RunPodSandbox",
        rs.run_pod_sandbox(RunPodSandboxRequest {
            config: Some(sandbox_config.clone()),
            runtime_handler: "rt-badopts".into(),
        }),
    );
    match bad {
        Ok(r) => panic!("RunPodSandbox with bad runtime options succeeded: {r:?}"),
        Err(s) => assert!(
            s.message().contains("ConfigPath") && s.message().contains("Bogus"),
            "{s:?}"
        ),
    }

    let pod = cri
        .call(
            "RunPodSandbox",
            rs.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox_config.clone()),
                runtime_handler: String::new(),
            }),
        )
        .pod_sandbox_id;
    ctd.track(&pod);
    let st = cri.call(
        "PodSandboxStatus",
        rs.pod_sandbox_status(PodSandboxStatusRequest {
            pod_sandbox_id: pod.clone(),
            verbose: true,
        }),
    );
    let status = st.status.as_ref().expect("sandbox status");
    assert_eq!(status.state, PodSandboxState::SandboxReady as i32, "{st:?}");
    let info = st.info.get("info").cloned().unwrap_or_default();
    assert!(
        info.contains("\"runtimeType\":\"io.containerd.rt.v2\""),
        "sandbox not run by rt's shim: {info}"
    );
    // rt keeps the sandbox's state under the Root the runtime options give.
    let rt_root = &ctd.rt_roots()[0];
    assert!(
        rt_root.join(&pod).exists(),
        "no rt state {}",
        rt_root.join(&pod).display()
    );

    let container = |name: &str, cmd: &str| ContainerConfig {
        metadata: Some(ContainerMetadata {
            name: name.into(),
            attempt: 0,
        }),
        image: Some(ImageSpec {
            image: IMAGE.into(),
            ..Default::default()
        }),
        command: vec!["sh".into(), "-c".into(), cmd.into()],
        log_path: format!("{name}.log"),
        // The kubelet gives each container the pod's namespace options.
        linux: Some(LinuxContainerConfig {
            security_context: Some(LinuxContainerSecurityContext {
                namespace_options: Some(ns_opts.clone()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    // The server answers on the pod's 127.0.0.1 only; the client reaches it there, which it
    // can only do from the same network namespace.
    let server_cmd = "mkdir -p /www && echo \"served by $HOSTNAME\" > /www/index.html && \
                      echo server ready && exec httpd -f -vv -p 127.0.0.1:7777 -h /www";
    let client_cmd = "until wget -q -O - http://127.0.0.1:7777/index.html; do sleep 0.2; done; \
                      echo client done >&2; exec sleep 100000";
    let mut ids = Vec::new();
    for (name, cmd) in [("server", server_cmd), ("client", client_cmd)] {
        let id = cri
            .call(
                "CreateContainer",
                rs.create_container(CreateContainerRequest {
                    pod_sandbox_id: pod.clone(),
                    config: Some(container(name, cmd)),
                    sandbox_config: Some(sandbox_config.clone()),
                }),
            )
            .container_id;
        ctd.track(&id);
        cri.call(
            "StartContainer",
            rs.start_container(StartContainerRequest {
                container_id: id.clone(),
            }),
        );
        ids.push(id);
    }
    let (server, client) = (ids[0].clone(), ids[1].clone());
    // One shim (rt's) serves the sandbox and both containers.
    let shims = ctd.shims();
    assert_eq!(shims.len(), 1, "{shims:?}");
    assert!(shims[0].1.contains("containerd-shim-rt-v2"), "{shims:?}");
    for id in [&server, &client] {
        assert_eq!(
            cri.container_state(id),
            ContainerState::ContainerRunning as i32
        );
    }

    // Logs: the CRI log files under the pod's log directory, in CRI format.
    let server_log = logs.join("server.log");
    let client_log = logs.join("client.log");
    // (containerd copies stdout and stderr separately: wait for both.)
    wait_until("the client's output in its CRI log", || {
        cri_log(&client_log, "stderr").contains(&"client done".to_owned())
            && !cri_log(&client_log, "stdout").is_empty()
    });
    assert_eq!(
        cri_log(&client_log, "stdout"),
        vec![format!("served by {hostname}")],
        "{}",
        fs::read_to_string(&client_log).unwrap_or_default()
    );
    assert_eq!(cri_log(&server_log, "stdout"), vec!["server ready"]);

    // ExecSync: output, exit codes, the pod's hostname, the server from the client again.
    assert_eq!(cri.exec_ok(&client, &["hostname"]).trim(), hostname);
    let page = cri.exec_ok(
        &client,
        &["wget", "-q", "-O", "-", "http://127.0.0.1:7777/"],
    );
    assert_eq!(page, format!("served by {hostname}\n"));
    let r = cri.exec_sync(&server, &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!(r.exit_code, 3);
    assert_eq!(String::from_utf8_lossy(&r.stdout), "out\n");
    assert_eq!(String::from_utf8_lossy(&r.stderr), "err\n");
    // httpd logged the requests (to stderr: its log).
    wait_until("httpd's request log", || {
        fs::read_to_string(&server_log)
            .unwrap_or_default()
            .contains(" stderr F ")
    });

    // Same network and IPC namespaces (the pod's), different PID namespaces (per container).
    let ns_of = |id: &str, ns: &str| cri.exec_ok(id, &["readlink", &format!("/proc/self/ns/{ns}")]);
    for ns in ["net", "ipc", "uts"] {
        let (a, b) = (ns_of(&server, ns), ns_of(&client, ns));
        assert!(a.starts_with(&format!("{ns}:[")), "{a:?}");
        assert_eq!(a, b, "{ns} namespace not shared");
    }
    assert_ne!(ns_of(&server, "pid"), ns_of(&client, "pid"));
    // Only the pod's loopback exists: no interface was created for it.
    let links = cri.exec_ok(&client, &["ls", "/sys/class/net"]);
    assert_eq!(links.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);

    // The containers' cgroups are under the pod's parent.
    let cg_of = cri.exec_ok(&server, &["cat", "/proc/self/cgroup"]);
    assert!(
        cg_of.contains(&format!("/{}/", cg.name)),
        "server not under cgroup parent /{}: {cg_of}",
        cg.name
    );

    // Teardown, the kubelet's way.
    for id in [&server, &client] {
        cri.call(
            "StopContainer",
            rs.stop_container(StopContainerRequest {
                container_id: id.to_string(),
                timeout: 2,
            }),
        );
        assert_eq!(
            cri.container_state(id),
            ContainerState::ContainerExited as i32
        );
        cri.call(
            "RemoveContainer",
            rs.remove_container(RemoveContainerRequest {
                container_id: id.to_string(),
            }),
        );
    }
    cri.call(
        "StopPodSandbox",
        rs.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }),
    );
    cri.call(
        "RemovePodSandbox",
        rs.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }),
    );
    let left = cri.call(
        "ListContainers",
        rs.list_containers(ListContainersRequest { filter: None }),
    );
    assert!(left.containers.is_empty(), "{left:?}");
    let left = cri.call(
        "ListPodSandbox",
        rs.list_pod_sandbox(ListPodSandboxRequest { filter: None }),
    );
    assert!(left.items.is_empty(), "{left:?}");

    ctd.assert_no_leftovers();
    assert_eq!(
        cg.children(),
        Vec::<String>::new(),
        "container cgroups left"
    );
    drop(cri);
    drop(ctd);
    drop(cg);
}

fn read_trim(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .trim()
        .to_owned()
}

/// CreateContainer's memory limit, then UpdateContainerResources, the kubelet's in-place
/// resize: the CRI plugin sends the new resources to the shim's Update, which runs `rt
/// update`; the new memory limit, CPU shares and CFS quota must be in the container's
/// cgroup files.
#[test]
fn cri_update_container_resources_reaches_the_cgroup() {
    let (tag, cg, ctd, cri) = start("criupd");
    let mut rs = cri.runtime.clone();
    let sandbox_config = PodSandboxConfig {
        metadata: Some(PodSandboxMetadata {
            name: format!("pod-{tag}"),
            uid: format!("uid-{tag}"),
            namespace: "rt-test".into(),
            attempt: 0,
        }),
        log_directory: ctd.dir.join("pod-logs").to_string_lossy().into_owned(),
        linux: Some(LinuxPodSandboxConfig {
            cgroup_parent: format!("/{}", cg.name),
            ..Default::default()
        }),
        ..Default::default()
    };
    let pod = cri
        .call(
            "RunPodSandbox",
            rs.run_pod_sandbox(RunPodSandboxRequest {
                config: Some(sandbox_config.clone()),
                runtime_handler: String::new(),
            }),
        )
        .pod_sandbox_id;
    ctd.track(&pod);
    let id = cri
        .call(
            "CreateContainer",
            rs.create_container(CreateContainerRequest {
                pod_sandbox_id: pod.clone(),
                config: Some(ContainerConfig {
                    metadata: Some(ContainerMetadata {
                        name: "sleeper".into(),
                        attempt: 0,
                    }),
                    image: Some(ImageSpec {
                        image: IMAGE.into(),
                        ..Default::default()
                    }),
                    command: vec!["sleep".into(), "100000".into()],
                    log_path: "sleeper.log".into(),
                    // The limit it starts with, read back below (a runtime that drops
                    // linux.resources.memory from config.json fails there).
                    linux: Some(LinuxContainerConfig {
                        resources: Some(LinuxContainerResources {
                            memory_limit_in_bytes: 64 << 20,
                            ..Default::default()
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                sandbox_config: Some(sandbox_config.clone()),
            }),
        )
        .container_id;
    ctd.track(&id);
    cri.call(
        "StartContainer",
        rs.start_container(StartContainerRequest {
            container_id: id.clone(),
        }),
    );
    assert_eq!(
        cri.container_state(&id),
        ContainerState::ContainerRunning as i32
    );

    // The init's cgroups, found from its pid (ContainerStatus' verbose info).
    let st = cri.call(
        "ContainerStatus",
        rs.container_status(ContainerStatusRequest {
            container_id: id.clone(),
            verbose: true,
        }),
    );
    let info: serde_json::Value =
        serde_json::from_str(st.info.get("info").map(String::as_str).unwrap_or("{}"))
            .expect("ContainerStatus info is JSON");
    let pid = info["pid"]
        .as_u64()
        .filter(|p| *p > 0)
        .unwrap_or_else(|| panic!("no pid in ContainerStatus info: {info}"));
    let memory = v1_cgroup_dir(pid, "memory");
    let cpu = v1_cgroup_dir(pid, "cpu");
    assert!(
        memory.to_string_lossy().contains(&cg.name),
        "{} not under the pod's cgroup parent",
        memory.display()
    );
    let limit = memory.join("memory.limit_in_bytes");
    let shares = cpu.join("cpu.shares");
    let quota = cpu.join("cpu.cfs_quota_us");
    let period = cpu.join("cpu.cfs_period_us");
    let (new_limit, new_shares, new_quota, new_period) = (48 << 20, 256, 25_000, 50_000);
    // What CreateContainer asked for; not already what the update sets.
    assert_eq!(
        read_trim(&limit),
        (64u64 << 20).to_string(),
        "CreateContainer's memory limit is not in {}",
        limit.display()
    );
    assert_ne!(read_trim(&shares), new_shares.to_string());
    assert_ne!(read_trim(&quota), new_quota.to_string());

    cri.call(
        "UpdateContainerResources",
        rs.update_container_resources(UpdateContainerResourcesRequest {
            container_id: id.clone(),
            linux: Some(LinuxContainerResources {
                memory_limit_in_bytes: new_limit,
                cpu_shares: new_shares,
                cpu_quota: new_quota,
                cpu_period: new_period,
                ..Default::default()
            }),
            ..Default::default()
        }),
    );
    assert_eq!(
        read_trim(&limit),
        new_limit.to_string(),
        "{}",
        limit.display()
    );
    assert_eq!(read_trim(&shares), new_shares.to_string());
    assert_eq!(read_trim(&quota), new_quota.to_string());
    assert_eq!(read_trim(&period), new_period.to_string());
    assert_eq!(
        cri.container_state(&id),
        ContainerState::ContainerRunning as i32
    );

    // A limit the kernel refuses (below the memory in use) is an error, not a silent no-op.
    let refused = cri.try_call(
        "UpdateContainerResources",
        rs.update_container_resources(UpdateContainerResourcesRequest {
            container_id: id.clone(),
            linux: Some(LinuxContainerResources {
                memory_limit_in_bytes: 4096,
                ..Default::default()
            }),
            ..Default::default()
        }),
    );
    match refused {
        Ok(r) => panic!("a 4 KiB memory limit was accepted: {r:?}"),
        Err(s) => assert!(s.message().contains("rt update"), "{s:?}"),
    }
    assert_eq!(read_trim(&limit), new_limit.to_string());

    cri.call(
        "StopContainer",
        rs.stop_container(StopContainerRequest {
            container_id: id.clone(),
            timeout: 1,
        }),
    );
    cri.call(
        "RemoveContainer",
        rs.remove_container(RemoveContainerRequest {
            container_id: id.clone(),
        }),
    );
    cri.call(
        "StopPodSandbox",
        rs.stop_pod_sandbox(StopPodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }),
    );
    cri.call(
        "RemovePodSandbox",
        rs.remove_pod_sandbox(RemovePodSandboxRequest {
            pod_sandbox_id: pod.clone(),
        }),
    );
    ctd.assert_no_leftovers();
    assert_eq!(
        cg.children(),
        Vec::<String>::new(),
        "container cgroups left"
    );
    drop(cri);
    drop(ctd);
    drop(cg);
}
