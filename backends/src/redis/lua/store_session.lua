-- store_session. KEYS[1]: the session's key.
-- ARGV: base, session id, user id, last visible ms, record JSON. Returns 0.
local key, id, user, last, record = KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local now = now_ms()
-- As for tokens: an item whose last visible millisecond has come is not written (SES-6).
if now < tonumber(last) then
  -- An overwrite replaces the hash's fields and the index scores in place; only a change
  -- of owner leaves entries (under the old owner's name) to remove.
  local old = redis.call('HGET', key, 'user')
  if old and old ~= user then
    redis.call('ZREM', user_sessions_key(old), id)
    redis.call('ZREM', sessions_index, member(old, id))
  end
  redis.call('HSET', key, 'record', record, 'user', user)
  redis.call('PEXPIREAT', key, last)
  local user_key = user_sessions_key(user)
  redis.call('ZADD', user_key, last, id)
  extend(user_key, last)
  redis.call('ZADD', sessions_index, last, member(user, id))
else
  remove_session(key, id)
end
prune_owned(sessions_index, user_sessions_key, now, PRUNE_PER_WRITE)
return 0
