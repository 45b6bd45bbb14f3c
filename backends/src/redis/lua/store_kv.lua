-- store_kv. KEYS[1]: the entry's key. ARGV: base, kv key, value, ttl: "-1" for no expiry,
-- "0" to delete (the entry would be invisible at once), else the milliseconds after now
-- of the entry's last visible millisecond. Returns 0.
local entry, key, value, ttl = KEYS[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
if ttl < 0 then
  -- A permanent entry: two commands, no clock, no prune. An expiry member left by an
  -- earlier version stays until its time has passed; pruning then finds the entry alive
  -- and drops only that member (prune_kv). Only entries that expire leave index garbage,
  -- so the writes of those do the pruning.
  redis.call('SET', entry, value)
  redis.call('ZADD', kv_index, 0, key)
  return 0
end
local now = now_ms()
if ttl == 0 then
  redis.call('DEL', entry)
  redis.call('ZREM', kv_index, key)
  redis.call('ZREM', kv_expiry_index, key)
else
  local last = int(now + ttl)
  redis.call('SET', entry, value, 'PXAT', last)
  redis.call('ZADD', kv_index, 0, key)
  redis.call('ZADD', kv_expiry_index, last, key)
  prune_kv(now, PRUNE_PER_WRITE)
end
return 0
