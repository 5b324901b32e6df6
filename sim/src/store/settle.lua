-- Settles one admitted request against what it really cost, or charges what was admitted
-- without the store (headroom proxy's shared store).
--
-- KEYS[1]: the lane's hash. KEYS[2]: the lane's admission log.
-- ARGV[1]: now, in µs. ARGV[2]: when the request (or the last of those charged) was admitted,
-- in µs.
-- ARGV[3 + 4K .. 6 + 4K], K = 0..3: the window in µs, the amount per window (0: no such
-- limit), the burst, and the difference actual - charged, in units (negative: a refund).
--
-- An extra charge moves the TAT on from max(TAT, now), as an admission does, but never past
-- now + C (C = burst·T: an empty bucket; the provider's does not go lower, it refuses), and
-- is logged at the admission instant, so that a header sync counts it as unseen as it counts
-- the charge admitted then. A refund gives back only the part of the charge still ahead of now:
-- TAT <- max(now, TAT - |d|·T), the core's rule for late refunds (what the provider has
-- already let refill is not owed back); it is not logged (a sync that counts the larger
-- charge as unseen errs on the provider's side).
local now = tonumber(ARGV[1])
local admitted = tonumber(ARGV[2])
local extra = {}
local logged = false
for k = 0, 3 do
  local base = 3 + 4 * k
  local window, amount = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local burst, delta = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  extra[k + 1] = '0'
  if amount > 0 and delta ~= 0 then
    local tat = tonumber(redis.call('HGET', KEYS[1], 't' .. k) or now)
    local span = math.ceil(math.abs(delta) * window / amount)
    if delta > 0 then
      local empty = now + math.ceil(burst * window / amount)
      tat = math.max(tat, math.min(math.max(tat, now) + span, empty))
      extra[k + 1] = string.format('%.0f', delta)
      logged = true
    else
      tat = math.max(now, tat - span)
    end
    redis.call('HSET', KEYS[1], 't' .. k, string.format('%.0f', tat))
  end
end
if logged then
  local id = redis.call('HINCRBY', KEYS[1], 'seq', 1)
  redis.call('ZADD', KEYS[2], string.format('%.0f', admitted), id .. ':' .. table.concat(extra, ':'))
end
return 1
