-- Raises the cache epoch (KEYS[1]) to ARGV[1] if that is greater; returns the epoch now.
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('SET', KEYS[1], ARGV[1])
  return wanted
end
return current
