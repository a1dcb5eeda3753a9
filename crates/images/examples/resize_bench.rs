//! Resizing an RGB image the way `process` needs it, with `image::imageops` and with
//! `fast_image_resize`, on two realistic cases; plus decode and encode times for scale.
//!
//! Run: `cargo run --release -p pairscope-images --example resize_bench`. Prints the median of
//! several runs of each, in milliseconds. The numbers in the crate doc come from this.

#![allow(clippy::unwrap_used, reason = "a benchmark fails loudly on unexpected errors")]

use std::hint::black_box;
use std::time::Instant;

use fast_image_resize as fir;
use image::imageops::{self, FilterType};
use image::{Rgb, RgbImage};
use pairscope_images::{Limits, ResizeMode, ResizeOptions, process};

/// A photo-like test image: smooth gradients with a little deterministic noise, so no resizer
/// gets a flat image's shortcuts.
fn photo(width: u32, height: u32) -> RgbImage {
    let mut state = 0x2545_f491_u32;
    RgbImage::from_fn(width, height, |x, y| {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state % 32) as u8;
        Rgb([
            ((x * 255 / width) as u8).wrapping_add(noise),
            ((y * 255 / height) as u8).wrapping_add(noise),
            (((x + y) * 127 / (width + height)) as u8).wrapping_add(noise),
        ])
    })
}

/// Median wall time of `runs` calls, in milliseconds.
fn median_ms(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn fir_resize(src: &RgbImage, dst_w: u32, dst_h: u32, crop: Option<[f64; 4]>, filter: fir::FilterType) -> Vec<u8> {
    let view = fir::images::ImageRef::new(src.width(), src.height(), src.as_raw(), fir::PixelType::U8x3).unwrap();
    let mut dst = fir::images::Image::new(dst_w, dst_h, fir::PixelType::U8x3);
    let mut options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(filter));
    if let Some([l, t, w, h]) = crop {
        options = options.crop(l, t, w, h);
    }
    fir::Resizer::new().resize(&view, &mut dst, &options).unwrap();
    dst.into_vec()
}

fn main() {
    let runs = 15;
    println!(
        "case                                   | imageops Triangle | imageops Lanczos3 | fir Box | fir Hamming | fir Lanczos3"
    );
    // keep_ratio 256 of a 2000×1500 photo: 341×256.
    let big = photo(2000, 1500);
    let row = |name: &str, src: &RgbImage, w: u32, h: u32, crop: Option<[f64; 4]>| {
        let triangle = median_ms(runs, || {
            let r = imageops::resize(src, w, h, FilterType::Triangle);
            black_box(r);
        });
        let lanczos = median_ms(runs, || {
            let r = imageops::resize(src, w, h, FilterType::Lanczos3);
            black_box(r);
        });
        let fir_box = median_ms(runs, || {
            black_box(fir_resize(src, w, h, crop, fir::FilterType::Box));
        });
        let fir_hamming = median_ms(runs, || {
            black_box(fir_resize(src, w, h, crop, fir::FilterType::Hamming));
        });
        let fir_lanczos = median_ms(runs, || {
            black_box(fir_resize(src, w, h, crop, fir::FilterType::Lanczos3));
        });
        println!(
            "{name:<38} | {triangle:>17.2} | {lanczos:>17.2} | {fir_box:>7.2} | {fir_hamming:>11.2} | {fir_lanczos:>12.2}"
        );
    };
    row("2000x1500 -> keep_ratio 256 (341x256)", &big, 341, 256, None);
    // center_crop 256 of an 800×600 photo: imageops resizes to 341×256 and crops (as
    // img2dataset); fir resamples the 256×256 window only. Time includes imageops' crop.
    let mid = photo(800, 600);
    let crop_triangle = median_ms(runs, || {
        let r = imageops::resize(&mid, 341, 256, FilterType::Triangle);
        black_box(imageops::crop_imm(&r, 42, 0, 256, 256).to_image());
    });
    let crop_lanczos = median_ms(runs, || {
        let r = imageops::resize(&mid, 341, 256, FilterType::Lanczos3);
        black_box(imageops::crop_imm(&r, 42, 0, 256, 256).to_image());
    });
    let f = 800.0 / 341.0;
    let window = Some([42.0 * f, 0.0, 256.0 * f, 600.0]);
    let crop_box = median_ms(runs, || {
        black_box(fir_resize(&mid, 256, 256, window, fir::FilterType::Box));
    });
    let crop_hamming = median_ms(runs, || {
        black_box(fir_resize(&mid, 256, 256, window, fir::FilterType::Hamming));
    });
    let crop_fir_lanczos = median_ms(runs, || {
        black_box(fir_resize(&mid, 256, 256, window, fir::FilterType::Lanczos3));
    });
    println!(
        "{:<38} | {crop_triangle:>17.2} | {crop_lanczos:>17.2} | {crop_box:>7.2} | {crop_hamming:>11.2} | {crop_fir_lanczos:>12.2}",
        "800x600 -> center_crop 256 (256x256)"
    );
    // Upscaling is rarer (images smaller than 256) but img2dataset does it by default.
    let small = photo(100, 75);
    row("100x75 -> keep_ratio 256 (341x256)", &small, 341, 256, None);

    // For scale: the whole of `process` on a 2000×1500 JPEG (decode, resize, encode).
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90).encode_image(&big).unwrap();
    let limits = Limits::default();
    let options = ResizeOptions { resize_mode: ResizeMode::KeepRatio, ..ResizeOptions::default() };
    let decode = median_ms(runs, || {
        black_box(image::load_from_memory(&jpeg).unwrap());
    });
    let inspect = median_ms(runs, || {
        black_box(pairscope_images::inspect(&jpeg, &limits).unwrap());
    });
    let small_jpeg = process(&jpeg, &options, &limits).unwrap();
    let small_rgb = image::load_from_memory(&small_jpeg.jpeg).unwrap().to_rgb8();
    let encode = median_ms(runs, || {
        let mut out = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95).encode_image(&small_rgb).unwrap();
        black_box(out);
    });
    let whole = median_ms(runs, || {
        black_box(process(&jpeg, &options, &limits).unwrap());
    });
    println!(
        "2000x1500 JPEG ({} KB): inspect (header + 3 digests) {inspect:.2} ms, decode {decode:.2} ms, \
         encode 341x256 at q95 {encode:.2} ms, whole process (keep_ratio 256) {whole:.2} ms",
        jpeg.len() / 1024
    );
}
