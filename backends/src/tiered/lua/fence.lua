-- Before a write to PostgreSQL: retires the entry and any fill lease, and registers the
-- write as in flight until its fence ends, so that no node fills the key meanwhile.
-- KEYS[1] value, KEYS[2] its lease, KEYS[3] the writes in flight (a sorted set of write
-- ids, each scored with the instant its fence ends, in ms of Redis's clock);
-- ARGV[1] this write's id, ARGV[2] the fence's lifetime in ms. Returns 1.
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('DEL', KEYS[1], KEYS[2])
-- Fences of writes that ended without settling (their process stopped) are over.
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now_ms)
redis.call('ZADD', KEYS[3], now_ms + tonumber(ARGV[2]), ARGV[1])
local last = redis.call('ZRANGE', KEYS[3], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[3], string.format('%.0f', tonumber(last[2])))
return 1
