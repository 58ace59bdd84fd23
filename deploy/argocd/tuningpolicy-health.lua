-- Argo CD health of a TuningPolicy (resource.customizations.health.fragrance.ai_TuningPolicy)
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil or obj.status.conditions == nil then
  return hs
end
local ready, applied
for _, c in ipairs(obj.status.conditions) do
  if c.type == "Ready" then ready = c end
  if c.type == "Applied" then applied = c end
end
if ready == nil or ready.status ~= "True" then
  hs.status = "Degraded"
  hs.message = (ready and ready.message) or "not ready"
elseif applied ~= nil and applied.status ~= "True" then
  hs.status = "Progressing"
  hs.message = applied.message
else
  hs.status = "Healthy"
  hs.message = (applied and applied.message) or "ready"
end
return hs
