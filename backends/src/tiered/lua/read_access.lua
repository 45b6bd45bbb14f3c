-- A cache read by access token, in one round trip. KEYS[1] the access mapping (holding a
-- token id), KEYS[2] the epoch; ARGV[1] the name of a token entry without its hex id.
-- Returns {1, payload, id} when the mapping names a token whose entry is stamped with the
-- current epoch, {2, '', id} when it names one without such an entry (the caller then
-- reads that token the usual way, lease and all), {0, '', ''} when there is no mapping.
-- The token entry shares the mapping's hash tag, so it is in the same slot.
local id = redis.call('GET', KEYS[1])
if not id then
  return {0, '', ''}
end
local hex = string.format(string.rep('%02x', #id), string.byte(id, 1, -1))
local entry = redis.call('GET', ARGV[1] .. hex)
if entry then
  local epoch = redis.call('GET', KEYS[2]) or '0'
  local sep = string.find(entry, ':', 1, true)
  if sep and string.sub(entry, 1, sep - 1) == epoch then
    return {1, string.sub(entry, sep + 1), id}
  end
end
return {2, '', id}
