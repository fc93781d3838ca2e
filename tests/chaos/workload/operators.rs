//! The two operator processes: starting and killing them, who holds the Lease when, cutting
//! the leader off from the API server, and the check that only the Lease holder wrote to Clerk.

use super::*;

/// Two operator processes with leader election, each restarted after every kill or exit;
/// slot 0 (`a`) reaches the API server through the cut proxy, slot 1 (`b`) directly. Logs of
/// dead processes are kept.
pub(super) struct Operators {
    pub(super) slots: [(OperatorOptions, Option<OperatorProcess>); 2],
    pub(super) logs: String,
    pub(super) kills: usize,
    /// Processes that exited by themselves (lost leadership).
    pub(super) exits: usize,
    pub(super) starts: usize,
}

impl Operators {
    pub(super) fn start(&mut self, slot: usize) -> anyhow::Result<()> {
        self.starts += 1;
        let (opts, current) = &mut self.slots[slot];
        opts.identity = format!("chaos-{}-{}", ["a", "b"][slot], self.starts);
        *current = Some(OperatorProcess::spawn(opts)?);
        Ok(())
    }

    pub(super) fn identity(&self, slot: usize) -> Option<String> {
        self.slots[slot].1.as_ref().map(|p| p.identity.clone())
    }

    pub(super) fn kill(&mut self, slot: usize) {
        if let Some(mut p) = self.slots[slot].1.take() {
            p.kill();
            self.logs.push_str(&p.logs());
            self.kills += 1;
        }
    }

    /// Restart processes that exited by themselves.
    pub(super) fn reap(&mut self) -> anyhow::Result<()> {
        for slot in 0..2 {
            let exited = self.slots[slot].1.as_mut().is_some_and(|p| !p.is_running());
            if exited {
                let p = self.slots[slot].1.take().unwrap();
                self.logs.push_str(&p.logs());
                self.exits += 1;
                self.start(slot)?;
            }
        }
        Ok(())
    }

    pub(super) fn stop(&mut self) {
        for slot in 0..2 {
            if let Some(mut p) = self.slots[slot].1.take() {
                p.kill();
                self.logs.push_str(&p.logs());
            }
        }
    }
}

/// One acquisition of the Lease, as polled from the API server.
#[derive(Clone, Debug)]
pub(crate) struct Acquired {
    pub(crate) holder: String,
    pub(crate) at: jiff::Timestamp,
    pub(crate) transitions: i32,
}

/// Poll the Lease until `stop`; record every change of holder (with its `acquireTime`).
pub(super) fn poll_lease(
    client: Client,
    stop: Arc<AtomicBool>,
) -> (Arc<Mutex<Vec<Acquired>>>, tokio::task::JoinHandle<()>) {
    let timeline: Arc<Mutex<Vec<Acquired>>> = Default::default();
    let task = {
        let timeline = timeline.clone();
        tokio::spawn(async move {
            let leases: Api<Lease> = Api::namespaced(client, LEASE_NS);
            while !stop.load(Ordering::SeqCst) {
                if let Ok(Some(l)) = leases.get_opt(LEASE_NAME).await {
                    let spec = l.spec.unwrap_or_default();
                    if let (Some(holder), Some(at)) = (spec.holder_identity, spec.acquire_time) {
                        let mut t = timeline.lock().unwrap();
                        if t.last()
                            .is_none_or(|last| last.holder != holder || last.at != at.0)
                        {
                            t.push(Acquired {
                                holder,
                                at: at.0,
                                transitions: spec.lease_transitions.unwrap_or(0),
                            });
                        }
                    }
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };
    (timeline, task)
}

pub(super) fn current_holder(timeline: &Mutex<Vec<Acquired>>) -> Option<Acquired> {
    timeline.lock().unwrap().last().cloned()
}

/// What the cut of the leader did.
#[derive(Debug)]
pub(crate) struct Cut {
    pub(crate) cut_off: String,
    pub(crate) cut_at: jiff::Timestamp,
    pub(crate) took_over: String,
    pub(crate) acquired: jiff::Timestamp,
}

/// Make slot `a` (behind the proxy) the leader, cut it off from the API server, wait until the
/// other process acquires the Lease, then heal the proxy a little later.
pub(super) async fn cut_the_leader(
    operators: &Mutex<Operators>,
    proxy: &CutProxy,
    timeline: &Mutex<Vec<Acquired>>,
) -> anyhow::Result<Cut> {
    let start = Instant::now();
    // Until `a` leads: kill `b` whenever it holds the Lease (its successor stands by).
    let mut killed_b_for = None;
    let cut_off = loop {
        let (a, b) = {
            let mut op = operators.lock().unwrap();
            op.reap()?;
            (op.identity(0), op.identity(1))
        };
        let holder = current_holder(timeline).map(|h| h.holder);
        if holder.is_some() && holder == a {
            break a.unwrap();
        }
        if holder.is_some() && holder == b && killed_b_for != holder {
            killed_b_for = holder.clone();
            let mut op = operators.lock().unwrap();
            op.kill(1);
            op.start(1)?;
        }
        ensure!(
            start.elapsed() < Duration::from_secs(90),
            "the proxied operator never led (holder {holder:?})"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let cut_at = jiff::Timestamp::now();
    proxy.cut();
    let taken = loop {
        if let Some(h) = current_holder(timeline).filter(|h| h.holder != cut_off) {
            break h;
        }
        operators.lock().unwrap().reap()?;
        ensure!(
            start.elapsed() < Duration::from_secs(180),
            "nobody took over from {cut_off}, cut off at {cut_at}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.heal();
    Ok(Cut {
        cut_off,
        cut_at,
        took_over: taken.holder,
        acquired: taken.at,
    })
}

/// The identity in a request's `User-Agent`: `clerk-operator/V (identity)`.
pub(super) fn identity_of(r: &RequestRecord) -> Option<&str> {
    let ua = r.user_agent.strip_suffix(')')?;
    Some(&ua[ua.rfind('(')? + 1..])
}

/// Every Clerk write must come from the process that most recently acquired the Lease before
/// it arrived (the Lease's `acquireTime`); none from a cut-off leader after the takeover.
pub(crate) fn check_writes(
    log: &[RequestRecord],
    timeline: &[Acquired],
    cut: Option<&Cut>,
) -> (Vec<String>, BTreeMap<String, usize>) {
    let mut problems = vec![];
    let mut per_process: BTreeMap<String, usize> = BTreeMap::new();
    for w in timeline.windows(2) {
        if w[1].transitions > w[0].transitions + 1 {
            problems.push(format!(
                "the Lease poll missed an acquisition between {} and {} (transitions {} -> {})",
                w[0].holder, w[1].holder, w[0].transitions, w[1].transitions
            ));
        }
    }
    let mut foreign = vec![];
    for r in log.iter().filter(|r| r.is_write()) {
        let who = identity_of(r).unwrap_or("(none)");
        *per_process.entry(who.to_string()).or_default() += 1;
        let holder = timeline
            .iter()
            .rev()
            .find(|a| a.at <= r.at)
            .map(|a| a.holder.as_str());
        if holder != Some(who) {
            foreign.push(format!(
                "{} {} by {who} at {} while the Lease was {holder:?}'s",
                r.method, r.operation, r.at
            ));
        }
    }
    if !foreign.is_empty() {
        problems.push(format!(
            "{} Clerk writes from a process that did not hold the Lease, e.g. {:?}",
            foreign.len(),
            &foreign[..foreign.len().min(5)]
        ));
    }
    if let Some(c) = cut {
        let late = log
            .iter()
            .filter(|r| r.is_write() && identity_of(r) == Some(c.cut_off.as_str()) && r.at >= c.acquired)
            .count();
        if late > 0 {
            problems.push(format!(
                "the leader {} cut off at {} wrote to Clerk {late} times after {} acquired at {}",
                c.cut_off, c.cut_at, c.took_over, c.acquired
            ));
        }
    }
    (problems, per_process)
}
