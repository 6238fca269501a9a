-- A wrk script: a mix of catalogue requests, with the answers counted by status.
--
--   wrk -t2 -c64 -d20s --latency -s catalogue_mix.lua http://127.0.0.1:8080 -- write 10000
--
-- Arguments: the mix ("write" or "read") and how many seeded items there are (ids 1..N with
-- SKUs "seed-<id>", see docs/server.md).

local mixes = {
    write = {{0.40, "create"}, {0.20, "replace"}, {0.30, "play"}, {0.10, "get"}},
    read = {{0.80, "get"}, {0.10, "list"}, {0.05, "play"}, {0.05, "replace"}},
}
local json = {["Content-Type"] = "application/json"}
local threads = {}

function setup(thread)
    thread:set("tid", #threads + 1)
    table.insert(threads, thread)
end

function init(args)
    mix = mixes[args[1] or "write"]
    items = tonumber(args[2] or "10000")
    run = os.time()
    created = 0
    statuses = {}
    math.randomseed(run * 31 + tid)
end

local function pick()
    local r = math.random()
    for _, m in ipairs(mix) do
        r = r - m[1]
        if r <= 0 then
            return m[2]
        end
    end
    return mix[#mix][2]
end

function request()
    local kind = pick()
    local id = math.random(items)
    if kind == "create" then
        created = created + 1
        local sku = string.format("load-%d-%d-%d", run, tid, created)
        return wrk.format("POST", "/items", json,
                          '{"sku":"' .. sku .. '","name":"load","price_cents":100}')
    elseif kind == "replace" then
        return wrk.format("PUT", "/items/" .. id, json,
                          '{"sku":"seed-' .. id .. '","name":"renamed","price_cents":' ..
                              math.random(1000) .. '}')
    elseif kind == "play" then
        return wrk.format("POST", "/items/" .. id .. "/plays")
    elseif kind == "list" then
        return wrk.format("GET", "/items?limit=20&after=" .. (id - 1))
    end
    return wrk.format("GET", "/items/" .. id)
end

function response(status, headers, body)
    statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
    local total = {}
    for _, t in ipairs(threads) do
        for status, n in pairs(t:get("statuses")) do
            total[status] = (total[status] or 0) + n
        end
    end
    local line = "answers by status:"
    for status, n in pairs(total) do
        line = line .. string.format(" %d x%d", status, n)
    end
    print(line)
    for _, p in ipairs({50, 90, 99, 99.9}) do
        print(string.format("latency p%s %.2f ms", p, latency:percentile(p) / 1000))
    end
end
