//! Clerk's Platform API readiness on the real apiserver with the fake Clerk: an instance object
//! with `spec.platform` gives its ClerkDomains `ClerkDNSVerified`, `SSLIssued` and
//! `MailVerified`, which never gate `Ready`; without it none appears.

use super::kit::*;
use super::*;
use clerk_operator::api::ClerkDomain;
use fake_clerk::PlatformRule;

const TOKEN: &str = "ak_platform_e2e_token_value_0001";
const WRONG: &str = "ak_platform_e2e_wrong_value_0002";

/// A ClerkInstance `name` reading the key from Secret `clerk` and, with `app`, the Platform
/// token from Secret `platform`.
async fn instance_with_platform(env: &TestEnv, name: &str, app: Option<&str>) -> anyhow::Result<()> {
    let mut spec = json!({"secretRef": {"name": "clerk", "key": "key"}});
    if let Some(app) = app {
        spec["platform"] =
            json!({"applicationId": app, "tokenSecretRef": {"name": "platform", "key": "key"}});
    }
    let o: ClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkInstance",
        "metadata": {"name": name, "namespace": env.ns}, "spec": spec,
    }))?;
    Api::<ClerkInstance>::namespaced(env.client.clone(), &env.ns)
        .create(&Default::default(), &labelled(env, o))
        .await?;
    Ok(())
}

async fn request_reconcile(env: &TestEnv, name: &str, at: &str) -> anyhow::Result<()> {
    let patch = json!({"metadata": {"annotations": {"clerk-operator.io/reconcile-requested-at": at}}});
    env.domains()
        .patch(name, &PatchParams::default(), &Patch::Merge(patch))
        .await?;
    Ok(())
}

async fn wait_reason(env: &TestEnv, name: &str, type_: &str, reason: &str) -> anyhow::Result<ClerkDomain> {
    wait_for(
        &env.domains(),
        name,
        &format!("{type_} {reason}"),
        CONVERGE,
        |o| condition(o, type_).is_some_and(|c| c.reason == reason),
    )
    .await
}

fn dns_checks(env: &TestEnv, status: u16) -> u64 {
    let s = env.fake.state();
    let s = s.lock().unwrap();
    s.stats
        .requests
        .get("TriggerDNSCheck")
        .and_then(|m| m.get(&status))
        .copied()
        .unwrap_or_default()
}

/// Not complete, then True after Clerk's DNS check finished; a forced resync while the check
/// runs gets a 409 and says "running"; a failing certificate gives `SSLIssued=False` with
/// Clerk's hint; `Ready` stays True throughout; a ClusterClerkInstance works alike; an instance
/// without `spec.platform` gives none.
pub async fn platform_status_sets_readiness_conditions(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = start(cp, "platform", EnvOptions::default()).await?;
    let ns = env.ns.clone();
    let app = platform_setup(&env, &ns).await?;
    first_reading_starts_a_check(&env).await?;
    check_completes(&env).await?;
    ssl_issuance_fails(&env, &ns).await?;
    cluster_instance_alike(&env, &ns, &app).await?;

    // Without spec.platform: no Platform condition at all.
    let p = wait_domain_ready(&env, &ns, "p").await?;
    for t in clerk_operator::api::condition_type::PLATFORM {
        ensure!(
            condition(&p, t).is_none(),
            "{t} on an instance without spec.platform"
        );
    }
    Ok(())
}

/// The Secrets of the key and the Platform token, a slow DNS check, an instance with
/// `spec.platform` and one without, and a ClerkDomain through each. The application ID.
async fn platform_setup(env: &TestEnv, ns: &str) -> anyhow::Result<String> {
    secret_in(env, ns, "clerk", LIVE_KEY).await?;
    secret_in(env, ns, "platform", TOKEN).await?;
    env.fake.add_platform_token(TOKEN);
    env.fake.set_platform_rule(PlatformRule {
        check_ms: 8_000,
        cooldown_ms: 60_000,
        ..Default::default()
    });
    let app = env
        .fake
        .application_id(LIVE_KEY)
        .context("the fake's application")?;
    instance_with_platform(env, "team", Some(&app)).await?;
    instance_with_platform(env, "plain", None).await?;
    env.create_in(
        ns,
        &domain("a", "a.platform.example.com", Some(("ClerkInstance", "team"))),
    )
    .await?;
    env.create_in(
        ns,
        &domain("p", "p.platform.example.com", Some(("ClerkInstance", "plain"))),
    )
    .await?;
    Ok(app)
}

/// The first reading starts a check: not complete yet, and Ready regardless. (A reconcile that
/// read the object before that status was written asks again and is told "running".) A forced
/// resync while it runs: Clerk answers 409, which is "running", not an error.
async fn first_reading_starts_a_check(env: &TestEnv) -> anyhow::Result<()> {
    let a = wait_for(&env.domains(), "a", "not complete", CONVERGE, |o| {
        condition(o, "ClerkDNSVerified")
            .is_some_and(|c| c.status == "False" && c.reason.starts_with("ClerkCheck"))
    })
    .await?;
    ensure!(is_true(&a, "Ready"), "Platform conditions never gate Ready");
    ensure!(condition(&a, "SSLIssued").is_some_and(|c| c.status == "False"));
    ensure!(condition(&a, "MailVerified").is_some_and(|c| c.reason == "ClerkCheckNotRequired"));
    ensure!(condition(&a, "ClerkProxyVerified").is_none(), "no proxy");
    ensure!(dns_checks(env, 200) == 1, "one DNS check started");

    request_reconcile(env, "a", "first").await?;
    let a = wait_reason(env, "a", "ClerkDNSVerified", "ClerkCheckRunning").await?;
    ensure!(dns_checks(env, 409) >= 1, "the second check was refused");
    ensure!(is_true(&a, "Ready"));
    Ok(())
}

/// Read again with backoff until Clerk reports the check complete.
async fn check_completes(env: &TestEnv) -> anyhow::Result<()> {
    let a = wait_for(&env.domains(), "a", "complete", Duration::from_secs(90), |o| {
        ["ClerkDNSVerified", "SSLIssued", "MailVerified"]
            .iter()
            .all(|t| is_true(o, t))
    })
    .await?;
    ensure!(
        dns_checks(env, 200) == 1,
        "no check without a spec change or a request"
    );
    let ssl = condition(&a, "SSLIssued").unwrap();
    ensure!(ssl.reason == "ClerkCheckComplete", "{ssl:?}");
    ensure!(
        ssl.message.contains("overall status: complete"),
        "{}",
        ssl.message
    );
    Ok(())
}

/// Certificate issuance fails: SSLIssued=False with Clerk's hint; Ready stays True. Argo CD
/// calls a required check that Clerk reports failed Degraded; kstatus, which reads only Ready,
/// Reconciling and Stalled, stays Current.
async fn ssl_issuance_fails(env: &TestEnv, ns: &str) -> anyhow::Result<()> {
    env.fake.set_platform_rule(PlatformRule {
        ssl_fails: true,
        cooldown_ms: 0,
        ..Default::default()
    });
    request_reconcile(env, "a", "second").await?;
    let a = wait_reason(env, "a", "SSLIssued", "ClerkCheckFailed").await?;
    let ssl = condition(&a, "SSLIssued").unwrap();
    ensure!(
        ssl.status == "False" && ssl.message.contains("ssl_issuance_failed"),
        "{ssl:?}"
    );
    ensure!(is_true(&a, "Ready") && is_true(&a, "ClerkDNSVerified"));
    let (kstatus, argo) =
        test_kit::health::verdicts(&test_kit::health::capture(&env.client, ns, "a").await?)?;
    ensure!(kstatus.status == "Current", "{kstatus:?}");
    ensure!(
        argo.status == "Degraded" && argo.message.starts_with("SSLIssued: "),
        "{argo:?}"
    );
    Ok(())
}

/// A ClusterClerkInstance reads its token from the operator's namespace the same way.
async fn cluster_instance_alike(env: &TestEnv, ns: &str, app: &str) -> anyhow::Result<()> {
    let shared = format!("shared-{ns}");
    let cluster: ClusterClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClusterClerkInstance",
        "metadata": {"name": shared},
        "spec": {"secretRef": {"name": "clerk", "key": "key"},
                 "platform": {"applicationId": app, "tokenSecretRef": {"name": "platform", "key": "key"}}},
    }))?;
    Api::<ClusterClerkInstance>::all(env.client.clone())
        .create(&Default::default(), &labelled(env, cluster))
        .await?;
    env.create_in(
        ns,
        &domain(
            "c",
            "c.platform.example.com",
            Some(("ClusterClerkInstance", &shared)),
        ),
    )
    .await?;
    wait_for(&env.domains(), "c", "Clerk's DNS status", CONVERGE, |o| {
        condition(o, "ClerkDNSVerified").is_some_and(|c| c.reason.starts_with("ClerkCheck"))
    })
    .await?;
    Ok(())
}

/// A missing token Secret gives `PlatformTokenUnreadable`, a token Clerk refuses
/// `PlatformUnauthorized` (both Unknown) on the three conditions, with
/// `Ready` untouched; the token appears in no status and no Event; the right token fixes it
/// (a proxied domain also gets `ClerkProxyVerified`); removing `spec.platform` drops them all.
pub async fn wrong_platform_token_is_reported_without_leaking(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let env = start(cp, "platform-token", EnvOptions::default()).await?;
    let ns = env.ns.clone();
    secret_in(&env, &ns, "clerk", LIVE_KEY).await?;
    env.fake.add_platform_token(TOKEN);
    env.fake.set_platform_rule(PlatformRule {
        cooldown_ms: 0,
        ..Default::default()
    });
    let app = env
        .fake
        .application_id(LIVE_KEY)
        .context("the fake's application")?;
    malformed_reference_is_refused(&env, &ns, &app).await?;
    instance_with_platform(&env, "team", Some(&app)).await?;
    env.create_in(
        &ns,
        &domain("a", "a.token.example.com", Some(("ClerkInstance", "team"))),
    )
    .await?;
    // A proxied domain: Clerk's status has a proxy part, hence ClerkProxyVerified.
    env.fake
        .set_proxy_check_rule(fake_clerk::ProxyCheckRule::AlwaysSucceed);
    let proxied = domain("q", "q.token.example.com", Some(("ClerkInstance", "team")))
        + "  proxyUrl: https://q.token.example.com/__clerk\n";
    env.create_in(&ns, &proxied).await?;
    let a = unreadable_then_unauthorized(&env, &ns).await?;
    token_never_shown(&env, &ns, &a).await?;
    right_token_fixes_it(&env, &ns).await?;
    platform_removed(&env, &ns).await?;
    Ok(())
}

/// The apiserver refuses a malformed reference, naming the field.
async fn malformed_reference_is_refused(env: &TestEnv, ns: &str, app: &str) -> anyhow::Result<()> {
    let bad: ClerkInstance = serde_json::from_value(json!({
        "apiVersion": "clerk-operator.io/v1alpha1", "kind": "ClerkInstance",
        "metadata": {"name": "bad", "namespace": ns},
        "spec": {"secretRef": {"name": "clerk", "key": "key"},
                 "platform": {"applicationId": app, "tokenSecretRef": {"name": "Bad_Name", "key": ".."}}},
    }))?;
    let refused = Api::<ClerkInstance>::namespaced(env.client.clone(), ns)
        .create(&Default::default(), &bad)
        .await
        .err()
        .context("a malformed tokenSecretRef was accepted")?
        .to_string();
    ensure!(
        refused.contains("tokenSecretRef.name must be a valid Secret name")
            && refused.contains("tokenSecretRef.key must not be '.'"),
        "{refused}"
    );
    Ok(())
}

/// No token Secret yet: Unknown, naming the Secret; then a token Clerk refuses: Unknown on the
/// three conditions, Ready untouched, Argo CD Healthy. The object then.
async fn unreadable_then_unauthorized(env: &TestEnv, ns: &str) -> anyhow::Result<ClerkDomain> {
    let a = wait_reason(env, "a", "ClerkDNSVerified", "PlatformTokenUnreadable").await?;
    let c = condition(&a, "SSLIssued").context("SSLIssued")?;
    ensure!(c.status == "Unknown" && c.message.contains("platform"), "{c:?}");
    // A token Clerk refuses.
    secret_in(env, ns, "platform", WRONG).await?;
    request_reconcile(env, "a", "wrong").await?;
    let a = wait_reason(env, "a", "ClerkDNSVerified", "PlatformUnauthorized").await?;
    let (_, argo) = test_kit::health::verdicts(&test_kit::health::capture(&env.client, ns, "a").await?)?;
    ensure!(
        argo.status == "Healthy",
        "an unreadable Platform status only informs: {argo:?}"
    );
    ensure!(is_true(&a, "Ready"), "Platform conditions never gate Ready");
    for t in ["ClerkDNSVerified", "SSLIssued", "MailVerified"] {
        let c = condition(&a, t).context(t)?;
        ensure!(
            c.status == "Unknown" && c.message.contains("tokenSecretRef"),
            "{c:?}"
        );
    }
    Ok(a)
}

/// The token appears in neither the object nor its Events.
async fn token_never_shown(env: &TestEnv, ns: &str, a: &ClerkDomain) -> anyhow::Result<()> {
    let text = serde_json::to_string(a)?;
    let events = serde_json::to_string(&env.events_in(ns, "a").await?)?;
    for secret in [WRONG, TOKEN, "ak_platform_e2e"] {
        ensure!(
            !text.contains(secret) && !events.contains(secret),
            "the token leaked"
        );
    }
    Ok(())
}

/// The right token, then a requested reconcile: a DNS check runs and the conditions are True
/// (the proxied domain's ClerkProxyVerified too).
async fn right_token_fixes_it(env: &TestEnv, ns: &str) -> anyhow::Result<()> {
    set_key(env, ns, "platform", TOKEN).await?;
    request_reconcile(env, "a", "fixed").await?;
    request_reconcile(env, "q", "fixed").await?;
    wait_for(&env.domains(), "a", "complete", CONVERGE, |o| {
        ["ClerkDNSVerified", "SSLIssued", "MailVerified"]
            .iter()
            .all(|t| is_true(o, t))
    })
    .await?;
    let q = wait_for(&env.domains(), "q", "ClerkProxyVerified", CONVERGE, |o| {
        is_true(o, "ClerkProxyVerified") && is_true(o, "SSLIssued")
    })
    .await?;
    ensure!(condition(&q, "ClerkProxyVerified").unwrap().reason == "ClerkCheckComplete");
    Ok(())
}

/// spec.platform removed from the instance object: its ClerkDomains lose the conditions.
async fn platform_removed(env: &TestEnv, ns: &str) -> anyhow::Result<()> {
    let remove = json!([{"op": "remove", "path": "/spec/platform"}]);
    Api::<ClerkInstance>::namespaced(env.client.clone(), ns)
        .patch(
            "team",
            &PatchParams::default(),
            &Patch::<()>::Json(serde_json::from_value(remove)?),
        )
        .await?;
    wait_for(&env.domains(), "a", "no Platform conditions", CONVERGE, |o| {
        clerk_operator::api::condition_type::PLATFORM
            .iter()
            .all(|t| condition(o, t).is_none())
    })
    .await?;
    Ok(())
}
