-- Sets a lane's buckets from a response's rate-limit headers (headroom proxy's shared store).
--
-- KEYS[1]: the lane's hash. KEYS[2]: the lane's admission log.
-- ARGV[1]: now, in µs. ARGV[2]: the instant from which admissions are unseen by the headers,
-- in µs: when the response's headers arrived, less the transit allowance (a request admitted
-- later may not have reached the provider when it took its snapshot).
-- ARGV[3 + 5K .. 7 + 5K], K = 0..3: the window in µs, the amount per window (0: no such
-- limit), the burst, the reserve (units kept unspent for arrivals bunched by transit jitter),
-- and the header's `remaining` (-1: not reported).
--
-- The level of bucket K becomes remaining - (the charges logged since ARGV[2], every proxy's)
-- - reserve, within [0, burst], and the TAT is set so that the bucket holds exactly that now:
-- TAT = now + C - level·T. This is the core's sync rule (remaining, less what it cannot have
-- counted yet), over the admissions of every proxy sharing the store.
local now = tonumber(ARGV[1])
local since = tonumber(ARGV[2])
local unseen = {0, 0, 0, 0}
for _, entry in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], string.format('%.0f', since), '+inf')) do
  local k = 0
  for field in string.gmatch(entry, '[^:]+') do
    if k > 0 then
      unseen[k] = unseen[k] + tonumber(field)
    end
    k = k + 1
  end
end
for k = 0, 3 do
  local base = 3 + 5 * k
  local window, amount = tonumber(ARGV[base]), tonumber(ARGV[base + 1])
  local burst, reserve = tonumber(ARGV[base + 2]), tonumber(ARGV[base + 3])
  local remaining = tonumber(ARGV[base + 4])
  if amount > 0 and remaining >= 0 then
    local level = math.min(burst, math.max(0, remaining - unseen[k + 1] - reserve))
    local capacity = math.ceil(burst * window / amount)
    local tat = now + capacity - math.floor(level * window / amount)
    redis.call('HSET', KEYS[1], 't' .. k, string.format('%.0f', tat))
  end
end
return 1
