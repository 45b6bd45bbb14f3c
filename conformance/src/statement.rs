//! The conformance statement: a Markdown snippet and an SVG badge a backend may publish,
//! made only from a complete run with no failure.

use std::fmt::Write as _;

use authstore_spec::Capability;

use crate::clause_report::ClauseStatus;
use crate::report::{BackendReport, Report};

/// What a backend may state about a complete, failure-free run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Statement<'a> {
    report: &'a Report,
    backend: &'a BackendReport,
}

impl<'a> Statement<'a> {
    /// The statement for `backend`, or `None` unless its run covered the whole
    /// catalogue, unfiltered, and nothing failed.
    pub(crate) fn of(report: &'a Report, backend: &'a BackendReport) -> Option<Self> {
        (report.is_complete(backend) && backend.totals.failed == 0 && backend.totals.passed > 0)
            .then_some(Self { report, backend })
    }

    /// The Markdown snippet.
    pub(crate) fn markdown(&self) -> String {
        let p = &self.report.provenance;
        let b = self.backend;
        let unclaimed: Vec<&str> = Capability::ALL
            .iter()
            .map(|c| c.name())
            .filter(|name| !b.capabilities.iter().any(|claimed| claimed == name))
            .collect();
        let count = |level: &str, status: ClauseStatus| {
            b.clauses
                .iter()
                .filter(|c| c.level == level && c.status == status)
                .count()
        };
        let musts = b.clauses.iter().filter(|c| c.level == "MUST").count();
        let mut md = format!("## AuthStorage conformance: {}\n\n", b.name);
        let _ = writeln!(
            md,
            "`{}` passes the AuthStorage conformance catalogue ({} scenarios, SPEC.md of \
             authstore-spec {}, SHA-256 `{}`): {} passed, 0 failed, {} not claimed.\n",
            b.name,
            p.catalogue_size,
            p.spec_version,
            p.spec_sha256,
            b.totals.passed,
            b.totals.not_claimed,
        );
        let _ = writeln!(md, "- Capabilities claimed: {}", b.capabilities.join(", "));
        let _ = writeln!(
            md,
            "- Capabilities not claimed: {}",
            if unclaimed.is_empty() {
                "none".to_owned()
            } else {
                unclaimed.join(", ")
            }
        );
        let _ = writeln!(
            md,
            "- MUST clauses: {} of {musts} checked and passed, {} not claimed, {} not \
             checked by any scenario",
            count("MUST", ClauseStatus::Passed),
            count("MUST", ClauseStatus::NotClaimed),
            count("MUST", ClauseStatus::NotChecked),
        );
        let _ = writeln!(
            md,
            "- Timing profile: {}",
            b.timing.as_deref().unwrap_or("not declared")
        );
        let _ = writeln!(md, "- Checked by {} at {}", p.tool, p.generated_at);
        let _ = writeln!(
            md,
            "\n![AuthStorage conformance](badge-{}.svg)",
            file_slug(&b.name)
        );
        md
    }

    /// A flat two-part badge: `AuthStorage` | `conformant: <capabilities>`.
    pub(crate) fn badge_svg(&self) -> String {
        let left = "AuthStorage";
        let right = format!("conformant: {}", self.backend.capabilities.join(" · "));
        // Verdana 11px averages about 7 px a character; pad 10 px each side.
        let width = |text: &str| 20 + 7 * text.chars().count();
        let (lw, rw) = (width(left), width(&right));
        let total = lw + rw;
        let right = xml_escape(&right);
        format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" aria-label="{left}: {right}">
<title>{left}: {right}</title>
<rect width="{lw}" height="20" fill="#555"/>
<rect x="{lw}" width="{rw}" height="20" fill="#2e8b57"/>
<g fill="#fff" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">
<text x="10" y="14">{left}</text>
<text x="{rx}" y="14">{right}</text>
</g>
</svg>
"##,
            rx = lw + 10,
        )
    }
}

/// A backend name made safe for a file name: letters, digits, `-` and `_` kept, every
/// other character `_`.
pub(crate) fn file_slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}
