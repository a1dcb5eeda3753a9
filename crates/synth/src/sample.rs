//! Sampling primitives: the seeded generator and the precomputed tables every column draws
//! from.
//!
//! Tables are built once with nothing but `+ - * /` on `f64` (no `powf`/`ln`, whose results may
//! differ in the last bit between platforms' maths libraries), so a seed gives the same rows
//! on every platform this crate builds on.

use rand::{RngCore, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// The one random source of a shard (PCG-64 MCG: small state, one 128-bit multiply a draw).
pub(crate) struct Rng(Pcg64Mcg);

impl Rng {
    /// The generator of shard `shard` of a run seeded with `seed`. Shards draw from unrelated
    /// streams, so a shard's rows depend only on (seed, shard index), never on which thread
    /// made it or when.
    pub(crate) fn for_shard(seed: u64, shard: u64) -> Rng {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&seed.to_le_bytes());
        key[8..].copy_from_slice(&shard.to_le_bytes());
        Rng(Pcg64Mcg::seed_from_u64(xxhash_rust::xxh3::xxh3_64(&key)))
    }

    /// A generator for fixed tables (the host universe): the same whatever the run's seed.
    pub(crate) fn fixed(stream: u64) -> Rng {
        Rng(Pcg64Mcg::seed_from_u64(stream))
    }

    #[inline]
    pub(crate) fn u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (multiply-shift; the bias is below 2⁻³² for any table size here).
    #[inline]
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((self.u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub(crate) fn unit(&mut self) -> f64 {
        (self.u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    #[inline]
    pub(crate) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..=hi`.
    #[inline]
    pub(crate) fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below((hi - lo + 1) as usize) as u64
    }

    /// One of `items`, uniformly.
    #[inline]
    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A discrete distribution sampled in O(1) (Walker/Vose alias method): one draw picks a
/// column with its high 32 bits and decides between the column and its alias with the low
/// 32 bits.
pub(crate) struct Alias {
    /// Threshold out of 2³² under which a draw keeps its column.
    keep: Vec<u64>,
    alias: Vec<u32>,
}

const ONE: f64 = (1u64 << 32) as f64;

impl Alias {
    /// From non-negative weights, at least one of them positive.
    pub(crate) fn new(weights: &[f64]) -> Alias {
        let n = weights.len();
        assert!(n > 0 && n < u32::MAX as usize, "alias table of {n} entries");
        let total: f64 = weights.iter().sum();
        assert!(total > 0.0, "alias table with no positive weight");
        let mut scaled: Vec<f64> = weights.iter().map(|w| w * n as f64 / total).collect();
        let mut keep = vec![1u64 << 32; n];
        let mut alias: Vec<u32> = (0..n as u32).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| scaled[i] < 1.0);
        while let (Some(s), Some(&l)) = (small.pop(), large.last()) {
            keep[s] = (scaled[s] * ONE) as u64;
            alias[s] = l as u32;
            scaled[l] -= 1.0 - scaled[s];
            if scaled[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        // What is left holds (up to rounding) exactly one column's worth: keep it whole.
        Alias { keep, alias }
    }

    /// Zipf–Mandelbrot ranks: weight of rank `k` (0-based) is `1 / (k + 1 + offset)`. A larger
    /// offset flattens the head; the tail keeps the 1/k shape of word frequencies.
    pub(crate) fn zipf(n: usize, offset: f64) -> Alias {
        let weights: Vec<f64> = (0..n).map(|k| 1.0 / (k as f64 + 1.0 + offset)).collect();
        Alias::new(&weights)
    }

    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let r = rng.u64();
        let column = (((r >> 32) * self.keep.len() as u64) >> 32) as usize;
        // Both loads, then a select: the keep-or-alias outcome is a coin toss the branch
        // predictor cannot learn.
        let alias = self.alias[column] as usize;
        let keep = (r & 0xFFFF_FFFF) < self.keep[column];
        if keep { column } else { alias }
    }
}

/// Zipf–Mandelbrot ranks over a large range (`1 / (k + 1 + offset)`), sampled so that
/// popular ranks stay in cache: an alias table over bands of ranks that widen by a quarter
/// each, then a uniform rank inside the band. (An alias table over every rank would touch
/// a random one of its entries on every draw.) Within a band the law is flat, which at a
/// quarter's width is invisible in any histogram.
pub(crate) struct BandedZipf {
    /// (first rank, ranks in band).
    bands: Vec<(u32, u32)>,
    table: Alias,
}

impl BandedZipf {
    pub(crate) fn new(n: usize, offset: f64) -> BandedZipf {
        let mut bands = Vec::new();
        let mut weights = Vec::new();
        let mut start = 0usize;
        while start < n {
            let width = (start / 4).max(1).min(n - start);
            bands.push((start as u32, width as u32));
            weights.push((start..start + width).map(|k| 1.0 / (k as f64 + 1.0 + offset)).sum());
            start += width;
        }
        BandedZipf { bands, table: Alias::new(&weights) }
    }

    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> usize {
        let (start, width) = self.bands[self.table.sample(rng)];
        start as usize + rng.below(width as usize)
    }
}

/// A continuous distribution given by its survival function at a few points, sampled by
/// linear interpolation of the inverse CDF between them. This pins the published
/// histogram shares exactly at the knots (e.g. "0.5 % of rows have aesthetic ≥ 6").
pub(crate) struct Quantiles {
    /// (cumulative probability, value), both increasing.
    knots: Vec<(f64, f64)>,
}

impl Quantiles {
    /// `survival`: (value, share of rows with a value ≥ it), values increasing, shares
    /// decreasing from 1 to 0.
    pub(crate) fn from_survival(survival: &[(f64, f64)]) -> Quantiles {
        assert!(survival.len() >= 2);
        assert_eq!(survival[0].1, 1.0, "first knot must hold every row");
        assert_eq!(survival[survival.len() - 1].1, 0.0, "last knot must hold no row");
        for pair in survival.windows(2) {
            assert!(pair[0].0 < pair[1].0 && pair[0].1 >= pair[1].1, "knots out of order");
        }
        Quantiles { knots: survival.iter().map(|&(v, s)| (1.0 - s, v)).collect() }
    }

    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> f64 {
        let u = rng.unit();
        let mut i = 1;
        while i < self.knots.len() - 1 && self.knots[i].0 <= u {
            i += 1;
        }
        let (p0, v0) = self.knots[i - 1];
        let (p1, v1) = self.knots[i];
        if p1 <= p0 {
            return v1;
        }
        v0 + (v1 - v0) * ((u - p0) / (p1 - p0))
    }
}

/// Lower-case hexadecimal digits of random bits, for ids and hashes.
pub(crate) fn push_hex(out: &mut String, rng: &mut Rng, digits: usize) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut left = digits;
    while left > 0 {
        let mut bits = rng.u64();
        for _ in 0..left.min(16) {
            out.push(HEX[(bits & 15) as usize] as char);
            bits >>= 4;
        }
        left = left.saturating_sub(16);
    }
}

/// Random characters from `alphabet` (ASCII), for URL path codes.
pub(crate) fn push_code(out: &mut String, rng: &mut Rng, alphabet: &[u8], len: usize) {
    for _ in 0..len {
        out.push(alphabet[rng.below(alphabet.len())] as char);
    }
}

/// A decimal number with exactly `digits` digits (no leading zero).
pub(crate) fn push_digits(out: &mut String, rng: &mut Rng, digits: u32) {
    use std::fmt::Write;
    let lo = 10u64.pow(digits - 1);
    let _ = write!(out, "{}", rng.range(lo, lo * 10 - 1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alias_reproduces_weights() {
        let table = Alias::new(&[1.0, 2.0, 0.0, 7.0]);
        let mut rng = Rng::fixed(1);
        let mut counts = [0u32; 4];
        for _ in 0..100_000 {
            counts[table.sample(&mut rng)] += 1;
        }
        assert_eq!(counts[2], 0);
        for (i, expect) in [(0, 0.1), (1, 0.2), (3, 0.7)] {
            let share = counts[i] as f64 / 100_000.0;
            assert!((share - expect).abs() < 0.01, "{i}: {share}");
        }
    }

    #[test]
    fn banded_zipf_keeps_the_shape() {
        let z = BandedZipf::new(10_000, 0.0);
        let mut rng = Rng::fixed(3);
        let mut counts = vec![0u32; 10_000];
        for _ in 0..200_000 {
            counts[z.sample(&mut rng)] += 1;
        }
        // 1/k: rank 1 twice rank 2, the first ten ranks about 30 % of the mass.
        let top: u32 = counts[..10].iter().sum();
        assert!((0.27..0.34).contains(&(top as f64 / 200_000.0)), "{top}");
        assert!(counts[0] > counts[1] * 3 / 2, "{} {}", counts[0], counts[1]);
        assert!(counts[5_000..].iter().sum::<u32>() > 0);
    }

    #[test]
    fn quantiles_hit_their_knots() {
        let q = Quantiles::from_survival(&[(0.0, 1.0), (1.0, 0.5), (2.0, 0.1), (3.0, 0.0)]);
        let mut rng = Rng::fixed(2);
        let draws: Vec<f64> = (0..100_000).map(|_| q.sample(&mut rng)).collect();
        let share = |x: f64| draws.iter().filter(|&&d| d >= x).count() as f64 / 100_000.0;
        assert!((share(1.0) - 0.5).abs() < 0.01);
        assert!((share(2.0) - 0.1).abs() < 0.005);
        assert!(draws.iter().all(|&d| (0.0..=3.0).contains(&d)));
    }

    #[test]
    fn shard_streams_differ_and_repeat() {
        let a: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::for_shard(7, 0);
                move |_| r.u64()
            })
            .collect();
        let b: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::for_shard(7, 1);
                move |_| r.u64()
            })
            .collect();
        let a2: Vec<u64> = (0..4)
            .map({
                let mut r = Rng::for_shard(7, 0);
                move |_| r.u64()
            })
            .collect();
        assert_ne!(a, b);
        assert_eq!(a, a2);
    }
}
