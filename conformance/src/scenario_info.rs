//! [`ScenarioInfo`]: a scenario described for listings (`list --json`), without its body.

use authstore_scenarios::Scenario;
use serde::{Deserialize, Serialize};

/// What a listing says about one scenario.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScenarioInfo {
    /// The scenario id.
    pub id: String,
    /// Its area's name (`tokens`, `kv`, ...).
    pub area: String,
    /// The SPEC.md clauses it checks.
    pub clauses: Vec<String>,
    /// The capabilities a backend must claim for it to run, by name.
    pub needs: Vec<String>,
    /// What it checks, in one line.
    pub summary: String,
}

impl From<&Scenario> for ScenarioInfo {
    fn from(scenario: &Scenario) -> Self {
        Self {
            id: scenario.id.to_owned(),
            area: scenario.area.name().to_owned(),
            clauses: scenario.clauses.iter().map(|c| (*c).to_owned()).collect(),
            needs: scenario.needs.iter().map(|c| c.name().to_owned()).collect(),
            summary: scenario.summary.to_owned(),
        }
    }
}

impl ScenarioInfo {
    /// The listing of `scenarios` as a pretty-printed JSON array.
    pub fn json_listing(scenarios: &[Scenario]) -> Result<String, serde_json::Error> {
        let infos: Vec<ScenarioInfo> = scenarios.iter().map(ScenarioInfo::from).collect();
        serde_json::to_string_pretty(&infos)
    }

    /// The plain listing line: `<id>\t<clause ids comma-separated>`.
    pub fn plain_line(scenario: &Scenario) -> String {
        format!("{}\t{}", scenario.id, scenario.clauses.join(","))
    }
}
