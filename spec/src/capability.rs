//! What a backend claims to support. A scenario that needs a capability the backend does
//! not claim is reported as "not claimed", never as passed.

use std::fmt;

/// One optional area of the specification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Capability {
    /// Items expire at their expiry instant (tokens, sessions, kv TTLs): scenarios that
    /// wait for time to pass.
    Expiry,
    /// Many tasks may use one storage at once: scenarios that race writers and readers.
    Concurrency,
    /// kv values of at least 1 MiB.
    LargeValues,
    /// A second, independent handle on the same data (another pool, another node).
    MultiHandle,
    /// A configured capacity, which the fixture declares: scenarios that churn far more
    /// data than it through a small live set, then fill it.
    Capacity,
    /// A second store on the same server under another namespace (schema, database, key
    /// prefix), which the fixture provides: scenarios that check the two see nothing of
    /// each other.
    Namespaces,
    /// A configurable default kv TTL (`TTL-2`): the fixture makes, on demand, a fresh
    /// store configured with the default TTL the scenario asks for.
    DefaultTtl,
    /// A documented kv value size limit (`KV-5`), which the fixture declares: scenarios
    /// store values of exactly that size and one byte more.
    ValueLimit,
    /// A way to count what the store physically holds, expired items included, which
    /// the fixture provides: cleanup scenarios check that expired items are gone.
    Introspection,
}

impl Capability {
    /// Every capability, in report order.
    pub const ALL: [Capability; 9] = [
        Capability::Expiry,
        Capability::Concurrency,
        Capability::LargeValues,
        Capability::MultiHandle,
        Capability::Capacity,
        Capability::Namespaces,
        Capability::DefaultTtl,
        Capability::ValueLimit,
        Capability::Introspection,
    ];

    /// The name used in reports and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Capability::Expiry => "expiry",
            Capability::Concurrency => "concurrency",
            Capability::LargeValues => "large-values",
            Capability::MultiHandle => "multi-handle",
            Capability::Capacity => "capacity",
            Capability::Namespaces => "namespaces",
            Capability::DefaultTtl => "default-ttl",
            Capability::ValueLimit => "value-limit",
            Capability::Introspection => "introspection",
        }
    }

    const fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of [`Capability`] values: what a backend claims, or what a scenario needs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Capabilities(u16);

impl Capabilities {
    /// The empty set.
    pub const NONE: Capabilities = Capabilities(0);
    /// Everything a single handle can show: expiry, concurrency and large values.
    pub const CORE: Capabilities = Capabilities::NONE
        .with(Capability::Expiry)
        .with(Capability::Concurrency)
        .with(Capability::LargeValues);
    /// Every capability a store can claim without declaring more in its fixture:
    /// [`Self::CORE`] and multi-handle. The others need the fixture's help:
    /// [`Capability::Capacity`], [`Capability::Namespaces`], [`Capability::DefaultTtl`],
    /// [`Capability::ValueLimit`] and [`Capability::Introspection`].
    pub const ALL: Capabilities = Capabilities::CORE.with(Capability::MultiHandle);

    /// This set with `capability` added.
    pub const fn with(self, capability: Capability) -> Capabilities {
        Capabilities(self.0 | capability.bit())
    }

    /// This set with `capability` removed.
    pub const fn without(self, capability: Capability) -> Capabilities {
        Capabilities(self.0 & !capability.bit())
    }

    /// Whether `capability` is in the set.
    pub const fn contains(self, capability: Capability) -> bool {
        self.0 & capability.bit() != 0
    }

    /// The capabilities of `needed` that are not in this set, in report order.
    pub fn missing(self, needed: Capabilities) -> Vec<Capability> {
        needed.iter().filter(|c| !self.contains(*c)).collect()
    }

    /// The capabilities in the set, in report order.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .into_iter()
            .filter(move |c| self.contains(*c))
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl FromIterator<Capability> for Capabilities {
    fn from_iter<I: IntoIterator<Item = Capability>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Capabilities::NONE, Capabilities::with)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_operations() {
        let claimed = Capabilities::CORE;
        assert!(claimed.contains(Capability::Expiry));
        assert!(!claimed.contains(Capability::MultiHandle));
        assert_eq!(
            claimed.missing(Capabilities::ALL),
            vec![Capability::MultiHandle]
        );
        assert!(Capabilities::ALL.missing(Capabilities::ALL).is_empty());
        assert_eq!(
            Capabilities::ALL.without(Capability::MultiHandle),
            Capabilities::CORE
        );
    }
}
