//! What happens to the bytes of one downloaded image.
//!
//! This crate owns:
//! - [`inspect()`]: the format judged by the bytes (never the Content-Type), the size from the
//!   header, the MD5, SHA-1 and SHA-256 of the bytes as served (the digests LAION and Re-LAION
//!   image-hash removal lists are keyed by), and the refusal of decompression bombs before any
//!   pixel is decoded;
//! - [`process()`]: decoding, flattening to RGB over white, resizing with img2dataset's semantics
//!   ([`ResizeMode`], [`ResizeOptions`]: the same output width and height as img2dataset for the
//!   same input and options) and encoding the JPEG;
//! - [`ImageFailure`]: why a body is not an image we keep, as stable status names
//!   (`not_an_image`, `decode_error`, `bomb`, `too_small`, `bad_aspect_ratio`, `encode_error`).
//!
//! It never touches the network, the disk or a thread pool: one call handles one body on the
//! calling thread, so the caller decides the parallelism. It never trusts a header with memory:
//! the size a header declares is checked against [`Limits`] first, and the decoder is bounded by
//! `image::Limits` in case the header lies.
//!
//! Memory bound of one [`process()`] call: the decoder's buffers (at most
//! [`Limits::max_decode_bytes`], 512 MiB by default, beside zune-jpeg's work buffers, which are
//! proportional to at most [`Limits::max_pixels`] pixels), the decoded RGB (3 bytes × at most
//! `max_pixels`, 300 MB at the default 100 megapixels), the output pixels (196,608 bytes at
//! 256×256; never above 3 × `max_pixels`) and the JPEG. [`inspect()`] alone holds no pixels.
//!
//! Crates: `image` with only the JPEG (zune-jpeg), PNG, GIF, WebP, BMP and TIFF decoders;
//! `fast_image_resize` for resampling; `jpeg-encoder` (AVX2) for the output; `md-5`, `sha1`,
//! `sha2` for the digests.
//! `fast_image_resize` rather than `image::imageops`, which has no area-like filter (img2dataset
//! shrinks with OpenCV's `INTER_AREA`) and is 9 to 40 times slower here. Measured with
//! `examples/resize_bench.rs` (median of 15, one core of the 2-core AMD EPYC machine; the kernel
//! `process` picks is in bold):
//!
//! | resize | imageops Triangle | imageops Lanczos3 | fir Box | fir Hamming | fir Lanczos3 |
//! | --- | --- | --- | --- | --- | --- |
//! | 2000×1500 → 341×256 (`keep_ratio`) | 12.2 ms | 31.0 ms | 0.48 ms | **0.80 ms** | 2.51 ms |
//! | 800×600 → 256×256 (`center_crop`) | 3.9 ms | 10.4 ms | 0.19 ms | **0.28 ms** | 0.52 ms |
//! | 100×75 → 341×256 (an upscale) | 2.4 ms | 2.3 ms | 0.21 ms | 0.17 ms | **0.26 ms** |
//!
//! For scale, on that 2000×1500 JPEG (1.9 MB): decoding takes 23 ms, [`inspect()`] (the header
//! and three digests) 5.5 ms, encoding the 341×256 JPEG at quality 95 2.3 ms with `image`'s
//! encoder, the whole [`process()`] 33 ms. With imageops, resizing would have been a quarter to
//! a half of it; now it is 2 %.
//!
//! The output encoder is `jpeg-encoder`, not `image`'s: in a fetch of 2,000 generated images
//! (`bench/run --only fetch`'s server) `image`'s encoder was 30 % of all CPU, and with
//! `jpeg-encoder` the whole fetch took 28.5 CPU-s instead of 36.3. It subsamples chroma 2×2 by
//! averaging (4:2:0), as libjpeg does by default, so the files are about as large as
//! img2dataset's (111 MB against 114 MB there); `image`'s keeps full-resolution chroma (4:4:4)
//! and made them 1.4 times as large.
//!
//! Against img2dataset itself (its `Resizer` with OpenCV 4.14, on 8 images × 3 modes), the
//! pixels before JPEG encoding differ by 0.6 to 2.4 levels of 255 on average; the sizes are
//! equal (the test table). The JPEGs are not byte-identical (another encoder).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors"))]

pub mod failure;
pub mod geometry;
pub mod inspect;
pub mod process;

pub use failure::ImageFailure;
pub use geometry::{ResizeMode, ResizeOptions};
pub use inspect::{Digests, Format, Inspected, Limits, inspect};
pub use process::{Processed, process};
