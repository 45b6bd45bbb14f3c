-- delete_kv. KEYS[1]: the entry's key. ARGV: base, kv key. Returns 0.
redis.call('DEL', KEYS[1])
redis.call('ZREM', kv_index, ARGV[2])
redis.call('ZREM', kv_expiry_index, ARGV[2])
return 0
