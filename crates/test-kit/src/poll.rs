//! Waiting in the tests: poll until something holds, or fail with what was last seen.

use anyhow::bail;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::time::{Duration, Instant};

/// Poll `check` every `every` until it answers `Ok(value)`; an `Err(seen)` answer means not yet.
/// After `timeout`, fail naming `what` and the last `seen`. An error of `check` itself ends the
/// wait at once.
pub async fn eventually<T, F, Fut>(
    what: &str,
    timeout: Duration,
    every: Duration,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Result<T, String>>>,
{
    let start = Instant::now();
    loop {
        let seen = match check().await? {
            Ok(value) => return Ok(value),
            Err(seen) => seen,
        };
        if start.elapsed() >= timeout {
            bail!("not {what} after {timeout:?}; last seen: {seen}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Poll `name` until `pred` holds.
pub async fn wait_for<K>(
    api: &Api<K>,
    name: &str,
    what: &str,
    timeout: Duration,
    pred: impl Fn(&K) -> bool,
) -> anyhow::Result<K>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let start = Instant::now();
    let mut last = None;
    loop {
        if let Some(o) = api.get_opt(name).await? {
            if pred(&o) {
                return Ok(o);
            }
            last = Some(o);
        }
        if start.elapsed() > timeout {
            bail!("timed out waiting for {name} to be {what}; last seen: {last:#?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Poll until `name` no longer exists.
pub async fn wait_gone<K>(api: &Api<K>, name: &str, timeout: Duration) -> anyhow::Result<()>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let start = Instant::now();
    loop {
        match api.get_opt(name).await? {
            None => return Ok(()),
            Some(o) if start.elapsed() > timeout => bail!("{name} still exists: {o:#?}"),
            Some(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_value_or_names_what_it_last_saw() {
        let every = Duration::from_millis(5);
        let mut n = 0;
        let third = eventually("three", Duration::from_secs(60), every, || {
            n += 1;
            let seen = n;
            async move {
                Ok(if seen == 3 {
                    Ok(seen)
                } else {
                    Err(format!("{seen}"))
                })
            }
        })
        .await;
        assert_eq!(third.unwrap(), 3);
        let never = eventually("ten", Duration::from_millis(100), every, || async {
            Ok::<Result<(), _>, _>(Err("still 4".to_string()))
        })
        .await;
        let message = never.unwrap_err().to_string();
        assert!(
            message.contains("not ten after 100ms; last seen: still 4"),
            "{message}"
        );
        let failed: anyhow::Result<()> = eventually("anything", Duration::from_secs(60), every, || async {
            anyhow::bail!("broken")
        })
        .await;
        assert_eq!(failed.unwrap_err().to_string(), "broken");
    }
}
