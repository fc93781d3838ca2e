//! Wiring: the caches (reflectors) of ClerkDomains, instance objects and (with Secret
//! protection) Secrets' metadata, the shared [`Context`] built on them, the controllers that run
//! on it, the watches of their owned children, and the optional CRDs followed through discovery.

use super::watch::{asks_for_work, events, owned, scoped, wait_synced};
use super::{Context, Stores, instances, reconcile, secrets};
use crate::api::{ClerkDomain, ClerkInstance, ClusterClerkInstance, annotations::SECRET_IN_USE};
use crate::dns::endpoint::DNSEndpoint;
use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, controller, reflector, watcher};
use kube::{Api, Client, ResourceExt, api::ListParams};
use std::sync::Arc;

/// The ClerkDomains whose `spec.secretRef` names `secret` (same namespace only).
pub fn users_of_secret(
    store: &Store<ClerkDomain>,
    secret: &PartialObjectMeta<Secret>,
) -> Vec<ObjectRef<ClerkDomain>> {
    let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
    store
        .state()
        .iter()
        .filter(|d| secrets::uses_secret(d, &ns, &name))
        .map(|d| ObjectRef::from_obj(d.as_ref()))
        .collect()
}

/// What the ClerkDomain controller is asked to look at again when a Secret changes: the
/// ClerkDomains using it, except those whose last reconcile read this very version (a watch
/// that starts late or lists again delivers versions already read); instance objects using it
/// check their key again (and their ClerkDomains follow when their status changes).
fn secret_users(ctx: &Arc<Context>, secret: &PartialObjectMeta<Secret>) -> Vec<ObjectRef<ClerkDomain>> {
    let (ns, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
    if secret.finalizers().iter().any(|f| f == SECRET_IN_USE) {
        ctx.memory.track_secret((ns.clone(), name.clone()));
        ctx.memory.secrets_changed.notify_one();
    }
    for k in ctx
        .memory
        .instances
        .using_secret(&ns, &name, ctx.config.credentials_namespace.as_deref())
    {
        ctx.memory.instances.wake(&k);
    }
    let version = secret.resource_version().unwrap_or_default();
    let mut users = users_of_secret(&ctx.stores.domains, secret);
    users.retain(|o| {
        let object = format!("{}/{}", o.namespace.as_deref().unwrap_or_default(), o.name);
        !ctx.memory.has_read_secret(&object, &name, &version)
    });
    users
}

/// The writers that fill the [`Stores`].
struct Writers {
    domains: reflector::store::Writer<ClerkDomain>,
    secrets: reflector::store::Writer<PartialObjectMeta<Secret>>,
    namespaced: reflector::store::Writer<ClerkInstance>,
    cluster: Option<reflector::store::Writer<ClusterClerkInstance>>,
}

/// Empty caches and their writers; ClusterClerkInstances only when `cluster` is served.
fn stores(cluster: bool, served: super::served::Served) -> (Stores, Writers) {
    let (domains, domains_w) = reflector::store();
    let (secrets, secrets_w) = reflector::store();
    let (namespaced, namespaced_w) = reflector::store();
    let (cluster, cluster_w) = match cluster {
        true => {
            let (s, w) = reflector::store();
            (Some(s), Some(w))
        }
        false => (None, None),
    };
    let stores = Stores {
        domains,
        secrets,
        namespaced,
        cluster,
        served,
    };
    let writers = Writers {
        domains: domains_w,
        secrets: secrets_w,
        namespaced: namespaced_w,
        cluster: cluster_w,
    };
    (stores, writers)
}

/// The ClerkInstance controller (on the watched namespace, or all) and, when served, the
/// ClusterClerkInstance controller.
fn spawn_instance_controllers(
    ctx: &Arc<Context>,
    client: &Client,
    namespaced: reflector::store::Writer<ClerkInstance>,
    cluster: Option<reflector::store::Writer<ClusterClerkInstance>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let api = scoped::<ClerkInstance>(client, ctx.config.namespace.as_deref());
    let (store, wakeups) = (
        ctx.stores.namespaced.clone(),
        ctx.memory.instances.namespaced_wakeups(),
    );
    let mut tasks = vec![tokio::spawn(instances::run(
        ctx.clone(),
        api,
        store,
        namespaced,
        wakeups,
    ))];
    if let (Some(writer), Some(store)) = (cluster, ctx.stores.cluster.clone()) {
        let (api, wakeups) = (
            Api::<ClusterClerkInstance>::all(client.clone()),
            ctx.memory.instances.cluster_wakeups(),
        );
        tasks.push(tokio::spawn(instances::run(
            ctx.clone(),
            api,
            store,
            writer,
            wakeups,
        )));
    }
    tasks
}

/// Run the controllers until `shutdown` resolves.
pub async fn run(
    client: Client,
    config: super::Config,
    metrics: Arc<crate::metrics::Metrics>,
    health: crate::http::Health,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> anyhow::Result<()> {
    let namespace = config.namespace.clone();
    let api: Api<ClerkDomain> = scoped(&client, namespace.as_deref());
    // Metadata only: whether ClerkDomains can be listed at all, whatever one object holds.
    if let Err(e) = api.list_metadata(&ListParams::default().limit(1)).await {
        anyhow::bail!(
            "cannot list ClerkDomains ({e}); is the CRD installed (kubectl apply -f crds/) and may \
             this identity list clerkdomains.clerk-operator.io?"
        );
    }
    let watch = match &config.selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    };
    let served = super::served::Served::discover(&client).await;
    let (stores, writers) = stores(namespace.is_none(), served);
    let domains = stores.domains.clone();
    let (wake, wakeups) = futures::channel::mpsc::unbounded();
    let ctx = Arc::new(Context::new(client.clone(), config, metrics, stores, wake));
    tracing::info!(
        namespace = namespace.as_deref().unwrap_or("<all>"),
        resync_secs = ctx.config.resync.as_secs(),
        secret_protection = ctx.config.secret_protection,
        "controller starting"
    );
    ctx.metrics.objects.set_store(domains.clone());
    let objects = domain_objects(&ctx, api, watch, writers.domains);
    let mut tasks = spawn_instance_controllers(&ctx, &client, writers.namespaced, writers.cluster);
    tasks.push(tokio::spawn(when_synced(ctx.clone(), health.clone())));
    tasks.push(tokio::spawn(super::crds::follow(ctx.clone(), health.clone())));
    let controller = with_children(Controller::for_stream(objects, domains), &ctx);
    let controller = with_secrets(controller, &ctx, writers.secrets);
    controller
        .reconcile_on(wakeups)
        .with_config(controller::Config::default().concurrency(ctx.config.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, super::error_policy, ctx)
        .for_each(|res| async move {
            if let Err(e) = res {
                tracing::debug!(error = %e, "reconcile failed");
            }
        })
        .await;
    for t in tasks {
        t.abort();
    }
    health.set_ready(false);
    tracing::info!("controller stopped");
    Ok(())
}

/// The ClerkDomains to reconcile, from their watch through the cache. Instance objects' users
/// (before the cache changes) and ownership (after) follow the watch event by event; only what
/// asks for work starts a reconcile ([`asks_for_work`]).
fn domain_objects(
    ctx: &Arc<Context>,
    api: Api<ClerkDomain>,
    watch: watcher::Config,
    writer: reflector::store::Writer<ClerkDomain>,
) -> impl futures::Stream<Item = Result<ClerkDomain, watcher::Error>> + Send + use<> {
    let (users_hook, hook) = (ctx.clone(), ctx.clone());
    events(api, watch)
        .inspect(move |e| {
            if let Ok(e) = e {
                instances::users::follow(&users_hook, e);
            }
        })
        .reflect(writer)
        .inspect(move |e| {
            if let Ok(e) = e {
                hook.observe(e);
            }
        })
        .applied_objects()
        .predicate_filter(asks_for_work(), Default::default())
}

/// The owned children: the exported ConfigMaps, and the DNSEndpoints once their CRD is served.
fn with_children(c: Controller<ClerkDomain>, ctx: &Arc<Context>) -> Controller<ClerkDomain> {
    let ns = ctx.config.namespace.as_deref();
    let config_maps = owned(
        scoped::<PartialObjectMeta<ConfigMap>>(&ctx.client, ns),
        std::future::ready(()),
    );
    let endpoints = owned(
        scoped::<PartialObjectMeta<DNSEndpoint>>(&ctx.client, ns),
        ctx.stores.served.dns_endpoint_served(),
    );
    c.owns_stream(config_maps).owns_stream(endpoints)
}

/// With Secret protection: the metadata-only Secret watch, which fills the Secret cache and
/// reconciles the users of a Secret that changed. Without it nothing watches Secrets.
fn with_secrets(
    c: Controller<ClerkDomain>,
    ctx: &Arc<Context>,
    writer: reflector::store::Writer<PartialObjectMeta<Secret>>,
) -> Controller<ClerkDomain> {
    if !ctx.config.secret_protection {
        return c;
    }
    let secret_api = scoped::<PartialObjectMeta<Secret>>(&ctx.client, ctx.config.namespace.as_deref());
    let secret_events = events(secret_api, watcher::Config::default().any_semantic())
        .reflect(writer)
        .touched_objects();
    let users = ctx.clone();
    c.watches_stream(secret_events, move |s| secret_users(&users, &s))
}

/// Once the ClerkDomain cache is synced: ready, and (with Secret protection) Secrets nobody uses
/// any more are released.
async fn when_synced(ctx: Arc<Context>, health: crate::http::Health) {
    if let Err(e) = wait_synced(&ctx.stores.domains).await {
        tracing::warn!(error = %e, "ClerkDomain cache never synced");
        return;
    }
    health.set_ready(true);
    tracing::info!("ClerkDomain cache synced; ready");
    if ctx.config.secret_protection {
        secrets::release_unused(ctx).await;
    }
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
                events::<ClerkDomain>(Api::namespaced(client, "ns"), watcher::Config::default()),
                &domains
            ),
            asked_in_3s(
                events::<PartialObjectMeta<Secret>>(Api::namespaced(secret_client, "ns"), Default::default()),
                &secrets
            ),
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

    /// A Secret's users are woken by a version they have not read: not by the version their
    /// last reconcile read (a watch that lists late or again delivers it once more), again by
    /// the next one.
    #[tokio::test]
    async fn secret_users_skip_the_version_they_read() {
        let client = Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap();
        let served = super::super::served::Served::discover(&client).await;
        let (stores, mut writers) = stores(false, served);
        let (wake, _rx) = futures::channel::mpsc::unbounded();
        let ctx = Arc::new(Context::new(
            client,
            Default::default(),
            Default::default(),
            stores,
            wake,
        ));
        let obj: ClerkDomain = serde_json::from_value(serde_json::json!({
            "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkDomain",
            "metadata": {"name": "shop", "namespace": "ns"},
            "spec": {"domain": "shop.example.com", "secretRef": {"name": "clerk", "key": "key"}},
        }))
        .unwrap();
        writers.domains.apply_watcher_event(&watcher::Event::Apply(obj));
        let at = |rv: &str| {
            let mut s = PartialObjectMeta::<Secret>::default();
            s.metadata.namespace = Some("ns".into());
            s.metadata.name = Some("clerk".into());
            s.metadata.resource_version = Some(rv.into());
            secret_users(&ctx, &s).len()
        };
        assert_eq!(at("5"), 1, "never read: woken");
        ctx.memory.secret_read("ns/shop", Some(("clerk", "5")));
        assert_eq!(at("5"), 0, "the version read: not woken");
        assert_eq!(at("6"), 1, "a newer version: woken");
        ctx.memory.secret_read("ns/shop", Some(("other", "5")));
        assert_eq!(at("5"), 1, "read another Secret: woken");
        ctx.memory.secret_read("ns/shop", None);
        assert_eq!(at("5"), 1, "read none: woken");
    }
}
