//! The environment a run measured: kernel, CPU model and count, the data directory's
//! file system, build profile, git revision, time. Recorded in the JSON with every run,
//! since these figures mean nothing without the machine they came from.
#![forbid(unsafe_code)]

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// What was found about the machine and the build.
#[derive(Debug, Clone)]
pub struct Environment {
    /// `uname -r`.
    pub kernel: String,
    /// First `model name` of /proc/cpuinfo.
    pub cpu_model: String,
    /// CPUs this process may use.
    pub cpus: usize,
    /// File system type of the data directory (from /proc/mounts).
    pub filesystem: String,
    /// Device of the data directory's mount.
    pub device: String,
    /// "release" or "debug".
    pub profile: &'static str,
    /// `git rev-parse HEAD` of the source tree, with "-dirty" if it had changes.
    pub git_revision: String,
    /// When the run started, UTC, RFC 3339.
    pub started_utc: String,
    /// Total memory, bytes.
    pub memory_bytes: u64,
    /// /proc/loadavg when the run started: other work on the machine skews figures.
    pub load_at_start: String,
}

/// The 1, 5 and 15 minute load averages (/proc/loadavg's first three fields).
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_string())
}

fn first_line_with(path: &str, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.split_once(':'))
        .map(|(_, v)| v.trim().to_string())
}

/// The mount (file system type, device) holding `dir`: the longest mount point that is
/// a prefix of its canonical path.
pub fn filesystem_of(dir: &Path) -> (String, String) {
    let path = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return ("unknown".into(), "unknown".into());
    };
    let mut best: Option<(usize, String, String)> = None;
    for line in mounts.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [device, mount_point, fs_type, ..] = fields.as_slice() else {
            continue;
        };
        let mount_point = mount_point.replace("\\040", " ");
        if path.starts_with(&mount_point) && best.as_ref().is_none_or(|b| mount_point.len() >= b.0)
        {
            best = Some((mount_point.len(), fs_type.to_string(), device.to_string()));
        }
    }
    best.map_or(("unknown".into(), "unknown".into()), |(_, t, d)| (t, d))
}

fn git_revision() -> String {
    let dir = env!("CARGO_MANIFEST_DIR");
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    match run(&["rev-parse", "HEAD"]) {
        Some(rev) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{rev}-dirty") } else { rev }
        }
        None => "unknown".to_string(),
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (RFC 3339 text, compact text for directory names) of a time, UTC.
pub fn utc_stamps(time: SystemTime) -> (String, String) {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    let (h, mi, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    (
        format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z"),
        format!("{y:04}{mo:02}{d:02}-{h:02}{mi:02}{s:02}"),
    )
}

impl Environment {
    /// Looks around; `data_dir` is where the engines write.
    pub fn capture(data_dir: &Path) -> Self {
        let (filesystem, device) = filesystem_of(data_dir);
        Self {
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map_or_else(|_| "unknown".into(), |s| s.trim().to_string()),
            cpu_model: first_line_with("/proc/cpuinfo", "model name")
                .unwrap_or_else(|| "unknown".into()),
            cpus: crate::sys::allowed_cpus().len(),
            filesystem,
            device,
            profile: if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
            git_revision: git_revision(),
            started_utc: utc_stamps(SystemTime::now()).0,
            memory_bytes: first_line_with("/proc/meminfo", "MemTotal")
                .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |kib| kib * 1024),
            load_at_start: load_average(),
        }
    }

    /// The JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "kernel": self.kernel,
            "cpu_model": self.cpu_model,
            "cpus": self.cpus,
            "memory_bytes": self.memory_bytes,
            "filesystem": self.filesystem,
            "device": self.device,
            "build_profile": self.profile,
            "git_revision": self.git_revision,
            "started_utc": self.started_utc,
            "load_average_at_start": self.load_at_start,
            "load_average_at_end": load_average(),
        })
    }

    /// One line for the table's heading.
    pub fn summary(&self) -> String {
        format!(
            "{} | {} CPUs | kernel {} | {} on {} | {} build | rev {} | load {}",
            self.cpu_model,
            self.cpus,
            self.kernel,
            self.filesystem,
            self.device,
            self.profile,
            &self.git_revision[..self.git_revision.len().min(12)],
            self.load_at_start
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_mounts() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let t = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(utc_stamps(t).0, "2023-11-14T22:13:20Z");
        assert_eq!(utc_stamps(t).1, "20231114-221320");
        let (fs, _) = filesystem_of(Path::new("/"));
        assert_ne!(fs, "unknown");
    }
}
