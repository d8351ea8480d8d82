/**
 * The Lua scripts of the Redis tier (each one round trip, atomic) and their SHA-1s for EVALSHA.
 */
import { createHash } from 'node:crypto';

/**
 * Value, generation and the value's remaining lifetime, in one round trip. With a scope-epoch
 * hash (KEYS[3], standalone Redis only), an identity filled before an epoch covering it (its
 * kind ARGV[1], subject, token id, or everything) is deleted and read as a miss, in the same
 * call; the hash is only decoded when it exists, so without scoped invalidations this costs one
 * EXISTS. Returns a 4th element: 1 when a value was dropped as stale.
 */
const GET_SCRIPT = `
local value = redis.call('GET', KEYS[1])
local ttl = -2
if value then ttl = redis.call('PTTL', KEYS[1]) end
local stale = 0
if value and KEYS[3] and redis.call('EXISTS', KEYS[3]) == 1 then
  local json = value
  local dot = string.find(value, '%.[%w_-]*$')
  if dot then json = string.sub(value, 1, dot - 1) end
  local ok, decoded = pcall(cjson.decode, json)
  if ok and type(decoded) == 'table' and decoded.t == 'identity' and type(decoded.identity) == 'table' then
    local identity = decoded.identity
    local fields = { 'all', 'kind:' .. ARGV[1] }
    if type(identity.subject) == 'string' then fields[#fields + 1] = 'subject:' .. identity.subject end
    if type(identity.tokenId) == 'string' then fields[#fields + 1] = 'token:' .. ARGV[1] .. ':' .. identity.tokenId end
    local epochs = redis.call('HMGET', KEYS[3], unpack(fields))
    local filledAt = tonumber(decoded.filledAt) or -1
    for i = 1, #epochs do
      local epoch = tonumber(epochs[i])
      if epoch and filledAt < epoch then stale = 1 end
    end
    if stale == 1 then
      redis.call('DEL', KEYS[1])
      value = false
      ttl = -2
    end
  end
end
return { value, redis.call('GET', KEYS[2]), ttl, stale }
`;

/**
 * Records a scoped invalidation's epoch under its field (keeping the later one) and forgets
 * epochs older than every value that could still be in the tier. ARGV: field, epoch, keep ms,
 * now (epoch ms).
 */
const SCOPE_SCRIPT = `
local current = tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0')
if tonumber(ARGV[2]) > current then redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end
local all = redis.call('HGETALL', KEYS[1])
local horizon = tonumber(ARGV[4]) - tonumber(ARGV[3])
for i = 1, #all, 2 do
  if tonumber(all[i + 1]) < horizon then redis.call('HDEL', KEYS[1], all[i]) end
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
`;

/** Reads the generation and, only when it still equals the one the load saw, stores the value. */
const FILL_SCRIPT = `
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
if current ~= tonumber(ARGV[1]) then return 0 end
if redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3], 'NX') then return 1 end
return 0
`;

/**
 * Bumps the generation (so racing fills are refused), then writes a tombstone or drops the
 * value. A plain invalidation keeps an existing tombstone: a revoked token stays revoked.
 */
const INVALIDATE_SCRIPT = `
local generation = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
if tonumber(ARGV[1]) > 0 then
  redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[1])
else
  local value = redis.call('GET', KEYS[1])
  if value and string.sub(value, 1, 14) ~= '{"t":"revoked"' then redis.call('DEL', KEYS[1]) end
end
return generation
`;

export interface Script {
  source: string;
  sha: string;
}

const script = (source: string): Script => ({
  source,
  sha: createHash('sha1').update(source).digest('hex'),
});
export const GET = script(GET_SCRIPT);
export const FILL = script(FILL_SCRIPT);
export const INVALIDATE = script(INVALIDATE_SCRIPT);
export const SCOPE = script(SCOPE_SCRIPT);
