-- All-or-nothing GCRA acquire over one lane's buckets (headroom proxy's shared store).
--
-- KEYS[1]: the lane's hash (field tK: bucket K's theoretical arrival time in µs; seq: ids).
-- KEYS[2]: the lane's admission log (sorted set, score: admission time in µs).
-- ARGV[1]: now, in µs (the caller's clock). ARGV[2]: how long the log is kept, in µs.
-- ARGV[3 + 5K .. 7 + 5K], K = 0..3 (requests, input, output, tokens): the window in µs, the
-- amount per window (0: no such limit), the burst, the reserve (units kept unspent for
-- arrivals bunched by transit jitter; the limit's own burst is burst + reserve), and this
-- request's charge.
--
-- Admits iff every bucket holds its charge now: now >= TAT + n·T - C, with T = window / amount
-- and C = burst·T, every n·T rounded up (rounding favours the provider), exactly the core's
-- rule. A charge above the burst but within the limit's own burst waits for a full bucket and
-- takes all of it (its TAT goes past now + C). Then every TAT <- max(TAT, now) + n·T and the
-- charges are logged for header syncs.
-- Returns {1, id} (admitted), {0, at, K} (the earliest instant all fit; bucket K waits
-- longest) or {-1, K} (bucket K's own burst is below the charge: never).
local now = tonumber(ARGV[1])
local keep = tonumber(ARGV[2])
local next_tats = {}
local charges = {}
local latest, longest = now, -1
for k = 0, 3 do
  local base = 3 + 5 * k
  local window, amount = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local burst, reserve = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local n = tonumber(ARGV[base + 4])
  charges[k + 1] = string.format('%.0f', n)
  if amount > 0 then
    if n > burst + reserve then
      return {-1, k}
    end
    local tat = tonumber(redis.call('HGET', KEYS[1], 't' .. k) or now)
    local fit = math.ceil(math.min(n, burst) * window / amount)
    local capacity = math.ceil(burst * window / amount)
    local allowed = tat + fit - capacity
    if allowed > latest then
      latest, longest = allowed, k
    end
    next_tats[k] = math.max(tat, now) + math.ceil(n * window / amount)
  end
end
if latest > now then
  return {0, string.format('%.0f', latest), longest}
end
for k, tat in pairs(next_tats) do
  redis.call('HSET', KEYS[1], 't' .. k, string.format('%.0f', tat))
end
local id = redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('ZADD', KEYS[2], string.format('%.0f', now), id .. ':' .. table.concat(charges, ':'))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', string.format('(%.0f', now - keep))
redis.call('PEXPIRE', KEYS[1], 86400000)
redis.call('PEXPIRE', KEYS[2], 86400000)
return {1, id}
