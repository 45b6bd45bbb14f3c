//! The vocabulary the runner and the reports share: a scenario's [`Verdict`] and its
//! [`ScenarioRun`]. Its own module so that neither of the two imports the other.

use std::fmt;
use std::time::Duration;

use authstore_spec::Capability;

/// The result of one scenario against one backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every check held.
    Passed,
    /// A check failed, the backend panicked or hung, or its fixture could not be built;
    /// the message says which.
    Failed(String),
    /// The scenario needs these capabilities, which the backend does not claim; it was
    /// not run, and this is never counted as passed.
    NotClaimed(Vec<Capability>),
}

impl Verdict {
    /// Whether the scenario ran and passed.
    pub fn is_passed(&self) -> bool {
        matches!(self, Verdict::Passed)
    }

    /// Whether the scenario ran and failed.
    pub fn is_failed(&self) -> bool {
        matches!(self, Verdict::Failed(_))
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Passed => f.write_str("passed"),
            Verdict::Failed(message) => write!(f, "failed: {message}"),
            Verdict::NotClaimed(missing) => f.write_str(&not_claimed_message(missing)),
        }
    }
}

/// `not claimed: needs multi-handle`, the wording of reports and ignored tests.
pub(crate) fn not_claimed_message(missing: &[Capability]) -> String {
    let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
    format!("not claimed: needs {}", names.join(", "))
}

/// A [`Verdict`] and how long the scenario took, teardown included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioRun {
    /// What happened.
    pub verdict: Verdict,
    /// Wall-clock time from start to the end of teardown.
    pub duration: Duration,
}
