-- list_user_tokens and list_user_sessions. KEYS[1]: the user's index (a sorted set of item
-- ids scored by their last visible ms). ARGV: base, user id, item kind ("token" or
-- "session"). Returns the records of the user's live items; drops expired members and any
-- member whose item now belongs to someone else.
local index, user, kind = KEYS[1], ARGV[2], ARGV[3]
redis.call('ZREMRANGEBYSCORE', index, '-inf', '(' .. int(now_ms()))
local out = {}
for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
  local found = redis.call('HMGET', base .. kind .. ':' .. id, 'record', 'user')
  if found[1] and found[2] == user then
    out[#out + 1] = found[1]
  else
    redis.call('ZREM', index, id)
  end
end
return out
