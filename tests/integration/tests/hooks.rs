//! hooks.*: the six kinds fire in order with the right state, a failing hook fails
//! create and leaves nothing behind, poststop runs at delete, timeouts kill the hook.
use integration::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A host directory bind-mounted at the same path inside the container, so that hooks
/// in every namespace can append to the same log.
struct LogDir(PathBuf);

impl LogDir {
    fn new() -> LogDir {
        let d = std::env::temp_dir().join(unique_id("rt-hooklog"));
        std::fs::create_dir_all(&d).unwrap();
        LogDir(d)
    }
    fn log(&self) -> PathBuf {
        self.0.join("log")
    }
    fn read(&self) -> String {
        std::fs::read_to_string(self.log()).unwrap_or_default()
    }
    fn mount_into(&self, config: &mut Value) {
        let d = self.0.to_str().unwrap();
        config["mounts"]
            .as_array_mut()
            .unwrap()
            .push(json!({"destination": d, "type": "bind", "source": d,
                         "options": ["rbind", "rw"]}));
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A hook appending "<kind> <status from the state on stdin> <id>" to `log`.
fn logging_hook(kind: &str, log: &Path) -> Value {
    let script = format!(
        "s=$(cat); st=$(echo \"$s\" | sed -n 's/.*\"status\": *\"\\([a-z]*\\)\".*/\\1/p'); \
         id=$(echo \"$s\" | sed -n 's/.*\"id\": *\"\\([^\"]*\\)\".*/\\1/p'); \
         echo \"{kind} $st $id\" >> {}",
        log.display()
    );
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

fn wait_stopped(rt: &Rt, id: &str) {
    let t = Instant::now();
    while rt.state(id)["status"] != "stopped" {
        assert!(t.elapsed() < Duration::from_secs(20), "{id} did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

const KINDS: [&str; 6] = [
    "prestart",
    "createRuntime",
    "createContainer",
    "startContainer",
    "poststart",
    "poststop",
];

#[test]
fn all_hooks_fire_in_order_with_the_right_state() {
    let rt = Rt::new();
    let logs = LogDir::new();
    let mut b = Bundle::busybox(&["sleep", "1"]);
    logs.mount_into(&mut b.config);
    let mut hooks = json!({});
    for kind in KINDS {
        hooks[kind] = json!([logging_hook(kind, &logs.log())]);
    }
    b.config["hooks"] = hooks;
    b.save();
    let id = unique_id("hooks");
    let dir = b.dir.to_str().unwrap().to_string();

    rt.ok(&["create", "--bundle", &dir, &id]);
    assert_eq!(
        logs.read(),
        format!(
            "prestart creating {id}\ncreateRuntime creating {id}\ncreateContainer creating {id}\n"
        )
    );
    rt.ok(&["start", &id]);
    wait_stopped(&rt, &id);
    rt.ok(&["delete", &id]);
    let want: String = [
        "prestart creating",
        "createRuntime creating",
        "createContainer creating",
        "startContainer created",
        "poststart running",
        "poststop stopped",
    ]
    .iter()
    .map(|l| format!("{l} {id}\n"))
    .collect();
    assert_eq!(logs.read(), want);
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn hooks_in_order_within_a_kind_with_args_and_env() {
    let rt = Rt::new();
    let logs = LogDir::new();
    let mut b = Bundle::busybox(&["true"]);
    let log = logs.log();
    // argv[0] as the hook sees it: the first word of /proc/$$/cmdline.
    let argv0 = "$(tr '\\0' ' ' </proc/$$/cmdline | cut -d' ' -f1)";
    b.config["hooks"] = json!({"createRuntime": [
        {"path": "/bin/sh", "env": ["FOO=one"], "args": ["first-hook", "-c",
            format!("echo \"{argv0} $FOO\" >> {}", log.display())]},
        {"path": "/bin/sh", "args": ["second-hook", "-c",
            format!("echo \"{argv0} ${{FOO:-unset}}\" >> {}", log.display())]},
    ]});
    b.save();
    let id = unique_id("hooks");
    rt.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    rt.ok(&["delete", "--force", &id]);
    let got = logs.read();
    let l: Vec<&str> = got.lines().collect();
    assert_eq!(l[0], "first-hook one", "{got}");
    // No env given: the hook's environment is empty.
    assert_eq!(l[1], "second-hook unset", "{got}");
}

#[test]
fn failing_prestart_fails_create_and_leaves_nothing() {
    let rt = Rt::new();
    let logs = LogDir::new();
    let mut b = Bundle::busybox(&["true"]);
    b.config["hooks"] = json!({
        "prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "echo hook-said-no >&2; exit 3"]}],
        "createContainer": [logging_hook("createContainer", &logs.log())],
    });
    b.save();
    let id = unique_id("hooks");
    let err = rt.fail(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(err.contains("hooks.prestart[0]"), "{err}");
    assert!(err.contains("exit status 3"), "{err}");
    assert!(err.contains("hook-said-no"), "{err}");
    assert_no_leftovers(&rt, &id, &b);
    assert_eq!(logs.read(), "", "later hooks must not run");
}

#[test]
fn failing_create_runtime_still_runs_poststop() {
    // Runtime spec: a createRuntime failure stops the container and continues the
    // lifecycle at the poststop hooks (runc runs them while destroying).
    let rt = Rt::new();
    let logs = LogDir::new();
    let mut b = Bundle::busybox(&["true"]);
    b.config["hooks"] = json!({
        "createRuntime": [{"path": "/bin/false"}],
        "poststop": [logging_hook("poststop", &logs.log())],
    });
    b.save();
    let id = unique_id("hooks");
    let err = rt.fail(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(err.contains("hooks.createRuntime[0]"), "{err}");
    assert_no_leftovers(&rt, &id, &b);
    assert!(logs.read().starts_with("poststop "), "{}", logs.read());
}

#[test]
fn poststop_runs_at_delete_of_a_created_container() {
    let rt = Rt::new();
    let logs = LogDir::new();
    let mut b = Bundle::busybox(&["true"]);
    b.config["hooks"] = json!({"poststop": [logging_hook("poststop", &logs.log())]});
    b.save();
    let id = unique_id("hooks");
    rt.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(logs.read(), "");
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(logs.read(), format!("poststop stopped {id}\n"));
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn hook_timeout_kills_it_and_fails_create() {
    let rt = Rt::new();
    let mut b = Bundle::busybox(&["true"]);
    b.config["hooks"] = json!({"prestart": [
        {"path": "/bin/true"},
        {"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1},
    ]});
    b.save();
    let id = unique_id("hooks");
    let t = Instant::now();
    let err = rt.fail(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(t.elapsed() < Duration::from_secs(15), "{:?}", t.elapsed());
    assert!(
        err.contains("hooks.prestart[1]: timed out after 1s"),
        "{err}"
    );
    assert_no_leftovers(&rt, &id, &b);
}

#[test]
fn hook_state_json_is_the_container_state() {
    let rt = Rt::new();
    let logs = LogDir::new();
    let mut b = Bundle::busybox(&["true"]);
    let state_file = logs.0.join("state.json");
    b.config["hooks"] = json!({"createRuntime": [
        {"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}", state_file.display())]}
    ]});
    b.save();
    let id = unique_id("hooks");
    rt.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    let state: Value = serde_json::from_slice(&std::fs::read(&state_file).unwrap()).unwrap();
    rt.ok(&["delete", "--force", &id]);
    assert_eq!(state["id"], id.as_str(), "{state}");
    assert_eq!(state["status"], "creating", "{state}");
    assert!(state["ociVersion"].is_string(), "{state}");
    assert!(state["pid"].as_i64().unwrap_or(0) > 0, "{state}");
    let bundle = std::fs::canonicalize(&b.dir).unwrap();
    assert_eq!(state["bundle"], bundle.to_str().unwrap(), "{state}");
}
