-- The Lua flight's script: each line is compared with the same program's output on the
-- build host (lines starting with "figure " are timings, left out of the comparison).

-- Coroutines.
local function numbers(n)
  return coroutine.wrap(function()
    for i = 1, n do coroutine.yield(i) end
  end)
end
local sum = 0
for v in numbers(100) do sum = sum + v end
print("coroutine sum", sum)

-- Floats printed with every digit.
print(string.format("%.17g %.17g %.17g", 0.1, math.pi, 1 / 3))

-- Sorting 20,000 floats from a fixed generator.
local t, x = {}, 12345
for i = 1, 20000 do
  x = (x * 1103515245 + 12345) % 2147483648
  t[i] = x / 2147483648
end
table.sort(t)
local sorted = true
for i = 2, #t do if t[i - 1] > t[i] then sorted = false end end
print("sorted 20000 floats", sorted, string.format("%.17g %.17g", t[1], t[#t]))

-- Errors caught by pcall.
print("pcall(error)", pcall(error, "boom"))
local ok, e = pcall(function() error({ code = 42 }) end)
print("pcall(error table)", ok, e.code)

-- Strings and tables.
local words = {}
for w in string.gmatch("the quick brown fox jumps over the lazy dog", "%a+") do
  words[#words + 1] = w:upper()
end
print(table.concat(words, ","), #words)

-- A workload for the timing figure.
local c0 = os.clock()
local acc = 0
for i = 1, 200000 do acc = acc + math.sin(i) * math.sqrt(i) end
local c1 = os.clock()
print(string.format("workload %.6f", acc))
print(string.format("figure lua-workload-ms %d", math.floor((c1 - c0) * 1000 + 0.5)))
print("lua: done")
