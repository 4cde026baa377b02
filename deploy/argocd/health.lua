-- Argo CD health check for sso-operator.io/SsoConnection (install: README, "Argo CD health").
-- Ready reasons the operator recovers from by retrying on its own: Progressing, not Degraded.
-- Every other False/Unknown reason needs a person (unknown, later reasons included): Degraded.
local TRANSIENT_REASONS = {
  Auth0Unavailable = true, -- Auth0 answered 5xx or 429, or did not answer; retried with backoff
  Deleting = true,         -- deleting the Auth0 connection failed; retried
  TenantNotReady = true,   -- the tenant is being verified, or Auth0 is unreachable for it
  MetadataUnreachable = true, -- metadata.url has not answered with a document yet; retried
}

local hs = {}

local function ready_condition(status)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" then
      return condition
    end
  end
  return nil
end

local function message_of(condition)
  if condition.message ~= nil and condition.message ~= "" then
    return condition.message
  end
  return "Ready is " .. tostring(condition.status) .. " (" .. tostring(condition.reason) .. ")"
end

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report a status"
  return hs
end

local ready = ready_condition(obj.status)

if ready ~= nil and ready.status ~= "True" and TRANSIENT_REASONS[ready.reason] then
  hs.status = "Progressing"
  hs.message = message_of(ready)
  return hs
end

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if generation ~= nil and observed ~= generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  if observed ~= nil then
    hs.message = hs.message .. " (status is of generation " .. tostring(observed) .. ")"
  end
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the Ready condition"
  return hs
end

if ready.status == "True" then
  hs.status = "Healthy"
else
  hs.status = "Degraded"
end
hs.message = message_of(ready)
return hs
