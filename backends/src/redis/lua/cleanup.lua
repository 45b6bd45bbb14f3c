-- cleanup_expired, one batch. KEYS[1]: the global token index (routes the script).
-- ARGV: base, cutoff ms ("" on the first call: the server's now), limit.
-- Redis has already expired the item keys and access index entries; this removes the
-- index entries of items that expired before the cutoff: at most `limit` of them (tokens,
-- then sessions, then kv), so that one call holds the server for a bounded time. The
-- caller passes the first call's cutoff to the next ones, so the batches of one cleanup
-- remove what had expired when it began and end even while items keep expiring.
-- Returns {cutoff, removed}; removed < limit means nothing expired before cutoff is left.
local cutoff = ARGV[2] ~= '' and tonumber(ARGV[2]) or now_ms()
local limit = tonumber(ARGV[3])
local removed = prune_owned(tokens_index, user_tokens_key, cutoff, limit)
if removed < limit then
  removed = removed + prune_owned(sessions_index, user_sessions_key, cutoff, limit - removed)
end
if removed < limit then
  removed = removed + prune_kv(cutoff, limit - removed)
end
return {int(cutoff), removed}
