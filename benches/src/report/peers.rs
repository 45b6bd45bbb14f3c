//! The peers section: another framework's storage backends on the same workload as ours
//! (issue 13 item 4). The peers benchmark (`compat/auth-framework/benches/peers.rs`)
//! writes a compact summary ([`Peers`], `reports/auth-framework-0.6.0-rc202/peers.json`)
//! from its criterion results; the report renders it ([`render_markdown`]) between
//! [`START`] and [`END`], in a full render or in place ([`replace_section`]).

use std::fmt::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::format::{factor, nanos};
use super::utc;
use crate::ids::dataset_label;
use crate::manifest::Machine;

/// The committed summary, relative to the repository's root.
pub const PEERS_JSON: &str = "reports/auth-framework-0.6.0-rc202/peers.json";

/// The marker opening the section in `BENCHMARKS.md`.
pub const START: &str = "<!-- peers:start -->";
/// The marker closing it.
pub const END: &str = "<!-- peers:end -->";

/// One run of the peers benchmark.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Peers {
    /// The other framework's crate name.
    pub peer: String,
    /// Its exact version.
    pub peer_version: String,
    /// `quick`, `full` (or `test`, whose run times nothing).
    pub mode: String,
    /// Start and end, seconds since the Unix epoch.
    pub started_unix: u64,
    /// End, if the run finished.
    pub finished_unix: Option<u64>,
    /// `/proc/loadavg` at the start and at the end.
    pub load_average: Vec<String>,
    /// The machine.
    pub machine: Machine,
    /// `rustc --version`.
    pub rustc: String,
    /// The version of authstore's crates.
    pub authstore_version: String,
    /// Server versions by server name (`postgres`, `redis`).
    pub servers: std::collections::BTreeMap<String, String>,
    /// What the run leaves out and why (e.g. a backend without a counterpart).
    pub notes: Vec<String>,
    /// Ours against one backend of theirs, on one dataset.
    pub pairs: Vec<Pair>,
}

/// One of our backends against one of theirs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pair {
    /// Our backend's name (as in the matrix's ids).
    pub ours: String,
    /// Their backend's bench name (`af-<name>`).
    pub theirs: String,
    /// Their type as constructed.
    pub theirs_type: String,
    /// Records in both stores.
    pub dataset: u64,
    /// One row per operation and concurrency.
    pub rows: Vec<Row>,
}

/// One operation at one concurrency, on both sides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// The trait method.
    pub operation: String,
    /// Calls in flight per iteration (1 or 16).
    pub concurrency: u64,
    /// Ours.
    pub ours: Cell,
    /// Theirs.
    pub theirs: Cell,
}

/// A median, or why there is none.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Criterion's median time per iteration (a call at c1, a batch of 16 at c16), ns.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub median_ns: Option<f64>,
    /// Why it was not timed, or its timing not kept: the probe's failure, a failure
    /// during timing, a result missing.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub not_comparable: Option<String>,
}

impl Row {
    /// Ours / theirs latency (below 1: ours faster), when both were timed.
    pub fn ratio(&self) -> Option<f64> {
        Some(self.ours.median_ns? / self.theirs.median_ns?)
    }
}

/// Reads a summary.
pub fn load(path: &Path) -> Result<Peers, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// How the peers figures are made.
pub const METHOD: &str = "Their backends run behind the compat adapter \
    (`compat/auth-framework`: one call of theirs per call of ours, records mapped field by field), \
    on the same criterion workload, dataset and concurrency as ours (`authstore_bench::workload`), \
    in one run, pair by pair: our backend, then each of theirs, each on a fresh store filled through \
    its own API. Before an operation is timed on either side it is probed once with the same call, \
    and what it read or changed is read back and compared with the dataset (fields but timestamps, \
    the exact set of listed ids, the value's bytes; listing order is not checked, their contract \
    promises none): an operation that errs, misses or gives a wrong result is not timed and shows as \
    not comparable, with what happened. A failure while timing also makes it not comparable. \
    Ratio = ours / theirs (below 1: ours faster).";

/// The section, markers included.
pub fn render_markdown(peers: &Peers) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "{START}");
    let _ = writeln!(w, "## Peers: {} {}\n", peers.peer, peers.peer_version);
    let _ = writeln!(w, "{METHOD}\n");
    let finished = peers
        .finished_unix
        .map_or_else(|| "did not finish".to_owned(), utc);
    let load = match peers.load_average.as_slice() {
        [] => "not recorded".to_owned(),
        [only] => only.clone(),
        [start, .., end] => format!("{start} at the start, {end} at the end"),
    };
    let _ = writeln!(w, "| | |\n|---|---|");
    let _ = writeln!(w, "| Mode | {} |", peers.mode);
    let _ = writeln!(w, "| Run | {} to {finished} |", utc(peers.started_unix));
    let _ = writeln!(
        w,
        "| Machine | {}, {} logical CPUs |",
        peers.machine.cpu_model, peers.machine.cores
    );
    let _ = writeln!(w, "| Load average (1/5/15 min) | {load} |");
    let _ = writeln!(w, "| Toolchain | {} |", peers.rustc);
    let _ = writeln!(
        w,
        "| Versions | authstore {}, {} {} |",
        peers.authstore_version, peers.peer, peers.peer_version
    );
    for (server, version) in &peers.servers {
        let _ = writeln!(w, "| {server} server | {version} |");
    }
    let _ = writeln!(w);
    for note in &peers.notes {
        let _ = writeln!(w, "- {note}");
    }
    if !peers.notes.is_empty() {
        let _ = writeln!(w);
    }
    for pair in &peers.pairs {
        let _ = writeln!(
            w,
            "### {} vs `{}` ({}, {} records)\n",
            pair.ours,
            pair.theirs_type,
            pair.theirs,
            dataset_label(pair.dataset)
        );
        let _ = writeln!(
            w,
            "| Operation | c1 ours | c1 theirs | c1 ours/theirs | c16 ours | c16 theirs | c16 ours/theirs |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|");
        let mut operations: Vec<&str> = Vec::new();
        for row in &pair.rows {
            if !operations.contains(&row.operation.as_str()) {
                operations.push(&row.operation);
            }
        }
        let mut reasons: Vec<String> = Vec::new();
        for op in &operations {
            let mut cells = Vec::new();
            for concurrency in [1, 16] {
                let row = pair
                    .rows
                    .iter()
                    .find(|r| r.operation == *op && r.concurrency == concurrency);
                let Some(row) = row else {
                    cells.extend(["—".to_owned(), "—".to_owned(), "—".to_owned()]);
                    continue;
                };
                let mut show =
                    |side: &str, cell: &Cell| match (cell.median_ns, &cell.not_comparable) {
                        (Some(ns), _) => nanos(ns),
                        (None, why) => {
                            let why = why.as_deref().unwrap_or("no result");
                            let note = format!("{side} `{op}` c{concurrency}: {why}");
                            let index =
                                reasons.iter().position(|r| *r == note).unwrap_or_else(|| {
                                    reasons.push(note);
                                    reasons.len() - 1
                                });
                            format!("not comparable [{}]", index + 1)
                        }
                    };
                let ours = show("ours", &row.ours);
                let theirs = show("theirs", &row.theirs);
                cells.extend([ours, theirs, row.ratio().map_or("—".to_owned(), factor)]);
            }
            let _ = writeln!(w, "| `{op}` | {} |", cells.join(" | "));
        }
        let _ = writeln!(w);
        for (i, reason) in reasons.iter().enumerate() {
            let _ = writeln!(w, "{}. {}", i + 1, one_line(reason));
        }
        if !reasons.is_empty() {
            let _ = writeln!(w);
        }
    }
    let _ = writeln!(w, "{END}");
    md
}

/// A reason on one Markdown line, without table-breaking characters.
fn one_line(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

/// `doc` with its peers section replaced by `section` (markers included); without
/// markers, `section` goes before `## Method`, or at the end.
pub fn replace_section(doc: &str, section: &str) -> String {
    if let (Some(start), Some(end)) = (doc.find(START), doc.find(END))
        && start < end
    {
        let after = &doc[end + END.len()..];
        let after = after.strip_prefix('\n').unwrap_or(after);
        return format!("{}{section}{after}", &doc[..start]);
    }
    match doc.find("\n## Method\n") {
        Some(at) => format!("{}{section}{}", &doc[..at + 1], &doc[at..]),
        None => format!("{doc}\n{section}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Peers {
        let cell = |ns: f64| Cell {
            median_ns: Some(ns),
            not_comparable: None,
        };
        Peers {
            peer: "auth-framework".into(),
            peer_version: "0.6.0-rc202".into(),
            mode: "quick".into(),
            started_unix: 1_796_083_200,
            finished_unix: Some(1_796_083_800),
            load_average: vec!["3.10 2.00 1.50".into(), "3.40 2.50 1.70".into()],
            rustc: "rustc 1.95.0".into(),
            authstore_version: "0.1.0".into(),
            notes: vec!["sqlite: no counterpart of ours".into()],
            pairs: vec![Pair {
                ours: "memory".into(),
                theirs: "af-memory".into(),
                theirs_type: "storage::MemoryStorage".into(),
                dataset: 1_000,
                rows: vec![
                    Row {
                        operation: "get_kv".into(),
                        concurrency: 1,
                        ours: cell(200.0),
                        theirs: cell(800.0),
                    },
                    Row {
                        operation: "get_kv".into(),
                        concurrency: 16,
                        ours: cell(4_000.0),
                        theirs: cell(2_000.0),
                    },
                    Row {
                        operation: "store_token".into(),
                        concurrency: 1,
                        ours: cell(1_500.0),
                        theirs: Cell {
                            median_ns: None,
                            not_comparable: Some(
                                "store_token: list_user_tokens(user-0000003) lists 11 | ids".into(),
                            ),
                        },
                    },
                ],
            }],
            ..Peers::default()
        }
    }

    /// A pair's table: both medians, the ratio ours / theirs, and a not-comparable
    /// cell pointing to its reason, which keeps the table intact.
    #[test]
    fn renders_each_pair_with_ratios_and_reasons() {
        let md = render_markdown(&sample());
        assert!(
            md.starts_with(START) && md.trim_end().ends_with(END),
            "{md}"
        );
        assert!(md.contains("## Peers: auth-framework 0.6.0-rc202"), "{md}");
        assert!(md.contains("3.40 2.50 1.70 at the end"), "{md}");
        assert!(
            md.contains("### memory vs `storage::MemoryStorage` (af-memory, 1k records)"),
            "{md}"
        );
        assert!(
            md.contains("| `get_kv` | 200 ns | 800 ns | 0.25x | 4.00 µs | 2.00 µs | 2.00x |"),
            "{md}"
        );
        assert!(
            md.contains("| `store_token` | 1.50 µs | not comparable [1] | — | — | — | — |"),
            "{md}"
        );
        assert!(
            md.contains("1. theirs `store_token` c1: store_token: list_user_tokens(user-0000003) lists 11 \\| ids"),
            "{md}"
        );
        assert!(md.contains("- sqlite: no counterpart of ours"), "{md}");
    }

    /// In place: the old section goes, the rest stays; without markers the section
    /// lands before `## Method`.
    #[test]
    fn replaces_the_section_in_place() {
        let section = render_markdown(&sample());
        let old =
            format!("# B\n\n## Per operation\nx\n{START}\nold peers\n{END}\n## Method\n- m\n");
        let new = replace_section(&old, &section);
        assert_eq!(
            new,
            format!("# B\n\n## Per operation\nx\n{section}## Method\n- m\n")
        );
        assert_eq!(replace_section(&new, &section), new, "idempotent");
        let bare = "# B\n\n## Per operation\nx\n\n## Method\n- m\n";
        let added = replace_section(bare, &section);
        assert_eq!(
            added,
            format!("# B\n\n## Per operation\nx\n\n{section}\n## Method\n- m\n")
        );
    }

    #[test]
    fn the_summary_round_trips_through_json() {
        let peers = sample();
        let text = serde_json::to_string_pretty(&peers).unwrap();
        assert!(!text.contains("\"median_ns\": null"), "{text}");
        assert_eq!(serde_json::from_str::<Peers>(&text).unwrap(), peers);
    }
}
