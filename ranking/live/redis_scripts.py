"""The Lua scripts of the Redis live state: each a read-modify-write that must be atomic on the
server, so two hosts applying events at once cannot lose each other's update.

* :data:`IGNORED_SHOW` — each shopper's cards shown without a click (a hash: product id ->
  ``"times shown,last shown"``), the rule of :class:`ranking.live.history.IgnoredCards`: a held
  card adds its showings (restarting at zero when its last showing is older than the window);
  new cards, newest first, take free slots, then those of the least recently shown cards not
  shown in this batch; at most ``size`` cards.
* :data:`COVISIT_LEARN` — adds decayed weights to items' co-visitation sorted sets and trims
  each to its top ``k`` (ZINCRBY + ZREMRANGEBYRANK). Scores are weights as of the item's
  *anchor* time (a key beside it): a weight ``w`` at ``now`` adds ``w * 2 ** ((now - anchor) /
  half_life)``, so decay needs no rewrite; when that factor passes ``2 ** 60`` the scores are
  rescaled to ``now`` (doubles never overflow).
* :data:`PUSH_CAPPED` — LPUSH + LTRIM + EXPIRE of many shoppers' capped lists, and what each
  holds after (for co-visitation); :data:`HINCR_MANY` — many counter fields of many bucket
  hashes; :data:`HDEL_MANY` — clicked cards off many shoppers' ignored lists. One call for a
  whole batch: the client's cost per command, not the server's, bounds throughput, so entries
  travel as one space-separated argument per key (numbers only; keys are separate arguments,
  so a session id may hold any character).
* :data:`CLOCK_MAX` — the state's clock (live seconds of the latest event applied) only moves
  forward.
"""

from __future__ import annotations

IGNORED_SHOW = """
local window, size = tonumber(ARGV[1]), tonumber(ARGV[2])
local function show(key, ttl, payload)
  local hit, new = {}, {}
  for item, n, last in string.gmatch(payload, '(%S+) (%S+) (%S+)') do
    n, last = tonumber(n), tonumber(last)
    local held = redis.call('HGET', key, item)
    if held then
      local shown, at = string.match(held, '^(%-?%d+),(%-?%d+)$')
      shown, at = tonumber(shown), tonumber(at)
      if at < last - window then shown = 0 end
      redis.call('HSET', key, item, string.format('%d,%d', shown + n, math.max(at, last)))
      hit[item] = true
    else
      new[#new + 1] = {item, n, last}
    end
  end
  if #new > 0 then
    local flat = redis.call('HGETALL', key)
    local old = {}
    for i = 1, #flat, 2 do
      if not hit[flat[i]] then
        old[#old + 1] = {flat[i], tonumber(string.match(flat[i + 1], ',(%-?%d+)$'))}
      end
    end
    table.sort(old, function(a, b) return a[2] < b[2] end)
    local free, evict = size - #flat / 2, 1
    for _, card in ipairs(new) do
      if free > 0 then
        free = free - 1
      elseif evict <= #old then
        redis.call('HDEL', key, old[evict][1])
        evict = evict + 1
      else
        break
      end
      redis.call('HSET', key, card[1], string.format('%d,%d', card[2], card[3]))
    end
  end
  redis.call('EXPIRE', key, ttl)
end
for i = 3, #ARGV, 3 do
  show(ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
return 0
"""

PUSH_CAPPED = """
local size, read = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 3 do
  local key, n = ARGV[i], 0
  for entry in string.gmatch(ARGV[i + 2], '%S+') do
    redis.call('LPUSH', key, entry)
    n = n + 1
  end
  redis.call('LTRIM', key, 0, size - 1)
  redis.call('EXPIRE', key, ARGV[i + 1])
  if read >= 0 then out[#out + 1] = redis.call('LRANGE', key, 0, n + read - 1) end
end
return out
"""

HINCR_MANY = """
for i = 1, #ARGV, 3 do
  local key = ARGV[i]
  for field, value in string.gmatch(ARGV[i + 2], '(%S+) (%S+)') do
    redis.call('HINCRBYFLOAT', key, field, value)
  end
  redis.call('EXPIRE', key, ARGV[i + 1])
end
return 0
"""

HDEL_MANY = """
for i = 1, #ARGV, 2 do
  for field in string.gmatch(ARGV[i + 1], '%S+') do
    redis.call('HDEL', ARGV[i], field)
  end
end
return 0
"""

COVISIT_LEARN = """
local p, now, hl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local k, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local i = 6
while i <= #ARGV do
  local src = ARGV[i]
  local key, akey = p .. 'cv:' .. src, p .. 'cva:' .. src
  local anchor = tonumber(redis.call('GET', akey))
  if not anchor or redis.call('EXISTS', key) == 0 then anchor = now end
  local up = (now - anchor) / hl
  if up > 60 then
    local flat = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
    local scale = math.pow(2, -up)
    for j = 1, #flat, 2 do
      redis.call('ZADD', key, tonumber(flat[j + 1]) * scale, flat[j])
    end
    anchor, up = now, 0
  end
  local gain = math.pow(2, up)
  for dst, w in string.gmatch(ARGV[i + 1], '(%S+) (%S+)') do
    redis.call('ZINCRBY', key, tonumber(w) * gain, dst)
  end
  redis.call('ZREMRANGEBYRANK', key, 0, -(k + 1))
  redis.call('SET', akey, anchor, 'EX', ttl)
  redis.call('EXPIRE', key, ttl)
  i = i + 2
end
return 0
"""

CLOCK_MAX = """
local c, t = tonumber(redis.call('GET', KEYS[1])), tonumber(ARGV[1])
if not c or t > c then c = t end
redis.call('SET', KEYS[1], c, 'EX', ARGV[2])
return c
"""
