-- wrk script: GET many paths in turn (one per line in the file named by
-- POCKETSHOP_BENCH_PATHS, shuffled by run.py), round and round, each thread from its own
-- point of the list (POCKETSHOP_BENCH_THREADS threads), so a list longer than the page cache
-- never finds a page there. Headers: one "Name: value" per line of POCKETSHOP_BENCH_HEADERS.
-- With POCKETSHOP_BENCH_NEW_VISITORS set, each request's User-Agent ends with a number of its
-- own: another phone each time, so every request is a page view the server writes.

local paths = {}
for line in io.lines(os.getenv("POCKETSHOP_BENCH_PATHS")) do
  if #line > 0 then table.insert(paths, line) end
end
local headers = {}
for line in io.lines(os.getenv("POCKETSHOP_BENCH_HEADERS")) do
  local name, value = line:match("^([^:]+):%s*(.*)$")
  if name then headers[name] = value end
end
local threads = tonumber(os.getenv("POCKETSHOP_BENCH_THREADS") or "1")
local new_visitors = (os.getenv("POCKETSHOP_BENCH_NEW_VISITORS") or "") ~= ""
local agent = headers["User-Agent"] or "Mozilla/5.0"
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end

function init(args)
  index = math.floor(#paths * id / threads)
end

function request()
  index = index % #paths + 1
  if new_visitors then
    seen = (seen or 0) + 1
    headers["User-Agent"] = agent .. " Visitor/" .. id .. "." .. seen
  end
  return wrk.format("GET", paths[index], headers)
end
