-- list_kv_keys, one batch. KEYS[1]: the key listing (a sorted set, every score 0, so
-- ordered by the bytes of the keys). ARGV: base, ZRANGEBYLEX min and max, limit.
-- Reads at most `limit` members from min on, so that one call holds the server for a
-- bounded time; drops members whose entry has expired. Returns {cursor, live keys in byte
-- order...}: cursor is the last member read, from which the next batch starts, or ""
-- (never a key) when the range is exhausted.
local limit = tonumber(ARGV[4])
local members = redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3], 'LIMIT', 0, limit)
local out = {''}
if #members == limit then
  out[1] = members[#members]
end
for _, key in ipairs(members) do
  if redis.call('EXISTS', kv_key(key)) == 1 then
    out[#out + 1] = key
  else
    redis.call('ZREM', kv_index, key)
    redis.call('ZREM', kv_expiry_index, key)
  end
end
return out
