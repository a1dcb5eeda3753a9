//! `process`: the output geometry against a table produced by img2dataset itself, the pixels
//! (white behind transparency, white borders, the kept centre), the refusals, determinism.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly on unexpected errors")]

mod common;

use std::time::{Duration, Instant};

use common::{encode, photo, png_claiming};
use image::{DynamicImage, GenericImageView, ImageFormat, Rgba, RgbaImage};
use pairscope_images::{Format, Limits, Processed, ResizeMode, ResizeOptions, process};

/// The modes in the order of the columns of [`IMG2DATASET`].
const MODES: [ResizeMode; 5] =
    [ResizeMode::No, ResizeMode::KeepRatio, ResizeMode::KeepRatioLargest, ResizeMode::CenterCrop, ResizeMode::Border];

/// Output width × height in each of [`MODES`], `None` where img2dataset fails.
type Sizes = [Option<(u32, u32)>; 5];

/// (input width, height, image_size, resize_only_if_bigger, output width × height in each of
/// [`MODES`], `None` where img2dataset fails). Produced by running img2dataset's own
/// `Resizer` (resizer.py at 95523bc, albumentations 1.4.24, OpenCV 4.14) on a grey PNG of each
/// size; the `None`s are its `imencode` refusing a side above 65,500 pixels. Reading resizer.py
/// gives the same: lines 178–194 (smaller side to image_size, then the centre crop), 195–217
/// (larger side to image_size, then the white pad), albumentations' `max(1, round(side *
/// scale))` with halves to even (513×512 → 256.5 → 256; 515×512 → 257.5 → 258; 1024×514 border
/// → 128.5 → 128, 1024×518 → 129.5 → 130).
#[rustfmt::skip]
const IMG2DATASET: &[(u32, u32, u32, bool, Sizes)] = &[
    (2000, 1500, 256, false, [Some((2000, 1500)), Some((341, 256)), Some((256, 192)), Some((256, 256)), Some((256, 256))]),
    (2000, 1500, 256, true, [Some((2000, 1500)), Some((341, 256)), Some((256, 192)), Some((256, 256)), Some((256, 256))]),
    (2000, 1500, 224, false, [Some((2000, 1500)), Some((299, 224)), Some((224, 168)), Some((224, 224)), Some((224, 224))]),
    (2000, 1500, 224, true, [Some((2000, 1500)), Some((299, 224)), Some((224, 168)), Some((224, 224)), Some((224, 224))]),
    (1500, 2000, 256, false, [Some((1500, 2000)), Some((256, 341)), Some((192, 256)), Some((256, 256)), Some((256, 256))]),
    (1500, 2000, 256, true, [Some((1500, 2000)), Some((256, 341)), Some((192, 256)), Some((256, 256)), Some((256, 256))]),
    (1500, 2000, 224, false, [Some((1500, 2000)), Some((224, 299)), Some((168, 224)), Some((224, 224)), Some((224, 224))]),
    (1500, 2000, 224, true, [Some((1500, 2000)), Some((224, 299)), Some((168, 224)), Some((224, 224)), Some((224, 224))]),
    (800, 600, 256, false, [Some((800, 600)), Some((341, 256)), Some((256, 192)), Some((256, 256)), Some((256, 256))]),
    (800, 600, 256, true, [Some((800, 600)), Some((341, 256)), Some((256, 192)), Some((256, 256)), Some((256, 256))]),
    (800, 600, 224, false, [Some((800, 600)), Some((299, 224)), Some((224, 168)), Some((224, 224)), Some((224, 224))]),
    (800, 600, 224, true, [Some((800, 600)), Some((299, 224)), Some((224, 168)), Some((224, 224)), Some((224, 224))]),
    (256, 256, 256, false, [Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256))]),
    (256, 256, 256, true, [Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256))]),
    (256, 256, 224, false, [Some((256, 256)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (256, 256, 224, true, [Some((256, 256)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (255, 255, 256, false, [Some((255, 255)), Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256))]),
    (255, 255, 256, true, [Some((255, 255)), Some((255, 255)), Some((255, 255)), Some((255, 255)), Some((255, 255))]),
    (255, 255, 224, false, [Some((255, 255)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (255, 255, 224, true, [Some((255, 255)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (257, 100, 256, false, [Some((257, 100)), Some((658, 256)), Some((256, 100)), Some((256, 256)), Some((256, 256))]),
    (257, 100, 256, true, [Some((257, 100)), Some((257, 100)), Some((256, 100)), Some((257, 100)), Some((256, 256))]),
    (257, 100, 224, false, [Some((257, 100)), Some((576, 224)), Some((224, 87)), Some((224, 224)), Some((224, 224))]),
    (257, 100, 224, true, [Some((257, 100)), Some((257, 100)), Some((224, 87)), Some((257, 100)), Some((224, 224))]),
    (100, 257, 256, false, [Some((100, 257)), Some((256, 658)), Some((100, 256)), Some((256, 256)), Some((256, 256))]),
    (100, 257, 256, true, [Some((100, 257)), Some((100, 257)), Some((100, 256)), Some((100, 257)), Some((256, 256))]),
    (100, 257, 224, false, [Some((100, 257)), Some((224, 576)), Some((87, 224)), Some((224, 224)), Some((224, 224))]),
    (100, 257, 224, true, [Some((100, 257)), Some((100, 257)), Some((87, 224)), Some((100, 257)), Some((224, 224))]),
    (1, 1, 256, false, [Some((1, 1)), Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256))]),
    (1, 1, 256, true, [Some((1, 1)), Some((1, 1)), Some((1, 1)), Some((1, 1)), Some((1, 1))]),
    (1, 1, 224, false, [Some((1, 1)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (1, 1, 224, true, [Some((1, 1)), Some((1, 1)), Some((1, 1)), Some((1, 1)), Some((1, 1))]),
    (5000, 10, 256, false, [Some((5000, 10)), None, Some((256, 1)), Some((256, 256)), Some((256, 256))]),
    (5000, 10, 256, true, [Some((5000, 10)), Some((5000, 10)), Some((256, 1)), Some((5000, 10)), Some((256, 256))]),
    (5000, 10, 224, false, [Some((5000, 10)), None, Some((224, 1)), Some((224, 224)), Some((224, 224))]),
    (5000, 10, 224, true, [Some((5000, 10)), Some((5000, 10)), Some((224, 1)), Some((5000, 10)), Some((224, 224))]),
    (10, 5000, 256, false, [Some((10, 5000)), None, Some((1, 256)), Some((256, 256)), Some((256, 256))]),
    (10, 5000, 256, true, [Some((10, 5000)), Some((10, 5000)), Some((1, 256)), Some((10, 5000)), Some((256, 256))]),
    (10, 5000, 224, false, [Some((10, 5000)), None, Some((1, 224)), Some((224, 224)), Some((224, 224))]),
    (10, 5000, 224, true, [Some((10, 5000)), Some((10, 5000)), Some((1, 224)), Some((10, 5000)), Some((224, 224))]),
    (300, 200, 256, false, [Some((300, 200)), Some((384, 256)), Some((256, 171)), Some((256, 256)), Some((256, 256))]),
    (300, 200, 256, true, [Some((300, 200)), Some((300, 200)), Some((256, 171)), Some((300, 200)), Some((256, 256))]),
    (300, 200, 224, false, [Some((300, 200)), Some((336, 224)), Some((224, 149)), Some((224, 224)), Some((224, 224))]),
    (300, 200, 224, true, [Some((300, 200)), Some((300, 200)), Some((224, 149)), Some((300, 200)), Some((224, 224))]),
    (333, 500, 256, false, [Some((333, 500)), Some((256, 384)), Some((170, 256)), Some((256, 256)), Some((256, 256))]),
    (333, 500, 256, true, [Some((333, 500)), Some((256, 384)), Some((170, 256)), Some((256, 256)), Some((256, 256))]),
    (333, 500, 224, false, [Some((333, 500)), Some((224, 336)), Some((149, 224)), Some((224, 224)), Some((224, 224))]),
    (333, 500, 224, true, [Some((333, 500)), Some((224, 336)), Some((149, 224)), Some((224, 224)), Some((224, 224))]),
    (641, 479, 256, false, [Some((641, 479)), Some((343, 256)), Some((256, 191)), Some((256, 256)), Some((256, 256))]),
    (641, 479, 256, true, [Some((641, 479)), Some((343, 256)), Some((256, 191)), Some((256, 256)), Some((256, 256))]),
    (641, 479, 224, false, [Some((641, 479)), Some((300, 224)), Some((224, 167)), Some((224, 224)), Some((224, 224))]),
    (641, 479, 224, true, [Some((641, 479)), Some((300, 224)), Some((224, 167)), Some((224, 224)), Some((224, 224))]),
    (1023, 767, 256, false, [Some((1023, 767)), Some((341, 256)), Some((256, 192)), Some((256, 256)), Some((256, 256))]),
    (1023, 767, 256, true, [Some((1023, 767)), Some((341, 256)), Some((256, 192)), Some((256, 256)), Some((256, 256))]),
    (1023, 767, 224, false, [Some((1023, 767)), Some((299, 224)), Some((224, 168)), Some((224, 224)), Some((224, 224))]),
    (1023, 767, 224, true, [Some((1023, 767)), Some((299, 224)), Some((224, 168)), Some((224, 224)), Some((224, 224))]),
    (200, 100, 256, false, [Some((200, 100)), Some((512, 256)), Some((256, 128)), Some((256, 256)), Some((256, 256))]),
    (200, 100, 256, true, [Some((200, 100)), Some((200, 100)), Some((200, 100)), Some((200, 100)), Some((200, 100))]),
    (200, 100, 224, false, [Some((200, 100)), Some((448, 224)), Some((224, 112)), Some((224, 224)), Some((224, 224))]),
    (200, 100, 224, true, [Some((200, 100)), Some((200, 100)), Some((200, 100)), Some((200, 100)), Some((200, 100))]),
    (3, 2, 256, false, [Some((3, 2)), Some((384, 256)), Some((256, 171)), Some((256, 256)), Some((256, 256))]),
    (3, 2, 256, true, [Some((3, 2)), Some((3, 2)), Some((3, 2)), Some((3, 2)), Some((3, 2))]),
    (3, 2, 224, false, [Some((3, 2)), Some((336, 224)), Some((224, 149)), Some((224, 224)), Some((224, 224))]),
    (3, 2, 224, true, [Some((3, 2)), Some((3, 2)), Some((3, 2)), Some((3, 2)), Some((3, 2))]),
    (1000, 999, 256, false, [Some((1000, 999)), Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256))]),
    (1000, 999, 256, true, [Some((1000, 999)), Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256))]),
    (1000, 999, 224, false, [Some((1000, 999)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (1000, 999, 224, true, [Some((1000, 999)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (7, 5000, 256, false, [Some((7, 5000)), None, Some((1, 256)), Some((256, 256)), Some((256, 256))]),
    (7, 5000, 256, true, [Some((7, 5000)), Some((7, 5000)), Some((1, 256)), Some((7, 5000)), Some((256, 256))]),
    (7, 5000, 224, false, [Some((7, 5000)), None, Some((1, 224)), Some((224, 224)), Some((224, 224))]),
    (7, 5000, 224, true, [Some((7, 5000)), Some((7, 5000)), Some((1, 224)), Some((7, 5000)), Some((224, 224))]),
    (513, 512, 256, false, [Some((513, 512)), Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256))]),
    (513, 512, 256, true, [Some((513, 512)), Some((256, 256)), Some((256, 256)), Some((256, 256)), Some((256, 256))]),
    (513, 512, 224, false, [Some((513, 512)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (513, 512, 224, true, [Some((513, 512)), Some((224, 224)), Some((224, 224)), Some((224, 224)), Some((224, 224))]),
    (515, 512, 256, false, [Some((515, 512)), Some((258, 256)), Some((256, 255)), Some((256, 256)), Some((256, 256))]),
    (515, 512, 256, true, [Some((515, 512)), Some((258, 256)), Some((256, 255)), Some((256, 256)), Some((256, 256))]),
    (515, 512, 224, false, [Some((515, 512)), Some((225, 224)), Some((224, 223)), Some((224, 224)), Some((224, 224))]),
    (515, 512, 224, true, [Some((515, 512)), Some((225, 224)), Some((224, 223)), Some((224, 224)), Some((224, 224))]),
    (512, 515, 256, false, [Some((512, 515)), Some((256, 258)), Some((255, 256)), Some((256, 256)), Some((256, 256))]),
    (512, 515, 256, true, [Some((512, 515)), Some((256, 258)), Some((255, 256)), Some((256, 256)), Some((256, 256))]),
    (512, 515, 224, false, [Some((512, 515)), Some((224, 225)), Some((223, 224)), Some((224, 224)), Some((224, 224))]),
    (512, 515, 224, true, [Some((512, 515)), Some((224, 225)), Some((223, 224)), Some((224, 224)), Some((224, 224))]),
    (1024, 514, 256, false, [Some((1024, 514)), Some((510, 256)), Some((256, 128)), Some((256, 256)), Some((256, 256))]),
    (1024, 514, 256, true, [Some((1024, 514)), Some((510, 256)), Some((256, 128)), Some((256, 256)), Some((256, 256))]),
    (1024, 514, 224, false, [Some((1024, 514)), Some((446, 224)), Some((224, 112)), Some((224, 224)), Some((224, 224))]),
    (1024, 514, 224, true, [Some((1024, 514)), Some((446, 224)), Some((224, 112)), Some((224, 224)), Some((224, 224))]),
    (1024, 518, 256, false, [Some((1024, 518)), Some((506, 256)), Some((256, 130)), Some((256, 256)), Some((256, 256))]),
    (1024, 518, 256, true, [Some((1024, 518)), Some((506, 256)), Some((256, 130)), Some((256, 256)), Some((256, 256))]),
    (1024, 518, 224, false, [Some((1024, 518)), Some((443, 224)), Some((224, 113)), Some((224, 224)), Some((224, 224))]),
    (1024, 518, 224, true, [Some((1024, 518)), Some((443, 224)), Some((224, 113)), Some((224, 224)), Some((224, 224))]),
    (1001, 3, 256, false, [Some((1001, 3)), None, Some((256, 1)), Some((256, 256)), Some((256, 256))]),
    (1001, 3, 256, true, [Some((1001, 3)), Some((1001, 3)), Some((256, 1)), Some((1001, 3)), Some((256, 256))]),
    (1001, 3, 224, false, [Some((1001, 3)), None, Some((224, 1)), Some((224, 224)), Some((224, 224))]),
    (1001, 3, 224, true, [Some((1001, 3)), Some((1001, 3)), Some((224, 1)), Some((1001, 3)), Some((224, 224))]),
    (640, 427, 256, false, [Some((640, 427)), Some((384, 256)), Some((256, 171)), Some((256, 256)), Some((256, 256))]),
    (640, 427, 256, true, [Some((640, 427)), Some((384, 256)), Some((256, 171)), Some((256, 256)), Some((256, 256))]),
    (640, 427, 224, false, [Some((640, 427)), Some((336, 224)), Some((224, 149)), Some((224, 224)), Some((224, 224))]),
    (640, 427, 224, true, [Some((640, 427)), Some((336, 224)), Some((224, 149)), Some((224, 224)), Some((224, 224))]),
];

fn options(mode: ResizeMode, size: u32, only_if_bigger: bool) -> ResizeOptions {
    ResizeOptions {
        resize_mode: mode,
        image_size: size,
        resize_only_if_bigger: only_if_bigger,
        ..ResizeOptions::default()
    }
}

fn decoded(processed: &Processed) -> DynamicImage {
    assert_eq!(image::guess_format(&processed.jpeg).unwrap(), ImageFormat::Jpeg);
    image::load_from_memory_with_format(&processed.jpeg, ImageFormat::Jpeg).unwrap()
}

#[test]
fn every_mode_gives_img2datasets_output_size_and_the_jpeg_has_that_size() {
    let limits = Limits::default();
    let mut previous = (0, 0);
    let mut png = Vec::new();
    for &(width, height, size, only_if_bigger, expected) in IMG2DATASET {
        if (width, height) != previous {
            png = encode(&DynamicImage::ImageRgb8(photo(width, height)), ImageFormat::Png);
            previous = (width, height);
        }
        for (mode, want) in MODES.into_iter().zip(expected) {
            let case = format!("{width}×{height} {mode} {size} only_if_bigger={only_if_bigger}");
            let got = process(&png, &options(mode, size, only_if_bigger), &limits);
            match want {
                Some(want) => {
                    let got = got.unwrap_or_else(|e| panic!("{case}: {e}"));
                    assert_eq!((got.width, got.height), want, "{case}");
                    assert_eq!((got.inspected.width, got.inspected.height), (width, height), "{case}");
                    assert_eq!(decoded(&got).dimensions(), want, "{case}: the JPEG's own size");
                }
                None => assert_eq!(got.unwrap_err().status(), "encode_error", "{case}"),
            }
        }
    }
}

#[test]
fn the_plan_gives_the_same_sizes_without_decoding() {
    for &(width, height, size, only_if_bigger, expected) in IMG2DATASET {
        for (mode, want) in MODES.into_iter().zip(expected) {
            let plan = options(mode, size, only_if_bigger).plan(width, height, &Limits::default());
            assert_eq!(plan.ok().map(|p| (p.width, p.height)), want, "{width}×{height} {mode} {size} {only_if_bigger}");
        }
    }
}

#[test]
fn mode_names_are_img2datasets_and_parse_back() {
    let names: Vec<&str> = ResizeMode::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(names, ["no", "keep_ratio", "center_crop", "border", "keep_ratio_largest"]);
    for mode in ResizeMode::ALL {
        assert_eq!(mode.name().parse::<ResizeMode>().unwrap(), mode);
    }
    assert!("fixed".parse::<ResizeMode>().is_err());
    assert_eq!(ResizeOptions::default().resize_mode, ResizeMode::Border);
}

#[test]
fn every_decoded_format_is_processed_to_a_jpeg() {
    let image = DynamicImage::ImageRgb8(photo(300, 200));
    for (encoder, format) in [
        (ImageFormat::Jpeg, Format::Jpeg),
        (ImageFormat::Png, Format::Png),
        (ImageFormat::Gif, Format::Gif),
        (ImageFormat::WebP, Format::Webp),
        (ImageFormat::Bmp, Format::Bmp),
        (ImageFormat::Tiff, Format::Tiff),
    ] {
        let got = process(&encode(&image, encoder), &ResizeOptions::default(), &Limits::default())
            .unwrap_or_else(|e| panic!("{format}: {e}"));
        assert_eq!(got.inspected.format, format);
        assert_eq!(decoded(&got).dimensions(), (256, 256), "{format}");
    }
}

#[test]
fn no_mode_keeps_the_size_but_reencodes_even_a_jpeg() {
    let jpeg = encode(&DynamicImage::ImageRgb8(photo(123, 45)), ImageFormat::Jpeg);
    let got = process(&jpeg, &options(ResizeMode::No, 256, false), &Limits::default()).unwrap();
    assert_eq!((got.width, got.height), (123, 45));
    // img2dataset re-encodes unless skip_reencode (resizer.py 148, 224–227): quality 95 here,
    // the `image` crate's default 75 in the input, so the bytes differ.
    assert_ne!(got.jpeg, jpeg);
    assert_eq!(decoded(&got).dimensions(), (123, 45));
}

#[test]
fn transparent_pixels_become_white_and_half_transparent_ones_are_blended_as_img2dataset_does() {
    // Left half fully transparent black, right quarter opaque red, the rest 50% (alpha 128) blue.
    let rgba = RgbaImage::from_fn(64, 64, |x, _| match x {
        0..32 => Rgba([0, 0, 0, 0]),
        32..48 => Rgba([0, 0, 255, 128]),
        _ => Rgba([255, 0, 0, 255]),
    });
    let png = encode(&DynamicImage::ImageRgba8(rgba), ImageFormat::Png);
    let got = process(&png, &options(ResizeMode::No, 256, false), &Limits::default()).unwrap();
    let out = decoded(&got).to_rgb8();
    let near = |p: [u8; 3], want: [u8; 3]| p.iter().zip(want).all(|(&a, b)| a.abs_diff(b) <= 6);
    // img2dataset: 128 / 255 * c + 255 - 128, rounded: 127 for c = 0, 255 for c = 255.
    for (x, want) in [(8, [255, 255, 255]), (40, [127, 127, 255]), (56, [255, 0, 0])] {
        let p = out.get_pixel(x, 32).0;
        assert!(near(p, want), "x = {x}: {p:?}, want about {want:?}");
    }
}

#[test]
fn sixteen_bit_and_grey_with_alpha_pngs_are_flattened_over_white_too() {
    // Opaque black left half, transparent right half, at 16 bits a channel and as grey + alpha.
    let rgba16 =
        image::ImageBuffer::from_fn(
            40,
            20,
            |x, _| {
                if x < 20 { Rgba([0u16, 0, 0, u16::MAX]) } else { Rgba([0, 0, 0, 0]) }
            },
        );
    let la8 = image::ImageBuffer::from_fn(
        40,
        20,
        |x, _| {
            if x < 20 { image::LumaA([0u8, 255]) } else { image::LumaA([0, 0]) }
        },
    );
    for image in [DynamicImage::ImageRgba16(rgba16), DynamicImage::ImageLumaA8(la8)] {
        let color = image.color();
        let got = process(&encode(&image, ImageFormat::Png), &options(ResizeMode::No, 256, false), &Limits::default())
            .unwrap();
        let out = decoded(&got).to_luma8();
        assert_eq!(out.dimensions(), (40, 20), "{color:?}");
        assert!(out.get_pixel(5, 10).0[0] < 10, "{color:?}: the opaque half is not black");
        assert!(out.get_pixel(35, 10).0[0] > 245, "{color:?}: the transparent half is not white");
    }
}

#[test]
fn the_transparent_beacon_gif_becomes_a_white_square() {
    let beacon = [
        0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
        0xff, 0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00,
        0x00, 0x02, 0x01, 0x44, 0x00, 0x3b,
    ];
    let got = process(&beacon, &ResizeOptions::default(), &Limits::default()).unwrap();
    let out = decoded(&got).to_rgb8();
    assert_eq!(out.dimensions(), (256, 256));
    assert!(out.pixels().all(|p| p.0.iter().all(|&c| c >= 250)), "not all white");
}

#[test]
fn border_pads_with_white_and_centres_the_image() {
    // A black 200×100 image: border at 256 scales it to 256×128 and pads 64 white rows above
    // and below (albumentations: int((256 - 128) / 2.0) = 64 before).
    let black = DynamicImage::ImageRgb8(image::RgbImage::new(200, 100));
    let got = process(&encode(&black, ImageFormat::Png), &options(ResizeMode::Border, 256, false), &Limits::default())
        .unwrap();
    let out = decoded(&got).to_luma8();
    assert_eq!(out.dimensions(), (256, 256));
    for (y, white) in [(0, true), (60, true), (68, false), (128, false), (187, false), (195, true), (255, true)] {
        let v = out.get_pixel(128, y).0[0];
        assert_eq!(v > 200, white, "row {y}: {v}");
        assert!(!(55..=200).contains(&v), "row {y}: {v} is neither white nor black");
    }
}

#[test]
fn center_crop_keeps_the_middle() {
    // 600 wide × 200 high, three vertical bands: black, white, black. center_crop 100 scales to
    // 300×100 and keeps columns 100..200 of that: the white band.
    let bands =
        image::GrayImage::from_fn(600, 200, |x, _| image::Luma([if (200..400).contains(&x) { 255 } else { 0 }]));
    let png = encode(&DynamicImage::ImageLuma8(bands), ImageFormat::Png);
    let got = process(&png, &options(ResizeMode::CenterCrop, 100, false), &Limits::default()).unwrap();
    let out = decoded(&got).to_luma8();
    assert_eq!(out.dimensions(), (100, 100));
    assert!(out.pixels().all(|p| p.0[0] > 240), "the crop reached a black band");
    // Grey in, three-channel JPEG out.
    assert_eq!(decoded(&got).color(), image::ColorType::Rgb8);
}

#[test]
fn a_one_pixel_image_and_a_5000_by_10_banner_go_through_every_mode() {
    for (width, height) in [(1, 1), (5000, 10)] {
        let png = encode(&DynamicImage::ImageRgb8(photo(width, height)), ImageFormat::Png);
        for mode in MODES {
            let got = process(&png, &options(mode, 256, false), &Limits::default());
            let want = options(mode, 256, false).plan(width, height, &Limits::default()).map(|p| (p.width, p.height));
            match (got, want) {
                (Ok(got), Ok(want)) => assert_eq!(decoded(&got).dimensions(), want, "{width}×{height} {mode}"),
                (Err(got), Err(want)) => assert_eq!(got, want, "{width}×{height} {mode}"),
                (got, want) => panic!("{width}×{height} {mode}: {got:?} but the plan says {want:?}"),
            }
        }
    }
}

#[test]
fn an_image_smaller_than_min_image_size_is_too_small() {
    let png = encode(&DynamicImage::ImageRgb8(photo(300, 99)), ImageFormat::Png);
    let strict = ResizeOptions { min_image_size: 100, ..ResizeOptions::default() };
    let err = process(&png, &strict, &Limits::default()).unwrap_err();
    assert_eq!(err.status(), "too_small");
    assert!(err.to_string().contains("300×99"), "{err}");
    let exact = ResizeOptions { min_image_size: 99, ..ResizeOptions::default() };
    assert!(process(&png, &exact, &Limits::default()).is_ok(), "a side equal to min_image_size passes");
}

#[test]
fn an_image_longer_than_max_aspect_ratio_has_a_bad_aspect_ratio() {
    let png = encode(&DynamicImage::ImageRgb8(photo(301, 100)), ImageFormat::Png);
    let strict = ResizeOptions { max_aspect_ratio: 3.0, ..ResizeOptions::default() };
    assert_eq!(process(&png, &strict, &Limits::default()).unwrap_err().status(), "bad_aspect_ratio");
    let tall = encode(&DynamicImage::ImageRgb8(photo(100, 301)), ImageFormat::Png);
    assert_eq!(process(&tall, &strict, &Limits::default()).unwrap_err().status(), "bad_aspect_ratio");
    let square_enough = encode(&DynamicImage::ImageRgb8(photo(300, 100)), ImageFormat::Png);
    assert!(process(&square_enough, &strict, &Limits::default()).is_ok(), "a ratio equal to the limit passes");
}

#[test]
fn a_truncated_jpeg_or_png_is_a_decode_error() {
    let image = DynamicImage::ImageRgb8(photo(400, 300));
    for format in [ImageFormat::Jpeg, ImageFormat::Png] {
        let whole = encode(&image, format);
        let half = &whole[..whole.len() / 2];
        let err = process(half, &ResizeOptions::default(), &Limits::default()).unwrap_err();
        assert_eq!(err.status(), "decode_error", "{format:?}: {err}");
    }
}

/// `jpeg` with an APP1 (EXIF) segment after its SOI that holds a whole thumbnail JPEG, so an
/// end-of-image marker appears long before the real one.
fn with_exif_thumbnail(jpeg: &[u8]) -> Vec<u8> {
    let thumbnail = encode(&DynamicImage::ImageRgb8(photo(16, 16)), ImageFormat::Jpeg);
    assert!(thumbnail.ends_with(&[0xFF, 0xD9]));
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&thumbnail);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&u16::try_from(payload.len() + 2).unwrap().to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn a_truncated_jpeg_is_caught_past_an_exif_thumbnails_end_marker() {
    let jpeg = with_exif_thumbnail(&encode(&DynamicImage::ImageRgb8(photo(400, 300)), ImageFormat::Jpeg));
    let whole = process(&jpeg, &ResizeOptions::default(), &Limits::default()).unwrap();
    assert_eq!((whole.inspected.width, whole.inspected.height), (400, 300));
    for cut in [jpeg.len() / 2, jpeg.len() - 2, jpeg.len() - 1] {
        let err = process(&jpeg[..cut], &ResizeOptions::default(), &Limits::default()).unwrap_err();
        assert_eq!(err.status(), "decode_error", "cut at {cut} of {}", jpeg.len());
    }
}

#[test]
fn bytes_after_a_jpegs_end_marker_are_ignored() {
    let mut jpeg = encode(&DynamicImage::ImageRgb8(photo(120, 80)), ImageFormat::Jpeg);
    jpeg.extend_from_slice(b"\0\0\0\0trailing data some cameras append \xFF\xDA");
    let got = process(&jpeg, &options(ResizeMode::No, 256, false), &Limits::default()).unwrap();
    assert_eq!((got.width, got.height), (120, 80));
}

#[test]
fn a_bomb_is_refused_by_process_too_even_with_the_pixel_limit_raised() {
    let png = png_claiming(30_000, 30_000);
    let start = Instant::now();
    let err = process(&png, &ResizeOptions::default(), &Limits::default()).unwrap_err();
    assert_eq!(err.status(), "bomb");
    // Past the pixel limit, the decoder's allocation bound still holds: 900 megapixels of
    // 8-bit grey is 900 MB, above the default 512 MiB, refused before it is allocated.
    let lenient = Limits { max_pixels: 1_000_000_000, ..Limits::default() };
    let err = process(&png, &ResizeOptions::default(), &lenient).unwrap_err();
    assert_eq!(err.status(), "bomb", "{err}");
    assert!(start.elapsed() < Duration::from_secs(1), "took {:?}", start.elapsed());
}

#[test]
fn decoding_that_needs_more_than_max_decode_bytes_is_a_bomb() {
    let png = encode(&DynamicImage::ImageRgb8(photo(100, 100)), ImageFormat::Png);
    let tight = Limits { max_decode_bytes: 10_000, ..Limits::default() };
    assert_eq!(process(&png, &ResizeOptions::default(), &tight).unwrap_err().status(), "bomb");
}

#[test]
fn the_same_input_gives_byte_identical_output() {
    let jpeg = encode(&DynamicImage::ImageRgb8(photo(1024, 683)), ImageFormat::Jpeg);
    for mode in MODES {
        let first = process(&jpeg, &options(mode, 256, false), &Limits::default()).unwrap();
        let second = process(&jpeg, &options(mode, 256, false), &Limits::default()).unwrap();
        assert_eq!(first, second, "{mode}");
    }
}

#[test]
fn quality_changes_the_jpeg() {
    let png = encode(&DynamicImage::ImageRgb8(photo(300, 300)), ImageFormat::Png);
    let low = process(&png, &ResizeOptions { quality: 20, ..ResizeOptions::default() }, &Limits::default()).unwrap();
    let high = process(&png, &ResizeOptions::default(), &Limits::default()).unwrap();
    assert!(low.jpeg.len() < high.jpeg.len(), "q20 {} bytes, q95 {} bytes", low.jpeg.len(), high.jpeg.len());
}
