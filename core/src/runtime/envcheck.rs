//! Checks that this machine can run the engine, before anything starts, with errors that
//! name the fix: io_uring allowed, enough locked memory for glommio's rings, and enough
//! file descriptors for the shards.
#![forbid(unsafe_code)]

use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::error::{EnvironmentError, Error};

/// glommio refuses to start below this locked-memory limit.
pub const MEMLOCK_BYTES_MIN: u64 = 512 << 10;

const IO_URING_FIX: &str = "io_uring is blocked here. Outside containers: `sysctl -w kernel.io_uring_disabled=0`. \
In Docker, the default seccomp profile blocks io_uring_setup: run with \
`--security-opt seccomp=unconfined` or a profile that allows io_uring_setup, io_uring_enter and io_uring_register";
const MEMLOCK_FIX: &str = "raise the locked-memory limit to at least 512 KiB: `ulimit -l 1024` in the shell, \
`LimitMEMLOCK=1M` in a systemd unit, or `--ulimit memlock=1048576:1048576` for Docker";
const NOFILE_FIX: &str = "raise the open-file limit: `ulimit -n 65536` (hard limit: /etc/security/limits.conf \
or `LimitNOFILE=` in a systemd unit, `--ulimit nofile=65536:65536` for Docker)";

/// Descriptors a live (not expired) shard holds once written: its active segment and
/// the spare prepared for the next roll.
pub const FILES_PER_SHARD: u64 = 2;
/// Descriptors kept for everything else: catalog, rings, eventfds, the host's own files.
pub const FILES_RESERVED: u64 = 256;

/// Descriptors an engine with `live_shards` shards may need.
pub fn files_needed(live_shards: u64) -> u64 {
    live_shards
        .saturating_mul(FILES_PER_SHARD)
        .saturating_add(FILES_RESERVED)
}

/// Refuses a change that would leave more live shards than the open-file limit can
/// serve (the check at open would then refuse to reopen the data directory). Like the
/// check at open, it first raises the soft limit toward the hard one when that is
/// what it takes.
pub fn check_file_budget(live_shards: u64) -> Result<(), Error> {
    let needed = files_needed(live_shards);
    match ensure_files(needed) {
        Ok(()) => Ok(()),
        Err((current, maximum)) => Err(Error::LimitExceeded {
            what: "file descriptors for the live shards (2 each + 256; raise `ulimit -n`)",
            requested: needed,
            // The hard limit when it is what binds; the soft one if it could not be raised.
            limit: maximum.filter(|&m| m < needed).unwrap_or(current),
        }),
    }
}

/// Makes the soft RLIMIT_NOFILE at least `needed`, raising it up to the hard limit if it
/// is lower. On failure returns the (soft, hard) limits as they are.
fn ensure_files(needed: u64) -> Result<(), (u64, Option<u64>)> {
    let nofile = getrlimit(Resource::Nofile);
    let current = nofile.current.unwrap_or(u64::MAX);
    if current >= needed {
        return Ok(());
    }
    let maximum = nofile.maximum;
    if maximum.is_some_and(|m| m < needed) {
        return Err((current, maximum));
    }
    let raised = Rlimit {
        current: maximum,
        maximum,
    };
    setrlimit(Resource::Nofile, raised).map_err(|_| (current, maximum))
}

/// Runs every check; `files_needed` is how many descriptors the engine expects to hold.
pub fn check(files_needed: u64) -> Result<(), Error> {
    if let Ok(value) = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        && value.trim() == "2"
    {
        return Err(Error::Environment(EnvironmentError {
            check: "io_uring",
            found: "kernel.io_uring_disabled = 2".to_string(),
            fix: IO_URING_FIX,
        }));
    }
    let memlock = getrlimit(Resource::Memlock);
    if let Some(current) = memlock.current
        && current < MEMLOCK_BYTES_MIN
    {
        return Err(Error::Environment(EnvironmentError {
            check: "locked memory (RLIMIT_MEMLOCK)",
            found: format!("{current} bytes"),
            fix: MEMLOCK_FIX,
        }));
    }
    if let Err((current, maximum)) = ensure_files(files_needed) {
        return Err(Error::Environment(EnvironmentError {
            check: "open files (RLIMIT_NOFILE)",
            found: format!("limit {current}, hard limit {maximum:?}, need {files_needed}"),
            fix: NOFILE_FIX,
        }));
    }
    Ok(())
}

/// Maps a failure to create an executor (io_uring_setup refused, typically) to an
/// environment error that names the fix.
pub fn executor_failed(detail: String) -> Error {
    Error::Environment(EnvironmentError {
        check: "io_uring executor",
        found: detail,
        fix: IO_URING_FIX,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_machine_passes() {
        super::check(64).unwrap();
    }

    #[test]
    fn errors_name_the_fix() {
        let err = super::executor_failed("Operation not permitted".to_string());
        let text = err.to_string();
        assert!(
            text.contains("seccomp") && text.contains("Operation not permitted"),
            "{text}"
        );
    }
}
