-- cleanup_expired. KEYS[1]: the global token index (routes the script). ARGV: base.
-- Redis has already expired the item keys and access index entries; this removes every
-- index entry of an expired item. Returns 0.
local now = now_ms()
prune_owned(tokens_index, user_tokens_key, now, nil)
prune_owned(sessions_index, user_sessions_key, now, nil)
prune_kv(now, nil)
return 0
