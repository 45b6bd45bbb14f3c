-- list_kv_keys. KEYS[1]: the key listing (a sorted set, every score 0, so ordered by the
-- bytes of the keys). ARGV: base, ZRANGEBYLEX min and max. Returns the live keys in the
-- range in byte order; drops members whose entry has expired.
local out = {}
for _, key in ipairs(redis.call('ZRANGEBYLEX', KEYS[1], ARGV[2], ARGV[3])) do
  if redis.call('EXISTS', kv_key(key)) == 1 then
    out[#out + 1] = key
  else
    redis.call('ZREM', kv_index, key)
    redis.call('ZREM', kv_expiry_index, key)
  end
end
return out
