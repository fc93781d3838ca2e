//! The reconcile loop: wiring ([`run`]), the shared [`Context`], pure decisions ([`plan`]), and
//! the thin I/O shell that carries them out.

mod apply;
pub mod backlog;
pub mod backoff;
pub mod cached;
mod cleanup;
mod context;
pub mod credentials;
mod dns;
mod error;
mod events;
pub mod export;
pub mod instances;
pub mod ownership;
pub mod plan;
pub mod reason;
mod reconcile;
pub mod secrets;
pub mod status;
mod steps;
pub mod triggers;

pub use cached::CachedDomain;
pub use context::{Config, Context};
pub use error::Error;
pub use reconcile::{error_policy, reconcile};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{
    Api, Client,
    api::ListParams,
    runtime::{Controller, WatchStreamExt, controller, reflector, watcher},
};
use std::sync::Arc;

/// Resolves once `store` has completed its first list.
pub async fn wait_synced<K: Clone + kube::Resource + 'static>(
    store: &Store<K>,
) -> Result<(), kube::runtime::reflector::store::WriterDropped>
where
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    loop {
        if let Ok(result) =
            tokio::time::timeout(std::time::Duration::from_millis(250), store.wait_until_ready()).await
        {
            return result;
        }
    }
}

/// The ClerkDomains whose `spec.secretRef` names `secret` (same namespace only).
pub fn users_of_secret(
    store: &Store<CachedDomain>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<CachedDomain>> {
    let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
    store
        .state()
        .iter()
        .filter(|d| secrets::cached_uses_secret(d, &ns, &name))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

/// The ClerkDomain watch as the cache takes it: trimmed by [`cached::slim`], and backed off
/// when the API server fails (client-go's schedule, 0.8 s growing to 30 s), so that an API
/// server that is down or refusing is not asked again in a tight loop.
fn domain_events(
    api: Api<CachedDomain>,
    config: watcher::Config,
) -> impl futures::Stream<Item = watcher::Result<watcher::Event<CachedDomain>>> + Send {
    watcher(api, config).default_backoff().modify(cached::slim)
}

/// The Secrets' metadata watch, without managedFields, backed off as [`domain_events`].
fn secret_events(
    api: Api<PartialObjectMeta<Secret>>,
) -> impl futures::Stream<Item = watcher::Result<watcher::Event<PartialObjectMeta<Secret>>>> + Send {
    watcher(api, watcher::Config::default().any_semantic())
        .default_backoff()
        .modify(|s: &mut PartialObjectMeta<Secret>| {
            s.metadata.managed_fields = None;
        })
}

/// Drive the ClerkDomain watch (cache, ownership index, trigger filter) and put each object
/// that needs a reconcile in `backlog`. The watch backs off on its own (`domain_events`); its
/// errors are logged here.
async fn feed(
    triggers: impl futures::Stream<Item = watcher::Result<CachedDomain>>,
    backlog: Arc<backlog::Backlog>,
) {
    triggers
        .for_each(|t| {
            match t {
                Ok(o) => backlog.push(&o.namespace().unwrap_or_default(), &o.name_any()),
                Err(e) => tracing::warn!(error = %e, "ClerkDomain watch failed; retrying with backoff"),
            }
            std::future::ready(())
        })
        .await;
}

/// At every resync time (`--resync-period`, aligned, as [`Context::resync_delay`]), put every
/// object that resyncs with the flag in `backlog` ([`backlog::resyncs_with_the_flag`]).
async fn resync_every_period(ctx: Arc<Context>, store: Store<CachedDomain>, backlog: Arc<backlog::Backlog>) {
    loop {
        tokio::time::sleep(ctx.resync_delay()).await;
        for o in store.state() {
            let (ns, name) = (o.namespace().unwrap_or_default(), o.name_any());
            if backlog::resyncs_with_the_flag(&o, ctx.is_failing(&format!("{ns}/{name}"))) {
                backlog.push(&ns, &name);
            }
        }
    }
}

/// Start the ClerkInstance controller (on the watched namespace, or all) and, when the operator
/// watches every namespace, the ClusterClerkInstance controller.
fn spawn_instance_controllers(ctx: &Arc<Context>) -> Vec<tokio::task::JoinHandle<()>> {
    use crate::api::{ClerkInstance, ClusterClerkInstance};
    let mut tasks = vec![];
    let api: Api<ClerkInstance> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    if let Some(wakeups) = ctx.instances.namespaced_wakeups() {
        tasks.push(tokio::spawn(instances::run(
            ctx.clone(),
            api,
            |c, s| c.instances.set_namespaced_store(s),
            wakeups,
        )));
    }
    if ctx.config.namespace.is_none()
        && let Some(wakeups) = ctx.instances.cluster_wakeups()
    {
        let api: Api<ClusterClerkInstance> = Api::all(ctx.client.clone());
        tasks.push(tokio::spawn(instances::run(
            ctx.clone(),
            api,
            |c, s| c.instances.set_cluster_store(s),
            wakeups,
        )));
    }
    tasks
}

/// Run the controller until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: Config,
    metrics: Arc<crate::metrics::Metrics>,
    health: crate::http::Health,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let api: Api<CachedDomain> = match &config.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    if let Err(e) = api.list(&ListParams::default().limit(1)).await {
        anyhow::bail!(
            "cannot list ClerkDomains ({e}); is the CRD installed (kubectl apply -f crds/) and may \
             this identity list clerkdomains.clerk-operator.io?"
        );
    }
    let concurrency = config.concurrency;
    let ctx = Arc::new(Context::new(client, config, metrics));
    tracing::info!(
        namespace = ctx.config.namespace.as_deref().unwrap_or("<all>"),
        resync_secs = ctx.config.resync.as_secs(),
        "controller starting"
    );
    let secrets: Api<PartialObjectMeta<Secret>> = match &ctx.config.namespace {
        Some(ns) => Api::namespaced(ctx.client.clone(), ns),
        None => Api::all(ctx.client.clone()),
    };
    // The cache holds every ClerkDomain for the life of the process, as a `CachedDomain` (spec
    // and status packed): `cached::slim` drops what nothing here reads (managedFields,
    // kubectl's copy of the object) as each arrives.
    // The list is paginated (500 a page, from the API server's most recent state): a list at
    // resourceVersion 0 is served whole from the watch cache, and every object of it stayed in
    // memory until the last one was in the cache (next to the cache's own copy).
    let (store, writer) = reflector::store();
    let mut watch = watcher::Config::default();
    if let Some(selector) = &ctx.config.selector {
        watch = watch.labels(selector);
    }
    let objects = domain_events(api, watch);
    // The ownership index follows the same watch as the cache, event by event.
    let index_ctx = ctx.clone();
    let events = reflector(writer, objects).inspect(move |e| {
        if let Ok(e) = e {
            index_ctx.observe(e);
        }
    });
    // The watch runs on its own and hands the objects that need a reconcile to the backlog,
    // which gives them to the controller a few at a time; the operator's own status writes
    // do not start another reconcile (`triggers`).
    let backlog = Arc::new(backlog::Backlog::new(
        backlog::DEFAULT_LIMIT.max(2 * usize::from(concurrency)),
    ));
    let watch_task = tokio::spawn(feed(triggers::triggers(events), backlog.clone()));
    let controller = Controller::for_stream(
        futures::stream::pending::<watcher::Result<CachedDomain>>(),
        store.clone(),
    );
    let resyncs = tokio::spawn(resync_every_period(ctx.clone(), store.clone(), backlog.clone()));
    // Only Secrets' metadata is watched: a changed resourceVersion is enough to know that the
    // ClerkDomains using the Secret must look again, and key material stays out of memory.
    ctx.metrics.conditions.set_store(store.clone());
    // Waits for the cache. The store's readiness signal wakes only its latest waiter (the
    // controller waits on it too), so poll it rather than rely on being woken.
    let ready_store = store.clone();
    let ready_health = health.clone();
    let ready_ctx = ctx.clone();
    let background = tokio::spawn(async move {
        if let Err(e) = wait_synced(&ready_store).await {
            tracing::warn!(error = %e, "ClerkDomain cache never synced");
            return;
        }
        ready_health.set_ready(true);
        tracing::info!("ClerkDomain cache synced; ready");
        secrets::release_unused(ready_ctx, ready_store).await;
    });
    let gauge_ctx = ctx.clone();
    let gauge_store = store.clone();
    let gauges = tokio::spawn(async move {
        loop {
            gauge_ctx.update_ready_gauge(&gauge_store.state());
            gauge_ctx.prune_keys();
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
        }
    });
    // Secrets' metadata is also kept in a store: credentials are re-read only when a Secret's
    // resourceVersion changed, not on every reconcile.
    let (secret_store, secret_writer) = reflector::store();
    ctx.set_secret_store(secret_store);
    let secret_events = reflector(secret_writer, secret_events(secrets)).touched_objects();
    let store = controller.store();
    let instance_controllers = spawn_instance_controllers(&ctx);
    controller
        .watches_stream(secret_events, {
            let ctx = ctx.clone();
            move |secret| {
                let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
                if secret
                    .finalizers()
                    .iter()
                    .any(|f| f == crate::api::annotations::SECRET_IN_USE)
                {
                    ctx.track_secret((ns.clone(), name.clone()));
                    ctx.secrets_changed.notify_one();
                }
                // Instance objects using the Secret check their key again; their ClerkDomains
                // follow when the objects' status changes.
                for k in ctx
                    .instances
                    .using_secret(&ns, &name, &ctx.config.operator_namespace)
                {
                    ctx.instances.wake(&k);
                }
                users_of_secret(&store, &secret)
            }
        })
        .reconcile_on(ctx.wakeups().expect("wakeups taken once"))
        .reconcile_on(backlog.clone().requests())
        .with_config(controller::Config::default().concurrency(concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|res| {
            match res {
                Ok((obj, _)) => {
                    tracing::debug!(object = %obj, "reconciled");
                    backlog.done(obj.namespace.as_deref(), &obj.name);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "reconcile failed");
                    if let controller::Error::ObjectNotFound(obj)
                    | controller::Error::ReconcilerFailed(_, obj) = &e
                    {
                        backlog.done(obj.namespace.as_deref(), &obj.name);
                    }
                }
            }
            std::future::ready(())
        })
        .await;
    for c in instance_controllers {
        c.abort();
    }
    watch_task.abort();
    resyncs.abort();
    gauges.abort();
    background.abort();
    health.set_ready(false);
    tracing::info!("controller stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An "API server" on loopback that answers every request with a 500, counting them.
    async fn failing_api_server() -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let count = Arc::new(AtomicUsize::new(0));
        let c = count.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut got = vec![];
                    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => got.extend_from_slice(&buf[..n]),
                        }
                    }
                    c.fetch_add(1, Ordering::SeqCst);
                    let body = r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"down","code":500}"#;
                    let reply = format!(
                        "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        (url, count)
    }

    /// How often `events` asks a failing API server in 3 s, and how many errors it yields.
    async fn asked_in_3s<T>(
        events: impl futures::Stream<Item = watcher::Result<T>>,
        count: &AtomicUsize,
    ) -> (usize, usize) {
        let mut errors = 0;
        let _ = tokio::time::timeout(
            std::time::Duration::from_secs(3),
            events.for_each(|e| {
                if e.is_err() {
                    errors += 1;
                }
                std::future::ready(())
            }),
        )
        .await;
        (count.load(Ordering::SeqCst), errors)
    }

    /// A failing API server is asked again with backoff, not in a tight loop, by both of the
    /// controller's watches (without the backoff the ClerkDomain watch asked 3,637 times in
    /// these 3 seconds).
    #[tokio::test]
    async fn a_failing_api_server_is_retried_with_backoff() {
        let (url, domains) = failing_api_server().await;
        let client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let (url, secrets) = failing_api_server().await;
        let secret_client = Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let (d, s) = tokio::join!(
            asked_in_3s(
                domain_events(Api::namespaced(client, "ns"), watcher::Config::default()),
                &domains
            ),
            asked_in_3s(secret_events(Api::namespaced(secret_client, "ns")), &secrets),
        );
        for (what, (asked, errors)) in [("ClerkDomains", d), ("Secrets", s)] {
            assert!(asked >= 1, "{what}: the watch never asked");
            // client-go's schedule: 0.8 s, then 1.6 s, ... with jitter: at most 4 in 3 s.
            assert!(
                asked <= 6,
                "{what}: asked {asked} times in 3 s ({errors} errors seen)"
            );
        }
    }
}
