-- Runs argocd/health.lua against sample TweetPipeline objects: `lua5.4 argocd/tests/run.lua`
-- (from the repository root). Exits non-zero on any mismatch.
local script_dir = arg[0]:match("(.*/)") or "./"
local health_path = script_dir .. "../health.lua"
local chunk = assert(loadfile(health_path, "t", nil))

local function health(obj)
  -- Argo CD runs the script with `obj` as a global.
  local env = setmetatable({ obj = obj }, { __index = _G })
  local fn = assert(loadfile(health_path, "t", env))
  return fn()
end
assert(chunk ~= nil)

local function cond(type_, status, reason, message)
  return { type = type_, status = status, reason = reason, message = message or "" }
end

local cases = {
  {
    name = "no status yet",
    obj = { metadata = { generation = 1 } },
    want = "Progressing",
  },
  {
    name = "status of an older generation",
    obj = { metadata = { generation = 3 }, status = { observedGeneration = 2, conditions = { cond("Ready", "True", "PipelineReady") } } },
    want = "Progressing",
  },
  {
    name = "ready",
    obj = { metadata = { generation = 2 }, status = { observedGeneration = 2, conditions = { cond("Ready", "True", "PipelineReady", "2 extractor(s)") } } },
    want = "Healthy",
    message = "2 extractor(s)",
  },
  {
    name = "pods starting",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, conditions = { cond("Ready", "False", "WorkloadsNotReady", "extractors 0/2 ready") } } },
    want = "Progressing",
  },
  {
    name = "secret missing",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, conditions = {
      cond("Ready", "False", "SecretMissing", "Secret x-token not found"),
      cond("SecretsResolved", "False", "SecretMissing", "Secret x-token not found") } } },
    want = "Degraded",
    message = "SecretMissing: Secret x-token not found",
  },
  {
    name = "kafka unreachable",
    obj = { metadata = { generation = 4 }, status = { observedGeneration = 4, conditions = { cond("Ready", "False", "KafkaUnreachable", "timed out") } } },
    want = "Degraded",
  },
  {
    name = "monthly cap reached",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, conditions = { cond("Ready", "False", "MonthlyCapReached", "stopped") } } },
    want = "Degraded",
  },
  {
    name = "suspended wins over not ready",
    obj = { metadata = { generation = 5 }, status = { observedGeneration = 5, conditions = {
      cond("Ready", "False", "Suspended", "spec.suspend is set"),
      cond("Suspended", "True", "Suspended", "spec.suspend is set") } } },
    want = "Suspended",
  },
  {
    name = "suspended false is ignored",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, conditions = {
      cond("Suspended", "False", "Running"), cond("Ready", "True", "PipelineReady") } } },
    want = "Healthy",
  },
  {
    name = "status without conditions",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1 } },
    want = "Progressing",
  },
  {
    name = "ready unknown",
    obj = { metadata = { generation = 1 }, status = { observedGeneration = 1, conditions = { cond("Ready", "Unknown", "NotChecked") } } },
    want = "Progressing",
  },
}

local failures = 0
for _, case in ipairs(cases) do
  local got = health(case.obj)
  local ok = got.status == case.want and (case.message == nil or got.message == case.message)
  if ok then
    print("ok   " .. case.name .. " -> " .. got.status)
  else
    failures = failures + 1
    print(string.format("FAIL %s: want %s%s, got %s (%s)", case.name, case.want,
      case.message and (" / " .. case.message) or "", tostring(got.status), tostring(got.message)))
  end
end
print(string.format("%d cases, %d failures", #cases, failures))
if failures > 0 then
  os.exit(1)
end
