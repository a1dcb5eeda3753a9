//! The inner product of two float32 slices, the one kernel every exact score goes through:
//! a float16 row against its query ([`crate::store::VectorFile::dot`]) and a query against the
//! index's coarse centroids (`pairscope-ann`).
//!
//! Summed in 32 independent lanes, so that consecutive additions do not wait for each other
//! and the compiler keeps the lanes in vector registers; compiled twice, for the baseline
//! x86-64 (SSE2) and for AVX2, and chosen at run time by what the CPU has (the release build
//! targets the baseline, so that the binary runs on any x86-64). The sum's order depends only on
//! the lengths, never on the CPU: both versions give the same bits.

/// The inner product of `a` and `b`, over the shorter's length.
pub fn inner_product(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { inner_product_avx2(a, b) };
    }
    lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn inner_product_avx2(a: &[f32], b: &[f32]) -> f32 {
    lanes(a, b)
}

/// Four AVX2 registers of lanes (eight SSE ones), then the tail, then the lanes summed pairwise.
#[inline(always)]
fn lanes(a: &[f32], b: &[f32]) -> f32 {
    const LANES: usize = 32;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut sums = [0f32; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = a_chunks.remainder().iter().zip(b_chunks.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for lane in 0..LANES {
            sums[lane] += x[lane] * y[lane];
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            sums[lane] += sums[lane + width];
        }
    }
    sums[0] + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inner_product_is_the_plain_sum_within_rounding_at_every_length() {
        for n in [0, 1, 7, 31, 32, 33, 64, 100, 512, 768, 1000] {
            let a: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 53 % 97) as f32 - 48.0) / 48.0).collect();
            let plain: f64 = a.iter().zip(&b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
            let got = inner_product(&a, &b);
            assert!((f64::from(got) - plain).abs() < 1e-4, "n = {n}: {got} vs {plain}");
            assert_eq!(got.to_bits(), lanes(&a, &b).to_bits(), "n = {n}: the dispatched version sums as the baseline");
            assert_eq!(inner_product(&a, &b[..n / 2]), inner_product(&a[..n / 2], &b[..n / 2]), "the shorter length");
        }
    }
}
