"""The Lua scripts of the Redis live state: each a read-modify-write that must be atomic on the
server, so two hosts applying events at once cannot lose each other's update.

* :data:`IGNORED_SHOW` — one shopper's cards shown without a click (a hash: product id ->
  ``"times shown,last shown"``), the rule of :class:`ranking.live.history.IgnoredCards`: a held
  card adds its showings (restarting at zero when its last showing is older than the window);
  new cards, newest first, take free slots, then those of the least recently shown cards not
  shown in this batch; at most ``size`` cards.
* :data:`COVISIT_LEARN` — adds decayed weights to items' co-visitation sorted sets and trims
  each to its top ``k`` (ZINCRBY + ZREMRANGEBYRANK). Scores are weights as of the item's
  *anchor* time (a key beside it): a weight ``w`` at ``now`` adds ``w * 2 ** ((now - anchor) /
  half_life)``, so decay needs no rewrite; when that factor passes ``2 ** 60`` the scores are
  rescaled to ``now`` (doubles never overflow).
* :data:`CLOCK_MAX` — the state's clock (live seconds of the latest event applied) only moves
  forward.
"""

from __future__ import annotations

IGNORED_SHOW = """
local key = KEYS[1]
local window, size, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local hit, new = {}, {}
for i = 4, #ARGV, 3 do
  local item, n, last = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
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
return 0
"""

COVISIT_LEARN = """
local p, now, hl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local k, ttl = tonumber(ARGV[4]), tonumber(ARGV[5])
local i = 6
while i <= #ARGV do
  local src, n = ARGV[i], tonumber(ARGV[i + 1])
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
  for j = i + 2, i + 2 * n, 2 do
    redis.call('ZINCRBY', key, tonumber(ARGV[j + 1]) * gain, ARGV[j])
  end
  redis.call('ZREMRANGEBYRANK', key, 0, -(k + 1))
  redis.call('SET', akey, anchor, 'EX', ttl)
  redis.call('EXPIRE', key, ttl)
  i = i + 2 + 2 * n
end
return 0
"""

CLOCK_MAX = """
local c, t = tonumber(redis.call('GET', KEYS[1])), tonumber(ARGV[1])
if not c or t > c then c = t end
redis.call('SET', KEYS[1], c, 'EX', ARGV[2])
return c
"""
