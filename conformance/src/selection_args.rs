//! [`SelectionArgs`]: the command-line flags of a [`Selection`], for clap, shared by the
//! harness command line and the [`main`](crate::main) entry point.

use authstore_scenarios::Area;
use authstore_spec::Capability;

use crate::selection::Selection;

/// `--scenario`, `--area`, `--clause` and `--capability`, each repeatable: repeats of one
/// flag are alternatives, different flags must all hold.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectionArgs {
    /// Only scenarios whose id contains FILTER (repeatable).
    #[arg(long = "scenario", value_name = "FILTER")]
    pub scenarios: Vec<String>,
    /// Only scenarios of this area, as in scenario ids: tokens, access, kv, ... (repeatable).
    #[arg(long = "area", value_name = "AREA", value_parser = parse_area)]
    pub areas: Vec<Area>,
    /// Only scenarios citing this SPEC.md clause, exactly (TOK-3) or by family (TOK)
    /// (repeatable).
    #[arg(long = "clause", value_name = "CLAUSE")]
    pub clauses: Vec<String>,
    /// Only scenarios needing this capability: expiry, multi-handle, ... (repeatable).
    #[arg(long = "capability", value_name = "CAPABILITY", value_parser = parse_capability)]
    pub capabilities: Vec<Capability>,
}

impl SelectionArgs {
    /// The selection these flags make.
    pub fn selection(&self) -> Selection {
        let selection = self
            .scenarios
            .iter()
            .fold(Selection::all(), |s, id| s.with_id(id));
        let selection = self.areas.iter().fold(selection, |s, a| s.with_area(*a));
        let selection = self.clauses.iter().fold(selection, |s, c| s.with_clause(c));
        self.capabilities
            .iter()
            .fold(selection, |s, c| s.with_capability(*c))
    }
}

fn parse_area(name: &str) -> Result<Area, String> {
    Selection::parse_area(name).map_err(|err| err.to_string())
}

fn parse_capability(name: &str) -> Result<Capability, String> {
    Selection::parse_capability(name).map_err(|err| err.to_string())
}
