//! [`Bug`]: the defects [`BrokenStorage`](crate::BrokenStorage) can be built with, one
//! variant each, and [`BugClass`]: the part of SPEC.md each one breaks.

use std::fmt;

/// The part of SPEC.md a [`Bug`] breaks; the same areas as the scenario catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BugClass {
    /// Storing, replacing, updating, deleting and listing tokens (`TOK-*`, `GEN-3`).
    Tokens,
    /// Access-token lookups, uniqueness and index hygiene (`ACC-*`).
    AccessTokens,
    /// Storing, replacing, deleting and listing sessions (`SES-*`).
    Sessions,
    /// `count_active_sessions` (`CNT-*`).
    Counting,
    /// Key-value entries and their TTLs (`KV-*`, `TTL-*`).
    Kv,
    /// When items stop being visible (`TIME-*`).
    Expiry,
    /// `list_kv_keys` (`LST-*`).
    Listing,
    /// Input rules and all-or-nothing writes (`VAL-*`, `ERR-1`, `GEN-1`, `GEN-4`).
    Input,
    /// Separate namespaces for tokens, sessions, kv keys and users (`NS-*`).
    Namespaces,
    /// Check-then-act windows and non-atomic writes (`CON-*`).
    Concurrency,
    /// `cleanup_expired` (`CLN-*`).
    Cleanup,
    /// Two handles on the same data (`MH-*`).
    MultiHandle,
}

impl BugClass {
    /// The class's name, as the catalogue names its area.
    pub const fn name(self) -> &'static str {
        match self {
            BugClass::Tokens => "tokens",
            BugClass::AccessTokens => "access",
            BugClass::Sessions => "sessions",
            BugClass::Counting => "counting",
            BugClass::Kv => "kv",
            BugClass::Expiry => "expiry",
            BugClass::Listing => "listing",
            BugClass::Input => "input",
            BugClass::Namespaces => "namespaces",
            BugClass::Concurrency => "concurrency",
            BugClass::Cleanup => "cleanup",
            BugClass::MultiHandle => "multi_handle",
        }
    }

    /// The SPEC.md clause family the class belongs to, e.g. `TOK-*`.
    pub const fn clauses(self) -> &'static str {
        match self {
            BugClass::Tokens => "TOK-*, GEN-3, GEN-5",
            BugClass::AccessTokens => "ACC-*",
            BugClass::Sessions => "SES-*",
            BugClass::Counting => "CNT-*",
            BugClass::Kv => "KV-*, TTL-*",
            BugClass::Expiry => "TIME-*",
            BugClass::Listing => "LST-*",
            BugClass::Input => "VAL-*, ERR-1, GEN-1, GEN-4",
            BugClass::Namespaces => "NS-*",
            BugClass::Concurrency => "CON-*",
            BugClass::Cleanup => "CLN-*",
            BugClass::MultiHandle => "MH-*",
        }
    }
}

impl fmt::Display for BugClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Declares [`Bug`] from one entry per defect: its doc comment (the defect, in one
/// sentence), its name, its class and the scenarios expected to catch it.
macro_rules! bugs {
    ($(
        $(#[doc = $doc:literal])+
        $name:ident: $class:ident, [$($scenario:literal),+ $(,)?];
    )+) => {
        /// One deliberately introduced defect of [`BrokenStorage`](crate::BrokenStorage).
        ///
        /// Each is a one-point deviation from the correct code, guarded by a check of the
        /// storage's bug, and each is a mistake a real implementer plausibly makes. The
        /// doc comment of a variant says the defect; [`class`](Bug::class) says which part
        /// of SPEC.md it breaks and [`caught_by`](Bug::caught_by) which catalogue scenarios
        /// are expected to fail because of it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Bug {
            $($(#[doc = $doc])+ $name,)+
        }

        impl Bug {
            /// Every bug, in declaration order.
            pub const ALL: &'static [Bug] = &[$(Bug::$name),+];

            /// The variant's name.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Bug::$name => stringify!($name),)+
                }
            }

            /// The part of SPEC.md the bug breaks.
            pub const fn class(self) -> BugClass {
                match self {
                    $(Bug::$name => BugClass::$class,)+
                }
            }

            /// The ids of the catalogue scenarios expected to fail on a storage with this
            /// bug.
            pub const fn caught_by(self) -> &'static [&'static str] {
                match self {
                    $(Bug::$name => &[$($scenario),+],)+
                }
            }

            /// The defect, in one sentence: the variant's doc comment.
            pub fn defect(self) -> &'static str {
                match self {
                    $(Bug::$name => concat!($($doc),+).trim(),)+
                }
            }
        }
    };
}

bugs! {
    // --- tokens -------------------------------------------------------------------------

    /// Re-storing a token under another user leaves its id in the old user's token index.
    TokenRestoreKeepsOldUserIndex: Tokens, ["tokens_restore_moves_between_users"];

    /// `update_token` to another user leaves the id in the old user's token index.
    UpdateKeepsOldUserIndex: Tokens, ["tokens_update_replaces_live_token"];

    /// `update_token` of an id that was never stored (or was deleted) stores it, like `store_token`.
    UpdateOfAbsentTokenUpserts: Tokens, ["tokens_update_absent_is_not_found"];

    /// `update_token` only checks that the id is in the map, so it returns `Ok` for an expired token.
    UpdateOfExpiredTokenSucceeds: Tokens, ["tokens_update_expired_is_not_found"];

    /// `store_token` of an already-expired token returns `Ok` without writing, so the earlier version stays visible.
    StoreExpiredTokenIsSkipped: Tokens, ["tokens_store_expired_hides_earlier_version"];

    /// The per-user token index is a list appended to on every store, so a re-stored token is listed twice.
    UserTokenIndexIsAList: Tokens, ["tokens_list_is_exact_per_user"];

    /// `list_user_tokens` returns expired tokens too.
    ListTokensIgnoresExpiry: Tokens, ["tokens_store_expired_is_invisible"];

    /// The refresh token is not written with the record, so it reads back as `None`.
    RefreshTokenNotStored: Tokens, ["tokens_store_then_get"];

    /// Scopes are stored as a set, so they read back sorted and deduplicated.
    ScopesStoredAsSet: Tokens, ["tokens_restore_replaces_every_field"];

    /// Empty optional text (token type, address, user agent) is stored as `None`, like SQL `NULLIF(x, '')`.
    EmptyTextBecomesNone: Tokens, ["tokens_text_fields_round_trip_any_utf8"];

    /// NUL characters are stripped from text fields and JSON, as a PostgreSQL `TEXT` column forces.
    NulStrippedFromText: Tokens, ["tokens_text_fields_round_trip_any_utf8", "sessions_text_fields_round_trip_any_utf8"];

    /// Record timestamps are stored to the millisecond instead of the microsecond.
    TimestampsTruncatedToMillis: Tokens, ["tokens_timestamps_keep_microseconds", "sessions_timestamps_keep_microseconds"];

    /// `list_user_tokens` and `list_user_sessions` return at most 1000 items, like a forgotten SQL `LIMIT`.
    UserListsCappedAt1000: Tokens, ["tokens_five_thousand_of_one_user_listed", "sessions_five_thousand_of_one_user_listed_and_counted"];

    /// JSON numbers in metadata and session data are kept as `f64`, so `u64::MAX` and `i64::MIN` lose digits.
    JsonNumbersAsF64: Tokens, ["input_json_extremes_round_trip", "tokens_store_then_get", "sessions_store_then_get"];

    /// `delete_token` removes the record but leaves its id in the user's token index.
    DeleteTokenKeepsUserIndex: Tokens, ["tokens_id_reuse_leaves_no_stale_index"];

    // --- access tokens ------------------------------------------------------------------

    /// Re-storing a token with a new access token leaves the old access token in the index, still resolving to it.
    TokenRestoreKeepsOldAccessIndex: AccessTokens, ["access_restore_with_new_access_token_frees_old"];

    /// `update_token` with a new access token leaves the old one in the index, still resolving to the token.
    UpdateKeepsOldAccessIndex: AccessTokens, ["access_update_with_new_access_token_frees_old", "tokens_update_replaces_live_token"];

    /// `delete_token` removes the record but leaves its access-token index entry.
    DeleteTokenKeepsAccessIndex: AccessTokens, ["tokens_id_reuse_leaves_no_stale_index"];

    /// The access-token index is keyed by the lower-cased access token.
    AccessTokensCaseFolded: AccessTokens, ["access_lookup_is_case_sensitive"];

    /// `get_token_by_access_token` trims whitespace off its argument, as one does with an HTTP header.
    LookupTrimsArgument: AccessTokens, ["access_non_ascii_access_tokens_match_byte_for_byte"];

    /// `get_token_by_access_token` falls back to treating its argument as a token id.
    LookupFallsBackToTokenId: AccessTokens, ["access_lookup_returns_the_holder"];

    /// `get_token_by_access_token` does not check the holder's expiry.
    LookupIgnoresExpiry: AccessTokens, ["access_expired_holder_frees_access_token", "expiry_token_expires_on_time"];

    /// The uniqueness check counts an expired holder as holding its access token.
    ConflictIgnoresHolderExpiry: AccessTokens, ["access_expired_holder_frees_access_token", "access_timed_expiry_frees_access_token"];

    /// `update_token` does not check that the new access token is free.
    UpdateSkipsConflictCheck: AccessTokens, ["access_update_onto_held_access_token_conflicts"];

    /// The uniqueness check does not exclude the token itself, so re-storing a token with its own access token is a `Conflict`.
    ConflictWithOwnAccessToken: AccessTokens, ["access_own_access_token_is_no_conflict"];

    /// `store_token` removes the old version before checking the access token, so a refused re-store loses the old version.
    ConflictAfterRemovingOldVersion: AccessTokens, ["access_restore_onto_held_access_token_conflicts"];

    /// `store_token` of a held access token waits for it to be freed instead of returning `Conflict`, and so hangs.
    WaitsForHeldAccessToken: AccessTokens, ["access_store_of_held_access_token_conflicts"];

    /// The configured namespace is not applied (a schema or key prefix hard-coded somewhere), so two stores under different namespaces share their data.
    NamespaceIgnored: Namespaces, ["namespaces_other_namespace_sees_nothing"];

    /// User indexes compare user ids as a PAD SPACE collation does: trailing spaces do not count, so `u` and `u ` share one list.
    UserIdsPadSpace: Namespaces, ["namespaces_folded_texts_stay_distinct"];

    /// User ids are "normalised" by a hand-made fold (KELVIN SIGN to K, sharp s to ss, the fi ligature, dotless i, fullwidth letters) before indexing.
    UserIdsCompatibilityFolded: Namespaces, ["namespaces_folded_texts_stay_distinct"];

    // --- sessions -----------------------------------------------------------------------

    /// Re-storing a session under another user leaves its id in the old user's session index.
    SessionRestoreKeepsOldUserIndex: Sessions, ["sessions_restore_moves_between_users"];

    /// `store_session` does not compare the id argument with `data.session_id`, and stores under the argument.
    SessionIdMismatchAccepted: Sessions, ["sessions_id_mismatch_is_invalid_input"];

    /// `get_session` returns expired sessions.
    GetSessionIgnoresExpiry: Sessions, ["sessions_store_expired_is_invisible"];

    /// `store_session` of an already-expired session returns `Ok` without writing, so the earlier version stays visible.
    StoreExpiredSessionIsSkipped: Sessions, ["sessions_store_expired_hides_earlier_version"];

    /// `store_session` sets `last_activity` to now instead of storing the given value.
    StoreTouchesLastActivity: Sessions, ["sessions_store_then_get"];

    /// `delete_session` removes the record but leaves its id in the user's session index.
    DeleteSessionKeepsUserIndex: Sessions, ["sessions_id_reuse_keeps_lists_and_count_exact"];

    // --- counting -----------------------------------------------------------------------

    /// `count_active_sessions` returns the number of stored sessions, expired ones included.
    CountIncludesExpired: Counting, ["counting_expired_store_is_not_counted"];

    /// Re-storing a session adds an expiry-index entry without removing the old one, so the old expiry is still subtracted.
    SessionExpiryIndexNotUpdatedOnRestore: Counting, ["counting_restore_as_expired_lowers_then_raises"];

    /// `count_active_sessions` subtracts every expired entry of the shared expiry index, kv entries included.
    CountReadsKvExpiries: Counting, ["expiry_items_at_expiry_instant_are_invisible"];

    // --- kv -----------------------------------------------------------------------------

    /// `get_kv` of an empty value returns `None`, as if the key were absent.
    EmptyValueReadsAsAbsent: Kv, ["kv_empty_value_reads_as_some_empty"];

    /// A value over the size limit is truncated to the limit and stored instead of rejected.
    OversizedValueTruncated: Kv, ["kv_oversized_values_rejected_never_truncated"];

    /// A TTL of zero is taken as "no TTL", so the entry never expires.
    ZeroTtlMeansNoExpiry: Kv, ["expiry_kv_zero_ttl_hides_value"];

    /// Re-storing a key with no TTL keeps its previous expiry instead of removing it.
    RestoreKeepsTtlWhenNoneGiven: Kv, ["expiry_kv_restore_lengthens_ttl"];

    /// Re-storing a key keeps the later of the old and new expiries, so a TTL is never shortened.
    RestoreNeverShortensTtl: Kv, ["expiry_kv_restore_shortens_ttl"];

    /// The expiry of a TTL is computed with unchecked chrono arithmetic, which panics for very long TTLs.
    HugeTtlPanics: Kv, ["expiry_kv_huge_ttls_mean_no_expiry", "input_hostile_values_never_panic_or_hang"];

    /// TTLs are rounded down to whole seconds, so a sub-second TTL expires at once.
    TtlRoundedDownToSeconds: Kv, ["expiry_kv_ttl_expires_on_time"];

    /// TTLs are rounded up to whole seconds, so a sub-second TTL expires late.
    TtlRoundedUpToSeconds: Kv, ["expiry_kv_ttl_expires_on_time"];

    // --- expiry -------------------------------------------------------------------------

    /// Expiry is compared in whole seconds with `>`, so items stay visible until the second after their expiry instant ends.
    ExpiryComparedInWholeSeconds: Expiry, ["expiry_sub_second_lifetimes_keep_their_instant", "expiry_token_expires_on_time", "expiry_session_expires_on_time"];

    /// Expiry instants are compared as `i64` nanoseconds, which overflow after 2262 and read as the epoch, so far-future items are expired.
    ExpiryAsNanosOverflows: Expiry, ["tokens_extreme_timestamps_round_trip"];

    // --- listing ------------------------------------------------------------------------

    /// The prefix is used as a glob pattern (`prefix*`), so `*`, `?` and `[` are wildcards.
    PrefixMatchedAsGlob: Listing, ["listing_metacharacters_are_literal"];

    /// The prefix is used as an SQL `LIKE` pattern (`prefix%`), so `%` and `_` are wildcards.
    PrefixMatchedAsLikePattern: Listing, ["listing_metacharacters_are_literal"];

    /// Matching keys are deduplicated through a hash set and returned in its order.
    ListingUnsorted: Listing, ["listing_is_in_byte_order"];

    /// Keys are sorted case-insensitively, as a database collation would, instead of by bytes.
    ListingSortedCaseInsensitively: Listing, ["listing_is_in_byte_order"];

    /// Keys are returned with the prefix stripped.
    ListingStripsPrefix: Listing, ["listing_returns_full_matching_keys_once"];

    /// The prefix is compared case-insensitively.
    PrefixCaseInsensitive: Listing, ["listing_is_case_sensitive"];

    /// Listing returns only the first page of 100 keys, like a single Redis `SCAN` call.
    ListingReturnsOnePage: Listing, ["concurrency_same_kv_writers"];

    /// Listing returns expired keys.
    ListingIncludesExpired: Listing, ["listing_excludes_expired_keys"];

    /// The empty prefix lists nothing instead of every key.
    EmptyPrefixListsNothing: Listing, ["listing_empty_prefix_lists_every_key"];

    /// A prefix of exactly 512 bytes is rejected (`>=` instead of `>`).
    PrefixLimitOffByOne: Listing, ["listing_prefix_limits"];

    /// Listing returns at most 1000 keys.
    ListingCappedAt1000: Listing, ["listing_ten_thousand_keys_complete_and_ordered"];

    // --- input --------------------------------------------------------------------------

    /// Token, session and user ids are trimmed of surrounding whitespace.
    IdsTrimmed: Input, ["input_ids_round_trip_exactly"];

    /// User ids are lower-cased in the per-user indexes.
    UserIdsCaseFolded: Input, ["tokens_list_of_user_without_tokens_is_empty", "input_ids_round_trip_exactly"];

    /// Id length is counted in characters instead of bytes.
    IdLengthCountedInChars: Input, ["input_token_methods_reject_bad_ids", "input_session_methods_reject_bad_ids"];

    /// Kv key length is counted in characters instead of bytes.
    KeyLengthCountedInChars: Input, ["input_kv_methods_reject_bad_keys"];

    /// Ids containing NUL are accepted.
    NulAcceptedInIds: Input, ["input_token_methods_reject_bad_ids", "input_session_methods_reject_bad_ids"];

    /// The length of access and refresh tokens is not checked.
    SecretLengthUnchecked: Input, ["input_secret_limits"];

    /// Record timestamps are not range-checked.
    TimestampRangeUnchecked: Input, ["input_timestamp_range"];

    /// `get_token` does not validate its id and answers `Ok(None)` for invalid ones.
    GetTokenSkipsValidation: Input, ["input_token_methods_reject_bad_ids"];

    /// Error messages quote the first 32 bytes of the offending value, slicing inside a character and panicking.
    ErrorMessageSlicesInsideChar: Input, ["input_token_methods_reject_bad_ids"];

    /// Metadata and session data are not checked against the nesting limit, so records deeper than 64 levels are accepted.
    JsonDepthUnchecked: Input, ["input_json_depth_limit"];

    /// `store_session` removes the old version before validating the new one, so a rejected re-store loses it.
    SessionValidatedAfterRemoval: Input, ["input_session_methods_reject_bad_ids"];

    // --- namespaces ---------------------------------------------------------------------

    /// Tokens and sessions share one per-user id index, so removing a session id also drops the same-named token from its user's list.
    UserIndexSharedByTokensAndSessions: Namespaces, ["namespaces_same_text_names_three_items"];

    /// `delete_session` also deletes the token with the same id.
    DeleteSessionAlsoDeletesToken: Namespaces, ["namespaces_same_text_names_three_items"];

    // --- concurrency --------------------------------------------------------------------

    /// `store_token` checks the access token under the lock, releases it, and writes under a second lock without checking again.
    AccessTokenCheckThenAct: Concurrency, ["concurrency_access_token_race_has_one_winner"];

    /// `store_token` writes the record and its index entries under two separate locks.
    TokenIndexesWrittenSeparately: Concurrency, ["concurrency_token_writers_leave_one_version", "concurrency_same_token_writers_never_conflict"];

    /// `store_session` writes the record and its user-index entry under two separate locks.
    SessionIndexesWrittenSeparately: Concurrency, ["concurrency_session_churn_keeps_count_exact", "concurrency_same_session_writers"];

    /// `store_token` replaces a token by a delete and an insert under two separate locks, so readers see a gap.
    TokenReplacedByDeleteThenInsert: Concurrency, ["concurrency_readers_see_whole_versions"];

    /// `update_token` checks that the token is live under the lock, releases it, and writes under a second lock, so it can bring back a token deleted in between.
    UpdateCheckThenAct: Concurrency, ["concurrency_update_delete_race_never_resurrects"];

    /// `cleanup_expired` finds the expired items under the lock, releases it, and removes them by id under a second lock, so it can remove a live re-store made in between.
    CleanupCheckThenAct: Concurrency, ["concurrency_cleanup_spares_live_restores"];

    /// Listing reads pages of 8 keys by offset, each page under its own lock, so concurrent inserts and deletes make it skip or repeat keys.
    ListingPagedByOffset: Concurrency, ["concurrency_listing_during_churn_keeps_untouched_keys"];

    /// `store_kv` replaces a value by a delete and an insert under two separate locks, so readers see a gap.
    KvReplacedByDeleteThenInsert: Concurrency, ["concurrency_readers_see_whole_versions"];

    // --- cleanup ------------------------------------------------------------------------

    /// `cleanup_expired` walks the whole expiry index instead of stopping at now, removing live sessions and kv entries with a TTL.
    CleanupIgnoresExpiryInstant: Cleanup, ["cleanup_with_nothing_expired_changes_nothing"];

    /// `cleanup_expired` judges tokens by `issued_at` instead of `expires_at`.
    CleanupComparesIssuedAt: Cleanup, ["cleanup_with_nothing_expired_changes_nothing"];

    /// `cleanup_expired` does nothing: expired items are hidden from reads but stay stored for ever.
    CleanupRemovesNothing: Cleanup, ["cleanup_physically_removes_expired"];

    /// `cleanup_expired` removes expired tokens and sessions but forgets the kv entries, as a cleanup that misses one table.
    CleanupSkipsKv: Cleanup, ["cleanup_physically_removes_expired"];

    /// `cleanup_expired` removes expired sessions but not their expiry-index entries, so the count drops below the live sessions.
    CleanupLeavesExpiryEntries: Cleanup, ["cleanup_removes_stored_expired_keeps_live"];

    /// Removing a token deletes its access-index entry without checking that the entry still names it, so removing an expired former holder unindexes the live token that took its access token since.
    RemovalDropsReusedAccessIndex: Cleanup, ["access_removing_a_former_holder_keeps_the_new_one"];

    /// CR and LF in kv keys are replaced by spaces, as a line-based protocol client might, so such a key reads back and lists as another key.
    KvKeysLineBreaksReplaced: Kv, ["input_hostile_values_never_panic_or_hang"];

    /// A kv TTL under a millisecond is taken as "no expiry", as by a store that counts TTLs in whole milliseconds and reads 0 as "keep".
    SubMillisecondTtlMeansNoExpiry: Kv, ["expiry_kv_sub_millisecond_ttls_expire"];

    /// The capacity counter is raised by every kv write but never lowered by a delete or an overwrite, so the store fills up under churn.
    CapacityCounterNeverDecreases: Kv, ["kv_capacity_reclaims_churned_data"];

    /// Expired kv entries keep their charge until `cleanup_expired`, so a store full of expired data refuses live writes.
    ExpiredCountsAgainstCapacity: Kv, ["kv_capacity_reclaims_churned_data"];

    /// A write refused for lack of capacity has already removed the value it was to replace.
    OverCapacityWriteRemovesOldValue: Kv, ["kv_capacity_reclaims_churned_data"];

    /// Only kv entries are charged against the capacity: tokens and sessions, however large, are stored past it, as by a store that accounts the bytes of its value map alone.
    RecordsNotChargedAgainstCapacity: Kv, ["kv_capacity_counts_tokens_and_sessions"];

    /// A value of exactly the documented limit is refused (`>=` for `>`), so the largest value stored is one byte short of it.
    ValueLimitOffByOne: Kv, ["kv_value_limit_is_exact"];

    /// The configured default TTL is never applied: kv entries stored without a TTL never expire.
    DefaultTtlIgnored: Kv, ["expiry_default_ttl_applies_to_kv_none_only"];

    /// An explicit TTL longer than the default is cut to the default, as `min(ttl, default)` would.
    DefaultTtlCapsExplicitTtls: Kv, ["expiry_default_ttl_applies_to_kv_none_only"];

    /// Every kv write gets the default TTL, explicit ones included, as by a store that applies it after the caller's.
    DefaultTtlReplacesExplicitTtls: Kv, ["expiry_default_ttl_applies_to_kv_none_only"];

    /// Tokens stored with a later expiry are cut to the kv default TTL, as by a store that gives every key it writes the default.
    DefaultTtlAppliesToTokens: Expiry, ["expiry_default_ttl_applies_to_kv_none_only"];

    /// `cleanup_expired` removes expired records but leaves their ids in the user indexes.
    CleanupKeepsUserIndex: Cleanup, ["tokens_id_reuse_leaves_no_stale_index", "sessions_id_reuse_keeps_lists_and_count_exact"];

    /// A read that meets an expired token or session drops the record but leaves its access-token and user index entries.
    ExpiredReadDropsRecordKeepsIndexes: Cleanup, ["tokens_id_reuse_leaves_no_stale_index", "sessions_id_reuse_keeps_lists_and_count_exact"];

    /// Re-storing a kv key leaves its old expiry-index entry, so cleanup after the old expiry deletes the live entry.
    KvRestoreLeavesOldExpiryEntry: Cleanup, ["concurrency_cleanup_spares_live_restores"];

    // --- multi-handle -------------------------------------------------------------------

    /// Each handle's cache of `get_token` results is cleared only by its own writes, not when another handle writes.
    StaleTokenCache: MultiHandle, ["multi_handle_token_update_and_delete_propagate"];

    /// Each handle keeps its cached access-token misses when another handle writes, on the theory that only hits go stale.
    StaleNegativeAccessCache: MultiHandle, ["multi_handle_token_update_and_delete_propagate"];

    /// Each handle keeps its cached `get_token` misses when another handle writes.
    StaleNegativeTokenCache: MultiHandle, ["multi_handle_cached_miss_is_not_served"];

    /// Each handle's cache of kv values is cleared only by its own writes.
    StaleKvCache: MultiHandle, ["multi_handle_session_and_kv_changes_propagate"];
}

impl fmt::Display for Bug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
