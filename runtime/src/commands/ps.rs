use crate::cli::Ps;
use crate::container::lifecycle;
use crate::Result;
use anyhow::{anyhow, bail};
use std::path::Path;

pub fn run(root: &Path, a: Ps) -> Result<i32> {
    let (_dir, st) = lifecycle::load(root, &a.id)?;
    let pids = st.cgroup.pids()?;
    match a.format.as_str() {
        "json" => {
            // As runc (a Go nil slice): `null` when there is no process.
            if pids.is_empty() {
                println!("null");
            } else {
                println!("{}", serde_json::to_string(&pids)?);
            }
            return Ok(0);
        }
        "table" => {}
        f => bail!("--format {f:?}: invalid format (want table or json)"),
    }
    let args: Vec<String> = if a.ps_args.is_empty() {
        vec!["-ef".into()]
    } else {
        a.ps_args.clone()
    };
    let out = std::process::Command::new("ps")
        .args(&args)
        .output()
        .map_err(|e| anyhow!("running ps: {e}"))?;
    if !out.status.success() {
        bail!(
            "ps {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let col = header
        .split_whitespace()
        .position(|h| h == "PID")
        .ok_or_else(|| anyhow!("ps output has no PID column"))?;
    println!("{header}");
    for line in lines {
        if let Some(pid) = line
            .split_whitespace()
            .nth(col)
            .and_then(|p| p.parse::<i32>().ok())
        {
            if pids.contains(&pid) {
                println!("{line}");
            }
        }
    }
    Ok(0)
}
