-- Health of an AcrContainerGroup (eci.acr-operator.dev): an Alibaba Cloud ECI container group.
--   Healthy      Ready=True for the current generation, phase Running or Succeeded.
--   Progressing  no status yet, generation not yet observed, Scheduling/Pending/Updating/Restarting,
--                or Synced=False with a retryable ECI error (throttling, 5xx, no stock) being retried.
--   Degraded     phase Failed, ScheduleFailed or Expired; Synced=False with any other reason (invalid
--                parameters, missing Secret, immutable field changed, ...); an image that cannot be pulled.
local hs = {}

local RETRYABLE_REASONS = {
  ["Throttling"] = true,
  ["Throttling.User"] = true,
  ["Throttling.Api"] = true,
  ["Rejected.Throttling"] = true,
  ["Degrade.Api"] = true,
  ["ServiceUnavailable"] = true,
  ["InternalError"] = true,
  ["UnknownError"] = true,
  ["OperationDenied.NoStock"] = true,
  ["containerRepositoryAuthorizationFailed"] = true,
  ["SDK.HttpError"] = true,
  ["SDK.ServerUnreachable"] = true,
  -- The operator's own transient reasons: a replacement under way, an update waiting for the group.
  ["Recreating"] = true,
  ["Waiting"] = true,
}
local FAILED_PHASES = { Failed = true, ScheduleFailed = true, Expired = true }
local PULL_FAILURES = { ErrImagePull = true, ImagePullBackOff = true, InvalidImageName = true }

local function findCondition(status, conditionType)
  if status.conditions == nil then
    return nil
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == conditionType then
      return condition
    end
  end
  return nil
end

local function isRetryable(reason)
  if reason == nil then
    return false
  end
  return RETRYABLE_REASONS[reason] == true or string.sub(reason, 1, 10) == "Throttling"
end

-- "Reason: message", or whichever of the two exists.
local function describe(reason, message)
  if reason ~= nil and reason ~= "" and message ~= nil and message ~= "" then
    return reason .. ": " .. message
  end
  if message ~= nil and message ~= "" then
    return message
  end
  return reason or ""
end

local function groupName(status)
  if status.containerGroupId ~= nil and status.containerGroupId ~= "" then
    return "Container group " .. status.containerGroupId
  end
  return "Container group"
end

local status = obj.status
if status == nil or next(status) == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to create the container group"
  return hs
end

local generation = obj.metadata.generation
-- A condition speaks for the current spec when it (or, lacking its own, status) observed this generation.
local function isCurrent(condition)
  if generation == nil then
    return true
  end
  if condition ~= nil and condition.observedGeneration ~= nil then
    return condition.observedGeneration == generation
  end
  return status.observedGeneration == generation
end

local ready = findCondition(status, "Ready")
local synced = findCondition(status, "Synced")

if synced ~= nil and synced.status == "False" and isCurrent(synced) then
  if isRetryable(synced.reason) then
    hs.status = "Progressing"
    hs.message = "Retrying after " .. describe(synced.reason, synced.message)
  else
    hs.status = "Degraded"
    hs.message = describe(synced.reason, synced.message)
  end
  return hs
end

local observed = (generation == nil or status.observedGeneration == generation)
  or (ready ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration == generation)
if not observed then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local phase = status.phase
if phase ~= nil and FAILED_PHASES[phase] then
  hs.status = "Degraded"
  hs.message = groupName(status) .. " is " .. phase
  if ready ~= nil and ready.message ~= nil and ready.message ~= "" then
    hs.message = hs.message .. ": " .. ready.message
  end
  return hs
end

if status.containers ~= nil then
  for _, container in ipairs(status.containers) do
    if container.state == "Waiting" and container.reason ~= nil and PULL_FAILURES[container.reason] then
      hs.status = "Degraded"
      if ready ~= nil and ready.reason == container.reason and ready.message ~= nil and ready.message ~= "" then
        hs.message = describe(container.reason, ready.message)
      else
        hs.message = describe(container.reason, "container " .. tostring(container.name) .. " cannot pull its image")
      end
      return hs
    end
  end
end

if ready ~= nil and ready.status == "True" and isCurrent(ready) and (phase == "Running" or phase == "Succeeded") then
  hs.status = "Healthy"
  hs.message = groupName(status) .. " is " .. phase
  return hs
end

hs.status = "Progressing"
if phase == nil or phase == "" then
  hs.message = "Waiting for the container group to be created"
else
  hs.message = groupName(status) .. " is " .. phase
end
if ready ~= nil and ready.status ~= "True" and ready.message ~= nil and ready.message ~= "" then
  hs.message = hs.message .. ": " .. ready.message
end
return hs
