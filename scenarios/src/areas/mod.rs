//! One module per area; each exposes `scenarios()`.

mod access;
mod cached_miss;
mod capacity;
mod cleanup;
mod concurrency;
mod counting;
mod default_ttl;
mod expiry;
mod folds;
mod input;
mod json;
mod kv;
mod lifetimes;
mod listing;
mod multi_handle;
mod namespaces;
mod other_namespace;
mod races;
mod reuse;
mod same_item;
mod scale;
mod sessions;
mod tokens;

use crate::Scenario;

pub(crate) fn all() -> Vec<Scenario> {
    [
        tokens::scenarios(),
        reuse::scenarios(),
        access::scenarios(),
        sessions::scenarios(),
        counting::scenarios(),
        kv::scenarios(),
        capacity::scenarios(),
        expiry::scenarios(),
        default_ttl::scenarios(),
        lifetimes::scenarios(),
        listing::scenarios(),
        scale::scenarios(),
        input::scenarios(),
        json::scenarios(),
        namespaces::scenarios(),
        folds::scenarios(),
        other_namespace::scenarios(),
        concurrency::scenarios(),
        same_item::scenarios(),
        races::scenarios(),
        cleanup::scenarios(),
        multi_handle::scenarios(),
        cached_miss::scenarios(),
    ]
    .concat()
}
