//! Embeddings shaped like CLIP's, for tests and benchmarks of vector search: unit vectors drawn
//! around a few thousand cluster centres, each cluster spread more along some dimensions than
//! others (anisotropic), and query vectors near a stored one but not equal to it.
//!
//! Vector `i` depends only on (seed, i): it draws from its own stream, so any range of vectors
//! is made in any order, on any thread, with the same values. A cluster's centre and spread
//! draw from a stream of (seed, cluster). Memory: a cluster's centre and spread are made again
//! for every vector (`2 × dim` draws), so nothing is held but the vector.

use crate::sample::Rng;

/// Stream keys, apart from shards' (which are small numbers).
const CLUSTER_STREAM: u64 = 1 << 62;
const VECTOR_STREAM: u64 = 1 << 61;
const QUERY_STREAM: u64 = 3 << 60;

/// A clustered distribution of unit vectors (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct ClusteredVectors {
    /// Dimensions.
    pub dim: usize,
    /// Clusters (vector `i` belongs to cluster `hash(i) % clusters`).
    pub clusters: u64,
    /// The seed every draw derives from.
    pub seed: u64,
}

impl ClusteredVectors {
    /// Vector `i`, unit length.
    pub fn vector(&self, i: u64) -> Vec<f32> {
        let mut rng = Rng::for_shard(self.seed, VECTOR_STREAM + i);
        let cluster = rng.below(self.clusters.max(1) as usize) as u64;
        let (centre, spread) = self.cluster(cluster);
        let mut v: Vec<f64> = centre.iter().zip(&spread).map(|(c, s)| c + s * gaussian(&mut rng)).collect();
        unit(&mut v);
        v.into_iter().map(|x| x as f32).collect()
    }

    /// A query near vector `i`: it moved by about `distance` (in a random direction) and
    /// renormalised; never equal to a stored vector.
    pub fn query_near(&self, i: u64, distance: f64) -> Vec<f32> {
        let mut rng = Rng::for_shard(self.seed, QUERY_STREAM + i);
        let scale = distance / (self.dim as f64).sqrt();
        let mut v: Vec<f64> = self.vector(i).iter().map(|x| f64::from(*x) + scale * gaussian(&mut rng)).collect();
        unit(&mut v);
        v.into_iter().map(|x| x as f32).collect()
    }

    /// Cluster `c`'s centre (a unit vector) and per-dimension spread (0.01 to 0.16: some
    /// directions ten times wider than others).
    fn cluster(&self, c: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = Rng::for_shard(self.seed, CLUSTER_STREAM + c);
        let mut centre: Vec<f64> = (0..self.dim).map(|_| gaussian(&mut rng)).collect();
        unit(&mut centre);
        let spread = (0..self.dim).map(|_| 0.01 + 0.15 * rng.unit() * rng.unit()).collect();
        (centre, spread)
    }
}

/// A standard normal draw (Box–Muller; `ln`, `sqrt`, `cos` are accurate to the last bit or
/// two, enough for test data that is only compared with itself).
fn gaussian(rng: &mut Rng) -> f64 {
    let u = rng.unit().max(f64::MIN_POSITIVE);
    let v = rng.unit();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

fn unit(v: &mut [f64]) {
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
    v.iter_mut().for_each(|x| *x /= norm);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_clustered_and_the_same_in_any_order() {
        let dist = ClusteredVectors { dim: 16, clusters: 4, seed: 7 };
        let forward: Vec<Vec<f32>> = (0..50).map(|i| dist.vector(i)).collect();
        let backward: Vec<Vec<f32>> = (0..50).rev().map(|i| dist.vector(i)).collect();
        assert!(forward.iter().eq(backward.iter().rev()));
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        for v in &forward {
            assert!((dot(v, v) - 1.0).abs() < 1e-5);
        }
        // Four clusters: every vector is close to some other (the same cluster), and some pairs
        // are far apart (different clusters).
        let nearest =
            |i: usize| (0..50).filter(|j| *j != i).map(|j| dot(&forward[i], &forward[j])).fold(-1.0, f32::max);
        assert!((0..50).all(|i| nearest(i) > 0.5), "clustered");
        assert!(forward.iter().any(|v| dot(v, &forward[0]) < 0.3), "several clusters");
        let query = dist.query_near(3, 0.1);
        assert!(dot(&query, &forward[3]) > 0.95 && dot(&query, &forward[3]) < 0.99999);
        assert_ne!(ClusteredVectors { seed: 8, ..dist }.vector(0), forward[0]);
    }
}
