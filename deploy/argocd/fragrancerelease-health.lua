-- Argo CD health of a FragranceRelease (resource.customizations.health.fragrance.ai_FragranceRelease)
local hs = {status = "Progressing", message = "waiting for the operator"}
if obj.status == nil then
  return hs
end
local st = obj.status
local generation = obj.metadata.generation or 0
if (st.observedGeneration or 0) < generation then
  hs.message = "the operator has not seen generation " .. generation .. " yet"
  return hs
end
local weight = st.canaryWeight or 0
if st.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = (st.stableVersion or "?") .. " is stable"
elseif st.phase == "RolledBack" or st.phase == "Failed" then
  hs.status = "Degraded"
  local reason = ""
  if st.history ~= nil and #st.history > 0 then
    reason = ": " .. (st.history[#st.history].reason or "")
  end
  hs.message = (st.canaryVersion or "the canary") .. " " .. st.phase .. reason
elseif st.phase == "Paused" then
  hs.status = "Suspended"
  hs.message = "paused at " .. weight .. "%: " .. (st.pauseReason or "")
else
  hs.status = "Progressing"
  hs.message = (st.canaryVersion or "?") .. " at " .. weight .. "% (step " .. ((st.currentStep or 0) + 1) .. ")"
end
return hs
