//! A run's latencies, summarised where they are collected.
//!
//! The report reads the median, the 99th percentile and the maximum, the scenario matrix the
//! mean and the 99th percentile; nothing reads the rest. Sorting every latency to read three
//! of them cost about 1 % of a run (11.5 M instructions of a 100 000-request `speed` run), so
//! the engine summarises them instead: two
//! `select_nth_unstable` calls place the nearest-rank percentiles (the 99th first, then the
//! median among the values below it), which is linear on average and gives exactly the values
//! a full sort would have put at those ranks.

/// Arrival → completion latencies of a run's completed requests, µs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Latencies {
    /// How many requests completed.
    pub count: u64,
    /// The mean, rounded down (0 for none).
    pub mean_us: u64,
    /// The nearest-rank median (0 for none).
    pub p50_us: u64,
    /// The nearest-rank 99th percentile (0 for none).
    pub p99_us: u64,
    /// The largest (0 for none).
    pub max_us: u64,
}

impl Latencies {
    /// The summary of `values`, which it reorders.
    ///
    /// The nearest-rank percentile `p` is the value of rank `⌈len × p / 100⌉` (at least 1) in
    /// ascending order.
    ///
    /// # Examples
    ///
    /// ```
    /// use headroom_sim::engine::Latencies;
    ///
    /// let mut values: Vec<u64> = (1..=100).rev().collect();
    /// let latencies = Latencies::of(&mut values);
    /// assert_eq!((latencies.p50_us, latencies.p99_us, latencies.max_us), (50, 99, 100));
    /// assert_eq!((latencies.count, latencies.mean_us), (100, 50));
    /// assert_eq!(Latencies::of(&mut []), Latencies::default());
    /// ```
    pub fn of(values: &mut [u64]) -> Self {
        let Some(&max_us) = values.iter().max() else {
            return Self::default();
        };
        let count = values.len() as u64;
        let total: u128 = values.iter().map(|&v| u128::from(v)).sum();
        let mean_us = u64::try_from(total / u128::from(count)).unwrap_or(u64::MAX);
        let at_rank = |p: u64| {
            let rank = count.saturating_mul(p).div_ceil(100).max(1);
            usize::try_from(rank - 1).unwrap_or(usize::MAX)
        };
        let (p50, p99) = (at_rank(50), at_rank(99));
        let (below, &mut p99_us, _) = values.select_nth_unstable(p99);
        // `below` holds the `p99` smallest values, so the median (p50 ≤ p99) is among them.
        let p50_us = if p50 < p99 {
            *below.select_nth_unstable(p50).1
        } else {
            p99_us
        };
        Self {
            count,
            mean_us,
            p50_us,
            p99_us,
            max_us,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::percentile;
    use proptest::prelude::*;

    proptest! {
        /// The summary reads what a full sort would have put at each rank.
        #[test]
        fn equals_the_sorted_percentiles(mut values in proptest::collection::vec(0u64..1_000, 0..400)) {
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let total: u128 = sorted.iter().map(|&v| u128::from(v)).sum();
            let mean = u64::try_from(total / (sorted.len().max(1) as u128)).unwrap();
            let summary = Latencies::of(&mut values);
            prop_assert_eq!(summary, Latencies {
                count: sorted.len() as u64,
                mean_us: mean,
                p50_us: percentile(&sorted, 50),
                p99_us: percentile(&sorted, 99),
                max_us: sorted.last().copied().unwrap_or(0),
            });
        }
    }

    #[test]
    fn one_value_is_every_percentile() {
        let summary = Latencies::of(&mut [7]);
        assert_eq!(
            (
                summary.p50_us,
                summary.p99_us,
                summary.max_us,
                summary.mean_us
            ),
            (7, 7, 7, 7)
        );
    }

    #[test]
    fn two_values_put_the_median_low() {
        let summary = Latencies::of(&mut [2_000_000, 1_000]);
        assert_eq!((summary.p50_us, summary.p99_us), (1_000, 2_000_000));
    }
}
