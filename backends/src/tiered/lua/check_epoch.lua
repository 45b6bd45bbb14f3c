-- The epoch check. KEYS[1] the epoch, KEYS[2] the cache's owner: the run_id of the Redis
-- server process whose cache entries these are. ARGV[1] PostgreSQL's epoch; ARGV[2] a
-- run_id the caller has just raised PostgreSQL's epoch for, else '-'.
-- If the owner recorded is another process than this one (Redis restarted and loaded a
-- snapshot or AOF, or a replica took over), entries may predate invalidations this
-- process never saw: returns {0, run_id} and changes nothing, and the caller raises
-- PostgreSQL's epoch and calls again with ARGV[2] = run_id. Otherwise records this
-- process as the owner, raises the epoch to ARGV[1] if greater, and returns {1, epoch}.
local run_id = string.match(redis.call('INFO', 'server'), 'run_id:(%x+)') or ''
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= run_id and ARGV[2] ~= run_id then
  return {0, run_id}
end
if owner ~= run_id then
  redis.call('SET', KEYS[2], run_id)
end
local current = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
local wanted = tonumber(ARGV[1])
if wanted > current then
  redis.call('SET', KEYS[1], ARGV[1])
  current = wanted
end
return {1, tostring(current)}
