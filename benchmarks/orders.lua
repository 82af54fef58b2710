-- wrk script: POST /api/v1/orders, rotating buyers' bearer tokens and SKUs.
-- Data (slug, tokens, skus) comes from the Lua file named by POCKETSHOP_BENCH_DATA, written
-- by run.py. Prints one JSON line with the status counts, which run.py reads.

local data = dofile(os.getenv("POCKETSHOP_BENCH_DATA"))
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  counter = id
  statuses = {}
  address = '{"recipient":"李雷","phone":"13900139000","province":"浙江省",' ..
            '"city":"杭州市","district":"西湖区","detail":"文三路 90 号 3 单元 201"}'
end

function request()
  counter = counter + 7
  local token = data.tokens[counter % #data.tokens + 1]
  local sku = data.skus[counter % #data.skus + 1]
  local body = '{"shop":"' .. data.slug .. '","lines":[{"sku_id":"' .. sku ..
               '","quantity":1}],"address":' .. address .. '}'
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
  }
  return wrk.format("POST", "/api/v1/orders", headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    local counts = thread:get("statuses")
    for status, n in pairs(counts) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(totals) do
    table.insert(parts, '"' .. status .. '":' .. n)
  end
  io.write("STATUSES {" .. table.concat(parts, ",") .. "}\n")
end
