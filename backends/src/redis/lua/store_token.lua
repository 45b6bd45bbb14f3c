-- store_token and update_token. KEYS[1]: the token's key.
-- ARGV: base, token id, user id, access-token digest, last visible ms, record JSON,
-- "1" if the token must exist (update_token).
-- Returns 0 when stored, 1 when an update found no live token (NotFound), 2 when another
-- live token holds the access token (Conflict); on 1 and 2 nothing was changed.
local key, id, user, digest, last, record = KEYS[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local now = now_ms()
-- The stored version's owner and digest (nil, nil if none): the existence check of
-- update_token and what an overwrite must unlink, in one command.
local old = redis.call('HMGET', key, 'user', 'access')
if ARGV[7] == '1' and not old[1] then
  return 1
end
local access = access_key(digest)
local holder = redis.call('GET', access)
if holder and holder ~= id then
  if redis.call('HGET', token_key(holder), 'access') == digest then
    return 2
  end
  -- A stale entry (its holder moved on): it must not survive this write.
  redis.call('DEL', access)
end
-- Checks done: from here on nothing fails.
-- An item is visible while now <= last; PEXPIREAT at or before now deletes at once, so an
-- item whose last visible millisecond has come is not written (SPEC.md TOK-5).
if now < tonumber(last) then
  if old[1] then
    -- An overwrite. The writes below replace the hash's fields, the access entry and the
    -- index scores in place; only entries under an old name that changed must go. Each
    -- command saved is about 1.5 us of server time (benches/PROFILE.md).
    if old[2] ~= digest then
      local old_access = access_key(old[2])
      if redis.call('GET', old_access) == id then
        redis.call('DEL', old_access)
      end
    end
    if old[1] ~= user then
      redis.call('ZREM', user_tokens_key(old[1]), id)
      redis.call('ZREM', tokens_index, member(old[1], id))
    end
  end
  redis.call('HSET', key, 'record', record, 'user', user, 'access', digest)
  redis.call('PEXPIREAT', key, last)
  redis.call('SET', access, id, 'PXAT', last)
  local user_key = user_tokens_key(user)
  redis.call('ZADD', user_key, last, id)
  extend(user_key, last)
  redis.call('ZADD', tokens_index, last, member(user, id))
else
  remove_token(key, id)
end
prune_owned(tokens_index, user_tokens_key, now, PRUNE_PER_WRITE)
return 0
