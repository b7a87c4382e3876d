-- Lua 5.4 from Debian's source package: reads a data file, writes to /tmp, reads it back.
local dir = arg[1] or "."
local f = assert(io.open(dir .. "/data.txt", "r"))
local total, count, words = 0, 0, {}
for line in f:lines() do
  local name, value = line:match("^(%a+)%s+(%d+)$")
  if name then
    total = total + tonumber(value)
    count = count + 1
    words[#words + 1] = name:upper()
  end
end
f:close()
table.sort(words)
print(string.format("read %d records, total %d", count, total))
print("sorted: " .. table.concat(words, ","))
local out = assert(io.open("/tmp/lua-out.txt", "w"))
for i = 1, 1000 do out:write(string.format("%d %.6f\n", i, math.sqrt(i))) end
out:close()
local back, lines, last = assert(io.open("/tmp/lua-out.txt", "r")), 0, nil
for line in back:lines() do lines = lines + 1; last = line end
back:close()
print(string.format("wrote and read back %d lines, last %s", lines, last))
print("os.remove: " .. tostring(os.remove("/tmp/lua-out.txt")))
print("io.open of a missing file: " .. tostring(io.open("/tmp/nothing-here") == nil))
local t = os.time()
print("os.time is past 2020: " .. tostring(t > 1577836800))
print("os.clock is a number: " .. tostring(type(os.clock()) == "number"))
print("lua: done")
