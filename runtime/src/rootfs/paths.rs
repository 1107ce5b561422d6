//! Paths inside the container's root, resolved so that no symlink or `..` leads out:
//! every lookup is openat2(RESOLVE_IN_ROOT) from an fd of the rootfs, and the result is
//! used through its fd (/proc/self/fd/N), never by name again.
use crate::sys;
use crate::Result;
use anyhow::anyhow;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

const RESOLVE: u64 = sys::RESOLVE_IN_ROOT | sys::RESOLVE_NO_MAGICLINKS;

pub fn open_in_root(root: BorrowedFd, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
    sys::openat2(root, &relative(path), flags, 0, RESOLVE)
}

fn relative(path: &Path) -> PathBuf {
    let rel: PathBuf = path
        .components()
        .filter(|c| matches!(c, Component::Normal(_) | Component::ParentDir))
        .collect();
    if rel.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        rel
    }
}

/// What to create when the final component is missing.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
}

/// Resolve `path` inside `root`, creating missing directories (and the final component as
/// `kind`). Returns an O_PATH fd of the result.
pub fn create_in_root(root: BorrowedFd, path: &Path, kind: Kind) -> Result<OwnedFd> {
    if let Ok(fd) = open_in_root(root, path, libc::O_PATH) {
        return Ok(fd);
    }
    let parts: Vec<_> = relative(path)
        .components()
        .map(|c| c.as_os_str().to_owned())
        .collect();
    let mut parent = open_in_root(root, Path::new("."), libc::O_PATH | libc::O_DIRECTORY)?;
    let mut sofar = PathBuf::new();
    for (i, part) in parts.iter().enumerate() {
        sofar.push(part);
        let last = i + 1 == parts.len();
        match open_in_root(root, &sofar, libc::O_PATH) {
            Ok(fd) => {
                parent = fd;
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(anyhow!("{}: {e}", path.display())),
        }
        let name =
            std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(part.as_os_str()))?;
        let dirfd = std::os::fd::AsRawFd::as_raw_fd(&parent);
        // SAFETY: valid fd and string.
        let ret = if last && kind == Kind::File {
            unsafe {
                let fd = libc::openat(
                    dirfd,
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_CLOEXEC
                        | libc::O_NOFOLLOW,
                    0o644,
                );
                if fd >= 0 {
                    libc::close(fd);
                }
                fd
            }
        } else {
            unsafe { libc::mkdirat(dirfd, name.as_ptr(), 0o755) }
        };
        if ret < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() != Some(libc::EEXIST) {
                return Err(anyhow!("creating {}: {e}", path.display()));
            }
        }
        parent = open_in_root(root, &sofar, libc::O_PATH)
            .map_err(|e| anyhow!("{}: {e} (a dangling symlink?)", path.display()))?;
    }
    Ok(parent)
}
