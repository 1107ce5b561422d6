use crate::cli::List;
use crate::state::{oci_state, ContainerDir};
use crate::Result;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

pub fn run(root: &Path, a: List) -> Result<i32> {
    let mut rows = Vec::new();
    if let Ok(entries) = std::fs::read_dir(root) {
        let mut ids: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        for id in ids {
            let Ok(dir) = ContainerDir::open(root, &id) else {
                continue;
            };
            if let Ok(Some(st)) = dir.load() {
                let mut row = oci_state(&st, dir.status(&st));
                // As runc: the owner is whoever owns the state directory.
                row.owner = std::fs::metadata(&dir.dir)
                    .map(|m| user_name(m.uid()))
                    .unwrap_or_default();
                rows.push(row);
            }
        }
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r.id);
        }
        return Ok(0);
    }
    match a.format.as_str() {
        "json" => println!(
            "{}",
            if rows.is_empty() {
                "null".to_string()
            } else {
                serde_json::to_string(&rows)?
            }
        ),
        "table" => {
            let mut table = vec![["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
                .map(String::from)
                .to_vec()];
            for r in &rows {
                table.push(vec![
                    r.id.clone(),
                    r.pid.to_string(),
                    r.status.to_string(),
                    r.bundle.display().to_string(),
                    r.created.clone(),
                    r.owner.clone(),
                ]);
            }
            print!("{}", tabulate(&table));
        }
        f => anyhow::bail!("--format {f:?}: invalid format (want table or json)"),
    }
    Ok(0)
}

/// Go's tabwriter as runc sets it up: minwidth 12, padding 3.
pub fn tabulate(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(|r| r.len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.len() + 3)
                .max()
                .unwrap_or(0)
                .max(12)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == r.len() {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}", w = widths[c]));
            }
        }
        out.push('\n');
    }
    out
}

/// The host's name for `uid` (/etc/passwd), or the number.
fn user_name(uid: u32) -> String {
    crate::process::passwd_entry(std::path::Path::new("/etc/passwd"), uid)
        .map(|f| f[0].clone())
        .unwrap_or_else(|| uid.to_string())
}
