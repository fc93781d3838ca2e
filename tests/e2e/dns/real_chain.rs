//! The whole DNS loop with real parts: the operator's DNSEndpoint, the real external-dns writing
//! to BIND 9 (RFC 2136 + TSIG), and the operator's verification against BIND.

use super::*;

/// Poll `f` every 250 ms until it returns `Some`, for up to `timeout`; `what` and the last
/// error (if any) go into the failure message, with external-dns's log.
pub(super) async fn wait_dns<T>(
    what: &str,
    timeout: Duration,
    edns: &ExternalDns,
    mut f: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let start = std::time::Instant::now();
    let mut last = String::new();
    loop {
        match f() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => {}
            Err(e) => last = format!("{e:#}"),
        }
        if start.elapsed() > timeout {
            anyhow::bail!(
                "timed out waiting for {what} ({last}); external-dns log:\n{}",
                edns.log_tail(40)
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Wait for a `DNSVerified` condition matching `pred`, asking for a resync every 3 s (the
/// operator re-verifies on its own only after 15 s, 30 s, ...).
pub(super) async fn wait_verified(
    env: &TestEnv,
    name: &str,
    what: &str,
    pred: impl Fn(&k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition) -> bool,
) -> anyhow::Result<ClerkDomain> {
    let start = std::time::Instant::now();
    let mut n = 0;
    loop {
        let obj = env.domains().get(name).await?;
        if condition(&obj, "DNSVerified").is_some_and(&pred) {
            return Ok(obj);
        }
        if start.elapsed() > Duration::from_secs(90) {
            anyhow::bail!(
                "{name}: timed out waiting for DNSVerified {what}; last: {:?}",
                condition(&obj, "DNSVerified")
            );
        }
        n += 1;
        if n % 12 == 0 {
            force_resync(env, name, &format!("verify-{n}")).await?;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The required CNAMEs of a ClerkDomain's status as `(host, value)`.
pub(super) fn required_cnames(obj: &ClerkDomain) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = obj
        .status
        .iter()
        .flat_map(|s| s.cname_targets.iter())
        .filter(|t| t.required)
        .map(|t| (t.host.clone(), t.value.clone()))
        .collect();
    v.sort();
    v
}

/// Whether BIND answers every `(host, value)` with exactly that CNAME.
pub(super) fn bind_has(bind: &Bind, cnames: &[(String, String)]) -> anyhow::Result<bool> {
    for (host, value) in cnames {
        if bind.cname(host)?.as_deref() != Some(value.as_str()) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Whether BIND has no record at all at any of `hosts` (NXDOMAIN).
pub(super) fn bind_lacks(bind: &Bind, hosts: &[&str]) -> anyhow::Result<bool> {
    for host in hosts {
        if bind.query(host, "ANY")?.status != "NXDOMAIN" {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The whole chain with the real programs: ClerkDomain (`dns.externalDNS`) → the operator's
/// DNSEndpoint → the real external-dns (`--source=crd --provider=rfc2136 --policy=sync
/// --registry=txt --rfc2136-axfr`) → BIND 9 (TSIG updates) → the operator's `--dns-verify
/// --dns-resolver` → `DNSVerified=True`. A proxy URL and a rename change the records, deleting
/// the ClerkDomain removes them from BIND, a hand-made record pointing elsewhere reads as
/// `WrongTarget`, and Clerk's own target answering NXDOMAIN reads as Clerk's side.
pub async fn external_dns_and_bind_close_the_loop(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let (bind, env, mut edns) = start_chain(&cp).await?;
    let (root_cnames, shop_cnames) = publish(&env).await?;
    let endpoints = written_and_verified(&env, &bind, &edns, &root_cnames, &shop_cnames).await?;
    quiet_when_done(&edns).await?;
    proxy_url_replaces_a_record(&env, &bind, &edns, &root_cnames).await?;
    rename_moves_the_record(&env, &bind, &edns).await?;
    hand_made_record(&env, &bind).await?;
    delete_removes_the_records(&env, &bind, &edns, &endpoints).await?;
    ensure!(edns.is_running(), "external-dns exited: {}", edns.log_tail(40));
    Ok(())
}

/// BIND with example.com for the user's records and clerk.services, empty, so that Clerk's
/// targets answer NXDOMAIN (as frontend-api.clerk.services did in an outage of Clerk's);
/// external-dns's CRD, the test env verifying against BIND, and external-dns writing to it.
async fn start_chain(cp: &Arc<ControlPlane>) -> anyhow::Result<(Bind, TestEnv, ExternalDns)> {
    let bind = Bind::start(&["example.com", "clerk.services"])?;
    {
        let _lock = EXTERNAL_DNS_CRD.lock().await;
        install_external_dns_crd(cp)?;
    }
    let opts = EnvOptions {
        dns_resolver: Some(bind.addr()),
        primary_domains: true,
        ..Default::default()
    };
    let env = TestEnv::start(cp.clone(), "realdns", opts).await?;
    // Clerk's proxy check would otherwise probe the proxy URL off this machine.
    env.fake.set_proxy_check_rule(ProxyCheckRule::AlwaysSucceed);
    let edns = ExternalDns::start(cp, &bind, "example.com", &env.ns, "clerk-e2e")?;
    let nx = bind.query("frontend-api.clerk.services", "A")?;
    ensure!(nx.status == "NXDOMAIN", "{nx:?}");
    Ok((bind, env, edns))
}

/// The primary domain (five records) and a satellite (only the Frontend API record), both
/// published. Their required CNAMEs.
async fn publish(env: &TestEnv) -> anyhow::Result<(Vec<(String, String)>, Vec<(String, String)>)> {
    let ext = "  dns:\n    externalDNS:\n      enabled: true\n      recordTTL: 60\n";
    env.create(&manifest(
        "root",
        &format!("  domain: example.com\n  isSatellite: false\n{ext}"),
    ))
    .await?;
    // The satellite also carries a provider-specific property, which rfc2136 does not know.
    let props = "      providerSpecific: [{name: cloudflare/proxied, value: \"false\"}]\n";
    env.create(&manifest(
        "shop",
        &format!("  domain: shop.example.com\n{ext}{props}"),
    ))
    .await?;
    let root = wait_condition(env, "root", "DNSPublished", "True", "Published").await?;
    let shop = wait_condition(env, "shop", "DNSPublished", "True", "Published").await?;
    let root_cnames = required_cnames(&root);
    let shop_cnames = required_cnames(&shop);
    let hosts = |c: &[(String, String)]| c.iter().map(|(h, _)| h.clone()).collect::<Vec<_>>();
    ensure!(
        hosts(&root_cnames)
            == [
                "accounts.example.com",
                "clerk.example.com",
                "clk._domainkey.example.com",
                "clk2._domainkey.example.com",
                "clkmail.example.com"
            ],
        "{root_cnames:?}"
    );
    ensure!(
        shop_cnames
            == [(
                "clerk.shop.example.com".to_string(),
                "frontend-api.clerk.services".to_string()
            )],
        "{shop_cnames:?}"
    );
    Ok((root_cnames, shop_cnames))
}

/// external-dns writes them to BIND, with its TXT ownership records, and says so in the
/// DNSEndpoint's status; the operator sees them through BIND: verified, and Clerk's NXDOMAIN
/// target is Clerk's side. The DNSEndpoints.
async fn written_and_verified(
    env: &TestEnv,
    bind: &Bind,
    edns: &ExternalDns,
    root_cnames: &[(String, String)],
    shop_cnames: &[(String, String)],
) -> anyhow::Result<Api<DNSEndpoint>> {
    let mut all = root_cnames.to_vec();
    all.extend(shop_cnames.to_vec());
    wait_dns("the CNAMEs in BIND", CONVERGE, edns, || {
        Ok(bind_has(bind, &all)?.then_some(()))
    })
    .await?;
    let txt = bind.query("cname-clerk.shop.example.com", "TXT")?;
    ensure!(
        txt.records
            .iter()
            .any(|r| r.contains("heritage=external-dns") && r.contains("external-dns/owner=clerk-e2e")),
        "{txt:?}"
    );
    let endpoints: Api<DNSEndpoint> = Api::namespaced(env.client.clone(), &env.ns);
    wait_for(&endpoints, "shop", "processed by external-dns", CONVERGE, |e| {
        e.status.as_ref().and_then(|s| s.observed_generation) == e.metadata.generation
    })
    .await?;

    // The operator sees them through BIND: verified, and Clerk's NXDOMAIN target is Clerk's side.
    for name in ["root", "shop"] {
        let obj = wait_verified(env, name, "True/Verified", |c| {
            c.status == "True" && c.reason == "Verified"
        })
        .await?;
        let msg = &condition(&obj, "DNSVerified").unwrap().message;
        ensure!(
            msg.contains("point to Clerk's targets")
                && msg.contains("frontend-api.clerk.services")
                && msg.contains("on Clerk's side"),
            "{name}: {msg}"
        );
    }
    Ok(endpoints)
}

/// Nothing left to do: further syncs (every 2 s) change nothing, the unknown
/// provider-specific property included.
async fn quiet_when_done(edns: &ExternalDns) -> anyhow::Result<()> {
    let applies = |log: &str| log.matches("ApplyChanges").count();
    let before = applies(&edns.log());
    tokio::time::sleep(Duration::from_secs(7)).await;
    let log = edns.log();
    ensure!(
        applies(&log) == before && log.contains("All records are already up to date"),
        "external-dns keeps changing records:\n{}",
        edns.log_tail(30)
    );
    Ok(())
}

/// A proxy URL replaces the primary's Frontend API record: external-dns deletes it; back to
/// DNS, the record returns.
async fn proxy_url_replaces_a_record(
    env: &TestEnv,
    bind: &Bind,
    edns: &ExternalDns,
    root_cnames: &[(String, String)],
) -> anyhow::Result<()> {
    env.domains()
        .patch(
            "root",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"proxyUrl": "https://example.com/__clerk"}})),
        )
        .await?;
    wait_dns("clerk.example.com removed from BIND", CONVERGE, edns, || {
        Ok(bind_lacks(bind, &["clerk.example.com", "cname-clerk.example.com"])?.then_some(()))
    })
    .await?;
    let root = env.wait_ready("root").await?;
    let proxied = required_cnames(&root);
    ensure!(proxied.len() == 4, "{proxied:?}");
    ensure!(bind_has(bind, &proxied)?, "the other records stay");
    wait_verified(env, "root", "True with 4 records", |c| {
        c.status == "True" && c.message.starts_with("all 4 required")
    })
    .await?;
    // Back to DNS: the record returns.
    env.domains()
        .patch(
            "root",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"proxyUrl": null}})),
        )
        .await?;
    wait_dns("clerk.example.com back in BIND", CONVERGE, edns, || {
        Ok(bind_has(bind, root_cnames)?.then_some(()))
    })
    .await?;
    Ok(())
}

/// A rename moves the satellite's record.
async fn rename_moves_the_record(env: &TestEnv, bind: &Bind, edns: &ExternalDns) -> anyhow::Result<()> {
    env.domains()
        .patch(
            "shop",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"domain": "shop2.example.com"}})),
        )
        .await?;
    let renamed = vec![(
        "clerk.shop2.example.com".to_string(),
        "frontend-api.clerk.services".to_string(),
    )];
    wait_dns("the renamed record in BIND", CONVERGE, edns, || {
        Ok((bind_has(bind, &renamed)?
            && bind_lacks(bind, &["clerk.shop.example.com", "cname-clerk.shop.example.com"])?)
        .then_some(()))
    })
    .await?;
    wait_verified(env, "shop", "True after the rename", |c| {
        c.status == "True" && c.observed_generation == Some(2)
    })
    .await?;
    Ok(())
}

/// A record the user wrote by hand (no external-dns for this one), first missing, then
/// pointing elsewhere, then right; external-dns leaves it alone.
async fn hand_made_record(env: &TestEnv, bind: &Bind) -> anyhow::Result<()> {
    env.create(&manifest("manual", "  domain: manual.example.com\n"))
        .await?;
    let obj = wait_verified(env, "manual", "False/RecordsMissing", |c| {
        c.status == "False" && c.reason == "RecordsMissing"
    })
    .await?;
    ensure!(
        condition(&obj, "DNSVerified")
            .unwrap()
            .message
            .contains("clerk.manual.example.com: no CNAME record")
    );
    bind.nsupdate(
        "example.com",
        &["update add clerk.manual.example.com 60 CNAME frontend-api.clerk.example.net."],
    )?;
    let obj = wait_verified(env, "manual", "False/WrongTarget", |c| {
        c.status == "False" && c.reason == "WrongTarget"
    })
    .await?;
    let msg = &condition(&obj, "DNSVerified").unwrap().message;
    ensure!(
        msg == "clerk.manual.example.com: CNAME points to frontend-api.clerk.example.net, expected \
                frontend-api.clerk.services",
        "{msg}"
    );
    bind.nsupdate(
        "example.com",
        &[
            "update delete clerk.manual.example.com CNAME",
            "update add clerk.manual.example.com 60 CNAME frontend-api.clerk.services.",
        ],
    )?;
    wait_verified(env, "manual", "True after the fix", |c| {
        c.status == "True" && c.reason == "Verified"
    })
    .await?;
    // external-dns leaves the record it does not own alone.
    tokio::time::sleep(Duration::from_secs(5)).await;
    ensure!(bind.cname("clerk.manual.example.com")?.as_deref() == Some("frontend-api.clerk.services"));
    Ok(())
}

/// Deleting the ClerkDomains garbage-collects their DNSEndpoints, and external-dns removes
/// every record it wrote (CNAMEs and TXT) from BIND.
async fn delete_removes_the_records(
    env: &TestEnv,
    bind: &Bind,
    edns: &ExternalDns,
    endpoints: &Api<DNSEndpoint>,
) -> anyhow::Result<()> {
    env.delete("root").await?;
    env.delete("shop").await?;
    wait_gone(endpoints, "root", Duration::from_secs(90)).await?;
    wait_gone(endpoints, "shop", Duration::from_secs(90)).await?;
    wait_dns("every external-dns record gone from BIND", CONVERGE, edns, || {
        let left = bind.records("example.com")?;
        Ok(
            (left == ["clerk.manual.example.com CNAME frontend-api.clerk.services".to_string()])
                .then_some(()),
        )
    })
    .await?;
    Ok(())
}
