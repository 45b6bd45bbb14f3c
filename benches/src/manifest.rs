//! What a benchmark run records about itself next to criterion's results
//! (`<criterion dir>/authstore-run.json`): mode, start time, machine, versions, and per
//! backend whether it was measured and, if not, why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The manifest's file name in the criterion directory.
pub const FILE_NAME: &str = "authstore-run.json";

/// One benchmark run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Manifest {
    /// `quick` or `full`.
    pub mode: String,
    /// Whether the benchmarks ran unoptimized (`cargo bench --profile dev`, as CI's quick
    /// run does to reuse the test build): such figures say nothing of speed.
    pub unoptimized: bool,
    /// Start, in seconds since the Unix epoch: results older than this are stale.
    pub started_unix: u64,
    /// End, if the run finished.
    pub finished_unix: Option<u64>,
    /// The machine.
    pub machine: Machine,
    /// `rustc --version`.
    pub rustc: String,
    /// The version of the crates measured.
    pub crate_version: String,
    /// Per backend or engine name.
    pub backends: BTreeMap<String, BackendRun>,
    /// `/proc/loadavg`'s 1, 5 and 15 minute averages at the start and at the end: other
    /// work on the machine shows here, and makes the figures noisier.
    pub load_average: Vec<String>,
    /// The servers' own benchmark tools' figures, measured in this run.
    pub anchors: Vec<crate::anchors::Anchor>,
}

/// The machine a run measured on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// `model name` from `/proc/cpuinfo`.
    pub cpu_model: String,
    /// Logical CPUs available to the process.
    pub cores: usize,
    /// `MemTotal`, in bytes.
    pub memory_bytes: u64,
    /// `/proc/sys/kernel/osrelease` and the architecture.
    pub os: String,
}

/// What happened to one backend or engine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendRun {
    /// Whether any of its benchmarks ran.
    pub measured: bool,
    /// Why not, or what failed.
    pub note: Option<String>,
    /// The server's version.
    pub server_version: Option<String>,
    /// Seconds to fill each dataset, by dataset label.
    pub fill_seconds: BTreeMap<String, f64>,
}

impl Manifest {
    /// The mode as the report shows it: with a warning for an unoptimized build.
    pub fn mode_label(&self) -> String {
        if self.unoptimized {
            format!(
                "{} (unoptimized build: these figures say nothing of speed)",
                self.mode
            )
        } else {
            self.mode.clone()
        }
    }

    /// A manifest for a run starting now on this machine.
    pub fn start(mode: &str) -> Self {
        Self {
            mode: mode.to_owned(),
            unoptimized: cfg!(debug_assertions),
            started_unix: now_unix(),
            finished_unix: None,
            machine: Machine::detect(),
            rustc: command_output("rustc", &["--version"]).unwrap_or_else(|| "unknown".into()),
            crate_version: env!("CARGO_PKG_VERSION").to_owned(),
            backends: BTreeMap::new(),
            load_average: vec![load_average()],
            anchors: Vec::new(),
        }
    }

    /// The entry of `name`, created if new.
    pub fn backend(&mut self, name: &str) -> &mut BackendRun {
        self.backends.entry(name.to_owned()).or_default()
    }

    /// Reads `dir/authstore-run.json`.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let path = dir.join(FILE_NAME);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes `dir/authstore-run.json`.
    pub fn save(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let path = dir.join(FILE_NAME);
        let text = serde_json::to_string_pretty(self).expect("a manifest serialises");
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    }
}

impl Machine {
    /// Reads `/proc` (Linux); fields it cannot read stay empty.
    pub fn detect() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let field = |text: &str, name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        };
        let memory_kib: u64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        Self {
            cpu_model: field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into()),
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            memory_bytes: memory_kib * 1024,
            os: format!("{} Linux {}", std::env::consts::ARCH, release.trim()),
        }
    }
}

/// `/proc/loadavg`'s first three fields, e.g. `1.52 0.98 0.40`.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().take(3).collect();
    if fields.is_empty() {
        "unknown".to_owned()
    } else {
        fields.join(" ")
    }
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The first line of a command's standard output, if it ran.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    text.lines().next().map(str::to_owned)
}

/// Criterion's output directory as criterion finds it: `CRITERION_HOME`, else
/// `<CARGO_TARGET_DIR>/criterion`, else `<fallback target>/criterion`.
pub fn criterion_dir(fallback_target: &Path) -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| fallback_target.to_owned(), PathBuf::from);
    target.join("criterion")
}
