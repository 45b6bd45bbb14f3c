-- delete_token. KEYS[1]: the token's key. ARGV: base, token id. Returns 0.
remove_token(KEYS[1], ARGV[2])
return 0
