-- Stores what a lease holder read from PostgreSQL, if its lease is still the current one
-- (no write invalidated the key since the lease was taken) and the epoch has not moved.
-- KEYS[1] value, KEYS[2] its lease, KEYS[3] the epoch; ARGV[1] the lease id, ARGV[2] the
-- epoch the lease was taken in, ARGV[3] the PXAT instant (0: nothing to store, only
-- release the lease), ARGV[4] the payload. Returns 1 when stored, else 0.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[2])
if ARGV[3] == '0' or (redis.call('GET', KEYS[3]) or '0') ~= ARGV[2] then
  return 0
end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
if tonumber(ARGV[3]) <= now_ms then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[4], 'PXAT', ARGV[3])
return 1
