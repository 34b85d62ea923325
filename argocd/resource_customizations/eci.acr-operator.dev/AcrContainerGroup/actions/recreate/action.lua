-- Replace the container group once (delete it, create a new one): the operator does so for each new value
-- of the eci.acr-operator.dev/recreatedAt annotation, under spec.updateStrategy: Recreate only.
local os = require("os")
if obj.spec == nil or obj.spec.updateStrategy ~= "Recreate" then
  error("recreate replaces the container group, which only spec.updateStrategy: Recreate allows", 0)
end
if obj.metadata.annotations == nil then
  obj.metadata.annotations = {}
end
obj.metadata.annotations["eci.acr-operator.dev/recreatedAt"] = os.date("!%Y-%m-%dT%XZ")
return obj
