//! Tests on synthetic clustered unit vectors: recall against brute force, filters, determinism,
//! faiss's own search as the reference, and damaged bytes.

use std::sync::OnceLock;

use crate::search::COARSE_BATCH;
use crate::search::reference_search;
use crate::{BlockLists, Error, Hit, Probes, Query, TrainParams, Trained, encode_block};

const DIM: usize = 64;
const M: usize = 16;
const NLIST: usize = 256;
const BLOCK_ROWS: usize = 10_000;
const BLOCKS: usize = 3;
const SAMPLE: usize = 12_000;
const QUERIES: usize = 100;
const NOISE: (f64, f64) = (0.04, 0.18);
const QUERY_NOISE: f32 = 0.04;

/// xorshift64*, and normals by Box-Muller: enough for test data, and the same everywhere.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u1 = self.uniform().max(1e-300);
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }
}

fn normalise(v: &mut [f32]) {
    let norm = v.iter().map(|x| f64::from(*x) * f64::from(*x)).sum::<f64>().sqrt();
    v.iter_mut().for_each(|x| *x = (f64::from(*x) / norm) as f32);
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `n` unit vectors around 200 random unit centres, with noise whose scale differs by
/// dimension (`NOISE`: 0.04 to 0.22) and by cluster (×0.5 to ×1.5).
fn clustered(n: usize, dim: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng(seed);
    let clusters = 200;
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| {
            let mut c: Vec<f32> = (0..dim).map(|_| rng.normal() as f32).collect();
            normalise(&mut c);
            c
        })
        .collect();
    let spread: Vec<f64> = (0..clusters).map(|_| 0.5 + rng.uniform()).collect();
    let sigma: Vec<f64> = (0..dim).map(|j| NOISE.0 + NOISE.1 * ((j * 7) % dim) as f64 / dim as f64).collect();
    let mut out = Vec::with_capacity(n * dim);
    for _ in 0..n {
        let c = (rng.next_u64() % clusters as u64) as usize;
        let mut v: Vec<f32> = (0..dim).map(|j| centres[c][j] + (spread[c] * sigma[j] * rng.normal()) as f32).collect();
        normalise(&mut v);
        out.extend_from_slice(&v);
    }
    out
}

struct Fixture {
    vectors: Vec<f32>,
    trained: Trained,
    block_bytes: Vec<Vec<u8>>,
    blocks: Vec<BlockLists>,
    queries: Vec<Vec<f32>>,
}

impl Fixture {
    fn row(&self, block: usize, offset: usize) -> &[f32] {
        let i = block * BLOCK_ROWS + offset;
        &self.vectors[i * DIM..(i + 1) * DIM]
    }

    fn block_vectors(&self, block: usize) -> &[f32] {
        &self.vectors[block * BLOCK_ROWS * DIM..(block + 1) * BLOCK_ROWS * DIM]
    }
}

fn params(seed: u32, threads: usize) -> TrainParams {
    TrainParams { dim: DIM, nlist: NLIST, m: M, seed, threads }
}

fn offsets() -> Vec<i64> {
    (0..BLOCK_ROWS as i64).collect()
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let vectors = clustered(BLOCKS * BLOCK_ROWS, DIM, 7);
        let started = std::time::Instant::now();
        let trained = Trained::train(&params(42, 1), &vectors[..SAMPLE * DIM]).unwrap();
        eprintln!("training on {SAMPLE} vectors: {:?}", started.elapsed());
        let ids = offsets();
        let started = std::time::Instant::now();
        let block_bytes: Vec<Vec<u8>> = (0..BLOCKS)
            .map(|b| {
                encode_block(&trained, &vectors[b * BLOCK_ROWS * DIM..(b + 1) * BLOCK_ROWS * DIM], &ids, 1).unwrap()
            })
            .collect();
        eprintln!("encoding {} vectors: {:?}", BLOCKS * BLOCK_ROWS, started.elapsed());
        let blocks = block_bytes.iter().map(|b| BlockLists::open(b.clone()).unwrap()).collect();
        let mut rng = Rng(99);
        let queries = (0..QUERIES)
            .map(|_| {
                let i = (rng.next_u64() % (BLOCKS * BLOCK_ROWS) as u64) as usize;
                let mut q: Vec<f32> =
                    vectors[i * DIM..(i + 1) * DIM].iter().map(|x| x + QUERY_NOISE * rng.normal() as f32).collect();
                normalise(&mut q);
                q
            })
            .collect();
        Fixture { vectors, trained, block_bytes, blocks, queries }
    })
}

/// (block, offset) of the `k` best rows by exact inner product among those `keep` keeps.
fn exact_top(fx: &Fixture, query: &[f32], k: usize, keep: impl Fn(usize, usize) -> bool) -> Vec<(usize, i64)> {
    let mut scored = Vec::new();
    for b in 0..BLOCKS {
        for o in 0..BLOCK_ROWS {
            if keep(b, o) {
                scored.push((dot(query, fx.row(b, o)), b, o as i64));
            }
        }
    }
    scored.sort_by(|x, y| y.0.total_cmp(&x.0));
    scored.into_iter().take(k).map(|(_, b, o)| (b, o)).collect()
}

struct Approx {
    /// The best 10 by approximate score.
    pq_top: Vec<(usize, i64)>,
    /// The best 10 of all blocks' candidates, re-ranked by exact inner product.
    reranked_top: Vec<(usize, i64)>,
    scanned: usize,
    hits: Vec<(usize, Hit)>,
}

fn approx_top(fx: &Fixture, query: &[f32], nprobe: usize, per_block: usize, filters: Option<&[Vec<u8>]>) -> Approx {
    let probes = fx.trained.coarse(query, nprobe).unwrap();
    let mut q = Query::new(&fx.trained, query, probes).unwrap();
    let mut hits = Vec::new();
    let mut scanned = 0;
    for (b, block) in fx.blocks.iter().enumerate() {
        let found = q.search_block(block, per_block, filters.map(|f| &f[b][..])).unwrap();
        assert!(found.hits.windows(2).all(|w| w[0].score >= w[1].score), "best first");
        scanned += found.scanned;
        hits.extend(found.hits.into_iter().map(|h| (b, h)));
    }
    let mut by_pq = hits.clone();
    by_pq.sort_by(|x, y| y.1.score.total_cmp(&x.1.score));
    let pq_top = by_pq.iter().take(10).map(|(b, h)| (*b, h.id)).collect();
    let mut exact: Vec<(f32, usize, i64)> =
        hits.iter().map(|(b, h)| (dot(query, fx.row(*b, h.id as usize)), *b, h.id)).collect();
    exact.sort_by(|x, y| y.0.total_cmp(&x.0));
    let reranked_top = exact.into_iter().take(10).map(|(_, b, id)| (b, id)).collect();
    Approx { pq_top, reranked_top, scanned, hits }
}

fn overlap(a: &[(usize, i64)], b: &[(usize, i64)]) -> usize {
    a.iter().filter(|x| b.contains(x)).count()
}

#[test]
fn reranked_recall_at_10_is_high_while_few_vectors_are_scanned() {
    let fx = fixture();
    let total = BLOCKS * BLOCK_ROWS;
    // Floors: measured (0.953, 0.981, 0.997 re-ranked; 0.67 to 0.68 by PQ scores alone) minus a
    // margin.
    let mut previous = 0.0;
    for (nprobe, pq_floor, reranked_floor) in [(4, 0.6, 0.92), (16, 0.6, 0.95), (64, 0.6, 0.97)] {
        let (mut pq, mut reranked, mut scanned, mut max_scanned) = (0, 0, 0, 0);
        for query in &fx.queries {
            let exact = exact_top(fx, query, 10, |_, _| true);
            let approx = approx_top(fx, query, nprobe, 40, None);
            pq += overlap(&approx.pq_top, &exact);
            reranked += overlap(&approx.reranked_top, &exact);
            scanned += approx.scanned;
            max_scanned = max_scanned.max(approx.scanned);
        }
        let pq = pq as f64 / (10 * QUERIES) as f64;
        let reranked = reranked as f64 / (10 * QUERIES) as f64;
        let mean_scanned = scanned as f64 / (QUERIES * total) as f64;
        let max_scanned = max_scanned as f64 / total as f64;
        eprintln!(
            "nprobe {nprobe}: recall@10 PQ {pq:.3}, re-ranked {reranked:.3}; scanned {:.2}% on average, {:.2}% at most",
            100.0 * mean_scanned,
            100.0 * max_scanned
        );
        assert!(pq >= pq_floor && reranked >= reranked_floor, "nprobe {nprobe}: {pq} {reranked}");
        assert!(reranked >= previous, "more probes, lower recall: {reranked} after {previous}");
        previous = reranked;
        if nprobe == 16 {
            assert!(max_scanned < 0.10, "{max_scanned}");
        }
    }
}

#[test]
fn a_block_search_finds_what_faiss_own_search_of_the_block_finds() {
    let fx = fixture();
    let (nprobe, k) = (16, 20);
    let queries: Vec<f32> = fx.queries[..20].concat();
    for b in 0..BLOCKS {
        let reference = reference_search(&fx.trained, fx.block_vectors(b), &offsets(), &queries, nprobe, k);
        for (query, expected) in fx.queries[..20].iter().zip(&reference) {
            let probes = fx.trained.coarse(query, nprobe).unwrap();
            let found = Query::new(&fx.trained, query, probes).unwrap().search_block(&fx.blocks[b], k, None).unwrap();
            assert_eq!(&found.hits, expected, "block {b}");
            assert_eq!(found.hits.len(), k);
        }
    }
}

/// One bitmap per block keeping each row with probability `p`.
fn bitmaps(p: f64, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    (0..BLOCKS)
        .map(|_| {
            let mut bits = vec![0u8; BLOCK_ROWS.div_ceil(8)];
            for o in 0..BLOCK_ROWS {
                if rng.uniform() < p {
                    bits[o >> 3] |= 1 << (o & 7);
                }
            }
            bits
        })
        .collect()
}

fn kept(bits: &[u8], offset: usize) -> bool {
    bits[offset >> 3] >> (offset & 7) & 1 == 1
}

#[test]
fn a_filter_keeps_only_its_rows_and_finds_their_nearest() {
    let fx = fixture();
    // Floors: measured minus a margin (10%: 0.907 at nprobe 16, 0.977 at 64; 1%: 0.785 at 64,
    // 0.942 at 128, 1.0 at 256, all lists). A selective filter's nearest rows lie in many lists.
    for (p, nprobe, floor) in
        [(0.10, 16, 0.85), (0.10, 64, 0.94), (0.01, 64, 0.70), (0.01, 128, 0.90), (0.01, 256, 0.98)]
    {
        let filters = bitmaps(p, 5);
        let kept_rows: usize = filters.iter().map(|f| f.iter().map(|b| b.count_ones() as usize).sum::<usize>()).sum();
        let (mut recall, mut scanned) = (0, 0);
        for query in &fx.queries {
            let exact = exact_top(fx, query, 10, |b, o| kept(&filters[b], o));
            let approx = approx_top(fx, query, nprobe, 40, Some(&filters));
            for (b, hit) in &approx.hits {
                assert!(kept(&filters[*b], hit.id as usize), "block {b} row {} is not in the filter", hit.id);
            }
            recall += overlap(&approx.reranked_top, &exact);
            scanned += approx.scanned;
        }
        let recall = recall as f64 / (10 * QUERIES) as f64;
        eprintln!(
            "filter keeping {kept_rows} rows ({:.0}%), nprobe {nprobe}: recall@10 re-ranked {recall:.3}, scanned {:.2}%",
            100.0 * p,
            100.0 * scanned as f64 / (QUERIES * BLOCKS * BLOCK_ROWS) as f64
        );
        assert!(recall >= floor, "{p} {nprobe}: {recall}");
    }
    // A filter keeping nothing finds nothing; one shorter than the block keeps no row past it.
    let query = &fx.queries[0];
    let mut q = Query::new(&fx.trained, query, fx.trained.coarse(query, 256).unwrap()).unwrap();
    let none = q.search_block(&fx.blocks[0], 10, Some(&[0; BLOCK_ROWS / 8])).unwrap();
    assert!(none.hits.is_empty() && none.scanned == BLOCK_ROWS, "{none:?}");
    let short = q.search_block(&fx.blocks[0], 100, Some(&[0xff; 2])).unwrap();
    assert_eq!(short.hits.len(), 16);
    assert!(short.hits.iter().all(|h| h.id < 16));
    // The same query object searches unfiltered again afterwards.
    assert_eq!(q.search_block(&fx.blocks[0], 10, None).unwrap().hits.len(), 10);
    // Probing a prefix of the probes scans a part of what all of them do.
    let all = q.search_block(&fx.blocks[0], 10, None).unwrap();
    let fewer = q.search_block_probing(&fx.blocks[0], 10, None, 1).unwrap();
    assert!(fewer.scanned > 0 && fewer.scanned < all.scanned, "{} of {}", fewer.scanned, all.scanned);
}

#[test]
fn a_filter_resolved_into_kept_entries_finds_what_the_bitmap_finds_reading_only_kept_entries() {
    let fx = fixture();
    for (p, nprobe) in [(0.01, 128), (0.10, 64), (0.5, 16)] {
        let filters = bitmaps(p, 17);
        for (b, block) in fx.blocks.iter().enumerate() {
            let kept_entries = block.kept_entries(&filters[b]).unwrap();
            let kept_rows: usize = filters[b].iter().map(|byte| byte.count_ones() as usize).sum();
            assert_eq!(kept_entries.len(), kept_rows, "every kept row is an entry of exactly one list");
            for query in fx.queries.iter().take(5) {
                let mut q = Query::new(&fx.trained, query, fx.trained.coarse(query, nprobe).unwrap()).unwrap();
                let by_bitmap = q.search_block(block, 40, Some(&filters[b])).unwrap();
                let by_entries = q.search_kept_probing(block, &kept_entries, 40, nprobe).unwrap();
                assert_eq!(by_entries.hits, by_bitmap.hits, "{p} block {b}");
                assert!(by_entries.hits.iter().all(|h| kept(&filters[b], h.id as usize)));
                // The bitmap reads every entry of the probed lists; the entries only the kept ones.
                assert!(
                    (by_entries.scanned as f64) < by_bitmap.scanned as f64 * (p + 0.2),
                    "{p}: {} of {}",
                    by_entries.scanned,
                    by_bitmap.scanned
                );
            }
        }
    }
    // Kept entries belong to their block: given another block, the search refuses.
    let filter = bitmaps(0.1, 3);
    let entries = fx.blocks[0].kept_entries(&filter[0]).unwrap();
    let query = &fx.queries[0];
    let mut q = Query::new(&fx.trained, query, fx.trained.coarse(query, 8).unwrap()).unwrap();
    let empty = BlockLists::open(encode_block(&fx.trained, &[], &[], 1).unwrap()).unwrap();
    assert!(matches!(q.search_kept_probing(&empty, &entries, 10, 8), Err(Error::Invalid(_))));
    // A filter keeping nothing keeps no entry, and finds nothing.
    let none = fx.blocks[0].kept_entries(&[]).unwrap();
    assert!(none.is_empty());
    let found = q.search_kept_probing(&fx.blocks[0], &none, 10, 8).unwrap();
    assert!(found.hits.is_empty() && found.scanned == 0);
}

#[test]
fn a_batch_of_queries_probes_the_lists_each_query_probes_alone() {
    let fx = fixture();
    // More queries than one batch scores at once (the fixture's, then again).
    let queries: Vec<&Vec<f32>> = fx.queries.iter().cycle().take(COARSE_BATCH + 7).collect();
    let flat: Vec<f32> = queries.iter().flat_map(|q| q.iter().copied()).collect();
    for nprobe in [1, 16, NLIST, NLIST + 5] {
        let many = fx.trained.coarse_many(&flat, nprobe).unwrap();
        assert_eq!(many.len(), queries.len());
        for (query, batch) in queries.iter().zip(&many) {
            let alone = fx.trained.coarse(query, nprobe).unwrap();
            let lists = |p: &Probes| p.as_slice().iter().map(|p| p.list).collect::<Vec<_>>();
            assert_eq!(lists(batch), lists(&alone), "nprobe {nprobe}");
            for (a, b) in batch.as_slice().iter().zip(alone.as_slice()) {
                assert!((a.score - b.score).abs() < 1e-5, "{} vs {}", a.score, b.score);
            }
        }
    }
    assert!(fx.trained.coarse_many(&[], 4).unwrap().is_empty());
    assert!(matches!(fx.trained.coarse_many(&flat[..DIM - 1], 4), Err(Error::Invalid(_))));
    assert!(matches!(fx.trained.coarse_many(&flat, 0), Err(Error::Invalid(_))));
    let mut bad = flat[..DIM].to_vec();
    bad[3] = f32::NAN;
    assert!(matches!(fx.trained.coarse_many(&bad, 4), Err(Error::Invalid(_))));
}

/// A small model: 64 dimensions, 32 lists, 8 sub-quantizers, 3000 sample vectors.
fn small(seed: u32, threads: usize) -> (Vec<f32>, Trained) {
    let vectors = clustered(3000, DIM, 11);
    let params = TrainParams { dim: DIM, nlist: 32, m: 8, seed, threads };
    let trained = Trained::train(&params, &vectors).unwrap();
    (vectors, trained)
}

#[test]
fn the_same_sample_and_seed_train_the_same_bytes_on_any_thread_count() {
    let (vectors, one) = small(3, 1);
    let bytes = one.to_bytes().unwrap();
    assert_eq!(small(3, 1).1.to_bytes().unwrap(), bytes);
    assert_eq!(small(3, 2).1.to_bytes().unwrap(), bytes, "training on 2 threads differs");
    assert_ne!(small(4, 1).1.to_bytes().unwrap(), bytes, "the seed changes nothing");

    let ids: Vec<i64> = (0..3000).map(|i| i * 7).collect();
    let block = encode_block(&one, &vectors, &ids, 1).unwrap();
    assert_eq!(encode_block(&one, &vectors, &ids, 1).unwrap(), block);
    assert_eq!(encode_block(&one, &vectors, &ids, 2).unwrap(), block, "encoding on 2 threads differs");
    let lists = BlockLists::open(block).unwrap();
    lists.verify().unwrap();
    assert_eq!((lists.len(), lists.nlist(), lists.code_size()), (3000, 32, 8));
}

#[test]
fn a_model_read_back_from_its_bytes_searches_the_same() {
    let fx = fixture();
    let bytes = fx.trained.to_bytes().unwrap();
    let read = Trained::from_bytes(&bytes).unwrap();
    assert_eq!(read.to_bytes().unwrap(), bytes);
    assert_eq!((read.dim(), read.nlist(), read.code_size()), (DIM, NLIST, M));
    for query in &fx.queries[..20] {
        let probes = fx.trained.coarse(query, 16).unwrap();
        assert_eq!(read.coarse(query, 16).unwrap(), probes);
        let mut a = Query::new(&fx.trained, query, probes.clone()).unwrap();
        let mut b = Query::new(&read, query, probes).unwrap();
        for block in &fx.blocks {
            assert_eq!(a.search_block(block, 10, None).unwrap(), b.search_block(block, 10, None).unwrap());
        }
    }
}

#[test]
fn threads_share_a_model_and_blocks_and_find_what_one_thread_finds() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Trained>();
    send_sync::<BlockLists>();
    send_sync::<crate::Probes>();
    send::<Query<'static>>();

    let fx = fixture();
    let search = |query: &Vec<f32>| -> Vec<crate::BlockHits> {
        let mut q = Query::new(&fx.trained, query, fx.trained.coarse(query, 16).unwrap()).unwrap();
        fx.blocks.iter().map(|b| q.search_block(b, 10, None).unwrap()).collect()
    };
    let alone: Vec<_> = fx.queries.iter().map(search).collect();
    let together: Vec<Vec<_>> = std::thread::scope(|s| {
        let halves: Vec<_> = fx
            .queries
            .chunks(QUERIES / 2)
            .map(|chunk| s.spawn(move || chunk.iter().map(search).collect::<Vec<_>>()))
            .collect();
        halves.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(alone, together);
}

#[test]
fn an_empty_block_and_a_large_k_are_fine() {
    let fx = fixture();
    let empty = BlockLists::open(encode_block(&fx.trained, &[], &[], 1).unwrap()).unwrap();
    assert!(empty.is_empty());
    let query = &fx.queries[0];
    let mut q = Query::new(&fx.trained, query, fx.trained.coarse(query, 8).unwrap()).unwrap();
    let found = q.search_block(&empty, 10, None).unwrap();
    assert!(found.hits.is_empty() && found.scanned == 0);
    let found = q.search_block(&fx.blocks[0], 1_000_000_000, None).unwrap();
    assert_eq!(found.hits.len(), found.scanned);
    let mut ids: Vec<i64> = found.hits.iter().map(|h| h.id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), found.scanned, "an entry returned twice");
}

#[test]
fn bad_arguments_are_errors() {
    let fx = fixture();
    let t = &fx.trained;
    let invalid = |r: Result<(), Error>| assert!(matches!(r, Err(Error::Invalid(_))), "{r:?}");
    let v = &fx.vectors[..10 * DIM];
    invalid(encode_block(t, &v[1..], &offsets()[..10], 1).map(drop));
    invalid(encode_block(t, v, &[0, 1, 2, 3, -4, 5, 6, 7, 8, 9], 1).map(drop));
    let mut nan = v.to_vec();
    nan[17] = f32::NAN;
    invalid(encode_block(t, &nan, &offsets()[..10], 1).map(drop));
    let params = |dim, nlist, m| TrainParams { dim, nlist, m, seed: 1, threads: 1 };
    invalid(Trained::train(&params(DIM, 16, 7), &fx.vectors[..1000 * DIM]).map(drop));
    invalid(Trained::train(&params(DIM, 16, 8), &fx.vectors[..255 * DIM]).map(drop));
    invalid(Trained::train(&params(DIM, 400, 8), &fx.vectors[..300 * DIM]).map(drop));
    invalid(Trained::train(&params(DIM, 0, 8), &fx.vectors[..1000 * DIM]).map(drop));
    invalid(Trained::train(&params(DIM, 16, 8), &fx.vectors[..1000 * DIM - 1]).map(drop));
    let query = &fx.queries[0];
    invalid(t.coarse(query, 0).map(drop));
    invalid(t.coarse(&query[1..], 4).map(drop));
    let probes = t.coarse(query, 300).unwrap();
    assert_eq!(probes.as_slice().len(), NLIST, "nprobe is at most nlist");
    invalid(Query::new(t, &query[1..], probes.clone()).map(drop));
    let mut q = Query::new(t, query, probes).unwrap();
    invalid(q.search_block(&fx.blocks[0], 0, None).map(drop));
}

/// Rewrites a block's header checksum after a change, so the check after it is reached (if
/// the list count still leaves the table inside the bytes).
fn fix_table_crc(bytes: &mut [u8]) {
    let nlist = u64::from_le_bytes(bytes[16..24].try_into().unwrap());
    let end = nlist.checked_add(1).and_then(|l| l.checked_mul(8)).and_then(|l| l.checked_add(48));
    if let Some(head) = end.and_then(|end| bytes.get(..usize::try_from(end).ok()?)) {
        let crc = super::block::tests_table_crc(head);
        bytes[12..16].copy_from_slice(&crc.to_le_bytes());
    }
}

fn damaged_block(bytes: Vec<u8>, says: &str) {
    match BlockLists::open(bytes) {
        Err(Error::Damaged { what: "block lists", why }) => assert!(why.contains(says), "{why}"),
        other => panic!("expected damaged block lists ({says}), got {other:?}"),
    }
}

#[test]
fn damaged_block_bytes_are_errors_never_crashes() {
    let fx = fixture();
    let good = &fx.block_bytes[0];
    let codes_at = 48 + 8 * (NLIST + 1);
    for len in [0, 7, 47, 48, codes_at, good.len() - 8, good.len() - 1] {
        damaged_block(good[..len].to_vec(), "bytes");
    }
    damaged_block([good.as_slice(), &[0; 8]].concat(), "bytes");
    let mut b = good.clone();
    b[0] = b'Q';
    damaged_block(b, "magic");
    let mut b = good.clone();
    b[8] = 2;
    damaged_block(b, "version");
    // A list ending past the next one's end: the checksum, then (checksum rewritten) the table.
    // (A boundary moved within its neighbours' is a valid table: the checksum alone catches it.)
    let entry = |l: usize| 48 + 8 * l;
    let table = |b: &[u8], l: usize| u64::from_le_bytes(b[entry(l)..entry(l) + 8].try_into().unwrap());
    let mut b = good.clone();
    let past = (table(&b, 101) + 1).to_le_bytes();
    b[entry(100)..entry(100) + 8].copy_from_slice(&past);
    damaged_block(b.clone(), "checksum");
    fix_table_crc(&mut b);
    damaged_block(b, "list table entry 101");
    // Sizes summing to fewer entries than the header says.
    let mut b = good.clone();
    let last = (BLOCK_ROWS as u64 - 1).to_le_bytes();
    b[entry(NLIST)..entry(NLIST) + 8].copy_from_slice(&last);
    fix_table_crc(&mut b);
    damaged_block(b, "the lists hold 9999 entries, the header says 10000");
    // A header claiming another entry count: the length no longer fits.
    let mut b = good.clone();
    b[32] ^= 1;
    fix_table_crc(&mut b);
    damaged_block(b, "bytes, but");
    // Absurd sizes overflow nothing.
    let mut b = good.clone();
    b[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    damaged_block(b, "lists");
    // Every header and table byte changed (checksum rewritten): an error or a block that
    // searches without crashing.
    let query = &fx.queries[0];
    let mut q = Query::new(&fx.trained, query, fx.trained.coarse(query, NLIST).unwrap()).unwrap();
    let (mut opened, mut refused) = (0, 0);
    for at in (0..codes_at).filter(|at| !(12..16).contains(at)) {
        let mut b = good.clone();
        b[at] = b[at].wrapping_add(1 + (at % 200) as u8);
        fix_table_crc(&mut b);
        match BlockLists::open(b) {
            Ok(block) => {
                opened += 1;
                let _ = q.search_block(&block, 10, None);
            }
            Err(_) => refused += 1,
        }
    }
    eprintln!("header and table bytes changed: {opened} blocks still open (and search), {refused} refused");
    assert!(opened > 0 && refused > 0);
    // A changed code or id passes the open (which reads neither) but not `verify`.
    let mut b = good.clone();
    let n = b.len();
    b[n - 3] ^= 0x40;
    let block = BlockLists::open(b).unwrap();
    assert!(matches!(block.verify(), Err(Error::Damaged { .. })));
    fx.blocks[0].verify().unwrap();
    // Bytes not at a multiple of 8 in memory.
    struct Shifted(Vec<u8>);
    impl AsRef<[u8]> for Shifted {
        fn as_ref(&self) -> &[u8] {
            &self.0[1..]
        }
    }
    let shifted = Shifted([&[0u8][..], good].concat());
    assert!(matches!(BlockLists::open(shifted), Err(Error::Invalid(_))));
}

#[test]
fn a_block_of_another_model_is_a_mismatch() {
    let fx = fixture();
    let (_, other) = small(3, 1);
    let query = &fx.queries[0];
    let mut q = Query::new(&other, query, other.coarse(query, 4).unwrap()).unwrap();
    match q.search_block(&fx.blocks[0], 10, None) {
        Err(Error::Mismatch { block_lists: NLIST, block_code_size: M, model_lists: 32, model_code_size: 8 }) => {}
        other => panic!("{other:?}"),
    }
}

fn damaged_model(bytes: &[u8], says: &str) {
    match Trained::from_bytes(bytes) {
        Err(Error::Damaged { what: "trained model", why }) => assert!(why.contains(says), "{why}"),
        other => panic!("expected a damaged trained model ({says}), got {other:?}"),
    }
}

/// `bytes` with a new payload (and header claims), the checksum rewritten.
fn rewrap(bytes: &[u8], header: &[(usize, u64)], payload: &[u8]) -> Vec<u8> {
    let mut out = bytes[..48].to_vec();
    for (at, v) in header {
        out[*at..*at + 8].copy_from_slice(&v.to_le_bytes());
    }
    out[40..48].copy_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

#[test]
fn damaged_model_bytes_are_errors_never_crashes() {
    let (_, trained) = small(3, 1);
    let good = trained.to_bytes().unwrap();
    let payload = &good[48..good.len() - 4];
    let mut rng = Rng(1);
    let garbage: Vec<u8> = (0..5000).map(|_| rng.next_u64() as u8).collect();
    damaged_model(&garbage, "magic");
    damaged_model(&[], "fewer than a header");
    damaged_model(&good[..good.len() - 1], "the header says");
    let mut b = good.clone();
    b[1000] ^= 1;
    damaged_model(&b, "checksum");
    let mut b = good.clone();
    b[8] = 9;
    damaged_model(&b, "version");
    // Checksums that hold over what faiss cannot read, or reads as another model: faiss's
    // exceptions and the checks after reading.
    damaged_model(&rewrap(&good, &[], &garbage), "faiss");
    damaged_model(&rewrap(&good, &[], &payload[..payload.len() / 2]), "faiss");
    damaged_model(&rewrap(&good, &[], &[payload, &[0]].concat()), "1 bytes after the index");
    damaged_model(&rewrap(&good, &[(16, 32)], payload), "dimension 64, expected 32");
    damaged_model(&rewrap(&good, &[(24, 16)], payload), "32 lists, expected 16");
    damaged_model(&rewrap(&good, &[(32, 16)], payload), "sub-quantizers");
    damaged_model(&rewrap(&good, &[(32, 7)], payload), "cannot split");
    damaged_model(&rewrap(&good, &[(16, 0)], payload), "dimensions 0");
    // Each payload byte in turn changed (every 97th): an error, or a model that works.
    for at in (0..payload.len()).step_by(97) {
        let mut p = payload.to_vec();
        p[at] = p[at].wrapping_add(1 + (at % 200) as u8);
        if let Ok(read) = Trained::from_bytes(&rewrap(&good, &[], &p)) {
            let query = &clustered(1, DIM, 3)[..];
            if let Ok(probes) = read.coarse(query, 4) {
                let _ = Query::new(&read, query, probes);
            }
        }
    }
}
