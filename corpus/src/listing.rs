//! `list_kv_keys` (SPEC.md `LST-*`): which keys match a prefix, and in what order and
//! shape they are returned.

use std::collections::HashSet;

use crate::bug::Bug;

/// How many keys one page of a paged scan holds.
const PAGE: usize = 100;
/// The most keys one listing returns under [`Bug::ListingCappedAt1000`].
const CAP: usize = 1000;

/// Whether `key` is listed for `prefix`: it starts with it, byte for byte (`LST-1`,
/// `LST-2`, `LST-6`).
pub(crate) fn matches(bug: Option<Bug>, prefix: &str, key: &str) -> bool {
    match bug {
        Some(Bug::PrefixMatchedAsGlob) => glob(&format!("{prefix}*"), key),
        Some(Bug::PrefixMatchedAsLikePattern) => like(&format!("{prefix}%"), key),
        Some(Bug::PrefixCaseInsensitive) => key.to_lowercase().starts_with(&prefix.to_lowercase()),
        _ => key.starts_with(prefix),
    }
}

/// Whether the prefix needs a scan of every key rather than a range scan from `prefix`.
pub(crate) fn needs_full_scan(bug: Option<Bug>) -> bool {
    matches!(
        bug,
        Some(
            Bug::PrefixMatchedAsGlob | Bug::PrefixMatchedAsLikePattern | Bug::PrefixCaseInsensitive
        )
    )
}

/// The listing's answer from the matching live keys, given in ascending byte order
/// (`LST-3`, `LST-4`, `LST-5`).
pub(crate) fn finish(bug: Option<Bug>, prefix: &str, mut keys: Vec<String>) -> Vec<String> {
    match bug {
        Some(Bug::EmptyPrefixListsNothing) if prefix.is_empty() => Vec::new(),
        Some(Bug::ListingUnsorted) => {
            let unique: HashSet<String> = keys.into_iter().collect();
            unique.into_iter().collect()
        }
        Some(Bug::ListingSortedCaseInsensitively) => {
            keys.sort_by_key(|k| k.to_lowercase());
            keys
        }
        Some(Bug::ListingStripsPrefix) => keys
            .into_iter()
            .map(|k| k[prefix.len()..].to_string())
            .collect(),
        Some(Bug::ListingReturnsOnePage) => {
            keys.truncate(PAGE);
            keys
        }
        Some(Bug::ListingCappedAt1000) => {
            keys.truncate(CAP);
            keys
        }
        _ => keys,
    }
}

/// Glob matching: `*` any run of characters, `?` any one, `[...]` one of a set.
fn glob(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    glob_at(&pattern, &text)
}

fn glob_at(pattern: &[char], text: &[char]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some('*') => (0..=text.len()).any(|skip| glob_at(&pattern[1..], &text[skip..])),
        Some('?') => !text.is_empty() && glob_at(&pattern[1..], &text[1..]),
        Some('[') => match pattern.iter().position(|c| *c == ']') {
            Some(close) if close > 1 => {
                !text.is_empty()
                    && pattern[1..close].contains(&text[0])
                    && glob_at(&pattern[close + 1..], &text[1..])
            }
            _ => text.first() == Some(&'[') && glob_at(&pattern[1..], &text[1..]),
        },
        Some(c) => text.first() == Some(c) && glob_at(&pattern[1..], &text[1..]),
    }
}

/// SQL `LIKE` matching: `%` any run of characters, `_` any one, `\` escapes.
fn like(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();
    like_at(&pattern, &text)
}

fn like_at(pattern: &[char], text: &[char]) -> bool {
    match pattern.first() {
        None => text.is_empty(),
        Some('%') => (0..=text.len()).any(|skip| like_at(&pattern[1..], &text[skip..])),
        Some('_') => !text.is_empty() && like_at(&pattern[1..], &text[1..]),
        Some('\\') if pattern.len() > 1 => {
            text.first() == Some(&pattern[1]) && like_at(&pattern[2..], &text[1..])
        }
        Some(c) => text.first() == Some(c) && like_at(&pattern[1..], &text[1..]),
    }
}
