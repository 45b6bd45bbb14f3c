-- A cache read. KEYS[1] value, KEYS[2] its lease, KEYS[3] the epoch, KEYS[4] the writes in
-- flight on the key (see fence.lua); ARGV[1] a fresh lease id, ARGV[2] the lease's
-- lifetime in ms.
-- Returns {1, payload} on a hit (an entry stamped with the current epoch), {2, epoch} on a
-- miss whose lease this caller now holds, {0, epoch} on a miss while another holds it or
-- while a write on the key may still commit (what PostgreSQL answers now may be replaced
-- by that commit, so it must not be cached).
local epoch = redis.call('GET', KEYS[3]) or '0'
local entry = redis.call('GET', KEYS[1])
if entry then
  local sep = string.find(entry, ':', 1, true)
  if sep and string.sub(entry, 1, sep - 1) == epoch then
    return {1, string.sub(entry, sep + 1)}
  end
  -- Stamped with an older epoch: retired.
  redis.call('DEL', KEYS[1])
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if redis.call('ZCOUNT', KEYS[4], now_ms + 1, '+inf') > 0 then
  return {0, epoch}
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return {2, epoch}
end
return {0, epoch}
