"""The Lua scripts the Redis store runs (EVALSHA, EVAL: served by Redis and Valkey alike).

Each is one atomic step: nothing another process does comes between its commands.
"""

#: KEYS: records, book version, global version. ARGV: id, record, limit, channel, book.
#: {before, after}, or {-1} (the id is taken), {-2} (the book is full).
ADD = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return {-1} end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return {-2} end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local before = tonumber(redis.call('GET', KEYS[2]) or '0')
local after = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[2], after)
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. after)
return {before, after}
"""

#: KEYS: records, book version, global version, counters. ARGV: channel, book, ids...
#: {removed, before, after}.
REMOVE = """
local removed = 0
for i = 3, #ARGV do
  removed = removed + redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('HDEL', KEYS[4], 'n:' .. ARGV[i], 'hits:' .. ARGV[i])
end
local before = tonumber(redis.call('GET', KEYS[2]) or '0')
if removed == 0 then return {0, before, before} end
local after = redis.call('INCR', KEYS[3])
redis.call('SET', KEYS[2], after)
redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. after)
return {removed, before, after}
"""

#: KEYS: records, book version. {version, {record, ...}}, read at one instant.
SNAPSHOT = """
return {tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('HVALS', KEYS[1])}
"""

#: KEYS: records, counters. ARGV: id, limit (-1: none). The counter's value before it
#: moved on; -1: at its limit; -2: no such record (removed by another process).
TAKE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -2 end
local field = 'n:' .. ARGV[1]
local n = tonumber(redis.call('HGET', KEYS[2], field) or '0')
local limit = tonumber(ARGV[2])
if limit >= 0 and n >= limit then return -1 end
redis.call('HINCRBY', KEYS[2], field, 1)
return n
"""

#: KEYS: one per quota window. ARGV: each quota's limit, then each window's milliseconds
#: (0: never ends). {1, full}: counted in every window; {0, full}: some window is full
#: (nothing counted). ``full``: how long a full window stays so (so the caller may refuse
#: without asking again): the milliseconds until the last full window ends, -1 for one that
#: never ends, 0 when no window is full (or its time is up).
ALLOW = """
local function longest(blocked, i, key, n)
  if n < tonumber(ARGV[i]) then return blocked, false end
  local left = redis.call('PTTL', key)
  if blocked == -1 or left < 0 then return -1, true end  -- no expiry, or no key (limit 0)
  return math.max(blocked, left), true
end
local blocked, refused, full = 0, false, false
for i, key in ipairs(KEYS) do
  blocked, full = longest(blocked, i, key, tonumber(redis.call('GET', key) or '0'))
  refused = refused or full
end
if refused then return {0, blocked} end
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ms = tonumber(ARGV[#KEYS + i])
  if n == 1 and ms > 0 then redis.call('PEXPIRE', key, ms) end
  blocked = longest(blocked, i, key, n)
end
return {1, blocked}
"""

#: KEYS: journal stream, its sequence, the last batch each replica sent. ARGV: most entries
#: kept, the replica, its batch's number, then (tenant, entry JSON) for each entry. Numbers
#: the entries one after another; returns the first one's number. A batch sent again (its
#: first sending timed out, yet reached Redis) is not added twice: its first number again.
JOURNAL_ADD = """
local last = redis.call('HGET', KEYS[3], ARGV[2])
if last then
  local batch, number = string.match(last, '^(%d+) (%d+)$')
  if batch == ARGV[3] then return tonumber(number) end
end
local count = (#ARGV - 3) / 2
local first = redis.call('INCRBY', KEYS[2], count) - count + 1
for i = 0, count - 1 do
  redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[1], '*', 's', first + i,
             't', ARGV[4 + 2 * i], 'e', ARGV[5 + 2 * i])
end
redis.call('HSET', KEYS[3], ARGV[2], ARGV[3] .. ' ' .. first)
return first
"""

#: KEYS: journal stream. ARGV: tenant. Removes that tenant's entries.
JOURNAL_CLEAR = """
local removed = 0
for _, item in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do
  local fields = item[2]
  for j = 1, #fields, 2 do
    if fields[j] == 't' and fields[j + 1] == ARGV[1] then
      removed = removed + redis.call('XDEL', KEYS[1], item[1])
    end
  end
end
return removed
"""

#: KEYS: global version, then each book's version. ARGV: the version this process knows of
#: each book. A store that lost its data (a restart without persistence) has versions below
#: what replicas served: each such book gets a new version above every one known, so a
#: version never names two different states.
CATCH_UP = """
for i = 2, #KEYS do
  local known = tonumber(ARGV[i - 1])
  if tonumber(redis.call('GET', KEYS[i]) or '0') < known then
    if tonumber(redis.call('GET', KEYS[1]) or '0') < known then
      redis.call('SET', KEYS[1], known)
    end
    redis.call('SET', KEYS[i], redis.call('INCR', KEYS[1]))
  end
end
return 1
"""
