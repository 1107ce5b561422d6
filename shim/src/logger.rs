//! The shim's log, to the `log` fifo containerd reads in the bundle the shim started in.
//!
//! Not the containerd-shim crate's logger: when that bundle's container is deleted first (a
//! pod's shim serving the others on), containerd stops reading, every write raises SIGPIPE,
//! and the crate's signal loop logs each SIGPIPE at debug level: a loop that starves the
//! reaper. This one stops writing at the first error.

use log::{LevelFilter, Log, Metadata, Record};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::sync::Mutex;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

struct FifoLog {
    file: Mutex<Option<File>>,
}

impl Log for FifoLog {
    fn enabled(&self, metadata: &Metadata) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &Record) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        let Some(file) = f.as_mut() else {
            return;
        };
        let now = OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default();
        let line = format!(
            "time=\"{now}\" level={} msg=\"{}\"\n",
            record.level().as_str().to_lowercase(),
            record.args()
        );
        if file.write_all(line.as_bytes()).is_err() {
            *f = None;
        }
    }

    fn flush(&self) {}
}

/// Logs to `./log` (the serving shim's cwd is its bundle); debug level with `-debug`.
pub fn init(debug: bool) {
    let Ok(file) = OpenOptions::new().write(true).open("log") else {
        return;
    };
    let logger = FifoLog {
        file: Mutex::new(Some(file)),
    };
    if log::set_boxed_logger(Box::new(logger)).is_ok() {
        log::set_max_level(if debug {
            LevelFilter::Debug
        } else {
            LevelFilter::Info
        });
    }
}
