use crate::cli::Events;
use crate::container::lifecycle;
use crate::state::Status;
use crate::Result;
use anyhow::{anyhow, bail};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

/// One event line, fields in runc's order (`data` omitted when empty, as runc's omitempty).
#[derive(serde::Serialize)]
struct Event<'a> {
    #[serde(rename = "type")]
    typ: &'static str,
    id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<serde_json::Value>,
}

fn emit(ev: &Event) -> Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string(ev)?)?;
    out.flush()?;
    Ok(())
}

/// runc's `events`: `--stats` prints one stats event; otherwise a stats event every
/// --interval and an `oom` event (no data) for every OOM kill in the container's memory
/// cgroup as it happens, until the container stops.
pub fn run(root: &Path, a: Events) -> Result<i32> {
    let interval = parse_duration(&a.interval)?;
    let (dir, st) = lifecycle::load(root, &a.id)?;
    if dir.status(&st) == Status::Stopped {
        bail!("container {} is not running", a.id);
    }
    let stats = |st: &crate::state::State| -> Result<()> {
        emit(&Event {
            typ: "stats",
            id: &a.id,
            data: Some(st.cgroup.stats()?),
        })
    };
    if a.stats {
        stats(&st)?;
        return Ok(0);
    }
    // OOM kills are counted by the kernel; the notifier only wakes us early. Without one
    // (no memory controller) the count is still compared at every interval.
    let notifier = st.cgroup.oom_notifier().ok();
    let mut ooms = st.cgroup.oom_count().unwrap_or(0);
    let mut next = Instant::now();
    loop {
        let now = Instant::now();
        if now >= next {
            if dir.status(&st) == Status::Stopped {
                return Ok(0);
            }
            stats(&st)?;
            next = now + interval;
        }
        let left = next.saturating_duration_since(Instant::now());
        let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        match &notifier {
            Some(fd) => {
                let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
                match poll(
                    &mut fds,
                    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
                ) {
                    Ok(n) if n > 0 => crate::sys::cgroups::drain(fd.as_fd()),
                    Ok(_) | Err(nix::errno::Errno::EINTR) => {}
                    Err(e) => bail!("events: poll: {e}"),
                }
            }
            None => std::thread::sleep(left),
        }
        let now_ooms = st.cgroup.oom_count().unwrap_or(ooms);
        for _ in ooms..now_ooms {
            emit(&Event {
                typ: "oom",
                id: &a.id,
                data: None,
            })?;
        }
        ooms = ooms.max(now_ooms);
        if dir.status(&st) == Status::Stopped {
            return Ok(0);
        }
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
