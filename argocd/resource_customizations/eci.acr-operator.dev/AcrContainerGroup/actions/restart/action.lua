-- Restart the container group once: the operator calls RestartContainerGroup for each new value of the
-- eci.acr-operator.dev/restartedAt annotation (as kubectl rollout restart does for a Deployment).
local os = require("os")
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["eci.acr-operator.dev/restartedAt"] = os.date("!%Y-%m-%dT%XZ")
return obj
