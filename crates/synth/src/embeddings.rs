//! Embeddings shaped like CLIP's, for tests and benchmarks of vector search: unit vectors drawn
//! around a few thousand cluster centres, each cluster spread more along some dimensions than
//! others (anisotropic), a share of them near-copies of an earlier vector (as LAION's re-posted
//! images are), and query vectors near a stored one but not equal to it; and
//! [`write_clip_retrieval`], which writes them in clip-retrieval's layout for a synth run's parts.
//!
//! Vector `i` depends only on (seed, i): it draws from its own stream, so any range of vectors
//! is made in any order, on any thread, with the same values. A cluster's centre and spread
//! draw from a stream of (seed, cluster). Memory: [`ClusteredVectors::vector`] makes a
//! cluster's centre and spread again for every vector (`2 × dim` draws), so nothing is held
//! but the vector; [`write_clip_retrieval`] makes every cluster once (`2 × dim × clusters`
//! f64s: 24 MB for 2,000 clusters of 768) and one part's vectors at a time per thread.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::array::RecordBatchReader;
use npyz::WriterBuilder;
use pairscope_io::durable::AtomicFile;
use pairscope_io::parallel;
use parquet::arrow::ArrowWriter;
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::SynthError;
use crate::sample::Rng;

/// Stream keys, apart from shards' (which are small numbers).
const CLUSTER_STREAM: u64 = 1 << 62;
const VECTOR_STREAM: u64 = 1 << 61;
const QUERY_STREAM: u64 = 3 << 60;

/// How far a near-copy moves from its original, at most: cosine ≥ 1 − d²/2 ≈ 0.94, so
/// near-copies fall on both sides of clip-retrieval's dedup threshold (0.94).
const MAX_COPY_DISTANCE: f64 = 0.35;

/// A clustered distribution of unit vectors (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct ClusteredVectors {
    /// Dimensions.
    pub dim: usize,
    /// Clusters (vector `i` belongs to cluster `hash(i) % clusters`).
    pub clusters: u64,
    /// The seed every draw derives from.
    pub seed: u64,
    /// The share of vectors (after the first) that are a near-copy of an earlier vector:
    /// moved by up to 0.35 in a random direction (cosine 0.94 to 1).
    pub near_copies: f64,
}

/// A cluster's centre (a unit vector) and per-dimension spread.
type Cluster = (Vec<f64>, Vec<f64>);

impl ClusteredVectors {
    /// Vector `i`, unit length.
    pub fn vector(&self, i: u64) -> Vec<f32> {
        self.vector_from(i, &|c| Cow::Owned(self.cluster(c)))
    }

    /// Vector `i`, its cluster found by `cluster`.
    fn vector_from<'a>(&self, i: u64, cluster: &dyn Fn(u64) -> Cow<'a, Cluster>) -> Vec<f32> {
        let mut rng = Rng::for_shard(self.seed, VECTOR_STREAM + i);
        if self.near_copies > 0.0 && i > 0 && rng.unit() < self.near_copies {
            let original = rng.below(i as usize) as u64;
            let distance = MAX_COPY_DISTANCE * rng.unit();
            return moved(self.vector_from(original, cluster), distance, &mut rng);
        }
        let c = rng.below(self.clusters.max(1) as usize) as u64;
        let (centre, spread) = &*cluster(c);
        let mut v: Vec<f64> = centre.iter().zip(spread).map(|(c, s)| c + s * gaussian(&mut rng)).collect();
        unit(&mut v);
        v.into_iter().map(|x| x as f32).collect()
    }

    /// A query near vector `i`: it moved by about `distance` (in a random direction) and
    /// renormalised; never equal to a stored vector.
    pub fn query_near(&self, i: u64, distance: f64) -> Vec<f32> {
        let mut rng = Rng::for_shard(self.seed, QUERY_STREAM + i);
        moved(self.vector(i), distance, &mut rng)
    }

    /// Cluster `c`'s centre (a unit vector) and per-dimension spread (0.01 to 0.16: some
    /// directions ten times wider than others).
    fn cluster(&self, c: u64) -> Cluster {
        let mut rng = Rng::for_shard(self.seed, CLUSTER_STREAM + c);
        let mut centre: Vec<f64> = (0..self.dim).map(|_| gaussian(&mut rng)).collect();
        unit(&mut centre);
        let spread = (0..self.dim).map(|_| 0.01 + 0.15 * rng.unit() * rng.unit()).collect();
        (centre, spread)
    }
}

/// `v` moved by about `distance` in a random direction, renormalised.
fn moved(v: Vec<f32>, distance: f64, rng: &mut Rng) -> Vec<f32> {
    let scale = distance / (v.len() as f64).sqrt();
    let mut v: Vec<f64> = v.iter().map(|x| f64::from(*x) + scale * gaussian(rng)).collect();
    unit(&mut v);
    v.into_iter().map(|x| x as f32).collect()
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

/// The columns of a part copied into its metadata file, when the part has them: what
/// clip-retrieval's metadata carries to join on (an id, the URL, the caption).
const METADATA_COLUMNS: [&str; 8] = ["SAMPLE_ID", "uid", "id", "key", "URL", "url", "TEXT", "text"];

/// Writes clip-retrieval's layout for `parts` (a synth run's files, in row order) into `dir`:
/// `img_emb/img_emb_N.npy` (float16, rows × dim) and `metadata/metadata_N.parquet` (the part's
/// id, URL and caption columns, its rows in order) for part N, the vector of the run's row `r`
/// (counting through the parts in order) being `dist.vector(r)`. Each file is written
/// atomically; `on_rows` is called with the rows of each part written. Returns the files.
pub fn write_clip_retrieval(
    parts: &[PathBuf],
    dist: &ClusteredVectors,
    dir: &Path,
    threads: usize,
    on_rows: &(dyn Fn(u64) + Sync),
) -> Result<Vec<PathBuf>, SynthError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Io { path, source }
    };
    for sub in ["img_emb", "metadata"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io(&dir.join(sub)))?;
    }
    // Rows before each part, from the footers.
    let mut first_rows = Vec::with_capacity(parts.len());
    let mut total = 0u64;
    for part in parts {
        first_rows.push(total);
        let file = std::fs::File::open(part).map_err(io(part))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .map_err(|source| SynthError::Parquet { path: part.clone(), source })?;
        total += builder.metadata().file_metadata().num_rows() as u64;
    }
    let clusters: Vec<Cluster> = parallel::map(dist.clusters.max(1) as usize, threads, |c| dist.cluster(c as u64));
    let written = parallel::try_map(parts.len(), threads, |n| {
        let metadata = write_metadata(&parts[n], &dir.join(format!("metadata/metadata_{n}.parquet")))?;
        let npy = dir.join(format!("img_emb/img_emb_{n}.npy"));
        let rows = metadata.1;
        let mut file = AtomicFile::create(&npy).map_err(io(&npy))?;
        let mut writer = npyz::WriteOptions::<half::f16>::new()
            .default_dtype()
            .shape(&[rows, dist.dim as u64])
            .writer(&mut file)
            .begin_nd()
            .map_err(io(&npy))?;
        for r in first_rows[n]..first_rows[n] + rows {
            let vector = dist.vector_from(r, &|c| Cow::Borrowed(&clusters[c as usize]));
            writer.extend(vector.into_iter().map(half::f16::from_f32)).map_err(io(&npy))?;
        }
        writer.finish().map_err(io(&npy))?;
        file.commit().map_err(io(&npy))?;
        on_rows(rows);
        Ok::<_, SynthError>([metadata.0, npy])
    })?;
    Ok(written.into_iter().flatten().collect())
}

/// Copies `part`'s [`METADATA_COLUMNS`] to `out`; returns its path and rows.
fn write_metadata(part: &Path, out: &Path) -> Result<(PathBuf, u64), SynthError> {
    let parquet = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Parquet { path, source }
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthError::Io { path, source }
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(part).map_err(io(part))?)
        .map_err(parquet(part))?;
    let wanted: Vec<usize> = builder
        .schema()
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| METADATA_COLUMNS.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let mask = ProjectionMask::roots(builder.parquet_schema(), wanted);
    let reader = builder.with_projection(mask).build().map_err(parquet(part))?;
    let schema = reader.schema();
    let file = AtomicFile::create(out).map_err(io(out))?;
    let mut writer = ArrowWriter::try_new(file, Arc::clone(&schema), None).map_err(parquet(out))?;
    let mut rows = 0;
    for batch in reader {
        let batch: RecordBatch =
            batch.map_err(|e| SynthError::Parquet { path: part.to_path_buf(), source: e.into() })?;
        rows += batch.num_rows() as u64;
        writer.write(&batch).map_err(parquet(out))?;
    }
    let file = writer.into_inner().map_err(parquet(out))?;
    file.commit().map_err(io(out))?;
    Ok((out.to_path_buf(), rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_clustered_and_the_same_in_any_order() {
        let dist = ClusteredVectors { dim: 16, clusters: 4, seed: 7, near_copies: 0.0 };
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

    #[test]
    fn a_share_of_vectors_are_near_copies_of_earlier_ones() {
        let dist = ClusteredVectors { dim: 64, clusters: 20, seed: 7, near_copies: 0.3 };
        let vectors: Vec<Vec<f32>> = (0..400).map(|i| dist.vector(i)).collect();
        let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let copies = (1..400).filter(|&i| (0..i).any(|j| dot(&vectors[i], &vectors[j]) > 0.93)).count();
        // About 30% (binomial, n = 399: ±7%); vectors of one cluster are far below 0.93.
        assert!((80..160).contains(&copies), "{copies} near-copies");
        assert_eq!(ClusteredVectors { near_copies: 0.0, ..dist }.vector(0), vectors[0]);
    }
}
