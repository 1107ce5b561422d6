use crate::cli::Events;
use crate::container::lifecycle;
use crate::state::Status;
use crate::Result;
use anyhow::{anyhow, bail};
use std::path::Path;
use std::time::Duration;

/// One event line, fields in runc's order.
#[derive(serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    typ: &'static str,
    id: &'a str,
    data: serde_json::Value,
}

/// runc's `events`: `--stats` prints one stats event; otherwise one every --interval.
pub fn run(root: &Path, a: Events) -> Result<i32> {
    let interval = parse_duration(&a.interval)?;
    let (dir, st) = lifecycle::load(root, &a.id)?;
    loop {
        if dir.status(&st) == Status::Stopped {
            bail!("container {} is not running", a.id);
        }
        let ev = Event {
            typ: "stats",
            id: &a.id,
            data: st.cgroup.stats()?,
        };
        println!("{}", serde_json::to_string(&ev)?);
        if a.stats {
            return Ok(0);
        }
        std::thread::sleep(interval);
    }
}

/// Go durations as runc takes them: "5s", "500ms", "1m".
pub fn parse_duration(s: &str) -> Result<Duration> {
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| anyhow!("--interval {s:?}: invalid duration"))?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" | "" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => bail!("--interval {s:?}: invalid duration"),
    };
    if secs <= 0.0 {
        bail!("--interval {s:?}: must be positive");
    }
    Ok(Duration::from_secs_f64(secs))
}
