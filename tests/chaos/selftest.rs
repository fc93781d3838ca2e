//! The end-of-run checks on made-up runs: each violation they exist for is reported, and a
//! clean run reports nothing. Runs in a moment, before the soak.

use crate::model::{self, Deleted, Hostile, Obj};
use crate::workload::{Acquired, Cut, Switch, check_switch, check_writes, tally};
use anyhow::ensure;
use fake_clerk::RequestRecord;

fn t(secs: i64) -> jiff::Timestamp {
    jiff::Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

fn obj(ns: &str, name: &str, deleted: Option<(bool, i64)>) -> Obj {
    let domain = format!("{name}-v0.{ns}.chaos.example.com");
    Obj {
        ns: ns.into(),
        name: name.into(),
        instance: 0,
        orphan_policy: false,
        names: [domain.clone()].into(),
        domain,
        proxy: None,
        paused: false,
        deleted: deleted.map(|(orphaned, at)| Deleted {
            orphaned,
            domain_id: None,
            at: t(at),
        }),
        squat: None,
        hostile: None,
    }
}

fn entry(at: i64, text: &str) -> (jiff::Timestamp, String) {
    (t(at), text.to_string())
}

/// Problems must contain each needle exactly once between them, and nothing else.
fn expect(problems: &[String], needles: &[&str]) -> anyhow::Result<()> {
    ensure!(
        problems.len() == needles.len(),
        "want {} problems, got {problems:#?}",
        needles.len()
    );
    for n in needles {
        ensure!(
            problems.iter().filter(|p| p.contains(n)).count() == 1,
            "no single problem mentions {n:?}: {problems:#?}"
        );
    }
    Ok(())
}

fn ownership() -> anyhow::Result<()> {
    let mut hostile = obj("chaos-a1", "h3", None);
    hostile.hostile = Some(Hostile {
        victim: "chaos-a0/o1".into(),
        by_annotation: Some("dmn_1".into()),
    });
    let objects = vec![
        obj("chaos-a0", "o0", Some((false, 10))),
        obj("chaos-a0", "o1", None),
        obj("chaos-a0", "o2", Some((true, 10))),
        hostile,
    ];
    let n = |o: &str| format!("{o}-v0.chaos-a0.chaos.example.com");
    let base = vec![
        entry(0, &format!("created dmn_0 {} proxy=None", n("o0"))),
        entry(0, &format!("created dmn_1 {} proxy=None", n("o1"))),
        entry(0, &format!("created dmn_2 {} proxy=None", n("o2"))),
        entry(1, &format!("created dmn_4 {} proxy=None", n("o0"))),
        entry(20, &format!("deleted dmn_0 {}", n("o0"))),
    ];
    let live = vec![(
        "chaos-a0/o1".to_string(),
        Some("ins_a".to_string()),
        Some("dmn_1".to_string()),
    )];
    let clean = model::check_ownership(&objects, &live, &[("ins_a".into(), base.clone())]);
    expect(&clean, &[])?;

    let mut journal = base;
    journal.extend([
        entry(21, &format!("deleted dmn_1 {}", n("o1"))),
        entry(22, &format!("deleted dmn_2 {}", n("o2"))),
        entry(5, &format!("deleted dmn_4 {}", n("o0"))),
        entry(23, "deleted dmn_9 stranger.example.com"),
        entry(24, "updated dmn_5 h3-v0.chaos-a1.chaos.example.com proxy=None"),
    ]);
    let mut live2 = live.clone();
    live2.push(("chaos-a1/h3".into(), Some("ins_a".into()), Some("dmn_1".into())));
    let problems = model::check_ownership(&objects, &live2, &[("ins_a".into(), journal)]);
    expect(
        &problems,
        &[
            "is recorded by [\"chaos-a0/o1\", \"chaos-a1/h3\"]",
            "but live chaos-a0/o1 records it",
            "its creator chaos-a0/o1 was never deleted",
            "(orphaned: true)",
            "deleted dmn_4",
            "not created through the API",
            "hostile chaos-a1/h3 reached Clerk",
        ],
    )
}

fn write(at: i64, method: &str, who: &str) -> RequestRecord {
    RequestRecord {
        at: t(at),
        method: method.into(),
        operation: if method == "GET" {
            "ListDomains"
        } else {
            "UpdateDomain"
        }
        .into(),
        user_agent: format!("clerk-operator/0.1.0 ({who})"),
        instance: Some("ins_a".into()),
    }
}

fn writes() -> anyhow::Result<()> {
    let acq = |holder: &str, at: i64, transitions: i32| Acquired {
        holder: holder.into(),
        at: t(at),
        transitions,
    };
    let timeline = vec![acq("a-1", 0, 0), acq("b-2", 5, 1)];
    let cut = Cut {
        cut_off: "a-1".into(),
        cut_at: t(1),
        took_over: "b-2".into(),
        acquired: t(5),
    };
    let good = vec![
        write(1, "PATCH", "a-1"),
        write(2, "GET", "b-2"),
        write(7, "DELETE", "b-2"),
    ];
    let (problems, per) = check_writes(&good, &timeline, Some(&cut));
    expect(&problems, &[])?;
    ensure!(
        per.get("a-1") == Some(&1) && per.get("b-2") == Some(&1),
        "{per:?}"
    );

    let mut bad = good;
    bad.extend([write(6, "PATCH", "a-1"), write(4, "POST", "b-2")]);
    let (problems, _) = check_writes(&bad, &timeline, Some(&cut));
    expect(
        &problems,
        &[
            "2 Clerk writes from a process that did not hold the Lease",
            "the leader a-1 cut off at",
        ],
    )?;
    let gap = vec![acq("a-1", 0, 0), acq("b-2", 5, 2)];
    let (problems, _) = check_writes(&[], &gap, None);
    expect(&problems, &["the Lease poll missed an acquisition"])
}

fn switch() -> anyhow::Result<()> {
    let sw = Switch {
        at: Some(t(0)),
        started: None,
        back_at: Some(t(60)),
        ids: ["dmn_x".to_string()].into(),
        pinned_keys: ["chaos-b2/o1".to_string()].into(),
        pinned: 1,
        unchanged: vec![],
    };
    let grace = crate::workload::SWITCH_GRACE.as_secs() as i64;
    let journals = |one: Vec<(jiff::Timestamp, String)>, zero: Vec<(jiff::Timestamp, String)>| {
        vec![("ins_a".to_string(), zero), ("ins_b".to_string(), one)]
    };
    let fine = journals(
        vec![
            entry(
                grace - 1,
                "updated dmn_x o1-v1.chaos-b2.chaos.example.com proxy=None",
            ),
            entry(30, "updated dmn_y o2-v1.chaos-b0.chaos.example.com proxy=None"),
            entry(61, "updated dmn_x o1-v2.chaos-b2.chaos.example.com proxy=None"),
        ],
        vec![],
    );
    expect(&check_switch(&sw, &fine), &[])?;
    let bad = journals(
        vec![entry(grace + 1, "deleted dmn_x o1-v1.chaos-b2.chaos.example.com")],
        vec![entry(
            3,
            "created dmn_z o3-v0.chaos-b2.chaos.example.com proxy=None",
        )],
    );
    let unseen = Switch {
        unchanged: vec!["chaos-b2/o1 [\"Ready=True/Synced\"]".into()],
        ..sw
    };
    expect(
        &check_switch(&unseen, &bad),
        &[
            "key switched, yet instance 1 got deleted dmn_x",
            "instance 0 got created dmn_z",
            "1 of 1 pinned objects did not report InstanceChanged",
        ],
    )?;
    let all_gone = Switch {
        pinned: 0,
        unchanged: vec![],
        ..unseen
    };
    expect(
        &check_switch(&all_gone, &fine),
        &["none of the pinned objects {\"chaos-b2/o1\"} was there"],
    )?;
    switch_tally()
}

/// The objects expected to show `InstanceChanged` when the key goes back: those pinned when it
/// switched and still there. One deleted meanwhile may have been released without reading its
/// key (`deletionPolicy: Orphan`), as in CI's run of seed 4242, where the only pinned object
/// went and the check reported that none of 1 showed the reason.
fn switch_tally() -> anyhow::Result<()> {
    use clerk_operator::api::{ClerkDomain, ClerkDomainSpec, ClerkDomainStatus, condition};
    let with = |reason: &str| {
        let mut o = ClerkDomain::new("o", ClerkDomainSpec::for_domain("o.example.com"));
        o.status = Some(ClerkDomainStatus {
            conditions: vec![condition("Stalled", true, reason, "", Some(1), t(0))],
            ..Default::default()
        });
        o
    };
    let pinned: std::collections::BTreeSet<String> = ["chaos-b2/changed", "chaos-b2/gone", "chaos-b2/other"]
        .map(String::from)
        .into();
    let by_key = [
        ("chaos-b2/changed".to_string(), with("InstanceChanged")),
        ("chaos-b2/other".to_string(), with("InvalidKey")),
        ("chaos-b2/new".to_string(), with("Progressing")),
    ]
    .into();
    let (present, unchanged) = tally(&pinned, &by_key);
    ensure!(
        present == 2,
        "a deleted object is not expected to report: {present}"
    );
    ensure!(
        unchanged == ["chaos-b2/other [\"Stalled=True/InvalidKey\"]"],
        "{unchanged:?}"
    );
    let (present, unchanged) = tally(&["chaos-b2/gone".to_string()].into(), &by_key);
    ensure!(present == 0 && unchanged.is_empty(), "{present} {unchanged:?}");
    Ok(())
}

/// Every check, on made-up runs.
pub fn run() -> anyhow::Result<()> {
    ownership()?;
    writes()?;
    switch()
}
