//! `inspect`: formats judged by their bytes, header sizes, digests against known vectors, and
//! the refusals (not an image, unreadable header, decompression bomb).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::time::{Duration, Instant};

use common::{encode, photo, png_claiming};
use image::{DynamicImage, ImageFormat};
use pairscope_images::{Digests, Format, ImageFailure, Limits, inspect};

/// The classic 1×1 transparent GIF of web beacons, byte for byte.
const PIXEL_GIF: [u8; 42] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff,
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02,
    0x01, 0x44, 0x00, 0x3b,
];

#[test]
fn the_digests_of_abc_are_the_standard_test_vectors() {
    // RFC 1321 (MD5), FIPS 180 examples (SHA-1, SHA-256).
    let d = Digests::of(b"abc");
    assert_eq!(d.md5, "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(d.sha1, "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(d.sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let empty = Digests::of(b"");
    assert_eq!(empty.md5, "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(empty.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

#[test]
fn inspect_gives_the_format_the_header_size_and_the_digests_of_the_bytes_as_served() {
    let got = inspect(&PIXEL_GIF, &Limits::default()).unwrap();
    assert_eq!(got.format, Format::Gif);
    assert_eq!((got.width, got.height), (1, 1));
    // Digests from coreutils' md5sum, sha1sum and sha256sum of the same 42 bytes.
    assert_eq!(got.digests.md5, "d89746888da2d9510b64a9f031eaecd5");
    assert_eq!(got.digests.sha1, "d5fceb6532643d0d84ffe09c40c481ecdf59e15a");
    assert_eq!(got.digests.sha256, "ef1955ae757c8b966c83248350331bd3a30f658ced11f387f8ebf05ab3368629");
}

#[test]
fn every_decoded_format_is_recognised_by_its_bytes_and_its_header_size_read() {
    let cases = [
        (ImageFormat::Jpeg, Format::Jpeg),
        (ImageFormat::Png, Format::Png),
        (ImageFormat::Gif, Format::Gif),
        (ImageFormat::WebP, Format::Webp),
        (ImageFormat::Bmp, Format::Bmp),
        (ImageFormat::Tiff, Format::Tiff),
    ];
    for (width, height) in [(1, 1), (37, 21), (640, 480), (5000, 10)] {
        let image = DynamicImage::ImageRgb8(photo(width, height));
        for (encoder, format) in cases {
            let bytes = encode(&image, encoder);
            let got = inspect(&bytes, &Limits::default()).unwrap_or_else(|e| panic!("{format} {width}×{height}: {e}"));
            assert_eq!(got.format, format);
            assert_eq!((got.width, got.height), (width, height), "{format}");
            assert_eq!(got.digests, Digests::of(&bytes), "{format}");
            assert_eq!(got.format.name(), format.to_string());
        }
    }
}

#[test]
fn html_json_plain_text_and_an_empty_body_are_not_images() {
    for body in [
        &b"<!DOCTYPE html><html><head><title>404 Not Found</title></head></html>"[..],
        b"\n  <html><body>Access denied</body></html>",
        b"{\"error\": \"not found\"}",
        b"Forbidden",
        b"",
    ] {
        let err = inspect(body, &Limits::default()).unwrap_err();
        assert_eq!(err.status(), "not_an_image", "{:?}: {err}", String::from_utf8_lossy(body));
    }
}

#[test]
fn a_message_about_a_non_image_shows_its_first_bytes_and_no_more() {
    let page = format!("<!DOCTYPE html>{}", "x".repeat(10_000));
    let message = inspect(page.as_bytes(), &Limits::default()).unwrap_err().to_string();
    assert!(message.contains("<!DOCTYPE html>"), "{message}");
    assert!(message.len() < 100, "{message}");
}

#[test]
fn an_image_format_that_is_not_decoded_here_is_not_an_image() {
    // The start of an AVIF file: an ISO-BMFF `ftyp` box with brand `avif`.
    let avif = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf";
    let err = inspect(avif, &Limits::default()).unwrap_err();
    assert_eq!(err.status(), "not_an_image");
    assert!(err.to_string().contains("avif"), "{err}");
}

#[test]
fn a_signature_followed_by_an_unreadable_header_is_a_decode_error() {
    for bytes in [&b"\x89PNG\r\n\x1a\nthis is no IHDR chunk"[..], b"\xff\xd8\xff", b"GIF89a", b"BM\x00\x01"] {
        let err = inspect(bytes, &Limits::default()).unwrap_err();
        assert_eq!(err.status(), "decode_error", "{bytes:?}: {err}");
    }
}

#[test]
fn a_png_whose_header_claims_30000_by_30000_is_refused_as_a_bomb_at_once() {
    let png = png_claiming(30_000, 30_000);
    assert!(png.len() < 100);
    let start = Instant::now();
    let err = inspect(&png, &Limits::default()).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
    assert_eq!(err.status(), "bomb");
    assert!(err.to_string().contains("30000×30000"), "{err}");
}

#[test]
fn the_pixel_limit_is_inclusive_and_can_be_lowered() {
    let png = png_claiming(100, 100);
    let exact = Limits { max_pixels: 10_000, ..Limits::default() };
    assert_eq!((inspect(&png, &exact).unwrap().width, inspect(&png, &exact).unwrap().height), (100, 100));
    let lower = Limits { max_pixels: 9_999, ..Limits::default() };
    assert_eq!(inspect(&png, &lower).unwrap_err().status(), "bomb");
}

#[test]
fn every_failure_has_a_stable_snake_case_status_and_a_message() {
    let failures = [
        ImageFailure::NotAnImage("x".into()),
        ImageFailure::DecodeError("x".into()),
        ImageFailure::Bomb("x".into()),
        ImageFailure::TooSmall { width: 1, height: 2, min_image_size: 3 },
        ImageFailure::BadAspectRatio { width: 1, height: 20, max_aspect_ratio: 3.0 },
        ImageFailure::EncodeError("x".into()),
    ];
    let statuses: Vec<&str> = failures.iter().map(ImageFailure::status).collect();
    assert_eq!(statuses, ImageFailure::STATUSES);
    assert_eq!(statuses, ["not_an_image", "decode_error", "bomb", "too_small", "bad_aspect_ratio", "encode_error"]);
    for failure in failures {
        assert!(!failure.to_string().is_empty());
    }
}
