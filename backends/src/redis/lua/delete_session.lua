-- delete_session. KEYS[1]: the session's key. ARGV: base, session id. Returns 0.
remove_session(KEYS[1], ARGV[2])
return 0
