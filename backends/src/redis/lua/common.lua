-- The key layout and the helpers every script shares. In a script (EVAL) this runs on
-- every call; in the function library (FUNCTION LOAD) once, when the library loads: so
-- nothing here may depend on the call, except through `enter`.
-- ARGV[1] is the key base "{prefix}": every key below starts with it, so all of one
-- storage's keys share a hash tag and a cluster slot, and a script may build the names of
-- the keys it touches besides KEYS[1] (which routes it).
-- The layout is documented in keys.rs; the two must agree.
local base, tokens_index, sessions_index, kv_index, kv_expiry_index

-- Sets the key base of the call (ARGV[1]) and the names built from it. Every script and
-- function calls it first; calls never interleave (each runs alone on the server).
local function enter(b)
  base = b
  tokens_index = b .. 'index:tokens'
  sessions_index = b .. 'index:sessions'
  kv_index = b .. 'index:kv'
  kv_expiry_index = b .. 'index:kv-expiry'
end

local function token_key(id) return base .. 'token:' .. id end
local function access_key(digest) return base .. 'access:' .. digest end
local function user_tokens_key(user) return base .. 'user:' .. user .. ':tokens' end
local function session_key(id) return base .. 'session:' .. id end
local function user_sessions_key(user) return base .. 'user:' .. user .. ':sessions' end
local function kv_key(key) return base .. 'kv:' .. key end

-- The server clock in whole milliseconds since the Unix epoch.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An integer as decimal text without an exponent (Lua's tostring rounds past 14 digits).
local function int(n)
  return string.format('%.0f', n)
end

-- Global index members name an owner and an item: "<user>\0<id>" (ids never hold NUL).
local function member(user, id)
  return user .. '\0' .. id
end

local function split(m)
  local at = string.find(m, '\0', 1, true)
  return string.sub(m, 1, at - 1), string.sub(m, at + 1)
end

-- Keeps `key` (a per-user index) alive at least until `last` (ms), the last instant one of
-- its members is visible; the index then expires with its longest-lived member.
local function extend(key, last)
  if redis.call('PEXPIRETIME', key) < tonumber(last) then
    redis.call('PEXPIREAT', key, last)
  end
end

-- Removes token `id` (at `key`) and its index entries, if it is stored.
local function remove_token(key, id)
  local old = redis.call('HMGET', key, 'user', 'access')
  if not old[1] then
    return
  end
  local access = access_key(old[2])
  if redis.call('GET', access) == id then
    redis.call('DEL', access)
  end
  redis.call('ZREM', user_tokens_key(old[1]), id)
  redis.call('ZREM', tokens_index, member(old[1], id))
  redis.call('DEL', key)
end

-- Removes session `id` (at `key`) and its index entries, if it is stored.
local function remove_session(key, id)
  local user = redis.call('HGET', key, 'user')
  if not user then
    return
  end
  redis.call('ZREM', user_sessions_key(user), id)
  redis.call('ZREM', sessions_index, member(user, id))
  redis.call('DEL', key)
end

-- Removes the entries of items that expired before `now` from a global owner index and
-- from their owner's index: at most `limit` of them, or all when `limit` is nil; returns
-- how many it removed. The item keys themselves are expired by Redis. A per-user score equals the global one for the
-- same pair, so an expired global entry never removes a live per-user entry; the score
-- check only guards that invariant.
local function prune_owned(index, user_key, now, limit)
  local bound = '(' .. int(now)
  local expired
  if limit then
    expired = redis.call('ZRANGEBYSCORE', index, '-inf', bound, 'LIMIT', 0, limit)
  else
    expired = redis.call('ZRANGEBYSCORE', index, '-inf', bound)
  end
  for _, m in ipairs(expired) do
    local user, id = split(m)
    local key = user_key(user)
    local score = redis.call('ZSCORE', key, id)
    if score and tonumber(score) < now then
      redis.call('ZREM', key, id)
    end
    redis.call('ZREM', index, m)
  end
  return #expired
end

-- Removes kv keys that expired before `now` from the key listing and the expiry index:
-- at most `limit` of them, or all when `limit` is nil; returns how many it removed.
local function prune_kv(now, limit)
  local bound = '(' .. int(now)
  local expired
  if limit then
    expired = redis.call('ZRANGEBYSCORE', kv_expiry_index, '-inf', bound, 'LIMIT', 0, limit)
  else
    expired = redis.call('ZRANGEBYSCORE', kv_expiry_index, '-inf', bound)
  end
  for _, key in ipairs(expired) do
    -- A member outlives its entry's expiry when the entry was rewritten without one
    -- (store_kv keeps permanent writes to two commands): the key stays listed then.
    if redis.call('EXISTS', kv_key(key)) == 0 then
      redis.call('ZREM', kv_index, key)
    end
    redis.call('ZREM', kv_expiry_index, key)
  end
  return #expired
end

-- How many expired index entries a write removes on the way (SPEC.md CLN-3): more than the
-- one entry a write adds, so index garbage stays bounded without a background task.
local PRUNE_PER_WRITE = 4

