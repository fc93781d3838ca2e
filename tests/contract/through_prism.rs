//! 2. Client and fake through prism.

use super::*;

mod ledger;
use ledger::*;

#[tokio::test]
pub(crate) async fn client_and_fake_agree_with_the_spec_through_prism() {
    const TEST: &str = "client_and_fake_agree_with_the_spec_through_prism";
    let Some(spec_file) = spec::spec_path() else {
        load_spec(TEST);
        return;
    };
    let Some(bin) = prism_bin() else {
        spec::skip(
            TEST,
            "prism not found: run `make contract`, or set PRISM_BIN=\"$(bash hack/prism.sh | tail -n1)\"",
        );
        return;
    };
    let spec = Spec::load(&spec_file);
    let started = Instant::now();
    let fake = start_fake().await;
    // Prism matches requests against the spec's paths without the server URL's base path
    // (`https://api.clerk.com/v1` -> `/domains`), and appends the request path to the upstream
    // URL: so the client talks to `http://127.0.0.1:PRISM/domains` and prism forwards to
    // `http://127.0.0.1:FAKE/v1/domains`.
    assert!(
        spec.server_url().ends_with("/v1"),
        "server URL {}",
        spec.server_url()
    );
    let prism = Prism::start(&bin, &spec_file, &fake.base_url()).await;
    eprintln!("{TEST}: prism {} up in {:?}", bin.display(), prism.startup);

    let client = |key: &str| {
        ClerkClient::new(
            ClientConfig {
                base_url: prism.base_url().parse().unwrap(),
                api_version: spec.version().to_string(),
                timeout: Duration::from_secs(30),
                ..Default::default()
            },
            SecretKey::new(key),
        )
    };
    let (live, dev, wrong) = (client(LIVE), client(DEV), client(WRONG));
    let w = Wire::new(&prism.base_url(), spec.version());
    let mut l = Ledger {
        spec: &spec,
        calls: 0,
        typed: 0,
        violations: vec![],
        spec_gaps: vec![],
    };
    let (get, post, patch, delete) = ("get", "post", "patch", "delete");

    // Reads. The typed call and its raw twin are the same request.
    for (key, c) in [(LIVE, &live), (DEV, &dev)] {
        let label = format!("list domains ({key})");
        let domains = l.ok(&label, c.list_domains().await);
        if let Some(d) = domains {
            assert_eq!(d.data[0].name, PRIMARY, "{label}");
        }
        let r = w.send(Method::GET, "/domains", key, None).await;
        l.raw(&label, get, DOMAINS, &r, 200, None);

        let label = format!("get instance ({key})");
        let inst = l.ok(&label, c.get_instance().await);
        let want = if key == LIVE { "production" } else { "development" };
        if let Some(i) = inst {
            assert_eq!(i.environment_type, want, "{label}");
        }
        let r = w.send(Method::GET, "/instance", key, None).await;
        l.raw(&label, get, INSTANCE, &r, 200, None);
    }

    // Writes: the raw twin does the same to a twin domain, so both see the same state changes.
    let create = |name: &str, proxy: Option<&str>| CreateDomain {
        name: name.into(),
        is_satellite: true,
        proxy_url: proxy.map(str::to_string),
    };
    let mut ids = vec![];
    for (key, c, name, proxy) in [
        (LIVE, &live, "app.example.com", None),
        (
            LIVE,
            &live,
            "px.example.com",
            Some("https://px.example.com/__clerk"),
        ),
        (DEV, &dev, "localhost:3001", None),
    ] {
        let label = format!("create {name} (proxy {proxy:?})");
        let body = create(name, proxy);
        let d = l.ok(&label, c.create_domain(&body).await);
        if let Some(d) = &d {
            assert_eq!(
                (d.name.as_str(), d.proxy_url.as_deref()),
                (name, proxy),
                "{label}"
            );
        }
        let twin_name = match name.split_once(':') {
            Some((host, port)) => format!("twin.{host}:{port}"),
            None => format!("twin-{name}"),
        };
        let twin = create(&twin_name, proxy);
        let r = w.send(Method::POST, "/domains", key, Some(&to_json(&twin))).await;
        l.raw(&label, post, DOMAINS, &r, 200, None);
        let twin_id = r.body["id"].as_str().unwrap_or("dmn_missing").to_string();
        ids.push((key, c, id_of(&d), twin_id));
    }
    let (_, _, app_id, app_twin) = ids[0].clone();

    let updates: [(&str, UpdateDomain, UpdateDomain); 4] = [
        (
            "update: rename",
            UpdateDomain {
                name: Some("app2.example.com".into()),
                ..Default::default()
            },
            UpdateDomain {
                name: Some("twin-app2.example.com".into()),
                ..Default::default()
            },
        ),
        (
            "update: proxy set",
            UpdateDomain {
                proxy_url: Some(Some("https://app2.example.com/__clerk".into())),
                ..Default::default()
            },
            UpdateDomain {
                proxy_url: Some(Some("https://twin-app2.example.com/__clerk".into())),
                ..Default::default()
            },
        ),
        (
            "update: proxy_url null",
            UpdateDomain {
                proxy_url: Some(None),
                ..Default::default()
            },
            UpdateDomain {
                proxy_url: Some(None),
                ..Default::default()
            },
        ),
        (
            "update: is_secondary",
            UpdateDomain {
                is_secondary: Some(true),
                ..Default::default()
            },
            UpdateDomain {
                is_secondary: Some(true),
                ..Default::default()
            },
        ),
    ];
    for (label, body, twin) in &updates {
        let d = l.ok(label, live.update_domain(&app_id, body).await);
        if let Some(d) = &d {
            if let Some(n) = &body.name {
                assert_eq!(&d.name, n, "{label}");
            }
            if let Some(p) = &body.proxy_url {
                assert_eq!(&d.proxy_url, p, "{label}");
            }
        }
        let r = w
            .send(
                Method::PATCH,
                &format!("/domains/{app_twin}"),
                LIVE,
                Some(&to_json(twin)),
            )
            .await;
        l.raw(label, patch, DOMAIN, &r, 200, None);
    }

    for (key, c, id, twin_id) in &ids {
        let label = format!("delete {id} ({key})");
        if let Some(d) = l.ok(&label, c.delete_domain(id).await) {
            assert!(
                d.deleted && d.id.as_deref() == Some(id.as_str()),
                "{label}: {d:?}"
            );
        }
        let r = w
            .send(Method::DELETE, &format!("/domains/{twin_id}"), key, None)
            .await;
        l.raw(&label, delete, DOMAIN, &r, 200, None);
    }
    let left = l.ok("list after deletes", live.list_domains().await);
    if let Some(left) = left {
        assert_eq!(left.total_count, 1, "only the primary is left: {left:?}");
    }
    let r = w.send(Method::GET, "/domains", LIVE, None).await;
    l.raw("list after deletes", get, DOMAINS, &r, 200, None);

    // Error paths: the typed client must see the fake's Clerk error, not prism's; its raw twin
    // reads prism's verdict on the same request.
    let primary = fake.domains(LIVE)[0].id.clone();
    for case in error_cases(&primary) {
        let c = match case.key {
            LIVE => &live,
            DEV => &dev,
            _ => &wrong,
        };
        let r = case.typed(c).await;
        l.err(case.label, r, case.status, case.code);
        let r = w
            .send(case.method(), &case.path(), case.key, case.body().as_ref())
            .await;
        l.raw(
            case.label,
            case.verb(),
            case.template(),
            &r,
            case.status,
            Some(case.code),
        );
    }

    let upstream = fake.stats().total;

    // Negative controls: prism does catch a bad request and a bad response, so the zero above
    // means something.
    let r = w
        .send(
            Method::PATCH,
            &format!("/domains/{primary}"),
            LIVE,
            Some(&json!({"nmae": "typo.example.com"})),
        )
        .await;
    assert!(
        r.status == 422 && r.content_type.contains("problem+json"),
        "prism let a PATCH with an unknown field through: {} {}",
        r.status,
        r.body
    );
    {
        let state = fake.state();
        let mut s = state.lock().unwrap();
        s.instances.get_mut(CONTROL).unwrap().domains[0].object = "user".into();
    }
    let r = w.send(Method::GET, "/domains", CONTROL, None).await;
    assert!(
        r.status >= 500 && r.violations.iter().any(|v| v["severity"] == "Error"),
        "prism let a Domain with object \"user\" through: {} {:?} {}",
        r.status,
        r.violations,
        r.body
    );
    assert_eq!(
        fake.stats().total,
        upstream + 1,
        "the bad request must stop at prism, the bad response come from the fake"
    );

    // Every call reached the fake: prism proxied, it did not mock.
    assert_eq!(
        upstream as usize, l.calls,
        "requests the fake served vs calls made"
    );

    // Prism's log flags every exchange it found fault with, the typed client's included. Besides
    // the spec gaps (once for the typed call, once for its raw twin) and the two negative
    // controls, there must be none.
    let want_gaps = 2 * l.spec_gaps.len();
    let deadline = Instant::now() + Duration::from_secs(5);
    let (gaps, others) = loop {
        let (gaps, others): (Vec<String>, Vec<String>) = prism
            .flagged()
            .into_iter()
            .partition(|f| f.contains("Unable to match the returned status code"));
        if (gaps.len() >= want_gaps && others.len() >= 2) || Instant::now() > deadline {
            break (gaps, others);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let controls = others.iter().any(|f| f.contains("#UNPROCESSABLE_ENTITY"))
        && others.iter().any(|f| f.contains("#VIOLATIONS"));
    eprintln!(
        "{TEST}: {} calls checked ({} typed + {} raw twins), {} violations, {} spec gaps {:?}; \
         prism logged {} spec-gap warnings and {} other faults (the 2 negative controls); {:?} in all",
        l.calls,
        l.typed,
        l.calls - l.typed,
        l.violations.len(),
        l.spec_gaps.len(),
        l.spec_gaps,
        gaps.len(),
        others.len(),
        started.elapsed(),
    );
    assert!(
        l.violations.is_empty(),
        "{} contract violations:\n  {}\nprism's log:\n{}",
        l.violations.len(),
        l.violations.join("\n  "),
        prism.log()
    );
    assert!(
        gaps.len() == want_gaps && others.len() == 2 && controls,
        "prism flagged more than the spec gaps and the negative controls:\n{}\n{}",
        gaps.join("\n"),
        others.join("\n")
    );
}
