//! The end of a run: listing every ClerkDomain, and waiting until each object has settled as
//! the workload last asked for (Ready and Synced, or refused as it should be, or gone).

use super::*;

/// Every ClerkDomain by `namespace/name`.
pub(super) async fn list_all(client: &Client) -> anyhow::Result<BTreeMap<String, ClerkDomain>> {
    let all: Api<ClerkDomain> = Api::all(client.clone());
    let lp = kube::api::ListParams::default();
    let list = retry("list", || all.list(&lp)).await?.items;
    Ok(list
        .into_iter()
        .map(|o| {
            (
                format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()),
                o,
            )
        })
        .collect())
}

pub(super) fn condition(obj: &ClerkDomain, type_: &str) -> Option<(bool, String)> {
    let st = obj.status.as_ref()?;
    st.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| (c.status == "True", c.reason.clone()))
}

/// `obj`'s conditions as `Type=Status/Reason`, for messages.
pub(super) fn conditions(obj: &ClerkDomain) -> Vec<String> {
    obj.status
        .iter()
        .flat_map(|s| &s.conditions)
        .map(|c| format!("{}={}/{}", c.type_, c.status, c.reason))
        .collect()
}

/// The domain ID of `o` when it is Ready and Synced for its generation and Clerk holds what the
/// model expects of it.
pub(super) fn settled(
    o: &Obj,
    found: Option<&ClerkDomain>,
    fake: &FakeClerk,
    keys: &[String; 2],
) -> Option<String> {
    let obj = found?;
    let (name, proxy) = o.expected()?;
    let st = obj.status.as_ref()?;
    let id = st.domain_id.as_ref()?;
    let d = fake
        .domains(&keys[o.instance])
        .into_iter()
        .find(|d| &d.id == id)?;
    let ok = condition(obj, "Ready").is_some_and(|c| c.0)
        && condition(obj, "Synced").is_some_and(|c| c.0)
        && st.observed_generation == obj.metadata.generation
        && d.name == name
        && d.proxy_url.as_deref() == proxy;
    ok.then(|| id.clone())
}

/// Wait until every live object is Ready and Synced for its generation with Clerk matching,
/// every deleted object is gone, and the doomed namespace is gone. Returns live objects' IDs.
pub(super) async fn converge(
    client: &Client,
    objs: &[Obj],
    fake: &FakeClerk,
    keys: &[String; 2],
    timeout: Duration,
) -> anyhow::Result<BTreeMap<String, String>> {
    let start = Instant::now();
    let all: Api<ClerkDomain> = Api::all(client.clone());
    let nss: Api<Namespace> = Api::all(client.clone());
    loop {
        let mut waiting = vec![];
        let lp = kube::api::ListParams::default();
        let list = retry("list", || all.list(&lp)).await?.items;
        let by_key: BTreeMap<String, &ClerkDomain> = list
            .iter()
            .map(|o| {
                (
                    format!("{}/{}", o.namespace().unwrap_or_default(), o.name_any()),
                    o,
                )
            })
            .collect();
        let mut ids = BTreeMap::new();
        for o in objs {
            let found = by_key.get(&o.key());
            match (&o.deleted, found) {
                (Some(_), Some(_)) => waiting.push(format!("{} not gone", o.key())),
                (Some(_), None) => {}
                (None, None) => bail!("{} vanished though never deleted", o.key()),
                (None, Some(obj)) => {
                    let done = done(o, obj, fake, keys);
                    match done {
                        Some(Some(id)) => {
                            ids.insert(o.key(), id);
                        }
                        Some(None) => {}
                        None => {
                            let why = conditions(obj);
                            waiting.push(format!("{} not converged {why:?}", o.key()));
                        }
                    }
                }
            }
        }
        if retry("get namespace", || nss.get_opt(DOOMED_NAMESPACE))
            .await?
            .is_some()
        {
            waiting.push(format!("namespace {DOOMED_NAMESPACE} not gone"));
        }
        if waiting.is_empty() {
            return Ok(ids);
        }
        if start.elapsed() > timeout {
            bail!(
                "{} not converged after {timeout:?}, e.g. {:?}",
                waiting.len(),
                &waiting[..waiting.len().min(10)]
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Whether the live object `o` (found as `obj`) is done: `Some(Some(id))` as expected with that
/// domain; `Some(None)` a hostile object as expected (no domain); `None` not yet.
fn done(o: &Obj, obj: &ClerkDomain, fake: &FakeClerk, keys: &[String; 2]) -> Option<Option<String>> {
    let st = obj.status.clone().unwrap_or_default();
    let current = st.observed_generation == obj.metadata.generation;
    match o.expected_stall() {
        None => settled(o, Some(obj), fake, keys).map(Some),
        Some(reason) => {
            let stalled = condition(obj, "Stalled").is_some_and(|c| c.0 && c.1 == reason);
            let refused = stalled && current && !condition(obj, "Ready").is_some_and(|c| c.0);
            match o.expected() {
                Some((name, proxy)) => st
                    .domain_id
                    .clone()
                    .filter(|id| {
                        fake.domains(&keys[o.instance])
                            .into_iter()
                            .find(|d| &d.id == id)
                            .is_some_and(|d| d.name == name && d.proxy_url.as_deref() == proxy)
                    })
                    .filter(|_| refused)
                    .map(Some),
                None => (refused && st.domain_id.is_none()).then_some(None),
            }
        }
    }
}
