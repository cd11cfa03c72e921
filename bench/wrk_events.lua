-- wrk script for bench/ingest.py: POSTs viewing-time events with fresh movie ids.
-- BENCH_TOKEN: bearer token; BENCH_BATCH: events per request (1 = the single-event endpoint).
local token = os.getenv("BENCH_TOKEN")
local batch = tonumber(os.getenv("BENCH_BATCH") or "1")

local function uuid4()
  local template = "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx"
  return (string.gsub(template, "[xy]", function(c)
    local v = (c == "x") and math.random(0, 15) or math.random(8, 11)
    return string.format("%x", v)
  end))
end

local function event(typed)
  local prefix = typed and '{"type":"viewing",' or "{"
  return prefix .. '"movie_id":"' .. uuid4() .. '","watched_seconds":30}'
end

request = function()
  local body, path
  if batch == 1 then
    path, body = "/api/v1/events/viewing", event(false)
  else
    local items = {}
    for i = 1, batch do items[i] = event(true) end
    path, body = "/api/v1/events/batch", '{"events":[' .. table.concat(items, ",") .. "]}"
  end
  return wrk.format("POST", path, {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
  }, body)
end
