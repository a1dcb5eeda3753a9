//! From the bytes as served to the JPEG img2dataset would have written: inspect, plan, decode,
//! flatten to RGB, resample, crop or pad, encode.
//!
//! Algorithm, in order, each step refusing before the next one costs anything:
//! 1. [`inspect`]: format, header size, digests; `not_an_image`, `decode_error`, `bomb`.
//! 2. [`ResizeOptions::plan`]: the output geometry from the header size; `too_small`,
//!    `bad_aspect_ratio`, and `encode_error`/`bomb` for an output no JPEG or limit admits.
//!    (img2dataset checks these after decoding; judging them on the header spares the decode and
//!    gives the same answer for every image whose pixels decode.)
//! 3. Decode with `image::Limits` (`max_alloc` = [`Limits::max_decode_bytes`], width and height
//!    at most the header's): a header that lies cannot make the decoder allocate past the
//!    bound. A JPEG must reach its end-of-image marker (zune-jpeg would fill a truncated one
//!    with grey; OpenCV refuses it). Only the first frame of a GIF, WebP or TIFF. No EXIF rotation, as img2dataset
//!    (OpenCV's `IMREAD_UNCHANGED` ignores it).
//! 4. To 8-bit RGB. An image with alpha is composited over white with img2dataset's formula
//!    (resizer.py 154–158): `rint(alpha / 255 * c + 255 - alpha)` in double precision, from a
//!    65,536-entry table, in place in the RGBA buffer. Grey images become RGB (img2dataset would
//!    write a one-channel JPEG; the size is the same).
//! 5. Resample with `fast_image_resize`, skipped when the scaled size is the original's: to
//!    shrink, its box filter when the factors are whole numbers (then exactly OpenCV's
//!    `INTER_AREA`, img2dataset's choice) and Hamming otherwise (the closest to `INTER_AREA`);
//!    to enlarge, Lanczos3 (img2dataset: OpenCV's 8×8 Lanczos). A centre crop
//!    resamples only the window kept (the filter still reads the pixels around it, so the result
//!    is the full resize's window); a border pastes the scaled image on a white square.
//! 6. Encode a baseline JPEG at the requested quality with `jpeg-encoder` (4:2:0 chroma).
//!
//! Memory: the decoder's allocations (at most `max_decode_bytes`; zune-jpeg's work buffers are
//! proportional to the pixels, at most `max_pixels`), the RGB image (3 × `max_pixels` bytes; an
//! RGBA decode is flattened in place, a 16-bit or grey one is converted beside it), the output
//! pixels (3 × its pixels, at most 3 × `max_pixels`; 196,608 bytes at 256×256) and the JPEG.

use std::io::Cursor;
use std::sync::LazyLock;

use fast_image_resize as fir;
use image::{RgbImage, RgbaImage};

use crate::ImageFailure;
use crate::geometry::{Filter, Frame, Plan, ResizeOptions};
use crate::inspect::{Format, Inspected, Limits, image_limits, inspect};

/// One downloaded image made into img2dataset's JPEG.
#[derive(Clone, PartialEq, Eq)]
pub struct Processed {
    /// What the bytes as served were: format, original size, digests.
    pub inspected: Inspected,
    /// Width of the JPEG, in pixels.
    pub width: u32,
    /// Height of the JPEG, in pixels.
    pub height: u32,
    /// The encoded JPEG (baseline, JFIF).
    pub jpeg: Vec<u8>,
}

impl std::fmt::Debug for Processed {
    /// The JPEG as its length: a failed assertion prints the struct, not kilobytes of numbers.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processed")
            .field("inspected", &self.inspected)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("jpeg", &format_args!("{} bytes", self.jpeg.len()))
            .finish()
    }
}

/// Inspects `bytes`, decodes them, flattens them to RGB over white, resizes them as img2dataset
/// does under `options`, and encodes a JPEG at `options.quality`.
///
/// Fails with any [`ImageFailure`]: those of [`inspect`], then `too_small` or `bad_aspect_ratio`
/// from the options, `decode_error` when the pixels cannot be decoded (a truncated download),
/// `bomb` when decoding would allocate more than `limits.max_decode_bytes`, `encode_error` when
/// the output cannot be a JPEG.
pub fn process(bytes: &[u8], options: &ResizeOptions, limits: &Limits) -> Result<Processed, ImageFailure> {
    let inspected = inspect(bytes, limits)?;
    let plan = options.plan(inspected.width, inspected.height, limits)?;
    let rgb = decode_rgb(bytes, &inspected, limits)?;
    let out = apply(&plan, rgb)?;
    let jpeg = encode(&out, options.quality)?;
    Ok(Processed { inspected, width: out.width(), height: out.height(), jpeg })
}

/// The pixels of `bytes` as 8-bit RGB, alpha composited over white.
fn decode_rgb(bytes: &[u8], inspected: &Inspected, limits: &Limits) -> Result<RgbImage, ImageFailure> {
    let size = (inspected.width, inspected.height);
    if inspected.format == Format::Jpeg && !jpeg_reaches_its_end(bytes) {
        return Err(ImageFailure::DecodeError("the JPEG ends before its last scan does (a truncated download)".into()));
    }
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), inspected.format.to_image());
    reader.limits(image_limits(limits, Some(size)));
    let decoded = reader.decode().map_err(ImageFailure::from_decoding)?;
    if (decoded.width(), decoded.height()) != size {
        return Err(ImageFailure::DecodeError(format!(
            "the header declares {}×{} pixels but {}×{} were decoded",
            size.0,
            size.1,
            decoded.width(),
            decoded.height()
        )));
    }
    Ok(if decoded.color().has_alpha() { over_white(decoded.into_rgba8()) } else { decoded.into_rgb8() })
}

/// Whether a JPEG's segments lead to its end-of-image marker, i.e. it was not cut short.
///
/// zune-jpeg (through `image`, which offers no strict switch) fills the missing part of a
/// truncated scan with grey and reports success; OpenCV, so img2dataset, refuses such a file.
/// This walks the framing only, no decoding: each marker segment is skipped by its length, and
/// after a start-of-scan the entropy-coded data is skipped to the next marker (inside it a 0xFF
/// byte is followed by 0x00, a stuffed byte, or by a restart marker). Reaching the end of the
/// bytes before an end-of-image marker (0xFFD9) means truncation. An EOI inside an EXIF
/// thumbnail does not count: the APP1 segment holding it is skipped whole. Bytes after the EOI
/// (some cameras append data) are ignored.
fn jpeg_reaches_its_end(bytes: &[u8]) -> bool {
    let mut i = 2; // after SOI, which the signature check saw
    loop {
        // Stray bytes before a marker are skipped, as libjpeg does (with a warning).
        let Some(ff) = bytes.get(i..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) else { return false };
        i += ff;
        // Any number of 0xFF fill bytes may precede a marker code.
        while bytes.get(i) == Some(&0xFF) {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else { return false };
        i += 1;
        match marker {
            0xD9 => return true,
            // Standalone markers: no length follows.
            0x01 | 0xD0..=0xD8 => continue,
            // A stuffed 0x00 outside a scan: corrupt framing, not a marker; keep looking.
            0x00 => continue,
            _ => {}
        }
        let Some(len) = bytes.get(i..i + 2).map(|l| usize::from(u16::from_be_bytes([l[0], l[1]]))) else {
            return false;
        };
        // The length counts its own two bytes; less is corrupt, as is a segment past the end.
        if len < 2 || i + len > bytes.len() {
            return false;
        }
        i += len;
        if marker == 0xDA {
            // Entropy-coded data up to the next marker that is not a stuffed byte or a restart.
            loop {
                let Some(ff) = bytes.get(i..).and_then(|rest| rest.iter().position(|&b| b == 0xFF)) else {
                    return false;
                };
                i += ff;
                match bytes.get(i + 1) {
                    None => return false,
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(_) => break,
                }
            }
        }
    }
}

/// `OVER_WHITE[alpha * 256 + c]`: channel value `c` at opacity `alpha` over white, computed as
/// img2dataset does (resizer.py 157–158, numpy float64): `alpha / 255 * c + 255 - alpha`,
/// evaluated left to right, clipped to 0..=255, rounded half to even.
static OVER_WHITE: LazyLock<Vec<u8>> = LazyLock::new(|| {
    (0..=255u8)
        .flat_map(|alpha| {
            (0..=255u8).map(move |c| {
                let a = f64::from(alpha);
                let v = a / 255.0 * f64::from(c) + 255.0 - a;
                // In 0..=255 after the clamp, so the cast is exact.
                v.clamp(0.0, 255.0).round_ties_even() as u8
            })
        })
        .collect()
});

/// Flattens RGBA over white into RGB in the same buffer: pixel i is read (bytes 4i..4i+4)
/// before its RGB is written (3i..3i+3), and later pixels are read from beyond it.
fn over_white(rgba: RgbaImage) -> RgbImage {
    let (width, height) = rgba.dimensions();
    let mut buf = rgba.into_raw();
    let table = &*OVER_WHITE;
    let pixels = buf.len() / 4;
    for i in 0..pixels {
        let [r, g, b, a] = [buf[4 * i], buf[4 * i + 1], buf[4 * i + 2], buf[4 * i + 3]];
        let row = usize::from(a) * 256;
        buf[3 * i] = table[row + usize::from(r)];
        buf[3 * i + 1] = table[row + usize::from(g)];
        buf[3 * i + 2] = table[row + usize::from(b)];
    }
    buf.truncate(pixels * 3);
    rgb_image(width, height, buf)
}

/// Scales, crops or pads `rgb` as `plan` says.
fn apply(plan: &Plan, rgb: RgbImage) -> Result<RgbImage, ImageFailure> {
    let Some(scale) = plan.scale else { return Ok(rgb) };
    let (w, h) = rgb.dimensions();
    let resample = (scale.width, scale.height) != (w, h);
    let kernel = kernel(scale.filter, (w, h), (scale.width, scale.height));
    match scale.frame {
        Frame::Whole if resample => resize(&rgb, None, scale.width, scale.height, kernel),
        Frame::Whole => Ok(rgb),
        Frame::Crop { left, top } if resample => {
            // The window of the full resize, mapped back to source coordinates: the scale factor
            // is the full resize's, so every output pixel samples where the full resize would.
            let (fx, fy) = (f64::from(w) / f64::from(scale.width), f64::from(h) / f64::from(scale.height));
            let window =
                [f64::from(left) * fx, f64::from(top) * fy, f64::from(plan.width) * fx, f64::from(plan.height) * fy];
            resize(&rgb, Some(window), plan.width, plan.height, kernel)
        }
        Frame::Crop { left, top } => Ok(image::imageops::crop_imm(&rgb, left, top, plan.width, plan.height).to_image()),
        Frame::Pad { left, top } => {
            let scaled = if resample { resize(&rgb, None, scale.width, scale.height, kernel)? } else { rgb };
            let mut canvas = RgbImage::from_pixel(plan.width, plan.height, image::Rgb([255, 255, 255]));
            image::imageops::replace(&mut canvas, &scaled, i64::from(left), i64::from(top));
            Ok(canvas)
        }
    }
}

/// The convolution kernel that comes closest to img2dataset's OpenCV interpolation for a resize
/// of `from` to `to` pixels.
///
/// Shrinking, img2dataset uses `INTER_AREA`: each output pixel is the mean of the source area it
/// covers, a source pixel cut by the area's edge weighing by the part inside. When both factors
/// are whole numbers no pixel is cut, and a box filter is exactly that (measured: mean
/// difference 0.3 levels of 255, at most 1). Otherwise a box filter weighs a cut pixel all or
/// nothing and drifts (mean 3.5 at a factor of 1.86, 8.4 at 1.1), while Hamming comes closest of
/// the kernels `fast_image_resize` has (0.8 and 3.6; 0.2 to 0.5 at factors of 6 to 8).
/// Enlarging, img2dataset uses Lanczos over 8×8 pixels; Lanczos3 (6×6) is the nearest kernel.
fn kernel(filter: Filter, from: (u32, u32), to: (u32, u32)) -> fir::FilterType {
    match filter {
        Filter::Area if from.0.is_multiple_of(to.0) && from.1.is_multiple_of(to.1) => fir::FilterType::Box,
        Filter::Area => fir::FilterType::Hamming,
        Filter::Lanczos => fir::FilterType::Lanczos3,
    }
}

/// Resamples `src` (or the `[left, top, width, height]` window of it, in source pixels) to
/// `width` × `height` with the convolution `kernel`.
fn resize(
    src: &RgbImage,
    window: Option<[f64; 4]>,
    width: u32,
    height: u32,
    kernel: fir::FilterType,
) -> Result<RgbImage, ImageFailure> {
    let failed = |e: &dyn std::fmt::Display| ImageFailure::EncodeError(format!("resizing failed: {e}"));
    let src_view = fir::images::ImageRef::new(src.width(), src.height(), src.as_raw(), fir::PixelType::U8x3)
        .map_err(|e| failed(&e))?;
    let mut dst = fir::images::Image::new(width, height, fir::PixelType::U8x3);
    let mut options = fir::ResizeOptions::new().resize_alg(fir::ResizeAlg::Convolution(kernel));
    if let Some([left, top, w, h]) = window {
        options = options.crop(left, top, w, h);
    }
    fir::Resizer::new().resize(&src_view, &mut dst, &options).map_err(|e| failed(&e))?;
    Ok(rgb_image(width, height, dst.into_vec()))
}

/// Encodes `rgb` as a baseline JPEG at `quality` (clamped to 1..=100), with chroma averaged
/// over 2×2 pixels (4:2:0), as libjpeg does by default and so img2dataset's OpenCV.
fn encode(rgb: &RgbImage, quality: u8) -> Result<Vec<u8>, ImageFailure> {
    let too_large = || ImageFailure::EncodeError(format!("{}×{} is beyond JPEG's sides", rgb.width(), rgb.height()));
    let width = u16::try_from(rgb.width()).map_err(|_| too_large())?;
    let height = u16::try_from(rgb.height()).map_err(|_| too_large())?;
    let mut jpeg = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut jpeg, quality.clamp(1, 100));
    encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::F_2_2);
    encoder.set_chroma_subsampling_method(jpeg_encoder::ChromaSubsamplingMethod::Average);
    encoder
        .encode(rgb.as_raw(), width, height, jpeg_encoder::ColorType::Rgb)
        .map_err(|e| ImageFailure::EncodeError(e.to_string()))?;
    Ok(jpeg)
}

/// An RGB image over a buffer this module sized as width × height × 3.
#[expect(clippy::expect_used, reason = "every caller sizes the buffer as width × height × 3")]
fn rgb_image(width: u32, height: u32, pixels: Vec<u8>) -> RgbImage {
    RgbImage::from_raw(width, height, pixels).expect("an RGB buffer of width × height × 3 bytes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Digests;

    #[test]
    fn the_over_white_table_is_byte_for_byte_img2datasets_formula() {
        // The SHA-256 of the 65,536 values numpy gives when img2dataset's resizer.py lines
        // 156–158 run on a BGRA image holding every (alpha, c) pair, alpha-major.
        assert_eq!(Digests::of(&OVER_WHITE).sha256, "daffe4105f538143f578aac1659ef63cff348732e043f66f90c73519d83f8c1b");
        // A few of those values, halves included (128 / 255 * 0 + 127 = 127).
        for (alpha, c, want) in
            [(0u8, 0u8, 255), (128, 0, 127), (127, 2, 129), (1, 128, 255), (200, 0, 55), (255, 7, 7u8)]
        {
            assert_eq!(OVER_WHITE[usize::from(alpha) * 256 + usize::from(c)], want, "alpha {alpha}, c {c}");
        }
    }

    #[test]
    fn shrinking_by_whole_factors_uses_the_box_filter_and_by_others_hamming() {
        assert!(matches!(kernel(Filter::Area, (512, 384), (256, 192)), fir::FilterType::Box));
        assert!(matches!(kernel(Filter::Area, (2048, 1024), (256, 128)), fir::FilterType::Box));
        assert!(matches!(kernel(Filter::Area, (720, 477), (386, 256)), fir::FilterType::Hamming));
        // Whole on one axis only (683 = 341.5 × 2) is not whole.
        assert!(matches!(kernel(Filter::Area, (512, 683), (256, 341)), fir::FilterType::Hamming));
        assert!(matches!(kernel(Filter::Lanczos, (100, 75), (341, 256)), fir::FilterType::Lanczos3));
    }

    #[test]
    fn a_jpeg_frame_walk_needs_the_end_marker_and_sane_lengths() {
        assert!(jpeg_reaches_its_end(b"\xff\xd8\xff\xd9"));
        assert!(jpeg_reaches_its_end(b"\xff\xd8\xff\xe0\x00\x04ab\xff\xff\xd9"));
        assert!(!jpeg_reaches_its_end(b"\xff\xd8"));
        // A segment that claims to run past the end, and one whose length is below its own 2 bytes.
        assert!(!jpeg_reaches_its_end(b"\xff\xd8\xff\xe0\x00\x10ab\xff\xd9"));
        assert!(!jpeg_reaches_its_end(b"\xff\xd8\xff\xe0\x00\x01\xff\xd9"));
        // In a scan, stuffed bytes and restart markers are data; the EOI after them ends it.
        assert!(jpeg_reaches_its_end(b"\xff\xd8\xff\xda\x00\x02\x12\xff\x00\x34\xff\xd0\x56\xff\xd9"));
        assert!(!jpeg_reaches_its_end(b"\xff\xd8\xff\xda\x00\x02\x12\xff\x00\x34\xff\xd0\x56"));
    }
}
