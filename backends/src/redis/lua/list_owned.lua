-- list_user_tokens and list_user_sessions, one batch. KEYS[1]: the user's index (a sorted
-- set of item ids scored by their last visible ms, so ordered by score, then id bytes).
-- ARGV: base, user id, item kind ("token" or "session"), limit, then the cursor: the
-- score and id of the last member the previous batch read (score "" on the first call).
-- Reads at most `limit` members after the cursor and removes at most `limit` expired
-- members and at most `limit` members whose item is gone or now belongs to someone else,
-- so that one call holds the server for a bounded time. Returns {cursor score, cursor
-- id, id, record, id, record, ...}: the cursor is the last member read, or "", "" when
-- the index is exhausted.
local index, user, kind = KEYS[1], ARGV[2], ARGV[3]
local limit = tonumber(ARGV[4])
local after_score, after_id = ARGV[5], ARGV[6]

-- Whether `a` sorts before `b` byte by byte, as sorted-set members do (Lua's `<` on
-- strings follows the server's collation locale).
local function bytes_before(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then
      return x < y
    end
  end
  return #a < #b
end

-- The rank of the first member after (score, id), whether or not that member is still
-- in the index: ranks shift when members before it go, (score, id) does not. Members of
-- one score are ordered by id, so a binary search among them finds the place in
-- O(log n) commands, however many share the score.
local function rank_after(score, id)
  local lo = redis.call('ZCOUNT', index, '-inf', '(' .. score)
  local hi = redis.call('ZCOUNT', index, '-inf', score)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if bytes_before(id, redis.call('ZRANGE', index, mid, mid)[1]) then
      hi = mid
    else
      lo = mid + 1
    end
  end
  return lo
end

-- Expired members rank first: remove at most `limit` of them, and read past the rest.
local expired = redis.call('ZCOUNT', index, '-inf', '(' .. int(now_ms()))
local removed = math.min(expired, limit)
if removed > 0 then
  redis.call('ZREMRANGEBYRANK', index, 0, removed - 1)
end
local start = expired - removed
if after_score ~= '' then
  start = math.max(start, rank_after(after_score, after_id))
end

local members = redis.call('ZRANGE', index, start, start + limit - 1, 'WITHSCORES')
local out = {'', ''}
if #members == 2 * limit then
  out[1], out[2] = members[#members], members[#members - 1]
end
for i = 1, #members, 2 do
  local id = members[i]
  local found = redis.call('HMGET', base .. kind .. ':' .. id, 'record', 'user')
  if found[1] and found[2] == user then
    out[#out + 1] = id
    out[#out + 1] = found[1]
  else
    redis.call('ZREM', index, id)
  end
end
return out
