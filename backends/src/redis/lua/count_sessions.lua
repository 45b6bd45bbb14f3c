-- count_active_sessions. KEYS[1]: the global session index, scored by last visible ms.
-- ARGV: base. A session is visible while now <= its score, so the live ones are exactly
-- the members scored now or later: one ZCOUNT, whatever the number of sessions.
return redis.call('ZCOUNT', KEYS[1], int(now_ms()), '+inf')
