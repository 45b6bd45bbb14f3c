//! The [`Scenario`] record.

use std::fmt;

use authstore_spec::Capabilities;
use futures::future::BoxFuture;

use crate::check::Outcome;
use crate::context::Ctx;

/// The part of the specification a scenario exercises; one module per area.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Area {
    /// Storing, reading, replacing and deleting tokens.
    Tokens,
    /// Access-token lookups and index hygiene after updates, deletes and expiry.
    AccessTokens,
    /// Storing, reading, replacing and deleting sessions.
    Sessions,
    /// `count_active_sessions`.
    Counting,
    /// Key-value entries.
    Kv,
    /// TTLs and expiry of every kind of item.
    Expiry,
    /// `list_kv_keys`.
    Listing,
    /// Invalid ids, keys, tokens and timestamps.
    BadInput,
    /// Separation of token, session and kv namespaces and of users.
    Namespaces,
    /// Concurrent readers and writers.
    Concurrency,
    /// `cleanup_expired`.
    Cleanup,
    /// Two handles on the same data.
    MultiHandle,
}

impl Area {
    /// The area's name, used as the first part of scenario ids.
    pub const fn name(self) -> &'static str {
        match self {
            Area::Tokens => "tokens",
            Area::AccessTokens => "access",
            Area::Sessions => "sessions",
            Area::Counting => "counting",
            Area::Kv => "kv",
            Area::Expiry => "expiry",
            Area::Listing => "listing",
            Area::BadInput => "input",
            Area::Namespaces => "namespaces",
            Area::Concurrency => "concurrency",
            Area::Cleanup => "cleanup",
            Area::MultiHandle => "multi_handle",
        }
    }
}

impl fmt::Display for Area {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The async body of a scenario.
pub type ScenarioFn = fn(Ctx) -> BoxFuture<'static, Outcome>;

/// One conformance check.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// Unique id, `<area>_<what>` in snake case, usable as a Rust test name.
    pub id: &'static str,
    /// The area it belongs to.
    pub area: Area,
    /// The SPEC.md clause ids it checks.
    pub clauses: &'static [&'static str],
    /// The capabilities a backend must claim for it to run.
    pub needs: Capabilities,
    /// One line: the behaviour it checks.
    pub summary: &'static str,
    /// The body.
    pub run: ScenarioFn,
}

impl fmt::Debug for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scenario")
            .field("id", &self.id)
            .field("clauses", &self.clauses)
            .field("needs", &self.needs)
            .finish_non_exhaustive()
    }
}

/// Declares a [`Scenario`] from an `async fn(Ctx) -> Outcome`:
///
/// ```ignore
/// scenario!(tokens_store_then_get, Tokens, ["TOK-1"], NONE, "a stored token reads back", body)
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! scenario {
    ($id:ident, $area:ident, [$($clause:literal),+ $(,)?], $needs:expr, $summary:literal, $body:path) => {
        $crate::Scenario {
            id: stringify!($id),
            area: $crate::Area::$area,
            clauses: &[$($clause),+],
            needs: $needs,
            summary: $summary,
            run: |ctx| ::std::boxed::Box::pin($body(ctx)),
        }
    };
}
