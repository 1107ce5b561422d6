//! Small helpers for reading and writing cgroup files, with errors that name the
//! config field (`linux.resources.memory.limit: writing 1024 to <file>: <errno text>`).
use crate::Result;
use std::io::{ErrorKind, Write};
use std::path::Path;

/// The kernel's text for an errno ("Device or resource busy"), without Rust's
/// "(os error N)" suffix.
pub(crate) fn errno_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_string(),
        None => e.to_string(),
    }
}

/// One write(2) of `value` into an existing cgroup file (never created).
pub(crate) fn write_raw(dir: &Path, file: &str, value: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(file))?;
    f.write_all(value.as_bytes())
}

/// Write, naming `field` in the error.
pub(crate) fn write(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    write_raw(dir, file, value).map_err(|e| werr(dir, file, value, field, &e))
}

/// Write a per-device weight ("maj:min w"); the kernel takes it only with the BFQ I/O
/// scheduler on that device (EOPNOTSUPP otherwise), which the error then says.
pub(crate) fn write_device_weight(dir: &Path, file: &str, value: &str, field: &str) -> Result<()> {
    write_raw(dir, file, value).map_err(|e| {
        let err = werr(dir, file, value, field, &e);
        if e.raw_os_error() == Some(libc::EOPNOTSUPP) || e.kind() == ErrorKind::NotFound {
            anyhow::anyhow!("{err} (per-device weights need the BFQ I/O scheduler on that device)")
        } else {
            err
        }
    })
}

/// Write; a missing file is not an error (returns false).
pub(crate) fn write_if_exists(dir: &Path, file: &str, value: &str, field: &str) -> Result<bool> {
    match write_raw(dir, file, value) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
        Err(e) => Err(werr(dir, file, value, field, &e)),
    }
}

pub(crate) fn werr(
    dir: &Path,
    file: &str,
    value: &str,
    field: &str,
    e: &std::io::Error,
) -> anyhow::Error {
    anyhow::anyhow!(
        "{field}: writing {} to {}: {}",
        value.trim_end(),
        dir.join(file).display(),
        errno_text(e)
    )
}

pub(crate) fn read(dir: &Path, file: &str) -> std::io::Result<String> {
    std::fs::read_to_string(dir.join(file))
}

/// Read and trim; None if the file does not exist or cannot be read.
pub(crate) fn read_opt(dir: &Path, file: &str) -> Option<String> {
    read(dir, file).ok().map(|s| s.trim().to_string())
}

/// A single unsigned number; "max" reads as `max_value`.
pub(crate) fn read_u64(dir: &Path, file: &str, max_value: u64) -> Option<u64> {
    let s = read_opt(dir, file)?;
    parse_u64(&s, max_value)
}

pub(crate) fn parse_u64(s: &str, max_value: u64) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(max_value);
    }
    // Negative values (e.g. -1 in some v1 files) read as unlimited.
    if s.starts_with('-') {
        return s.parse::<i64>().ok().map(|_| max_value);
    }
    s.parse().ok()
}

/// A flat-keyed file ("key value" per line), e.g. memory.stat, cpu.stat.
pub(crate) fn read_keyed(dir: &Path, file: &str) -> Vec<(String, u64)> {
    let Ok(s) = read(dir, file) else {
        return vec![];
    };
    s.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

pub(crate) fn keyed(v: &[(String, u64)], key: &str) -> u64 {
    v.iter().find(|(k, _)| k == key).map(|x| x.1).unwrap_or(0)
}

/// A limit as the kernel file takes it: the number, or "max" when negative (unlimited).
pub(crate) fn limit(v: i64) -> String {
    if v < 0 {
        "max".to_string()
    } else {
        v.to_string()
    }
}

/// `linux.resources.hugepageLimits[i]`: `hugetlb.<size>.limit_in_bytes` in a v1 hierarchy,
/// or `hugetlb.<size>.max` (plus `.rsvd.max` where the kernel has it, as runc) on cgroup2.
pub(crate) fn hugetlb(dir: &Path, i: usize, size: &str, limit: i64, cgroup2: bool) -> Result<()> {
    let f = format!("linux.resources.hugepageLimits[{i}]");
    if size.is_empty() || size.contains('/') || size.contains('.') {
        anyhow::bail!("{f}.pageSize: invalid page size {size:?}");
    }
    let file = if cgroup2 {
        format!("hugetlb.{size}.max")
    } else {
        format!("hugetlb.{size}.limit_in_bytes")
    };
    let v = self::limit(limit);
    match write_raw(dir, &file, &v) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => anyhow::bail!(
            "{f}.pageSize: hugepage size {size} is not supported here (no {})",
            dir.join(&file).display()
        ),
        Err(e) => return Err(werr(dir, &file, &v, &format!("{f}.limit"), &e)),
    }
    if cgroup2 {
        write_if_exists(
            dir,
            &format!("hugetlb.{size}.rsvd.max"),
            &v,
            &format!("{f}.limit"),
        )?;
    }
    Ok(())
}
