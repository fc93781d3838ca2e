//! Clerk's typed records with real parts: a DMARC TXT record next to the CNAME, shown in status,
//! published through the real external-dns (`--managed-record-types` A, AAAA, CNAME and TXT) into
//! BIND 9 only when `spec.dns.publishTXT` asks, and verified against BIND.

use super::*;

/// The DMARC policy the fake lists for a domain of an instance with a DMARC record.
const DMARC: &str = "v=DMARC1; p=none";

/// A DMARC instance's domains list a required TXT record in `status.dnsRecords`; without
/// `publishTXT` only the CNAME is published and verified (the message says the TXT is not
/// checked); with it, external-dns writes the TXT to BIND (its ownership record at
/// `txt-_dmarc.<domain>`, so nothing collides) and `DNSVerified` covers it. A DMARC record made
/// by hand at the same name is left alone by external-dns and reads as `WrongTarget`; a missing
/// one as `RecordsMissing`.
pub async fn external_dns_publishes_clerks_txt_records(cp: Arc<ControlPlane>) -> anyhow::Result<()> {
    let (bind, env, edns) = start_txt(&cp).await?;
    without_publish_txt(&env, &bind, &edns).await?;
    with_publish_txt(&env, &bind, &edns).await?;
    txt_stays_right(&bind, &edns).await?;
    hand_made_txt_is_left_alone(&env, &bind, &edns).await?;
    // A TXT the user must write (no external-dns): missing.
    env.create(&manifest(
        "bare",
        "  domain: bare.example.com\n  dns:\n    publishTXT: true\n",
    ))
    .await?;
    let obj = wait_verified(&env, "bare", "False/RecordsMissing", |c| {
        c.status == "False" && c.reason == "RecordsMissing"
    })
    .await?;
    let msg = &condition(&obj, "DNSVerified").unwrap().message;
    ensure!(msg.contains("_dmarc.bare.example.com: no TXT record"), "{msg}");
    Ok(())
}

/// The publishTXT-less spec's DNS part: published through external-dns.
const EXT: &str = "  dns:\n    externalDNS:\n      enabled: true\n      recordTTL: 60\n";

/// Whether BIND answers the DMARC TXT of `mail`.
fn dmarc_in_bind(bind: &Bind) -> anyhow::Result<bool> {
    let a = bind.query("_dmarc.mail.example.com", "TXT")?;
    Ok(a.records == [format!("_dmarc.mail.example.com TXT \"{DMARC}\"")])
}

/// BIND, external-dns's CRD, the test env of a DMARC instance verifying against BIND, and
/// external-dns managing A, AAAA, CNAME and TXT records.
async fn start_txt(cp: &Arc<ControlPlane>) -> anyhow::Result<(Bind, TestEnv, ExternalDns)> {
    let bind = Bind::start(&["example.com"])?;
    {
        let _lock = EXTERNAL_DNS_CRD.lock().await;
        install_external_dns_crd(cp)?;
    }
    let opts = EnvOptions {
        dns_resolver: Some(bind.addr()),
        ..Default::default()
    };
    let env = TestEnv::start(cp.clone(), "realtxt", opts).await?;
    ensure!(env.fake.set_dmarc(LIVE_KEY, true));
    // One flag per type: external-dns reads `--managed-record-types=A,AAAA,CNAME,TXT` as a
    // single unknown type and then manages no CNAME either.
    let types = ["A", "AAAA", "CNAME", "TXT"].map(|t| format!("--managed-record-types={t}"));
    let types: Vec<&str> = types.iter().map(String::as_str).collect();
    let edns = ExternalDns::start_with(cp, &bind, "example.com", &env.ns, "clerk-txt", &types)?;
    Ok((bind, env, edns))
}

/// Without publishTXT: the TXT shows in status, only the CNAME is published and verified.
async fn without_publish_txt(env: &TestEnv, bind: &Bind, edns: &ExternalDns) -> anyhow::Result<()> {
    env.create(&manifest("mail", &format!("  domain: mail.example.com\n{EXT}")))
        .await?;
    let obj = wait_condition(env, "mail", "DNSPublished", "True", "Published").await?;
    let records: Vec<(String, String, String, bool)> = obj
        .status
        .iter()
        .flat_map(|s| s.dns_records.iter())
        .map(|r| (r.record_type.clone(), r.host.clone(), r.value.clone(), r.required))
        .collect();
    let cname = (
        "CNAME".to_string(),
        "clerk.mail.example.com".to_string(),
        "frontend-api.clerk.services".to_string(),
        true,
    );
    let txt = (
        "TXT".to_string(),
        "_dmarc.mail.example.com".to_string(),
        DMARC.to_string(),
        true,
    );
    ensure!(records == [cname, txt], "{records:?}");
    let endpoints: Api<DNSEndpoint> = Api::namespaced(env.client.clone(), &env.ns);
    let ep = endpoints.get("mail").await?;
    ensure!(
        ep.spec.endpoints.iter().all(|e| e.record_type == "CNAME") && ep.spec.endpoints.len() == 1,
        "{:?}",
        ep.spec.endpoints
    );
    wait_dns("the CNAME of mail in BIND", CONVERGE, edns, || {
        Ok(bind.cname("clerk.mail.example.com")?.map(|_| ()))
    })
    .await?;
    let obj = wait_verified(env, "mail", "True for the CNAME", |c| {
        c.status == "True" && c.message.starts_with("all 1 required CNAME records")
    })
    .await?;
    let msg = &condition(&obj, "DNSVerified").unwrap().message;
    ensure!(msg.contains("1 required TXT record(s) not checked"), "{msg}");
    ensure!(bind.query("_dmarc.mail.example.com", "TXT")?.status == "NXDOMAIN");
    Ok(())
}

/// publishTXT: external-dns writes the TXT, BIND answers it, DNSVerified covers it.
async fn with_publish_txt(env: &TestEnv, bind: &Bind, edns: &ExternalDns) -> anyhow::Result<()> {
    env.domains()
        .patch(
            "mail",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"dns": {"publishTXT": true}}})),
        )
        .await?;
    wait_dns("the DMARC TXT in BIND", CONVERGE, edns, || {
        Ok(dmarc_in_bind(bind)?.then_some(()))
    })
    .await?;
    let owner = bind.query("txt-_dmarc.mail.example.com", "TXT")?;
    ensure!(
        owner
            .records
            .iter()
            .any(|r| r.contains("heritage=external-dns") && r.contains("external-dns/owner=clerk-txt")),
        "{owner:?}"
    );
    let obj = wait_verified(env, "mail", "True for CNAME and TXT", |c| {
        c.status == "True" && c.observed_generation == Some(2)
    })
    .await?;
    let msg = &condition(&obj, "DNSVerified").unwrap().message;
    ensure!(
        msg.starts_with("all 2 required CNAME and TXT records point to Clerk's targets"),
        "{msg}"
    );
    Ok(())
}

/// The record stays right through further syncs. (external-dns's rfc2136 provider reads TXT
/// data back without the quotes it was written with, so it rewrites the TXT each sync, in one
/// atomic UPDATE; the CNAME is left alone.)
async fn txt_stays_right(bind: &Bind, edns: &ExternalDns) -> anyhow::Result<()> {
    let cname_rewrites = |log: &str| log.matches("Removing RR: clerk.mail.example.com").count();
    let before = cname_rewrites(&edns.log());
    for _ in 0..14 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        ensure!(
            dmarc_in_bind(bind)?,
            "{:?}",
            bind.query("_dmarc.mail.example.com", "TXT")?
        );
    }
    ensure!(
        cname_rewrites(&edns.log()) == before,
        "external-dns keeps changing the CNAME:\n{}",
        edns.log_tail(30)
    );
    Ok(())
}

/// A DMARC record written by hand before: external-dns does not take it over.
async fn hand_made_txt_is_left_alone(env: &TestEnv, bind: &Bind, edns: &ExternalDns) -> anyhow::Result<()> {
    bind.nsupdate(
        "example.com",
        &["update add _dmarc.hand.example.com 60 TXT \"v=DMARC1; p=reject\""],
    )?;
    let spec = format!("  domain: hand.example.com\n{EXT}    publishTXT: true\n");
    env.create(&manifest("hand", &spec)).await?;
    wait_dns("the CNAME of hand in BIND", CONVERGE, edns, || {
        Ok(bind.cname("clerk.hand.example.com")?.map(|_| ()))
    })
    .await?;
    let obj = wait_verified(env, "hand", "False/WrongTarget", |c| {
        c.status == "False" && c.reason == "WrongTarget"
    })
    .await?;
    let msg = &condition(&obj, "DNSVerified").unwrap().message;
    ensure!(
        msg == &format!("_dmarc.hand.example.com: TXT is \"v=DMARC1; p=reject\", expected \"{DMARC}\""),
        "{msg}"
    );
    ensure!(is_true(&obj, "Ready"), "DNS never gates Ready");
    Ok(())
}
