-- Health of an AcrContainerGroup (eci.acr-operator.dev): an Alibaba Cloud ECI container group.
--   Healthy      Ready=True for the current generation, phase Running or Succeeded.
--   Progressing  no status yet, generation not yet observed, Scheduling/Pending/Updating/Restarting,
--                Synced=Unknown reason Creating (ECI has not answered the create yet), or Synced=False
--                with a reason the operator retries: an ECI error (throttling, 5xx, no stock,
--                IncorrectStatus, OperationConflict, SDK.Timeout) or its own (Recreating, Waiting,
--                KubernetesUnavailable, ObservationPending).
--   Degraded     phase Failed, ScheduleFailed or Expired; Synced=False with any other reason (invalid
--                parameters, missing Secret, immutable field changed, ...); an image that cannot be
--                pulled; as for Pods, a container that crash-loops or cannot be created or started
--                (Ready=False or a waiting container with CrashLoopBackOff, RunContainerError,
--                CreateContainerError) or an init container that failed (Ready=False InitContainerFailed).
--   Unknown      Ready=Unknown reason ObservationFailed: the operator could not observe the group at ECI
--                for more than 3 poll intervals, so the phase and containers it last saw may be stale.
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
  ["SDK.Timeout"] = true,
  -- The group is in a state the call does not accept yet, or another operation on it is under way.
  ["IncorrectStatus"] = true,
  ["OperationConflict"] = true,
  -- The operator's own transient reasons: a replacement under way, an update waiting for the group,
  -- the Kubernetes API unreachable, the group not observed at ECI yet.
  ["Recreating"] = true,
  ["Waiting"] = true,
  ["KubernetesUnavailable"] = true,
  ["ObservationPending"] = true,
}
local FAILED_PHASES = { Failed = true, ScheduleFailed = true, Expired = true }
local PULL_FAILURES = { ErrImagePull = true, ImagePullBackOff = true, InvalidImageName = true }
-- A container that keeps crashing or cannot be created or started: Degraded, as Argo CD says of a Pod.
local CONTAINER_FAILURES = { CrashLoopBackOff = true, RunContainerError = true, CreateContainerError = true }
-- Ready=False reasons that mean the same for the group (InitContainerFailed: an init container exited
-- non-zero or crash-loops).
local READY_FAILURES = {
  CrashLoopBackOff = true,
  RunContainerError = true,
  CreateContainerError = true,
  InitContainerFailed = true,
}

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

if synced ~= nil and synced.status == "Unknown" and synced.reason == "Creating" and isCurrent(synced) then
  hs.status = "Progressing"
  hs.message = describe(synced.reason, synced.message)
  return hs
end

-- What the operator last saw of the group may be stale: say so rather than judge it.
if ready ~= nil and ready.status == "Unknown" and ready.reason == "ObservationFailed" then
  hs.status = "Unknown"
  hs.message = describe(ready.reason, ready.message)
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

-- A crash-looping group is still Running: this comes before Healthy.
if ready ~= nil and ready.status == "False" and isCurrent(ready) and ready.reason ~= nil and READY_FAILURES[ready.reason] then
  hs.status = "Degraded"
  hs.message = describe(ready.reason, ready.message)
  return hs
end

if status.containers ~= nil then
  for _, container in ipairs(status.containers) do
    local reason = container.reason
    if container.state == "Waiting" and reason ~= nil and (PULL_FAILURES[reason] or CONTAINER_FAILURES[reason]) then
      hs.status = "Degraded"
      if ready ~= nil and ready.reason == reason and ready.message ~= nil and ready.message ~= "" then
        hs.message = describe(reason, ready.message)
      elseif PULL_FAILURES[reason] then
        hs.message = describe(reason, "container " .. tostring(container.name) .. " cannot pull its image")
      elseif container.message ~= nil and container.message ~= "" then
        hs.message = describe(reason, "container " .. tostring(container.name) .. ": " .. container.message)
      else
        hs.message = describe(reason, "container " .. tostring(container.name) .. " is Waiting")
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
