-- wrk script: POSTs one image file to the server, either to /v1/classify (raw body) or as
-- a KServe v2 BYTES request (4-byte little-endian length prefix + Inference-Header-Content-Length).
-- Environment: MNV2_IMAGE (path, required), MNV2_MODE = classify | kserve, MNV2_MODEL (name).
local path = os.getenv("MNV2_IMAGE")
local mode = os.getenv("MNV2_MODE") or "classify"
local model = os.getenv("MNV2_MODEL") or "mnv2"

local f = assert(io.open(path, "rb"), "cannot open MNV2_IMAGE")
local image = f:read("*a")
f:close()

local function le32(n)
  return string.char(n % 256, math.floor(n / 256) % 256, math.floor(n / 65536) % 256, math.floor(n / 16777216) % 256)
end

wrk.method = "POST"
if mode == "kserve" then
  local bin = le32(#image) .. image
  local head = string.format(
    '{"inputs":[{"name":"input","datatype":"BYTES","shape":[1],"parameters":{"binary_data_size":%d}}],' ..
    '"outputs":[{"name":"%s","parameters":{"classification":5}}]}', #bin,
    os.getenv("MNV2_OUTPUT") or "MobilenetV2/Predictions/Reshape_1")
  wrk.path = "/v2/models/" .. model .. "/infer"
  wrk.body = head .. bin
  wrk.headers["Content-Type"] = "application/octet-stream"
  wrk.headers["Inference-Header-Content-Length"] = tostring(#head)
else
  wrk.path = "/v1/classify?top=5"
  wrk.body = image
  wrk.headers["Content-Type"] = "application/octet-stream"
end

local errors = 0
response = function(status, headers, body)
  if status ~= 200 then errors = errors + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d duration_s=%.2f rps=%.2f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f non2xx=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.errors.status, summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
