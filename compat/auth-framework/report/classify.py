#!/usr/bin/env python3
"""Classifies every failed scenario of the auth-framework reports into one defect class or
contract difference (CLASSES), by the ordered RULES below (first match wins), and prints
the tables of reports/auth-framework-0.6.0-rc202/README.md. Exits non-zero if a failure
matches no rule, so no failure goes unclassified.

    python3 compat/auth-framework/report/classify.py REPORTS_DIR [--check]

Each rule was written after reading the failures it matches by hand (README.md says how
each class was checked not to be the adapter's doing).
"""
import json, os, re, sys

# id -> (kind, title, clauses). Descriptions and reproductions are in README.md.
CLASSES = {
    "C1": ("contract", "no input rules: empty or over-long ids, NUL bytes, out-of-range timestamps, deep JSON and mismatched session ids are stored, never refused", "VAL-1..7, SES-1, LST-8"),
    "C2": ("contract", "`update_token` is an upsert: a missing or expired token is (re)created, never `NotFound`", "TOK-7, CON-5"),
    "C3": ("contract", "access tokens are not unique: a second live token may take one, never `Conflict`", "ACC-2, CON-4, MH-4"),
    "C4": ("contract", "`list_kv_keys` promises no order", "LST-4"),
    "C5": ("contract", "`DashMapMemoryStorage::with_ttl` applies its default TTL to tokens and sessions too (as its doc says)", "TTL-6"),
    "C6": ("contract", "a kv TTL of 100 years or more is not \"no expiry\": it is stored as a finite TTL, or refused by the server", "TTL-4"),
    "D1": ("defect", "stale access-token index: re-storing or updating a token with a new access token leaves the old one resolving to it; deleting a former holder can unmap the current one", "TOK-4, ACC-3, ACC-4"),
    "D2": ("defect", "stale user lists: re-storing a token or session lists it again (duplicates) and leaves it under its former user", "TOK-2, TOK-3, TOK-10, SES-2, SES-5"),
    "D3": ("defect", "user lists return tokens and sessions whose `expires_at` has passed, which `get_token`/`get_session` hide", "TIME-2, TOK-10, SES-5, NS-3"),
    "D4": ("defect", "`MemoryStorage::list_kv_keys` lists expired keys, which their trait says it must not", "TIME-2, LST-1"),
    "D5": ("defect", "`cleanup_expired` leaves expired tokens in memory (it tests only the store-wide TTL)", "CLN-1"),
    "D6": ("defect", "`UnifiedStorage` panics (`overflow when adding duration to instant`) storing an expired token or session, or a kv TTL near `Duration::MAX`", "GEN-1, TOK-5, SES-6, TTL-4"),
    "D7": ("defect", "`UnifiedStorage`'s memory counter only grows: after `max_memory` bytes of cumulative writes every write fails with `Memory limit exceeded`", "CAP-1, GEN-4"),
    "D8": ("defect", "`UnifiedStorage`'s background cleanup deletes every entry, live ones too, once it meets an expired one (its private byte counter starts at 0 and wraps)", "TTL-1, KV-2, GEN-4"),
    "C7": ("contract", "`storage::redis::RedisStorage::store_token` refuses a token that has already expired (`Cannot store an already-expired token`, deliberate) where SPEC.md stores it invisibly", "TOK-5"),
    "D9": ("defect", "Redis: items stored already expired stay readable: `storage::RedisStorage` clamps token and session TTLs to at least 1 s and kv TTLs to at least 1 ms, `storage::redis::RedisStorage` keeps an expired session for its default TTL (1 h), and reads do not check `expires_at`; such items are read back and counted", "TOK-5, SES-6, CNT-1, TTL-3, TIME-2"),
    "D10": ("defect", "the `list_kv_keys` prefix is a pattern, not a literal: `SCAN MATCH` glob (`storage::RedisStorage`: `*`, `?`, `[`) or SQL `LIKE` (PostgreSQL and SQLite: `%`, `_`; SQLite's `LIKE` also ignores ASCII case)", "LST-1, LST-2, LST-6"),
    "D11": ("defect", "PostgreSQL: re-storing a token updates only some columns (`user_id`, `token_type`, `scopes`, `issued_at`, `metadata` keep their old values) and `update_token` never changes `user_id`, so reads return a mix of two versions", "TOK-2, TOK-3, TOK-6, CON-2"),
    "D12": ("defect", "PostgreSQL and SQLite: an expired token keeps its access token (a `UNIQUE` column) until `cleanup_expired`, so no live token can take it", "ACC-3"),
    "D13": ("defect", "PostgreSQL: a token or session whose text or JSON holds U+0000 cannot be stored (`TEXT`/`JSONB` refuse it)", "GEN-5, TOK-1, SES-1"),
    "D15": ("defect", "SQLite: kv expiry is kept in whole seconds, so a value stored with TTL zero stays readable and listed until the current second ends", "TTL-3, TIME-2"),
    "D16": ("defect", "`storage::redis::RedisStorage`: every `store_token` sets the user's token-set TTL to that token's lifetime, so a short-lived token makes the user's longer-lived tokens drop out of `list_user_tokens`", "TOK-10, CLN-2"),
    "D14": ("defect", "a kv TTL too large for `chrono::Duration` becomes zero (PostgreSQL) or wraps negative (SQLite): the value is stored already expired and silently lost", "TTL-4, KV-2"),
    "U1": ("unresolved", "a scenario or its tasks did not finish in time (120 s, 60 s): seen only in runs sharing the 2 cores with other runs, never in the published run; not classified as a defect without evidence of a deadlock", "GEN-2"),
}

def permutation(message):
    """A listing whose keys are right but whose order is not (the first line's lists)."""
    m = re.search(r'expected (\[.*?\]), got (\[.*\])$', message.split("\n")[0])
    if not m:
        return False
    split = lambda s: sorted(re.findall(r'"((?:[^"\\]|\\.)*)"', s))
    expected, got = split(m.group(1)), split(m.group(2))
    return expected == got and m.group(1) != m.group(2)

# (class, backend regex, scenario regex, first-line regex or predicate), first match wins.
RULES = [
    ("D6", r"unified", None, r"panicked in `store_(token|session|kv)`.*overflow when adding duration to instant"),
    ("D7", r"unified", None, r"Memory limit exceeded"),
    ("C1", None, None, r"expected (error )?InvalidInput"),
    ("C2", None, None, r"expected error NotFound, got Ok"),
    ("C2", None, r"concurrency_update_delete_race_never_resurrects", r"after update_token \(Ok\) raced an acknowledged delete_token"),
    ("C3", None, None, r"expected error Conflict, got Ok|expected exactly one Ok|expected exactly one holder"),
    ("C4", None, None, permutation),
    ("C4", None, None, r"list_kv_keys\(.*sorted: false\); first difference"),
    ("C4", None, None, r"expected unique keys in ascending byte order, got|keys out of byte order or repeated"),
    ("C4", r"^(memory|dashmap-memory|encrypted-memory|unified|redis-core)$", r"kv_keys_round_trip_exactly", r"^list_kv_keys\(\"\"\) of keys stored verbatim"),
    ("C6", r"redis", r"expiry_kv_huge_ttls_mean_no_expiry", r"expected success, got error"),
    ("D8", r"unified", r"expiry_kv_sub_millisecond_ttls_expire|expiry_kv_ttls_are_per_key", r"expected \[\"tiny/control\"\], got \[\]|at 80% of its ttl, after the shorter key expired: expected Some"),
    ("U1", None, None, r"the tasks did not finish within \d+s \(a hang or deadlock\)|^the scenario did not finish within \d+s"),
    ("D9", r"redis", None, r"with two zero-TTL keys|after (re-)?storing \S+ already expired|with only an expired token holding it|of an expired token: expected None|stored again already expired|before cleanup: expected None|already-expired sessions: expected|as expired: expected|after store_kv with ttl 0: expected None"),
    ("D11", r"postgres", None, r"^(A\.|B\.)?get_token\((\"tok-1\"|tok|raced|whole|same-\d|cr-|one|reuse-)"),
    ("D12", r"postgres|sqlite", None, r"expected success, got error Conflict: .*(auth_tokens_access_token_key|UNIQUE constraint failed: auth_tokens.access_token)"),
    ("D15", r"sqlite", None, r"after store_kv with ttl 0: expected None|with two zero-TTL keys"),
    ("D10", r"sqlite", r"listing_|namespaces_folded_texts_stay_distinct", r"list_kv_keys\("),
    ("D13", r"postgres", None, r"invalid byte sequence for encoding \"UTF8\": 0x00|unsupported Unicode escape sequence"),
    ("D14", r"postgres|sqlite", r"expiry_kv_huge_ttls_mean_no_expiry", r"stored with ttl .*\(no expiry\): expected Some\(.*got None"),
    ("D10", r"postgres|sqlite", r"listing_metacharacters_are_literal", r"metacharacter must be literal"),
    ("C7", r"redis-module", None, r"Cannot store an already-expired token"),
    ("D9", r"redis-module", r"namespaces_other_namespace_sees_nothing", r"count_active_sessions\(\) on namespace a after both were written"),
    ("D10", r"redis-core", r"listing_metacharacters_are_literal", r"metacharacter must be literal"),
    ("C5", r"dashmap-memory", r"expiry_default_ttl_applies_to_kv_none_only", r"^get_token after d \+ margin"),
    ("D4", r"^(memory|encrypted-memory)$", None, r"list_kv_keys\(.*(expired|zero-TTL)"),
    ("D5", r"dashmap-memory", r"cleanup_physically_removes_expired", r"stored items after cleanup_expired"),
    ("D3", None, r"namespaces_expiring_one_user_leaves_others", r"after her tokens expired"),
    ("D3", None, None, r"^(A\.|B\.)?list_user_(tokens|sessions)\(.*(already expired|after expires_at|two expired|before cleanup|once expired|\S+ expired \(sorted|once its expiry instant)"),
    ("D3", r"sqlite", r"namespaces_other_namespace_sees_nothing", r"^list_user_sessions\(shared-user\) on namespace a after both were written"),
    ("D16", r"redis-module", r"cleanup_removes_items_expired_in_place", r"^list_user_tokens\(\"alice\"\) after cleanup of the expired short items"),
    ("D1", None, None, r"^(A\.|B\.)?get_token_by_access_token\(|^access_token of what get_token_by_access_token"),
    ("D2", None, None, r"^(A\.|B\.)?list_user_(tokens|sessions)\("),
]

def classify(backend, scenario, message):
    first = message.split("\n")[0]
    for cls, b, s, m in RULES:
        if b and not re.search(b, backend):
            continue
        if s and not re.search(s, scenario):
            continue
        if callable(m):
            if m(first):
                return cls
        elif re.search(m, first):
            return cls
    return None

# Report order: in-process first, then the servers.
BACKENDS = ["memory", "dashmap-memory", "encrypted-memory", "unified", "redis-core", "redis-module", "postgres", "sqlite"]

def load(root):
    out = {}
    names = os.listdir(root)
    for name in sorted(names, key=lambda n: (BACKENDS.index(n) if n in BACKENDS else len(BACKENDS), n)):
        path = os.path.join(root, name, "report.json")
        if os.path.exists(path):
            report = json.load(open(path))
            out[name] = next(b for b in report["backends"] if b["name"] == name)
    return out

ORDER = sorted(CLASSES, key=lambda c: ("CDU".index(c[0]), int(c[1:])))

def main():
    root = sys.argv[1]
    backends = load(root)
    unclassified, by_class = [], {}
    for name, b in backends.items():
        for r in b["results"]:
            if r["status"] != "failed":
                continue
            cls = classify(name, r["scenario"], r["message"] or "")
            if cls is None:
                unclassified.append(f"{name} {r['scenario']}: {(r['message'] or '').splitlines()[0][:300]}")
            else:
                by_class.setdefault(cls, {}).setdefault(name, []).append(r["scenario"])
    if "--check" not in sys.argv:
        order = list(backends)
        print("| backend | passed | failed | not claimed | " + " | ".join(ORDER) + " |")
        print("|---|---:|---:|---:|" + "---:|" * len(ORDER))
        for name in order:
            t = backends[name]["totals"]
            cells = [str(len(by_class.get(c, {}).get(name, []))) or "" for c in ORDER]
            print(f"| `{name}` | {t['passed']} | {t['failed']} | {t['not_claimed']} | " + " | ".join(x if x != "0" else "" for x in cells) + " |")
        print()
        for cls in ORDER:
            kind, title, clauses = CLASSES[cls]
            per = by_class.get(cls, {})
            total = sum(len(v) for v in per.values())
            print(f"#### {cls} ({kind}, {clauses}): {title}. {total} failures")
            print()
            for name in order:
                if name in per:
                    print(f"- `{name}`: " + ", ".join(f"`{s}`" for s in per[name]))
            print()
    for line in unclassified:
        print("UNCLASSIFIED " + line, file=sys.stderr)
    sys.exit(1 if unclassified else 0)

main()
