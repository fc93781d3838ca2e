-- Argo CD health check for clerk-operator.io/v1alpha1 ClerkDomain.
--
-- Agrees with kstatus (sigs.k8s.io/cli-utils status.Compute, what Flux's health
-- checks use) wherever kstatus decides:
--   metadata.deletionTimestamp set           -> Progressing  (kstatus: Terminating)
--   status.observedGeneration != generation  -> Progressing  (InProgress)
--   the first of Reconciling=True and Stalled=True in status.conditions
--                                            -> Progressing / Degraded (InProgress / Failed)
--   Ready=True                               -> Healthy      (Current)
--   Ready=False or Unknown                   -> Progressing  (InProgress)
-- and adds what kstatus cannot say:
--   paused (annotation clerk-operator.io/paused: "true", or a condition with
--   reason Paused)                           -> Suspended
--   no Ready condition yet                   -> Progressing  (kstatus: Current)
--   Ready=True but its observedGeneration is not metadata.generation
--                                            -> Progressing  (kstatus: Current)
--   Ready=True but Clerk's Platform API reports a required check failed
--   (ClerkDNSVerified, SSLIssued, MailVerified or ClerkProxyVerified False
--   with reason ClerkCheckFailed)            -> Degraded     (kstatus: Current)
-- Those conditions otherwise only inform: still checking is Healthy.
-- The message is the deciding condition's message (its reason when empty).
--
-- Written for Lua without its standard libraries (an argocd-cm customization
-- without useOpenLibs): only the base and table libraries, no string.*.
local hs = {}

local meta = obj.metadata or {}
local status = obj.status or {}
local conditions = status.conditions or {}
local annotations = meta.annotations or {}
local generation = meta.generation

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local function find(conditionType)
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

-- The first Reconciling=True or Stalled=True condition, as kstatus reads them.
local function standardCondition()
  for _, c in ipairs(conditions) do
    if (c.type == "Reconciling" or c.type == "Stalled") and c.status == "True" then
      return c
    end
  end
  return nil
end

if meta.deletionTimestamp ~= nil then
  local c = standardCondition()
  hs.status = "Progressing"
  hs.message = "Pending deletion"
  if c ~= nil then
    hs.message = "Pending deletion: " .. text(c, c.type)
  end
  return hs
end

local pausedValue = annotations["clerk-operator.io/paused"]
local pausedCondition = nil
for _, c in ipairs(conditions) do
  if c.reason == "Paused" or (c.type == "Paused" and c.status == "True") then
    pausedCondition = c
    break
  end
end
if pausedCondition ~= nil or pausedValue == "true" or pausedValue == "True" or pausedValue == "TRUE" then
  hs.status = "Suspended"
  hs.message = text(pausedCondition, "Paused by annotation clerk-operator.io/paused; the operator makes no Clerk calls")
  return hs
end

if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = "ClerkDomain generation is " .. generation .. ", but latest observed generation is " .. status.observedGeneration
  return hs
end

local c = standardCondition()
if c ~= nil and c.type == "Stalled" then
  hs.status = "Degraded"
  hs.message = text(c, "Stalled")
  return hs
end
if c ~= nil then
  hs.status = "Progressing"
  hs.message = text(c, "Reconciling")
  return hs
end

local ready = find("Ready")
if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for clerk-operator to report the Ready condition"
  return hs
end
if ready.status == "True" then
  if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration ~= generation then
    hs.status = "Progressing"
    hs.message = "Ready describes generation " .. ready.observedGeneration .. ", not the current generation " .. generation
    return hs
  end
  for _, t in ipairs({"ClerkDNSVerified", "SSLIssued", "MailVerified", "ClerkProxyVerified"}) do
    local p = find(t)
    if p ~= nil and p.status == "False" and p.reason == "ClerkCheckFailed" then
      hs.status = "Degraded"
      hs.message = t .. ": " .. text(p, "ClerkCheckFailed")
      return hs
    end
  end
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end
hs.status = "Progressing"
hs.message = text(ready, "Ready is " .. tostring(ready.status))
return hs
