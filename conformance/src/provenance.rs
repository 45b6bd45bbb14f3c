//! [`Provenance`]: where a report comes from, so that a published one can be checked:
//! which tool and specification produced it, over how much of the catalogue, when.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The facts a report carries about its own making.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// `authstore-conformance` and its version.
    pub tool: String,
    /// The version of `authstore-spec` whose SPEC.md the scenarios cite.
    pub spec_version: String,
    /// SHA-256 of that SPEC.md, hex: two reports compare only if it matches.
    pub spec_sha256: String,
    /// How many scenarios the catalogue has.
    pub catalogue_size: usize,
    /// The scenario filter of the run, if it was filtered (`None`: the whole catalogue
    /// was asked for).
    pub filter: Option<String>,
    /// When the report was written, RFC 3339 UTC.
    pub generated_at: String,
}

impl Provenance {
    /// This build's provenance, stamped now.
    pub fn current(filter: Option<String>) -> Self {
        Self {
            tool: format!("authstore-conformance {}", env!("CARGO_PKG_VERSION")),
            spec_version: authstore_spec::VERSION.to_owned(),
            spec_sha256: hex::encode(Sha256::digest(authstore_spec::SPEC_MD.as_bytes())),
            catalogue_size: authstore_scenarios::catalogue().len(),
            filter,
            generated_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }
}
