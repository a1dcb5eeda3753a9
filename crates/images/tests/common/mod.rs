//! Inputs the tests make with the `image` crate's own encoders, so every fixture is generated
//! and none is checked in.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage};

/// A photo-like RGB image: gradients in each channel, so a resize or a crop that moves pixels
/// changes what comes out.
pub fn photo(width: u32, height: u32) -> RgbImage {
    let ramp = |i: u32, n: u32| if n > 1 { (i * 255 / (n - 1)) as u8 } else { 0 };
    RgbImage::from_fn(width, height, |x, y| {
        let (fx, fy) = (ramp(x, width), ramp(y, height));
        Rgb([fx, fy, ((u16::from(fx) + u16::from(fy)) / 2) as u8])
    })
}

/// `image` encoded as `format` by the `image` crate (WebP is its lossless encoder).
pub fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner()
}

/// A PNG of `width` × `height` whose IHDR declares those sizes but whose pixel data is one
/// empty deflate stream: a few dozen bytes that, decoded honestly, would need width × height
/// bytes. CRCs are correct, so only the size gives it away.
pub fn png_claiming(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
        let start = out.len();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        let crc = crc32fast::hash(&out[start..]);
        out.extend_from_slice(&crc.to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    // Bit depth 1, greyscale, deflate, adaptive filtering, no interlace.
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    chunk(&mut png, b"IHDR", &ihdr);
    // zlib header, one final stored block of length 0, Adler-32 of nothing.
    chunk(&mut png, b"IDAT", &[0x78, 0x01, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01]);
    chunk(&mut png, b"IEND", &[]);
    png
}
