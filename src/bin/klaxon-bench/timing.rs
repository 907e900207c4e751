//! Timing GETs one after the other, as a responder reloading a page would: median and tail.

use std::future::Future;
use std::time::Instant;

use crate::percentile;

/// Latencies of a run of requests, in ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Latency {
    pub(crate) p50: f64,
    pub(crate) p95: f64,
    pub(crate) p99: f64,
}

/// Sends `warmup` requests untimed, then `n` timed ones, one at a time; every answer must be
/// 200 or 304 (`request` answers the status code, the body read whole).
pub(crate) async fn time_requests<F, Fut>(
    what: &str,
    warmup: usize,
    n: usize,
    mut request: F,
) -> anyhow::Result<Latency>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<u16>>,
{
    let check = |status: u16| {
        anyhow::ensure!(status == 200 || status == 304, "{what} answered {status}");
        Ok(())
    };
    for _ in 0..warmup {
        check(request().await?)?;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        let status = request().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        check(status)?;
    }
    times.sort_by(|a, b| a.total_cmp(b));
    Ok(Latency {
        p50: percentile(&times, 0.5),
        p95: percentile(&times, 0.95),
        p99: percentile(&times, 0.99),
    })
}
