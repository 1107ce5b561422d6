//! `--log FILE` and `--log-format text|json`. JSON lines carry `level`, `msg`, `time`
//! as runc writes them: go-runc reports the last `"level":"error"` line to its user.
use std::fs::OpenOptions;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

/// Where and how rt logs; carried across the init's re-exec (crate::exe).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Config {
    file: Option<PathBuf>,
    json: bool,
    debug: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

pub fn init(file: Option<PathBuf>, format: &str, debug: bool) -> crate::Result<()> {
    let json = match format {
        "json" => true,
        "text" => false,
        other => anyhow::bail!("--log-format: unknown format {other:?} (want text or json)"),
    };
    let _ = CONFIG.set(Config { file, json, debug });
    Ok(())
}

/// The settings in force, if any (to hand to a re-exec'd init).
pub fn current() -> Option<Config> {
    CONFIG.get().cloned()
}

/// Take over settings from `current()` of the process we were exec'd from.
pub fn restore(c: Config) {
    let _ = CONFIG.set(c);
}

fn write(level: &str, msg: &str) {
    let Some(cfg) = CONFIG.get() else {
        eprintln!("rt: {level}: {msg}");
        return;
    };
    let time = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
    let line = if cfg.json {
        serde_json::json!({"level": level, "msg": msg, "time": time}).to_string()
    } else {
        format!("time=\"{time}\" level={level} msg={msg:?}")
    };
    match &cfg.file {
        Some(path) => {
            if let Ok(mut f) = OpenOptions::new().create(true).append(true).open(path) {
                let _ = writeln!(f, "{line}");
            }
        }
        None => eprintln!("{line}"),
    }
}

pub fn debug(msg: &str) {
    if CONFIG.get().is_some_and(|c| c.debug) {
        write("debug", msg);
        // For tests only (with --debug): stop at the stage named by $RT_TEST_STOP_AT, so
        // a test can SIGKILL rt exactly there (tests/integration/tests/concurrency.rs).
        // (A pid namespace's init ignores its own SIGSTOP: it sleeps there instead.)
        if std::env::var_os("RT_TEST_STOP_AT").is_some_and(|s| s == msg) {
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGSTOP);
            loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
            }
        }
    }
}

pub fn warn(msg: &str) {
    write("warning", msg);
}

/// A fatal error: to the log (if any) and always one line on stderr.
pub fn error(msg: &str) {
    match CONFIG.get() {
        Some(c) if c.file.is_some() => {
            write("error", msg);
            eprintln!("rt: {msg}");
        }
        // --log-format json without --log: the JSON line goes to stderr, as runc's.
        Some(c) if c.json => write("error", msg),
        _ => eprintln!("rt: {msg}"),
    }
}
