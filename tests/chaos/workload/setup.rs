//! Setting a run up: the control plane, the fake Clerk with its faults, the namespaces and
//! their Secrets, the cut proxy, the two operator processes, the Lease poller and the killer.

use super::*;

/// What a run works with, from setup to the final checks.
pub(super) struct World {
    pub(super) client: Client,
    pub(super) keys: [String; 2],
    pub(super) nss: Api<Namespace>,
    pub(super) operators: Arc<Mutex<Operators>>,
    pub(super) proxy: Arc<CutProxy>,
    /// Stops the Lease poller.
    pub(super) poll_stop: Arc<AtomicBool>,
    /// Every acquisition of the Lease the poller saw.
    pub(super) timeline: Arc<Mutex<Vec<Acquired>>>,
    pub(super) poller: JoinHandle<()>,
    pub(super) killer: Killer,
    pub(super) fake: FakeClerk,
    pub(super) cp: ControlPlane,
}

/// The task that kills operators at random moments and, once asked, cuts the leader off.
pub(super) struct Killer {
    /// Ends the task once at least `min_kills` kills happened.
    pub(super) stop: Arc<AtomicBool>,
    /// Asks the task to cut the leader off from the API server (reset when it starts).
    pub(super) cut_requested: Arc<AtomicBool>,
    pub(super) cut_result: Arc<Mutex<Option<Result<Cut, String>>>>,
    pub(super) task: JoinHandle<()>,
}

/// Start everything a run needs; both operators run and the killer is at work.
pub(super) async fn start(cfg: &Config) -> anyhow::Result<World> {
    let cp = ControlPlane::start();
    cp.install_crds();
    let client = cp.client().await;
    let keys = [
        format!("sk_live_chaos_a_{:08x}", cfg.seed),
        format!("sk_live_chaos_b_{:08x}", cfg.seed),
    ];
    let fake = FakeClerk::start(FakeConfig {
        secret_keys: keys.to_vec(),
        faults: faults(),
        ..Default::default()
    })
    .await?;

    let nss = create_namespaces(&client, &keys).await?;

    // Slot `a` talks to the API server through a proxy that can cut it off.
    let upstream: std::net::SocketAddr = cp
        .server
        .trim_start_matches("https://")
        .parse()
        .context("API server address")?;
    let proxy = Arc::new(CutProxy::start(upstream).await?);
    let operators = start_operators(&cp, &fake, &keys, &proxy)?;
    let poll_stop = Arc::new(AtomicBool::new(false));
    let (timeline, poller) = poll_lease(client.clone(), poll_stop.clone());
    let killer = spawn_killer(cfg, &operators, &proxy, &timeline);
    Ok(World {
        client,
        keys,
        nss,
        operators,
        proxy,
        poll_stop,
        timeline,
        poller,
        killer,
        fake,
        cp,
    })
}

/// The workload's namespaces, with the Secret of the second instance where it is used.
async fn create_namespaces(client: &Client, keys: &[String; 2]) -> anyhow::Result<Api<Namespace>> {
    let nss: Api<Namespace> = Api::all(client.clone());
    for (ns, instance) in NAMESPACES {
        let n: Namespace = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        nss.create(&PostParams::default(), &n).await?;
        if instance == 1 {
            let s: Secret = serde_json::from_value(json!({
                "metadata": {"name": "clerk", "namespace": ns},
                "stringData": {"key": keys[1]},
            }))?;
            Api::<Secret>::namespaced(client.clone(), ns)
                .create(&PostParams::default(), &s)
                .await?;
        }
    }
    Ok(nss)
}

/// Both operators started: slot `a` through `proxy`, slot `b` straight to the API server.
fn start_operators(
    cp: &ControlPlane,
    fake: &FakeClerk,
    keys: &[String; 2],
    proxy: &CutProxy,
) -> anyhow::Result<Arc<Mutex<Operators>>> {
    let proxied = cp.kubeconfig.with_file_name("chaos-proxied-kubeconfig");
    std::fs::write(
        &proxied,
        std::fs::read_to_string(&cp.kubeconfig)?.replace(&cp.server, &format!("https://{}", proxy.addr())),
    )?;
    let opts = OperatorOptions {
        binary: env!("CARGO_BIN_EXE_clerk-operator").into(),
        kubeconfig: cp.kubeconfig.clone(),
        clerk_api_url: fake.base_url(),
        secret_key: Some(keys[0].clone()),
        lease: Some((LEASE_NS.into(), LEASE_NAME.into())),
        lease_timing: Some((LEASE_DURATION, LEASE_GRACE)),
        extra_args: vec![
            "--resync-period=30s".into(),
            "--clerk-timeout=5s".into(),
            "--concurrency=8".into(),
            // The workload deletes a Secret before its ClerkDomains: the in-use protection keeps
            // it until their cleanup has used it.
            "--secret-protection".into(),
        ],
        ..Default::default()
    };
    let operators = Arc::new(Mutex::new(Operators {
        slots: [
            (
                OperatorOptions {
                    kubeconfig: proxied,
                    ..opts.clone()
                },
                None,
            ),
            (opts, None),
        ],
        logs: String::new(),
        kills: 0,
        exits: 0,
        starts: 0,
    }));
    {
        let mut op = operators.lock().unwrap();
        op.start(0)?;
        op.start(1)?;
    }
    Ok(operators)
}

/// Kill one of the operators at random moments until told to stop and at least `min_kills`
/// happened; once asked, cut the leader off from the API server (no kills meanwhile).
fn spawn_killer(
    cfg: &Config,
    operators: &Arc<Mutex<Operators>>,
    proxy: &Arc<CutProxy>,
    timeline: &Arc<Mutex<Vec<Acquired>>>,
) -> Killer {
    let stop = Arc::new(AtomicBool::new(false));
    let cut_requested = Arc::new(AtomicBool::new(false));
    let cut_result: Arc<Mutex<Option<Result<Cut, String>>>> = Default::default();
    let task = {
        let (operators, stop, cut_requested, cut_result, timeline, proxy) = (
            operators.clone(),
            stop.clone(),
            cut_requested.clone(),
            cut_result.clone(),
            timeline.clone(),
            proxy.clone(),
        );
        let mut rng = StdRng::seed_from_u64(cfg.seed ^ 0x6b696c6c);
        let min_kills = cfg.min_kills;
        tokio::spawn(async move {
            loop {
                let wait = rng.random_range(2000..5000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                if cut_requested.swap(false, Ordering::SeqCst) {
                    let r = cut_the_leader(&operators, &proxy, &timeline).await;
                    *cut_result.lock().unwrap() = Some(r.map_err(|e| format!("{e:#}")));
                    continue;
                }
                let mut op = operators.lock().unwrap();
                if let Err(e) = op.reap() {
                    eprintln!("[chaos] restarting an operator failed: {e:#}");
                }
                if stop.load(Ordering::SeqCst) && op.kills >= min_kills {
                    return;
                }
                let slot = rng.random_range(0..2);
                op.kill(slot);
                if let Err(e) = op.start(slot) {
                    eprintln!("[chaos] restarting the operator failed: {e:#}");
                }
            }
        })
    };
    Killer {
        stop,
        cut_requested,
        cut_result,
        task,
    }
}
