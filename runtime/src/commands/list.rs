use crate::cli::List;
use crate::state::{oci_state_json, ContainerDir};
use crate::Result;
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
                rows.push(oci_state_json(&st, dir.status(&st)));
            }
        }
    }
    if a.quiet {
        for r in &rows {
            println!("{}", r["id"].as_str().unwrap_or_default());
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
                let s = |k: &str| {
                    r[k].as_str()
                        .map(String::from)
                        .unwrap_or_else(|| r[k].to_string())
                };
                table.push(vec![
                    s("id"),
                    s("pid"),
                    s("status"),
                    s("bundle"),
                    s("created"),
                    s("owner"),
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
