//! The fetch benchmark's image server (`bench/run --only fetch`): serves generated images over
//! many loopback hosts with per-request latency, and writes the URL list both fetchers read.
//!
//! ```text
//! image_server --rows N --hosts H --list LIST.parquet [--seed S] [--pool P]
//! ```
//!
//! Host `h` is the address 127.1.(h / 250).(h % 250 + 1), every one on the same port (printed
//! on stdout once all listen). URL `i` is on host `i % H`; it is a JPEG or PNG of 200–2,000
//! pixels a side from a pool of `P` generated once (random size and content), or, for about
//! 1 in 20, broken: a 404, a truncated JPEG or an HTML page served as `image/jpeg`. Each answer
//! waits 20–200 ms first (decided by the URL, so every run sees the same latencies). Runs until
//! killed.

#![allow(clippy::expect_used, reason = "a benchmark tool: it stops at the first failure, saying where")]

use std::io::{Cursor, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rand::{Rng, SeedableRng};

/// One image of the pool, encoded.
struct Pooled {
    bytes: bytes::Bytes,
    content_type: &'static str,
}

/// What URL `i` answers.
enum Answer {
    Image(usize),
    Missing,
    Truncated(usize),
    Html,
}

fn answer_of(i: u64, seed: u64, pool: usize) -> (Answer, Duration) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let latency = Duration::from_millis(rng.random_range(20..=200));
    let image = rng.random_range(0..pool);
    let answer = match rng.random_range(0..100) {
        0..2 => Answer::Missing,
        2..4 => Answer::Truncated(image),
        4..5 => Answer::Html,
        _ => Answer::Image(image),
    };
    (answer, latency)
}

fn make_pool(size: usize, seed: u64) -> Vec<Pooled> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..size)
        .map(|_| {
            let (width, height) = (rng.random_range(200..=2000u32), rng.random_range(200..=2000u32));
            let (r, g, b) = (rng.random::<u8>(), rng.random::<u8>(), rng.random::<u8>());
            let noise_seed = rng.random::<u64>();
            // A gradient with some noise: compresses like a photo more than a flat field does.
            let mut noise = rand::rngs::StdRng::seed_from_u64(noise_seed);
            let pixels = image::RgbImage::from_fn(width, height, |x, y| {
                let n = noise.random_range(0..24u8);
                image::Rgb([
                    r.wrapping_add((x * 255 / width) as u8 / 2).wrapping_add(n),
                    g.wrapping_add((y * 255 / height) as u8 / 2).wrapping_add(n),
                    b.wrapping_add(n),
                ])
            });
            let png = rng.random_range(0..4) == 0;
            let (format, content_type) =
                if png { (image::ImageFormat::Png, "image/png") } else { (image::ImageFormat::Jpeg, "image/jpeg") };
            let mut bytes = Vec::new();
            image::DynamicImage::ImageRgb8(pixels).write_to(&mut Cursor::new(&mut bytes), format).expect("encodes");
            Pooled { bytes: bytes.into(), content_type }
        })
        .collect()
}

struct Site {
    pool: Vec<Pooled>,
    seed: u64,
}

async fn serve(State(site): State<Arc<Site>>, Path(name): Path<String>) -> Response {
    let Some(i) = name.split('.').next().and_then(|n| n.parse::<u64>().ok()) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let (answer, latency) = answer_of(i, site.seed, site.pool.len());
    tokio::time::sleep(latency).await;
    match answer {
        Answer::Image(n) => {
            let image = &site.pool[n];
            ([(header::CONTENT_TYPE, image.content_type)], image.bytes.clone()).into_response()
        }
        Answer::Truncated(n) => {
            let image = &site.pool[n];
            ([(header::CONTENT_TYPE, image.content_type)], image.bytes.slice(..image.bytes.len() / 3)).into_response()
        }
        Answer::Html => ([(header::CONTENT_TYPE, "image/jpeg")], "<html><body>gone</body></html>").into_response(),
        Answer::Missing => StatusCode::NOT_FOUND.into_response(),
    }
}

fn host(h: u64) -> Ipv4Addr {
    Ipv4Addr::new(127, 1, (h / 250) as u8, (h % 250 + 1) as u8)
}

fn write_list(path: &std::path::Path, rows: u64, hosts: u64, port: u16) {
    let urls: Vec<String> = (0..rows).map(|i| format!("http://{}:{port}/i/{i}.jpg", host(i % hosts))).collect();
    let captions: Vec<String> = (0..rows).map(|i| format!("generated image {i}")).collect();
    let schema = Arc::new(Schema::new(vec![
        Field::new("url", DataType::Utf8, false),
        Field::new("caption", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![Arc::new(StringArray::from(urls)), Arc::new(StringArray::from(captions))];
    let batch = RecordBatch::try_new(schema.clone(), columns).expect("batch");
    let file = std::fs::File::create(path).expect("the list file");
    let mut writer = parquet::arrow::ArrowWriter::try_new(file, schema, None).expect("writer");
    writer.write(&batch).expect("write");
    writer.close().expect("close");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let rows: u64 = flag("--rows").and_then(|v| v.parse().ok()).unwrap_or(20_000);
    let hosts: u64 = flag("--hosts").and_then(|v| v.parse().ok()).unwrap_or(256).clamp(1, 62_500);
    let seed: u64 = flag("--seed").and_then(|v| v.parse().ok()).unwrap_or(7);
    let pool_size: usize = flag("--pool").and_then(|v| v.parse().ok()).unwrap_or(300).max(1);
    let list = flag("--list").expect("--list LIST.parquet");
    let site = Arc::new(Site { pool: make_pool(pool_size, seed), seed });

    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    runtime.block_on(async move {
        let first = tokio::net::TcpListener::bind((IpAddr::V4(host(0)), 0)).await.expect("bind");
        let port = first.local_addr().expect("address").port();
        let mut listeners = vec![first];
        for h in 1..hosts {
            listeners.push(tokio::net::TcpListener::bind((IpAddr::V4(host(h)), port)).await.expect("bind"));
        }
        write_list(std::path::Path::new(&list), rows, hosts, port);
        let app = Router::new().route("/i/{name}", get(serve)).with_state(site);
        for listener in listeners {
            let app = app.clone();
            tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        }
        println!("{port}");
        std::io::stdout().flush().expect("stdout");
        std::future::pending::<()>().await;
    });
}
