-- Actions on an AcrContainerGroup (eci.acr-operator.dev), each a new annotation value the operator carries
-- out once:
--   restart   eci.acr-operator.dev/restartedAt: RestartContainerGroup on the current group. Disabled before
--             the group exists and once it has ended (ECI restarts only Pending or Running groups).
--   recreate  eci.acr-operator.dev/recreatedAt: delete the group and create a new one. Enabled only under
--             spec.updateStrategy: Recreate (the operator refuses it otherwise).
local actions = {}
local ENDED_PHASES = { Succeeded = true, Failed = true, Expired = true, ScheduleFailed = true }

local hasGroup = false
local ended = false
if obj.status ~= nil and obj.status.containerGroupId ~= nil and obj.status.containerGroupId ~= "" then
  hasGroup = true
  ended = obj.status.phase ~= nil and ENDED_PHASES[obj.status.phase] == true
end
actions["restart"] = { ["disabled"] = not hasGroup or ended }

local recreate = obj.spec ~= nil and obj.spec.updateStrategy == "Recreate"
actions["recreate"] = { ["disabled"] = not recreate }
return actions
