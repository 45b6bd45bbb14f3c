//! [`Selection`]: which catalogue scenarios a run covers, by id, area, clause and needed
//! capability. The harness command line and the [`main`](crate::main) entry point share
//! it, so both select the same way and describe the selection the same way in reports.

use authstore_scenarios::{Area, Scenario};
use authstore_spec::Capability;

/// A choice of scenarios. Each kind of criterion is a list: a scenario matches a kind when
/// it matches any entry of it (OR), and the selection when it matches every kind given
/// (AND). The empty selection is the whole catalogue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    ids: Vec<String>,
    areas: Vec<Area>,
    clauses: Vec<String>,
    capabilities: Vec<Capability>,
}

/// A selection that names something unknown or matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// No area of the catalogue has this name.
    #[error("unknown area {given:?}; the areas are: {known}")]
    UnknownArea {
        /// The name given.
        given: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// No capability has this name.
    #[error("unknown capability {given:?}; the capabilities are: {known}")]
    UnknownCapability {
        /// The name given.
        given: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// The selection is valid but no scenario matches it.
    #[error(
        "no scenario matches {selection}; the areas are: {areas}; the capabilities are: \
         {capabilities}; clauses are SPEC.md ids (`TOK-1`) or their prefix (`TOK`); the \
         list command shows every scenario with its clauses"
    )]
    NothingSelected {
        /// The selection, described.
        selection: String,
        /// The catalogue's areas, comma-separated.
        areas: String,
        /// Every capability, comma-separated.
        capabilities: String,
    },
}

impl Selection {
    /// The whole catalogue.
    pub fn all() -> Self {
        Self::default()
    }

    /// Also selects scenarios whose id contains `fragment`.
    pub fn with_id(mut self, fragment: impl Into<String>) -> Self {
        self.ids.push(fragment.into());
        self
    }

    /// Also selects scenarios of `area`.
    pub fn with_area(mut self, area: Area) -> Self {
        self.areas.push(area);
        self
    }

    /// Also selects scenarios citing `clause`: an exact id (`TOK-3`) or the prefix of a
    /// family (`TOK`, matching `TOK-1`, `TOK-2`, ... but not `TOKEN-1`).
    pub fn with_clause(mut self, clause: impl Into<String>) -> Self {
        self.clauses.push(clause.into());
        self
    }

    /// Also selects scenarios needing `capability`.
    pub fn with_capability(mut self, capability: Capability) -> Self {
        self.capabilities.push(capability);
        self
    }

    /// The catalogue's area named `name` (as in scenario ids: `kv`, `access`, `input`).
    pub fn parse_area(name: &str) -> Result<Area, SelectionError> {
        let areas = catalogue_areas();
        areas
            .iter()
            .copied()
            .find(|area| area.name() == name)
            .ok_or_else(|| SelectionError::UnknownArea {
                given: name.to_owned(),
                known: names(areas.iter().map(|a| a.name())),
            })
    }

    /// The capability named `name` (`multi-handle`; `multi_handle` as the macro spells it
    /// works too).
    pub fn parse_capability(name: &str) -> Result<Capability, SelectionError> {
        let wanted = name.replace('_', "-");
        Capability::ALL
            .into_iter()
            .find(|c| c.name() == wanted)
            .ok_or_else(|| SelectionError::UnknownCapability {
                given: name.to_owned(),
                known: names(Capability::ALL.iter().map(|c| c.name())),
            })
    }

    /// Whether this is the whole catalogue (no criterion given).
    pub fn is_all(&self) -> bool {
        *self == Self::default()
    }

    /// Whether `scenario` is selected.
    pub fn matches(&self, scenario: &Scenario) -> bool {
        let any = |empty: bool, hit: bool| empty || hit;
        any(
            self.ids.is_empty(),
            self.ids.iter().any(|f| scenario.id.contains(f.as_str())),
        ) && any(self.areas.is_empty(), self.areas.contains(&scenario.area))
            && any(
                self.clauses.is_empty(),
                self.clauses
                    .iter()
                    .any(|c| scenario.clauses.iter().any(|cited| cites(cited, c))),
            )
            && any(
                self.capabilities.is_empty(),
                self.capabilities
                    .iter()
                    .any(|c| scenario.needs.contains(*c)),
            )
    }

    /// The selected scenarios of `scenarios`, in their order; an error when none is.
    pub fn select(&self, scenarios: &[Scenario]) -> Result<Vec<Scenario>, SelectionError> {
        let selected: Vec<Scenario> = scenarios
            .iter()
            .filter(|s| self.matches(s))
            .copied()
            .collect();
        if selected.is_empty() {
            return Err(SelectionError::NothingSelected {
                selection: self
                    .description()
                    .unwrap_or_else(|| "everything".to_owned()),
                areas: names(catalogue_areas().iter().map(|a| a.name())),
                capabilities: names(Capability::ALL.iter().map(|c| c.name())),
            });
        }
        Ok(selected)
    }

    /// The selected scenarios of the catalogue.
    pub fn select_from_catalogue(&self) -> Result<Vec<Scenario>, SelectionError> {
        self.select(&authstore_scenarios::catalogue())
    }

    /// `id contains "kv_" or "ttl"; area kv; clause TOK-1; needs expiry`, what
    /// [`Report::with_filter`](crate::Report::with_filter) records; `None` for the whole
    /// catalogue.
    pub fn description(&self) -> Option<String> {
        let mut parts = Vec::new();
        let mut kind = |label: &str, values: Vec<String>| {
            if !values.is_empty() {
                parts.push(format!("{label} {}", values.join(" or ")));
            }
        };
        kind(
            "id contains",
            self.ids.iter().map(|f| format!("{f:?}")).collect(),
        );
        kind(
            "area",
            self.areas.iter().map(|a| a.name().to_owned()).collect(),
        );
        kind("clause", self.clauses.clone());
        kind(
            "needs",
            self.capabilities
                .iter()
                .map(|c| c.name().to_owned())
                .collect(),
        );
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Whether a scenario citing `cited` matches the clause criterion `wanted`.
fn cites(cited: &str, wanted: &str) -> bool {
    cited == wanted
        || cited
            .strip_prefix(wanted)
            .is_some_and(|rest| rest.starts_with('-'))
}

/// The areas the catalogue has scenarios in, in area order.
fn catalogue_areas() -> Vec<Area> {
    let mut areas: Vec<Area> = authstore_scenarios::catalogue()
        .iter()
        .map(|s| s.area)
        .collect();
    areas.sort();
    areas.dedup();
    areas
}

fn names<'a>(names: impl Iterator<Item = &'a str>) -> String {
    names.collect::<Vec<_>>().join(", ")
}
