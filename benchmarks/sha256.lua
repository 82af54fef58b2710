-- SHA-256, HMAC-SHA256 and base64 in LuaJIT (wrk's Lua), for signing the sandbox provider's
-- notifications inside the load generator. Checked against Python's hashlib by run.py.
local bit = require("bit")
local band, bor, bxor, bnot = bit.band, bit.bor, bit.bxor, bit.bnot
local rshift, lshift, ror, tobit = bit.rshift, bit.lshift, bit.ror, bit.tobit
local byte, char, rep, concat = string.byte, string.char, string.rep, table.concat

local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}

local function sha256(message)
  local h0, h1, h2, h3 = 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a
  local h4, h5, h6, h7 = 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
  local length = #message
  local padded = message .. "\128" .. rep("\0", (55 - length) % 64)
  local bits = length * 8
  local tail = {}
  for i = 7, 0, -1 do
    tail[#tail + 1] = char(band(math.floor(bits / 2 ^ (8 * i)), 0xff))
  end
  padded = padded .. concat(tail)
  local w = {}
  for chunk = 1, #padded, 64 do
    for i = 0, 15 do
      local a, b, c, d = byte(padded, chunk + 4 * i, chunk + 4 * i + 3)
      w[i] = bor(lshift(a, 24), lshift(b, 16), lshift(c, 8), d)
    end
    for i = 16, 63 do
      local x, y = w[i - 15], w[i - 2]
      local s0 = bxor(ror(x, 7), ror(x, 18), rshift(x, 3))
      local s1 = bxor(ror(y, 17), ror(y, 19), rshift(y, 10))
      w[i] = tobit(w[i - 16] + s0 + w[i - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for i = 0, 63 do
      local S1 = bxor(ror(e, 6), ror(e, 11), ror(e, 25))
      local ch = bxor(band(e, f), band(bnot(e), g))
      local t1 = tobit(h + S1 + ch + K[i + 1] + w[i])
      local S0 = bxor(ror(a, 2), ror(a, 13), ror(a, 22))
      local maj = bxor(band(a, b), band(a, c), band(b, c))
      local t2 = tobit(S0 + maj)
      h, g, f, e, d, c, b, a = g, f, e, tobit(d + t1), c, b, a, tobit(t1 + t2)
    end
    h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
    h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
  end
  local out = {}
  for _, v in ipairs({h0, h1, h2, h3, h4, h5, h6, h7}) do
    out[#out + 1] = char(band(rshift(v, 24), 0xff), band(rshift(v, 16), 0xff),
                         band(rshift(v, 8), 0xff), band(v, 0xff))
  end
  return concat(out)
end

local function hmac_sha256(key, message)
  if #key > 64 then key = sha256(key) end
  key = key .. rep("\0", 64 - #key)
  local inner, outer = {}, {}
  for i = 1, 64 do
    local k = byte(key, i)
    inner[i] = char(bxor(k, 0x36))
    outer[i] = char(bxor(k, 0x5c))
  end
  return sha256(concat(outer) .. sha256(concat(inner) .. message))
end

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

local function base64(data)
  local out = {}
  for i = 1, #data, 3 do
    local a, b, c = byte(data, i, i + 2)
    local n = lshift(a, 16) + lshift(b or 0, 8) + (c or 0)
    local chars = {}
    for j = 3, 0, -1 do
      local index = band(rshift(n, 6 * j), 63) + 1
      chars[#chars + 1] = ALPHABET:sub(index, index)
    end
    if not b then chars[3], chars[4] = "=", "=" elseif not c then chars[4] = "=" end
    out[#out + 1] = concat(chars)
  end
  return concat(out)
end

local function unhex(text)
  return (text:gsub("..", function(pair) return char(tonumber(pair, 16)) end))
end

return {sha256 = sha256, hmac_sha256 = hmac_sha256, base64 = base64, unhex = unhex}
