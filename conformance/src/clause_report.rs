//! Verdicts per SPEC.md clause, derived from the scenarios that cite it, and the hint a
//! failed clause's report entry gives.

use authstore_spec::{Clause, Level};
use serde::{Deserialize, Serialize};

use crate::report::{ScenarioReport, Status};

/// How one clause fared against one backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClauseStatus {
    /// Every scenario citing it that ran passed, and at least one ran.
    Passed,
    /// A scenario citing it failed.
    Failed,
    /// Every scenario citing it that is in the report needs an unclaimed capability.
    NotClaimed,
    /// No scenario of the report cites it: the catalogue has none (a SHOULD clause
    /// checked only by review), or the run was filtered.
    NotChecked,
}

impl ClauseStatus {
    /// The word used in reports.
    pub fn label(self) -> &'static str {
        match self {
            ClauseStatus::Passed => "pass",
            ClauseStatus::Failed => "FAIL",
            ClauseStatus::NotClaimed => "not claimed",
            ClauseStatus::NotChecked => "not checked",
        }
    }
}

/// One clause against one backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseReport {
    /// The clause id, e.g. `KV-3`.
    pub clause: String,
    /// `MUST` or `SHOULD`.
    pub level: String,
    /// How it fared.
    pub status: ClauseStatus,
    /// The scenarios of the report citing it, in report order.
    pub scenarios: Vec<String>,
}

/// One entry per clause of SPEC.md, in document order, judged on `results`.
pub(crate) fn judge(results: &[ScenarioReport]) -> Vec<ClauseReport> {
    authstore_spec::clauses()
        .into_iter()
        .map(|clause| {
            let citing: Vec<&ScenarioReport> = results
                .iter()
                .filter(|r| r.clauses.iter().any(|c| c == clause.id))
                .collect();
            let ran = || citing.iter().filter(|r| r.status != Status::NotClaimed);
            let status = if citing.is_empty() {
                ClauseStatus::NotChecked
            } else if citing.iter().any(|r| r.status == Status::Failed) {
                ClauseStatus::Failed
            } else if ran().next().is_none() {
                ClauseStatus::NotClaimed
            } else {
                ClauseStatus::Passed
            };
            ClauseReport {
                clause: clause.id.to_owned(),
                level: level_name(&clause).to_owned(),
                status,
                scenarios: citing.iter().map(|r| r.scenario.clone()).collect(),
            }
        })
        .collect()
}

/// `MUST` or `SHOULD`.
pub(crate) fn level_name(clause: &Clause) -> &'static str {
    match clause.level {
        Level::Must => "MUST",
        Level::Should => "SHOULD",
    }
}

/// Where to look first when clause `id` fails: the helper of `authstore-spec` that
/// implements it, or the part of a backend that usually gets it wrong.
pub(crate) fn hint(id: &str) -> &'static str {
    let area = id.split('-').next().unwrap_or(id);
    match area {
        "VAL" => {
            "`authstore_spec::validate` implements the input rules: call `validate::token`, \
             `validate::session`, `validate::id`, `validate::key`, `validate::prefix` first \
             in every method"
        }
        "TIME" | "TTL" => {
            "`authstore_spec::time` computes expiry instants and TTL deadlines the way the \
             scenarios expect; compare with one clock (the server's or the caller's) everywhere"
        }
        "ACC" => {
            "keep the access-token index in the same atomic write as the token: a re-store, \
             delete, expiry or cleanup must update both"
        }
        "TOK" | "SES" | "CNT" => {
            "check that every index (per user, per access token, counts) changes in the same \
             atomic step as the record, including on re-store, expiry and cleanup"
        }
        "KV" | "LST" => {
            "compare keys as exact bytes (no case or Unicode folding, no trimming) and list \
             every page of a prefix scan"
        }
        "CON" | "MH" => {
            "look for check-then-act windows: read-modify-write sequences that are not one \
             atomic operation, and caches that can keep a value a write replaced"
        }
        "CLN" => "cleanup must remove expired records together with their index entries",
        "NS" => "every key, table or index must carry the store's namespace",
        "GEN" | "ERR" => {
            "a panic, a hang or an untyped error: the failure message names the call; map \
             every server error to a `StorageError` kind"
        }
        _ => "see the clause's sentence in SPEC.md",
    }
}
