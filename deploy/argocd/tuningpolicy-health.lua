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
-- The serving settings' rollout to each release: refused by one, or still on its way.
if hs.status == "Healthy" and obj.status.rollouts ~= nil then
  for _, r in ipairs(obj.status.rollouts) do
    if r.state == "RolledBack" then
      hs.status = "Degraded"
      hs.message = r.release .. " rolled these settings back: " .. (r.message or "")
      return hs
    end
    if r.state == "RollingOut" or r.state == "Pending" then
      hs.status = "Progressing"
      hs.message = r.release .. ": " .. r.state .. " " .. (r.message or "")
    end
  end
end
return hs
