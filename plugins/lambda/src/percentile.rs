/// The `p`-th percentile of `sorted` (ascending) values by nearest rank, `p`
/// on the 0–100 scale (`95.0` is p95); `None` for no values.
///
/// Nearest rank returns a value that was observed (never an interpolation
/// between two), so "p99 memory used" is a size some invocation really used.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    Some(sorted[percentile_index(sorted.len(), p)?])
}

/// Where [`percentile`] looks among `len` sorted values (for a caller that
/// selects instead of sorting); `None` when `len` is 0.
pub fn percentile_index(len: usize, p: f64) -> Option<usize> {
    if len == 0 {
        return None;
    }
    let rank = ((p / 100.0) * len as f64).ceil() as usize;
    Some(rank.clamp(1, len) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_on_the_0_to_100_scale() {
        let v: Vec<u32> = (1..=10).collect();
        assert_eq!(percentile(&v, 50.0), Some(5));
        assert_eq!(percentile(&v, 95.0), Some(10));
        assert_eq!(percentile(&v, 1.0), Some(1));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile(&v, 100.0), Some(10));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
        // 20 values: p95 is the 19th.
        let v: Vec<u32> = (1..=20).collect();
        assert_eq!(percentile(&v, 95.0), Some(19));
    }
}
