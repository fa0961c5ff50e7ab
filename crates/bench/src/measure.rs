//! Latency recording and the report lines, shared by the three engines measured.

use hdrhistogram::Histogram;
use std::time::Duration;

/// Latencies in microseconds, 1 µs to 60 s, 3 significant figures.
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000, 3).unwrap_or_else(|_| Histogram::new(3).expect("hdr"))
}

pub fn record(h: &mut Histogram<u64>, d: Duration) {
    let us = u64::try_from(d.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, 60_000_000);
    let _ = h.record(us);
}

/// One engine's result over the whole mix.
pub struct Run {
    pub label: String,
    pub all: Histogram<u64>,
    /// Per shape, in mix order.
    pub shapes: Vec<Histogram<u64>>,
    /// Total hits each shape reported (first execution).
    pub totals: Vec<u64>,
    /// Encoded response size per shape (gRPC only).
    pub bytes: Vec<u64>,
    pub elapsed: Duration,
}

impl Run {
    pub fn new(label: &str, shapes: usize) -> Run {
        Run {
            label: label.to_string(),
            all: histogram(),
            shapes: (0..shapes).map(|_| histogram()).collect(),
            totals: vec![0; shapes],
            bytes: vec![0; shapes],
            elapsed: Duration::ZERO,
        }
    }

    pub fn merge(&mut self, other: &Run) {
        let _ = self.all.add(&other.all);
        for (a, b) in self.shapes.iter_mut().zip(&other.shapes) {
            let _ = a.add(b);
        }
        for (a, b) in self.totals.iter_mut().zip(&other.totals) {
            if *a == 0 {
                *a = *b;
            }
        }
        for (a, b) in self.bytes.iter_mut().zip(&other.bytes) {
            *a = (*a).max(*b);
        }
        self.elapsed = self.elapsed.max(other.elapsed);
    }

    pub fn qps(&self) -> f64 {
        self.all.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn line(&self) -> String {
        format!(
            "{:<34} {:>9.0} q/s  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms  ({} queries in {:.1} s)",
            self.label,
            self.qps(),
            self.all.value_at_quantile(0.50) as f64 / 1000.0,
            self.all.value_at_quantile(0.99) as f64 / 1000.0,
            self.all.max() as f64 / 1000.0,
            self.all.len(),
            self.elapsed.as_secs_f64()
        )
    }
}
