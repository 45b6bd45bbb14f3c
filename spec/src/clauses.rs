//! The clauses of SPEC.md, parsed from the document itself so the catalogue can be checked
//! against it (every MUST clause has a scenario; every cited clause exists).

/// The specification text, as shipped in this crate.
pub const SPEC_MD: &str = include_str!("../SPEC.md");

/// How binding a clause is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// A backend that breaks it is not conformant.
    Must,
    /// Recommended; a backend may have a documented reason not to.
    Should,
}

/// One numbered clause of SPEC.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// The id, e.g. `TOK-3`.
    pub id: &'static str,
    /// MUST or SHOULD.
    pub level: Level,
    /// The clause's sentence.
    pub text: &'static str,
}

/// Every clause of SPEC.md, in document order.
///
/// A clause is a line of the form ``- **`ID`** (MUST) sentence`` (or `(SHOULD)`).
pub fn clauses() -> Vec<Clause> {
    SPEC_MD.lines().filter_map(parse_line).collect()
}

/// The clause with this id, if SPEC.md has one.
pub fn clause(id: &str) -> Option<Clause> {
    clauses().into_iter().find(|c| c.id == id)
}

fn parse_line(line: &'static str) -> Option<Clause> {
    let rest = line.strip_prefix("- **`")?;
    let (id, rest) = rest.split_once("`** ")?;
    let (level, text) = if let Some(text) = rest.strip_prefix("(MUST) ") {
        (Level::Must, text)
    } else {
        (Level::Should, rest.strip_prefix("(SHOULD) ")?)
    };
    Some(Clause { id, level, text })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn clause_ids_are_unique_and_well_formed() {
        let all = clauses();
        assert!(all.len() >= 40, "only {} clauses parsed", all.len());
        let mut seen = HashSet::new();
        for c in &all {
            assert!(seen.insert(c.id), "clause {} appears twice", c.id);
            let (area, number) = c.id.split_once('-').expect("ID has AREA-N form");
            assert!(area.chars().all(|ch| ch.is_ascii_uppercase()), "{}", c.id);
            assert!(number.parse::<u32>().is_ok(), "{}", c.id);
            assert!(!c.text.is_empty());
        }
    }
}
