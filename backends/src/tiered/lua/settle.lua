-- After a write to PostgreSQL ended: retires the entry and any fill lease (a fill that
-- read before the write's commit must not land), and ends this write's fence.
-- KEYS[1] value, KEYS[2] its lease, KEYS[3] the writes in flight (see fence.lua);
-- ARGV[1] this write's id. Returns 1.
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
