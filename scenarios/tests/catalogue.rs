//! The catalogue against SPEC.md: every MUST clause has a scenario, every cited clause
//! exists, ids are unique and usable as test names.

use std::collections::{BTreeSet, HashSet};

use authstore_scenarios::catalogue;
use authstore_spec::{Level, clauses};

#[test]
fn every_must_clause_has_a_scenario() {
    let spec = clauses();
    let known: HashSet<&str> = spec.iter().map(|c| c.id).collect();
    let mut cited = HashSet::new();
    let mut unknown = BTreeSet::new();
    for scenario in catalogue() {
        for clause in scenario.clauses {
            cited.insert(*clause);
            if !known.contains(clause) {
                unknown.insert(format!("{} cites {clause}", scenario.id));
            }
        }
    }
    let uncovered: BTreeSet<&str> = spec
        .iter()
        .filter(|c| c.level == Level::Must && !cited.contains(c.id))
        .map(|c| c.id)
        .collect();
    assert!(
        unknown.is_empty(),
        "scenarios cite clauses SPEC.md lacks: {unknown:?}"
    );
    assert!(
        uncovered.is_empty(),
        "MUST clauses with no scenario: {uncovered:?}"
    );
}

#[test]
fn scenario_ids_are_unique_test_names() {
    let mut seen = HashSet::new();
    for scenario in catalogue() {
        assert!(seen.insert(scenario.id), "duplicate id {}", scenario.id);
        assert!(
            scenario.id.starts_with(scenario.area.name()),
            "{} should start with its area {}",
            scenario.id,
            scenario.area
        );
        assert!(
            scenario
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{} is not a snake_case identifier",
            scenario.id
        );
        assert!(
            !scenario.clauses.is_empty(),
            "{} cites no clause",
            scenario.id
        );
    }
}

#[test]
fn catalogue_has_at_least_sixty_scenarios() {
    let count = catalogue().len();
    assert!(count >= 60, "the catalogue has {count} scenarios");
}
