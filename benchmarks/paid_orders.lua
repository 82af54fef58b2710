-- wrk script: paid orders. Each is three requests, on whichever connection is free: place an
-- order (POST /api/v1/orders), start its sandbox payment (POST /api/v1/orders/{n}/payments),
-- and the sandbox provider's signed notification that it was paid
-- (POST /api/v1/payments/sandbox/notify). Orders rotate over all the buyers' tokens, as in
-- orders.lua (a buyer's own checkouts in one shop wait for each other: one buyer placing
-- every order would measure that queue, not the server); each payment is its order's buyer's.
-- Data (slug, tokens, skus, the sandbox signing key in hex) comes from the Lua file named by
-- POCKETSHOP_BENCH_DATA, written by run.py.
-- The provider's transaction ids carry POCKETSHOP_BENCH_RUN, new for every wrk run: ids that
-- started again at 1 on a reused database (--keep-db, the warm-up then the measurement)
-- named transactions already stored, whose notifications were answered 200 and did nothing.

package.path = os.getenv("POCKETSHOP_BENCH_LIB") .. "/?.lua;" .. package.path
local crypto = require("sha256")
local data = dofile(os.getenv("POCKETSHOP_BENCH_DATA"))
local threads = {}
local next_id = 0
local run = os.getenv("POCKETSHOP_BENCH_RUN") or tostring(os.time())

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  key = crypto.unhex(data.key)
  counter = id * 1000003
  -- Nonces differ between runs too.
  math.randomseed(tonumber(run:sub(1, 7), 16) + id)
  to_pay, to_notify = {}, {}
  statuses = {}
  address = '{"recipient":"李雷","phone":"13900139000","province":"浙江省",' ..
            '"city":"杭州市","district":"西湖区","detail":"文三路 90 号 3 单元 201"}'
end

local function notification(trade, amount)
  counter = counter + 1
  local body = '{"id":"bench-' .. trade .. '","create_time":"","event_type":"TRANSACTION.SUCCESS",' ..
    '"resource_type":"sandbox-resource","resource":{"mchid":"sandbox-merchant",' ..
    '"out_trade_no":"' .. trade .. '","transaction_id":"BENCH' .. run .. "x" .. id .. "x" .. counter .. '",' ..
    '"trade_state":"SUCCESS","success_time":"","amount":{"total":' .. amount ..
    ',"currency":"CNY"}}}'
  local stamp = tostring(os.time())
  local nonce = string.format("%08x%08x", math.random(0, 0x7fffffff), counter)
  local signature = crypto.base64(crypto.hmac_sha256(key, stamp .. "\n" .. nonce .. "\n" .. body .. "\n"))
  return wrk.format("POST", "/api/v1/payments/sandbox/notify", {
    ["Content-Type"] = "application/json",
    ["Sandbox-Serial"] = "SANDBOX-KEY-1",
    ["Sandbox-Timestamp"] = stamp,
    ["Sandbox-Nonce"] = nonce,
    ["Sandbox-Signature"] = signature,
  }, body)
end

function request()
  if #to_notify > 0 then
    local trade = table.remove(to_notify)
    return notification(trade[1], trade[2])
  end
  if #to_pay > 0 then
    local order = table.remove(to_pay)
    return wrk.format("POST", "/api/v1/orders/" .. order[1] .. "/payments",
      {["Authorization"] = order[2], ["Content-Type"] = "application/json"},
      '{"provider":"sandbox","channel":"page"}')
  end
  counter = counter + 7
  local sku = data.skus[counter % #data.skus + 1]
  -- The buyer's number goes in the order's note: the answer names whose order it is, and
  -- its payment is started with that buyer's token.
  local buyer = counter % #data.tokens + 1
  return wrk.format("POST", "/api/v1/orders",
    {["Authorization"] = "Bearer " .. data.tokens[buyer], ["Content-Type"] = "application/json"},
    '{"shop":"' .. data.slug .. '","lines":[{"sku_id":"' .. sku .. '","quantity":1}],' ..
    '"address":' .. address .. ',"note":"buyer ' .. buyer .. '"}')
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status ~= 201 then return end
  local trade = body:match('/sandbox/pay/(%x+)')
  if trade then
    table.insert(to_notify, {trade, body:match('"amount":(%d+)')})
    return
  end
  local number = body:match('"number":"(%d+)"')
  local buyer = tonumber(body:match('"note":"buyer (%d+)"'))
  if number and buyer then
    table.insert(to_pay, {number, "Bearer " .. data.tokens[buyer]})
  end
end

function done(summary, latency, requests)
  local totals = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      totals[status] = (totals[status] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(totals) do
    table.insert(parts, '"' .. status .. '":' .. n)
  end
  io.write("STATUSES {" .. table.concat(parts, ",") .. "}\n")
end
