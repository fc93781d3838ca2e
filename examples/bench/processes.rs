//! The bench's own processes: `fake-clerk` and `clerk-operator run`, their /metrics and the
//! fake's counters.

use crate::env::Env;
use anyhow::bail;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};
use test_kit::controlplane::free_port;
use test_kit::process::{Proc, Usage, usage};

pub(crate) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("HTTP client")
}

/// `fake-clerk` on a free loopback port.
pub(crate) struct Fake {
    pub(crate) proc: Proc,
    pub(crate) base: String,
}

/// What the fake counted.
#[derive(Clone, Debug, Default)]
pub(crate) struct FakeStats {
    /// operation -> status -> count.
    pub(crate) requests: BTreeMap<String, BTreeMap<String, u64>>,
    pub(crate) total: u64,
    pub(crate) rate_limited: u64,
}

impl FakeStats {
    pub(crate) fn op(&self, op: &str) -> u64 {
        self.requests.get(op).map_or(0, |m| m.values().sum())
    }

    pub(crate) fn status(&self, status: &str) -> u64 {
        self.requests
            .values()
            .map(|m| m.get(status).copied().unwrap_or(0))
            .sum()
    }

    pub(crate) fn by_op(&self) -> String {
        let parts: Vec<String> = self
            .requests
            .iter()
            .map(|(op, m)| {
                let statuses: Vec<String> = m.iter().map(|(s, n)| format!("{s}×{n}")).collect();
                format!("{op} {} ({})", m.values().sum::<u64>(), statuses.join(", "))
            })
            .collect();
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join("; ")
        }
    }
}

impl Fake {
    pub(crate) async fn start(
        bins: &Path,
        dir: &Path,
        name: &str,
        keys: &[&str],
        rate_limit: bool,
    ) -> anyhow::Result<Self> {
        let port = free_port();
        let mut args = vec![format!("--listen=127.0.0.1:{port}")];
        for k in keys {
            args.push(format!("--secret-key={k}"));
        }
        if rate_limit {
            args.push("--rate-limit".into());
        }
        let proc = Proc::spawn(
            name,
            &bins.join("fake-clerk"),
            &args,
            &[("RUST_LOG", "warn")],
            dir.join(format!("{name}.log")),
        )?;
        let fake = Fake {
            proc,
            base: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = http().get(format!("{}/__fake/healthz", fake.base)).send().await
                && r.status().is_success()
            {
                return Ok(fake);
            }
            if start.elapsed() > Duration::from_secs(30) {
                bail!("fake-clerk did not answer\n{}", fake.proc.log_tail(20));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn api_url(&self) -> String {
        format!("{}/v1", self.base)
    }

    pub(crate) async fn stats(&self) -> anyhow::Result<FakeStats> {
        let v: Value = http()
            .get(format!("{}/__fake/stats", self.base))
            .send()
            .await?
            .json()
            .await?;
        let mut stats = FakeStats {
            total: v["total"].as_u64().unwrap_or(0),
            rate_limited: v["faults"]["rate_limited"].as_u64().unwrap_or(0),
            ..Default::default()
        };
        if let Some(ops) = v["requests"].as_object() {
            for (op, statuses) in ops {
                let m = stats.requests.entry(op.clone()).or_default();
                for (s, n) in statuses.as_object().into_iter().flatten() {
                    m.insert(s.clone(), n.as_u64().unwrap_or(0));
                }
            }
        }
        Ok(stats)
    }

    pub(crate) async fn reset(&self) -> anyhow::Result<()> {
        let r = http()
            .delete(format!("{}/__fake/stats", self.base))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "reset stats: {}", r.status());
        Ok(())
    }
}

/// How to run one operator process.
pub(crate) struct OperatorRun<'a> {
    pub(crate) name: &'a str,
    pub(crate) namespace: &'a str,
    pub(crate) key: &'a str,
    pub(crate) resync: Duration,
    pub(crate) extra: Vec<String>,
}

impl<'a> OperatorRun<'a> {
    /// `name` watching `namespace` with `key`, resyncing every `resync`, no other flags.
    pub(crate) fn new(name: &'a str, namespace: &'a str, key: &'a str, resync: Duration) -> Self {
        Self {
            name,
            namespace,
            key,
            resync,
            extra: vec![],
        }
    }
}

/// `clerk-operator run` watching one namespace.
pub(crate) struct Operator {
    pub(crate) proc: Proc,
    pub(crate) metrics_url: String,
}

impl Operator {
    pub(crate) async fn start(env: &Env, fake: &Fake, run: OperatorRun<'_>) -> anyhow::Result<Self> {
        let port = free_port();
        let mut args = vec![
            "run".to_string(),
            format!("--kubeconfig={}", env.cp.kubeconfig.display()),
            format!("--clerk-api-url={}", fake.api_url()),
            format!("--metrics-addr=127.0.0.1:{port}"),
            format!("--resync-period={}s", run.resync.as_secs()),
            format!("--concurrency={}", env.args.concurrency),
            format!("--namespace={}", run.namespace),
            "--log-level=info".into(),
        ];
        args.extend(run.extra);
        let mut bin = env.bins.join("clerk-operator");
        let path = std::env::var("PATH").unwrap_or_default();
        let mut vars = vec![("CLERK_SECRET_KEY", run.key), ("POD_NAME", run.name)];
        // BENCH_OPERATOR_WRAP="heaptrack -o /tmp/ht": run the operator under a profiler (its
        // RSS figures are then the wrapper's).
        if let Ok(wrap) = std::env::var("BENCH_OPERATOR_WRAP")
            && let Some((first, rest)) = wrap.split_whitespace().collect::<Vec<_>>().split_first()
        {
            let mut wrapped: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
            wrapped.push(bin.display().to_string());
            wrapped.append(&mut args);
            args = wrapped;
            bin = first.into();
            vars.push(("PATH", &path));
        }
        let proc = Proc::spawn(
            run.name,
            &bin,
            &args,
            &vars,
            env.dir.join(format!("{}.log", run.name)),
        )?;
        let mut op = Operator {
            proc,
            metrics_url: format!("http://127.0.0.1:{port}"),
        };
        let start = Instant::now();
        loop {
            if let Ok(r) = http().get(format!("{}/readyz", op.metrics_url)).send().await
                && r.status().is_success()
            {
                return Ok(op);
            }
            if !op.proc.running() || start.elapsed() > Duration::from_secs(60) {
                bail!("operator {} not ready\n{}", run.name, op.proc.log_tail(40));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) fn usage(&self) -> anyhow::Result<Usage> {
        usage(self.proc.pid())
    }

    pub(crate) async fn metrics(&self) -> anyhow::Result<Metrics> {
        let body = http()
            .get(format!("{}/metrics", self.metrics_url))
            .send()
            .await?
            .text()
            .await?;
        Ok(Metrics(
            body.lines()
                .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
                .filter_map(|l| {
                    let (series, value) = l.rsplit_once(' ')?;
                    Some((series.to_string(), value.parse().ok()?))
                })
                .collect(),
        ))
    }

    /// Wait until the reconcile count holds still for `quiet` (at most two minutes).
    pub(crate) async fn settle(&self, quiet: Duration) -> anyhow::Result<()> {
        let start = Instant::now();
        let mut last = self.metrics().await?.sum("clerk_operator_reconciles_total", &[]);
        loop {
            tokio::time::sleep(quiet).await;
            let now = self.metrics().await?.sum("clerk_operator_reconciles_total", &[]);
            if now == last || start.elapsed() > Duration::from_secs(120) {
                return Ok(());
            }
            last = now;
        }
    }
}

/// Samples of the operator's /metrics.
#[derive(Clone, Debug, Default)]
pub(crate) struct Metrics(pub(crate) Vec<(String, f64)>);

impl Metrics {
    /// Sum of the samples named `name` whose labels contain every one of `labels`.
    pub(crate) fn sum(&self, name: &str, labels: &[&str]) -> f64 {
        self.0
            .iter()
            .filter(|(series, _)| {
                series.split('{').next() == Some(name) && labels.iter().all(|l| series.contains(l))
            })
            .map(|(_, v)| v)
            .sum::<f64>()
            + 0.0 // an empty sum is -0.0
    }

    pub(crate) fn reconciles(&self) -> f64 {
        self.sum("clerk_operator_reconciles_total", &[])
    }

    pub(crate) fn summary(&self) -> String {
        let reconciles: Vec<String> = ["success", "failure", "error"]
            .iter()
            .map(|r| {
                format!(
                    "{r} {}",
                    self.sum("clerk_operator_reconciles_total", &[&format!("result=\"{r}\"")])
                )
            })
            .collect();
        format!(
            "reconciles: {}; list cache hits {}; rate limiter wait {:.1} s; retries {}",
            reconciles.join(", "),
            self.sum("clerk_operator_clerk_list_cache_hits_total", &[]),
            self.sum("clerk_operator_clerk_rate_limiter_wait_seconds_total", &[]),
            self.sum("clerk_operator_clerk_retries_total", &[]),
        )
    }
}
