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
  holds after (for co-visitation); :data:`COUNT_MANY` (below) — many counter fields of many
  bucket hashes; :data:`HDEL_MANY` — clicked cards off many shoppers' ignored lists. One call for a
  whole batch: the client's cost per command, not the server's, bounds throughput, so entries
  travel as one space-separated argument per key (numbers only; keys are separate arguments,
  so a session id may hold any character).
* :data:`CLOCK_MAX` — the state's clock (live seconds of the latest event applied) only moves
  forward.
* :data:`COUNT_MANY` — adds to counter buckets (``HINCRBYFLOAT``), bumps each bucket's write
  stamp (field ``#``) and adds the integer metrics to the window's running totals when the
  bucket is one of those the totals hold and they hold exactly what it held before; otherwise
  it leaves the totals alone (a bucket outside their window: one ahead is added when a read
  rolls on to it) or voids their marker (they disagree with the bucket: the next rolling read
  rebuilds them).
* :data:`WINDOW_TOTALS` — a reader's window totals (each window's, in one call): checks the
  totals against every bucket's stamp; with ``roll`` it rolls them forward to the reader's
  bucket (subtracting the buckets that left the window, adding those that entered) or rebuilds
  them from the buckets when they disagree, are missing or a whole window behind; without, it
  answers only when they are current and agree (nothing heavy on a page's path). Then it
  returns the candidates' totals and, bucket by bucket, the GMV of those whose window holds an
  order (ranking/live/redis_state.py says why the totals are exact); the applier's roll (mode 2)
  returns 1 once rolled, reading nothing back (no mall totals, no GMV bucket by bucket).
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

# A bucket's stamp: its write count ('#', bumped by every COUNT_MANY call), '0' for a bucket an
# older version wrote (no '#'), '-' for none (never written, expired or deleted).
_STAMP = """
local function stamp(key)
  local n = redis.call('HGET', key, '#')
  if n then return n end
  if redis.call('EXISTS', key) == 1 then return '0' end
  return '-'
end
"""

COUNT_MANY = _STAMP + """
for i = 1, #ARGV, 6 do
  local key, ttl, payload, totals = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local b, n = tonumber(ARGV[i + 4]), tonumber(ARGV[i + 5])
  local before = totals ~= '-' and stamp(key)
  for field, value in string.gmatch(payload, '(%S+) (%S+)') do
    redis.call('HINCRBYFLOAT', key, field, value)
  end
  local after = redis.call('HINCRBY', key, '#', 1)
  redis.call('EXPIRE', key, ttl)
  if totals ~= '-' then
    local m = tonumber(redis.call('HGET', totals, '@'))
    if m and b <= m and b > m - n then
      if (redis.call('HGET', totals, '#' .. b) or '-') == before then
        for field, value in string.gmatch(payload, '(%S+) (%S+)') do
          if string.sub(field, -2) ~= ':g' then
            redis.call('HINCRBY', totals, field, string.format('%d', tonumber(value)))
          end
        end
        redis.call('HSET', totals, '#' .. b, after)
      else
        redis.call('HDEL', totals, '@')
      end
    end
  end
end
return 0
"""

WINDOW_TOTALS = _STAMP + """
local metrics = {'i', 'c', 'a', 'o'}
local CHUNK = 1000

local function counted(bucket)
  local flat = redis.call('HGETALL', bucket)
  local f, v = {}, {}
  for j = 1, #flat, 2 do
    local name = flat[j]
    if name ~= '#' and string.sub(name, -2) ~= ':g' then
      f[#f + 1] = name
      v[#v + 1] = tonumber(flat[j + 1])
    end
  end
  return f, v
end

local function put(totals, sums)
  local set, del = {}, {}
  for field, x in pairs(sums) do
    if x == 0 then
      del[#del + 1] = field
    else
      set[#set + 1] = field
      set[#set + 1] = string.format('%d', x)
    end
    if #set >= 2 * CHUNK then redis.call('HSET', totals, unpack(set)); set = {} end
    if #del >= CHUNK then redis.call('HDEL', totals, unpack(del)); del = {} end
  end
  if #set > 0 then redis.call('HSET', totals, unpack(set)) end
  if #del > 0 then redis.call('HDEL', totals, unpack(del)) end
end

local function shift(totals, bucket, sign)
  local f, v = counted(bucket)
  local sums = {}
  for s = 1, #f, CHUNK do
    local held = redis.call('HMGET', totals, unpack(f, s, math.min(s + CHUNK - 1, #f)))
    for j = 1, #held do
      sums[f[s + j - 1]] = (tonumber(held[j]) or 0) + sign * v[s + j - 1]
    end
  end
  put(totals, sums)
end

-- one window: 0 when the caller must read its buckets, 1 when it only rolls, else {counts, gmv}
local function window(totals, base, c, n, ttl, ids, roll, only)
  local m = tonumber(redis.call('HGET', totals, '@'))
  if m and c < m then return 0 end
  if not roll and m ~= c then return 0 end
  local current = m ~= nil and c - m < n
  if current then
    for b = m - n + 1, m do
      if stamp(base .. b) ~= (redis.call('HGET', totals, '#' .. b) or '-') then
        current = false
        break
      end
    end
  end
  if not roll and not current then return 0 end
  if current then
    for b = m - n + 1, c - n do
      shift(totals, base .. b, -1)
      redis.call('HDEL', totals, '#' .. b)
    end
    for b = m + 1, c do
      local s = stamp(base .. b)
      if s ~= '-' then
        shift(totals, base .. b, 1)
        redis.call('HSET', totals, '#' .. b, s)
      end
    end
  else
    redis.call('DEL', totals)
    local sums = {}
    for b = c - n + 1, c do
      local s = stamp(base .. b)
      if s ~= '-' then
        local f, v = counted(base .. b)
        for j = 1, #f do sums[f[j]] = (sums[f[j]] or 0) + v[j] end
        redis.call('HSET', totals, '#' .. b, s)
      end
    end
    put(totals, sums)
  end
  redis.call('HSET', totals, '@', c)
  redis.call('EXPIRE', totals, ttl)
  if only then return 1 end

  local names = {}
  for id in string.gmatch(ids, '%S+') do
    for _, metric in ipairs(metrics) do names[#names + 1] = id .. ':' .. metric end
  end
  for _, metric in ipairs(metrics) do names[#names + 1] = '*:' .. metric end
  local out = {}
  for s = 1, #names, CHUNK do
    local held = redis.call('HMGET', totals, unpack(names, s, math.min(s + CHUNK - 1, #names)))
    for j = 1, #held do out[#out + 1] = held[j] or '0' end
  end
  local sold = {}
  for k = 4, #out - 4, 4 do
    if tonumber(out[k]) > 0 then sold[#sold + 1] = names[k]:sub(1, -2) .. 'g' end
  end
  sold[#sold + 1] = '*:g'
  local gmv = {}
  for b = c - n + 1, c do
    for s = 1, #sold, CHUNK do
      local held = redis.call('HMGET', base .. b, unpack(sold, s, math.min(s + CHUNK - 1, #sold)))
      for j = 1, #held do gmv[#gmv + 1] = held[j] or '0' end
    end
  end
  return {table.concat(out, ','), table.concat(gmv, ',')}
end

local answers = {}
for i = 1, #ARGV, 7 do
  answers[#answers + 1] = window(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]),
                                 ARGV[i + 4], ARGV[i + 5], ARGV[i + 6] ~= '0', ARGV[i + 6] == '2')
end
return answers
"""
