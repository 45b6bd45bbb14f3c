-- get_token_by_access_token. KEYS[1]: the access index key. ARGV: base, access digest.
-- Returns the record of the live token holding the access token, or nil.
local id = redis.call('GET', KEYS[1])
if not id then
  return false
end
local found = redis.call('HMGET', token_key(id), 'record', 'access')
if found[2] ~= ARGV[2] then
  return false
end
return found[1]
