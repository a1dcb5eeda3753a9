//! What the bytes as served are, without decoding a pixel: the format judged by the magic
//! numbers (never the Content-Type), the width and height from the header, the MD5, SHA-1 and
//! SHA-256 of the bytes, and the refusal of a decompression bomb.
//!
//! Algorithm: `image::guess_format` matches the first bytes against each format's signature;
//! a format outside the six decoded here is `not_an_image`. The format's decoder is then built
//! over the bytes, which reads the header only (zune-jpeg's `decode_headers`, PNG chunks up to
//! the first `IDAT`, GIF's logical screen, WebP's chunk headers, BMP's and TIFF's first
//! directory); any error there is `decode_error`, or `bomb` if `image` refused an allocation
//! above [`Limits::max_decode_bytes`] (a PNG's text or ICC chunks, say). The width × height
//! the header claims is then compared with [`Limits::max_pixels`], and only then are the bytes
//! hashed. Memory: the header parser's own (bounded by `max_decode_bytes`), nothing proportional
//! to the pixels.

use std::fmt;
use std::io::Cursor;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha256};

use crate::ImageFailure;

/// Bounds on what one image may cost; a request may lower them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// The most pixels (width × height) an image may have, as its header claims it, and the most
    /// an output may have (default 100,000,000: 100 megapixels, 10,000×10,000). Above it
    /// the image fails with `bomb` before anything is decoded.
    pub max_pixels: u64,
    /// The most bytes the decoder may allocate for the decoded pixels and its own buffers, passed
    /// to `image::Limits::max_alloc` (default 512 MiB, the `image` crate's own default). Decoding
    /// that would need more fails with `bomb`. At 8 bits a channel an image at `max_pixels` needs
    /// 3 or 4 bytes a pixel; 16-bit images need twice that.
    pub max_decode_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_pixels: 100_000_000, max_decode_bytes: 512 * 1024 * 1024 }
    }
}

/// An image format this crate decodes, judged by the bytes' signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// JPEG (`FF D8 FF`).
    Jpeg,
    /// PNG (`89 50 4E 47 0D 0A 1A 0A`).
    Png,
    /// GIF 87a or 89a; only the first frame is decoded.
    Gif,
    /// WebP, lossy or lossless (`RIFF` … `WEBP`); only the first frame is decoded.
    Webp,
    /// Windows bitmap (`BM`).
    Bmp,
    /// TIFF, either byte order; only the first image is decoded.
    Tiff,
}

impl Format {
    /// The format's lower-case name, for a column: `jpeg`, `png`, `gif`, `webp`, `bmp` or `tiff`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Jpeg => "jpeg",
            Self::Png => "png",
            Self::Gif => "gif",
            Self::Webp => "webp",
            Self::Bmp => "bmp",
            Self::Tiff => "tiff",
        }
    }

    fn from_image(format: image::ImageFormat) -> Option<Self> {
        match format {
            image::ImageFormat::Jpeg => Some(Self::Jpeg),
            image::ImageFormat::Png => Some(Self::Png),
            image::ImageFormat::Gif => Some(Self::Gif),
            image::ImageFormat::WebP => Some(Self::Webp),
            image::ImageFormat::Bmp => Some(Self::Bmp),
            image::ImageFormat::Tiff => Some(Self::Tiff),
            _ => None,
        }
    }

    pub(crate) fn to_image(self) -> image::ImageFormat {
        match self {
            Self::Jpeg => image::ImageFormat::Jpeg,
            Self::Png => image::ImageFormat::Png,
            Self::Gif => image::ImageFormat::Gif,
            Self::Webp => image::ImageFormat::WebP,
            Self::Bmp => image::ImageFormat::Bmp,
            Self::Tiff => image::ImageFormat::Tiff,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the bytes of one downloaded image are, read from the header alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspected {
    /// The format, judged by the bytes' signature.
    pub format: Format,
    /// Width the header declares, in pixels, before any EXIF rotation (which img2dataset does not
    /// apply either).
    pub width: u32,
    /// Height the header declares, in pixels.
    pub height: u32,
    /// The digests of the bytes as served.
    pub digests: Digests,
}

/// The digests of some bytes, each in lower-case hex: what image-hash removal lists (LAION's,
/// Re-LAION's) are keyed by, so computed over the bytes exactly as served, before any decoding.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Digests {
    /// MD5, 32 hex digits.
    pub md5: String,
    /// SHA-1, 40 hex digits.
    pub sha1: String,
    /// SHA-256, 64 hex digits.
    pub sha256: String,
}

impl Digests {
    /// The MD5, SHA-1 and SHA-256 of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self { md5: hex::<Md5>(bytes), sha1: hex::<Sha1>(bytes), sha256: hex::<Sha256>(bytes) }
    }
}

/// Reads what `bytes` are without decoding their pixels: the format from the signature, the
/// size from the header, and the digests of the bytes.
///
/// Fails with `not_an_image` when the bytes start like no format decoded here (HTML, JSON, an
/// empty body), `decode_error` when the header cannot be read or declares a side of 0, `bomb`
/// when it declares more than `limits.max_pixels` pixels.
pub fn inspect(bytes: &[u8], limits: &Limits) -> Result<Inspected, ImageFailure> {
    let format = sniff(bytes)?;
    let mut reader = image::ImageReader::with_format(Cursor::new(bytes), format.to_image());
    reader.limits(image_limits(limits, None));
    let (width, height) = reader.into_dimensions().map_err(ImageFailure::from_decoding)?;
    if width == 0 || height == 0 {
        return Err(ImageFailure::DecodeError(format!("the {format} header declares {width}×{height} pixels")));
    }
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_pixels {
        return Err(ImageFailure::Bomb(format!(
            "the {format} header declares {width}×{height} = {pixels} pixels, more than the limit of {}",
            limits.max_pixels
        )));
    }
    Ok(Inspected { format, width, height, digests: Digests::of(bytes) })
}

/// The format the bytes' signature names, if it is one decoded here.
fn sniff(bytes: &[u8]) -> Result<Format, ImageFailure> {
    if bytes.is_empty() {
        return Err(ImageFailure::NotAnImage("the body is empty".to_owned()));
    }
    match image::guess_format(bytes) {
        Ok(found) => Format::from_image(found).ok_or_else(|| {
            ImageFailure::NotAnImage(format!("the bytes are {}, a format not decoded here", found.to_mime_type()))
        }),
        Err(_) => Err(ImageFailure::NotAnImage(format!("the bytes start with {}", preview(bytes)))),
    }
}

/// The first bytes, printable ASCII kept and the rest escaped, so a message says what was
/// served (`<!DOCTYPE html>`, `{"error"`) without echoing a whole page.
fn preview(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(16)];
    let mut s = String::from("\"");
    s.extend(head.iter().flat_map(|&b| std::ascii::escape_default(b)).map(char::from));
    s.push('"');
    if bytes.len() > head.len() {
        s.push('…');
    }
    s
}

/// The `image` crate's limits for reading `bytes`: `max_decode_bytes` for every allocation, and
/// when the header's size is known, no frame larger than it (so a decoder that reads a different
/// size the second time cannot allocate past what was checked).
pub(crate) fn image_limits(limits: &Limits, size: Option<(u32, u32)>) -> image::Limits {
    let mut out = image::Limits::default();
    out.max_alloc = Some(limits.max_decode_bytes);
    if let Some((width, height)) = size {
        out.max_image_width = Some(width);
        out.max_image_height = Some(height);
    }
    out
}

/// The digest of `bytes` in lower-case hex.
fn hex<D: Digest>(bytes: &[u8]) -> String {
    let digest = D::digest(bytes);
    let mut s = String::with_capacity(digest.len() * 2);
    for b in digest {
        // A table lookup: `format!` per byte would allocate each time.
        s.push(char::from(HEX[usize::from(b >> 4)]));
        s.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    s
}

const HEX: &[u8; 16] = b"0123456789abcdef";
