//! A fetch run's shards: resumable per image, assembled in key order, byte-identical whatever
//! the order samples were fetched in and however often the run was interrupted.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

use std::fs;
use std::io::Read;
use std::path::Path;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{Int64Type, UInt32Type};
use pairscope_fetch::shard::{OutputFormat, Sample, ShardError, ShardWriter, is_finished, partial_path, sample_key};

fn sample(index: u64) -> Sample {
    let ok = !index.is_multiple_of(3);
    Sample {
        key: sample_key(7, index, 10_000),
        url: format!("http://host{}.test/{index}.jpg", index % 4),
        caption: (index != 4).then(|| format!("caption {index} with ünïcode")),
        status: if ok { "ok".into() } else { "http_404".into() },
        error_message: if ok { String::new() } else { "404 Not Found".into() },
        width: ok.then_some(256),
        height: ok.then_some(192),
        original_width: ok.then_some(1024),
        original_height: ok.then_some(768),
        md5: ok.then(|| format!("{index:032x}")),
        sha1: ok.then(|| format!("{index:040x}")),
        sha256: ok.then(|| format!("{index:064x}")),
        row_id: Some(1_000 + index as i64),
        image: ok.then(|| vec![0xFF, 0xD8, index as u8, 0xFF, 0xD9]),
    }
}

fn keys(n: u64) -> Vec<String> {
    (0..n).map(|i| sample_key(7, i, 10_000)).collect()
}

/// The members of a tar file: (name, mode, mtime, uid, gid, bytes).
fn members(path: &Path) -> Vec<(String, u32, u64, u64, u64, Vec<u8>)> {
    let mut archive = tar::Archive::new(fs::File::open(path).unwrap());
    archive
        .entries()
        .unwrap()
        .map(|entry| {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).unwrap();
            (
                entry.path().unwrap().to_string_lossy().into_owned(),
                header.mode().unwrap(),
                header.mtime().unwrap(),
                header.uid().unwrap(),
                header.gid().unwrap(),
                bytes,
            )
        })
        .collect()
}

#[test]
fn keys_pad_the_index_to_the_shard_size_like_img2dataset() {
    assert_eq!(sample_key(7, 3, 10_000), "000070003");
    assert_eq!(sample_key(12, 999, 1_000), "00012999");
    assert_eq!(sample_key(0, 0, 1), "000000");
}

#[test]
fn an_interrupted_shard_resumes_and_ends_byte_identical_to_an_uninterrupted_one() {
    let n = 10;
    // One run, samples in fetch order (not key order).
    let straight = tempfile::tempdir().unwrap();
    let writer = ShardWriter::open(straight.path(), 7).unwrap();
    for i in [3, 1, 4, 0, 5, 9, 2, 6, 8, 7] {
        writer.put(&sample(i)).unwrap();
    }
    writer.finish(&keys(n), OutputFormat::Webdataset).unwrap();

    // A run killed after some samples, the last of them half-written (its journal record cut
    // short), then started again. Before that, sample 3 was put with an image by an attempt
    // whose retry then failed: the last record of a key is the one kept.
    let resumed = tempfile::tempdir().unwrap();
    let first = ShardWriter::open(resumed.path(), 7).unwrap();
    let failed = sample(3);
    assert!(failed.image.is_none());
    first.put(&Sample { image: Some(b"stale".to_vec()), status: "ok".into(), ..failed.clone() }).unwrap();
    for i in [9, 0, 2, 3] {
        first.put(&sample(i)).unwrap();
    }
    let journal = partial_path(resumed.path(), 7);
    let whole = fs::metadata(&journal).unwrap().len();
    first.put(&sample(5)).unwrap();
    drop(first);
    let cut = whole + (fs::metadata(&journal).unwrap().len() - whole) / 2;
    fs::OpenOptions::new().write(true).open(&journal).unwrap().set_len(cut).unwrap();
    let again = ShardWriter::open(resumed.path(), 7).unwrap();
    let done = again.done().unwrap();
    assert_eq!(done, [0, 2, 3, 9].map(|i| sample_key(7, i, 10_000)).into_iter().collect());
    assert!(!is_finished(resumed.path(), 7));
    for i in (0..n).filter(|i| !done.contains(&sample_key(7, *i, 10_000))) {
        again.put(&sample(i)).unwrap();
    }
    let stats = again.finish(&keys(n), OutputFormat::Webdataset).unwrap();

    for name in ["00007.tar", "00007.parquet", "00007_stats.json"] {
        assert_eq!(
            fs::read(straight.path().join(name)).unwrap(),
            fs::read(resumed.path().join(name)).unwrap(),
            "{name} differs"
        );
    }
    assert!(is_finished(resumed.path(), 7));
    assert!(!resumed.path().join("00007.partial").exists());
    assert_eq!(stats.count, n);
    assert_eq!(stats.successes, 6);
    assert_eq!(stats.status_dict.get("http_404"), Some(&4));
}

#[test]
fn tar_members_are_in_key_order_with_fixed_metadata_and_the_samples_content() {
    let out = tempfile::tempdir().unwrap();
    let writer = ShardWriter::open(out.path(), 7).unwrap();
    for i in (0..6).rev() {
        writer.put(&sample(i)).unwrap();
    }
    writer.finish(&keys(6), OutputFormat::Webdataset).unwrap();
    let members = members(&out.path().join("00007.tar"));
    let mut expected_names = Vec::new();
    for i in 0..6 {
        let s = sample(i);
        if s.image.is_some() {
            expected_names.push(format!("{}.jpg", s.key));
        }
        expected_names.push(format!("{}.txt", s.key));
        expected_names.push(format!("{}.json", s.key));
    }
    assert_eq!(members.iter().map(|m| m.0.clone()).collect::<Vec<_>>(), expected_names);
    assert!(members.iter().all(|m| (m.1, m.2, m.3, m.4) == (0o644, 0, 0, 0)));
    let s1 = sample(1);
    let find = |name: String| members.iter().find(|m| m.0 == name).unwrap().5.clone();
    assert_eq!(find(format!("{}.jpg", s1.key)), s1.image.clone().unwrap());
    assert_eq!(String::from_utf8(find(format!("{}.txt", s1.key))).unwrap(), s1.caption.clone().unwrap());
    let json: serde_json::Value = serde_json::from_slice(&find(format!("{}.json", s1.key))).unwrap();
    assert_eq!(json["url"], s1.url);
    assert_eq!(json["original_width"], 1024);
    assert_eq!(json["sha256"], s1.sha256.clone().unwrap());
    // A sample without a caption has an empty caption file, not a missing one.
    assert!(find(format!("{}.txt", sample(4).key)).is_empty());
}

#[test]
fn the_parquet_file_has_a_row_per_input_row_in_key_order() {
    let out = tempfile::tempdir().unwrap();
    let writer = ShardWriter::open(out.path(), 7).unwrap();
    for i in [2, 0, 1, 3] {
        writer.put(&sample(i)).unwrap();
    }
    writer.finish(&keys(4), OutputFormat::Parquet).unwrap();
    assert!(!out.path().join("00007.tar").exists());
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        fs::File::open(out.path().join("00007.parquet")).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let batch = arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap();
    let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(names, pairscope_fetch::shard::PARQUET_COLUMNS.map(String::from).to_vec());
    assert_eq!(batch.num_rows(), 4);
    let key = batch.column_by_name("key").unwrap().as_string::<i32>();
    assert_eq!((0..4).map(|i| key.value(i).to_string()).collect::<Vec<_>>(), keys(4));
    let status = batch.column_by_name("status").unwrap().as_string::<i32>();
    assert_eq!(status.value(0), "http_404");
    assert_eq!(status.value(1), "ok");
    let width = batch.column_by_name("width").unwrap().as_primitive::<UInt32Type>();
    assert!(width.is_null(0));
    assert_eq!(width.value(1), 256);
    let row_id = batch.column_by_name("row_id").unwrap().as_primitive::<Int64Type>();
    assert_eq!(row_id.value(3), 1_003);
}

#[test]
fn the_files_format_writes_each_sample_file_into_the_shard_directory() {
    let out = tempfile::tempdir().unwrap();
    let writer = ShardWriter::open(out.path(), 7).unwrap();
    for i in 0..3 {
        writer.put(&sample(i)).unwrap();
    }
    writer.finish(&keys(3), OutputFormat::Files).unwrap();
    let dir = out.path().join("00007");
    let s2 = sample(2);
    assert_eq!(fs::read(dir.join(format!("{}.jpg", s2.key))).unwrap(), s2.image.unwrap());
    assert!(!dir.join(format!("{}.jpg", sample(0).key)).exists());
    assert!(dir.join(format!("{}.json", sample(0).key)).exists());
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 2 + 3 + 3);
}

#[test]
fn a_shard_with_samples_missing_is_not_assembled_and_keeps_what_it_has() {
    let out = tempfile::tempdir().unwrap();
    let writer = ShardWriter::open(out.path(), 7).unwrap();
    writer.put(&sample(0)).unwrap();
    let error = writer.finish(&keys(3), OutputFormat::Webdataset).unwrap_err();
    assert!(matches!(error, ShardError::Incomplete { missing: 2, .. }), "{error}");
    assert!(!is_finished(out.path(), 7));
    assert!(!out.path().join("00007.tar").exists());
    assert_eq!(writer.done().unwrap().len(), 1);
    let Err(other) = ShardWriter::open(out.path(), 7) else { panic!("a shard being written was opened twice") };
    assert!(other.to_string().contains("in use by another process"), "{other}");
    drop(writer);
    assert_eq!(ShardWriter::open(out.path(), 7).unwrap().done().unwrap().len(), 1);
}

#[test]
fn damaged_sample_metadata_is_named_not_a_panic() {
    let out = tempfile::tempdir().unwrap();
    let writer = ShardWriter::open(out.path(), 7).unwrap();
    writer.put(&sample(0)).unwrap();
    drop(writer);
    // A whole record (its checksum right) whose metadata is not a sample's.
    let path = partial_path(out.path(), 7);
    let (journal, _) = pairscope_io::journal::Journal::open(&path).unwrap();
    journal.append(b"{\"not\": \"a sample\"}", b"").unwrap();
    drop(journal);
    let Err(error) = ShardWriter::open(out.path(), 7) else { panic!("a damaged journal was accepted") };
    assert!(matches!(&error, ShardError::BadRecord { path: p, record: 1, .. } if *p == path), "{error}");
    assert!(error.to_string().contains("record 1: not a sample's metadata"), "{error}");
}
