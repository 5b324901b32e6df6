-- Settles one admitted request against what it really cost (headroom proxy's shared store).
--
-- KEYS[1]: the lane's hash. ARGV[1]: now, in µs.
-- ARGV[2 + 3K .. 4 + 3K], K = 0..3: the window in µs, the amount per window (0: no such
-- limit), and the difference actual - charged, in units (negative: a refund).
--
-- An extra charge moves the TAT on from max(TAT, now), as an admission does. A refund gives
-- back only the part of the charge still ahead of now: TAT <- max(now, TAT - |d|·T), the
-- core's rule for late refunds (what the provider has already let refill is not owed back).
local now = tonumber(ARGV[1])
for k = 0, 3 do
  local base = 2 + 3 * k
  local window, amount = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local delta = tonumber(ARGV[base + 2])
  if amount > 0 and delta ~= 0 then
    local tat = tonumber(redis.call('HGET', KEYS[1], 't' .. k) or now)
    local span = math.ceil(math.abs(delta) * window / amount)
    if delta > 0 then
      tat = math.max(tat, now) + span
    else
      tat = math.max(now, tat - span)
    end
    redis.call('HSET', KEYS[1], 't' .. k, string.format('%.0f', tat))
  end
end
return 1
