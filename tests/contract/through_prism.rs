//! 2. Client and fake through prism.

use super::*;

mod ledger;
mod writes;
use ledger::*;

const TEST: &str = "client_and_fake_agree_with_the_spec_through_prism";

/// One run through prism: the tally, the raw twin's wire, and a typed client per key.
struct Run<'a> {
    l: Ledger<'a>,
    w: Wire,
    c: Clients,
}

/// A typed client per key, all through prism.
struct Clients {
    live: ClerkClient,
    dev: ClerkClient,
    wrong: ClerkClient,
}

impl Clients {
    /// The typed client that makes calls with `key`.
    fn get(&self, key: &str) -> &ClerkClient {
        match key {
            LIVE => &self.live,
            DEV => &self.dev,
            _ => &self.wrong,
        }
    }
}

#[tokio::test]
pub(crate) async fn client_and_fake_agree_with_the_spec_through_prism() {
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

    let mut run = start_run(&spec, &prism);
    reads(&mut run).await;
    writes::writes(&mut run).await;
    // Error paths: the typed client must see the fake's Clerk error, not prism's; its raw twin
    // reads prism's verdict on the same request.
    let primary = fake.domains(LIVE)[0].id.clone();
    error_paths(&mut run, &primary).await;

    let upstream = fake.stats().total;
    negative_controls(&run.w, &fake, &primary).await;
    assert_eq!(
        fake.stats().total,
        upstream + 1,
        "the bad request must stop at prism, the bad response come from the fake"
    );

    // Every call reached the fake: prism proxied, it did not mock.
    assert_eq!(
        upstream as usize, run.l.calls,
        "requests the fake served vs calls made"
    );
    check_prism_log(&run.l, &prism, started).await;
}

/// A typed client per key and the raw wire, all through prism.
fn start_run<'a>(spec: &'a Spec, prism: &Prism) -> Run<'a> {
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
    Run {
        c: Clients {
            live: client(LIVE),
            dev: client(DEV),
            wrong: client(WRONG),
        },
        w: Wire::new(&prism.base_url(), spec.version()),
        l: Ledger {
            spec,
            calls: 0,
            typed: 0,
            violations: vec![],
            spec_gaps: vec![],
        },
    }
}

/// Reads. The typed call and its raw twin are the same request.
async fn reads(run: &mut Run<'_>) {
    let get = "get";
    for key in [LIVE, DEV] {
        let (l, w, c) = (&mut run.l, &run.w, run.c.get(key));
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
}

/// Every error path, typed and raw.
async fn error_paths(run: &mut Run<'_>, primary: &str) {
    for case in error_cases(primary) {
        let (l, w, c) = (&mut run.l, &run.w, run.c.get(case.key));
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
}

/// Negative controls: prism does catch a bad request and a bad response, so the zero violations
/// mean something.
async fn negative_controls(w: &Wire, fake: &FakeClerk, primary: &str) {
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
}

async fn check_prism_log(l: &Ledger<'_>, prism: &Prism, started: Instant) {
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
