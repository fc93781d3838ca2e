-- Argo CD health check for clerk-operator.io/v1alpha1 ClerkInstance and
-- ClusterClerkInstance (one Clerk secret key each; both kinds have the same status).
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
--   no Ready condition yet (the key has not been checked with Clerk)
--                                            -> Progressing  (kstatus: Current)
--   Ready=True but its observedGeneration is not metadata.generation
--                                            -> Progressing  (kstatus: Current)
-- A key that works but whose last check failed transiently keeps Ready=True and has
-- Reconciling=True: Progressing, as kstatus says InProgress. Stalled=True (InvalidKey,
-- InstanceChanged, SecretNotFound, ...) is Degraded: retrying cannot help until the key
-- or its Secret changes.
-- The message is the deciding condition's message (its reason when empty).
--
-- Written for Lua without its standard libraries (an argocd-cm customization
-- without useOpenLibs): only the base and table libraries, no string.*.
local hs = {}

local meta = obj.metadata or {}
local status = obj.status or {}
local conditions = status.conditions or {}
local generation = meta.generation
local kind = obj.kind or "ClerkInstance"

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

if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration ~= generation then
  hs.status = "Progressing"
  hs.message = kind .. " generation is " .. generation .. ", but latest observed generation is " .. status.observedGeneration
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
  hs.message = "Waiting for clerk-operator to check the key with Clerk"
  return hs
end
if ready.status == "True" then
  if generation ~= nil and ready.observedGeneration ~= nil and ready.observedGeneration ~= generation then
    hs.status = "Progressing"
    hs.message = "Ready describes generation " .. ready.observedGeneration .. ", not the current generation " .. generation
    return hs
  end
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end
hs.status = "Progressing"
hs.message = text(ready, "Ready is " .. tostring(ready.status))
return hs
