//! The resize options and the geometry they imply: from an original width × height, what is
//! refused, what size the pixels are scaled to, and what is cropped or padded, exactly as
//! img2dataset computes it. Pure arithmetic, no pixels: [`ResizeOptions::plan`].
//!
//! The reference is img2dataset's `img2dataset/resizer.py` at commit
//! 95523bc7579745a1749b8132d408b9fea89a338e (August 2025), with the albumentations it pins
//! (`>=1.3.0,<2`, which installs 1.4.24). Lines followed:
//! - resizer.py 162–168: refuse a smaller side below `min_image_size`, then a larger/smaller side
//!   ratio above `max_aspect_ratio` (both on the original size, before any resize);
//! - resizer.py 178–194 (`keep_ratio`, `center_crop`): `downscale = min(w, h) > image_size`;
//!   unless `resize_only_if_bigger` and not `downscale`, `SmallestMaxSize(image_size)`, then for
//!   `center_crop` `CenterCrop(image_size, image_size)`;
//! - resizer.py 195–217 (`border`, `keep_ratio_largest`): `downscale = max(w, h) > image_size`;
//!   unless `resize_only_if_bigger` and not `downscale`, `LongestMaxSize(image_size)`, then for
//!   `border` `PadIfNeeded(image_size, image_size)` with the constant `[255, 255, 255]`: white;
//! - resizer.py 181/198: area interpolation when `downscale`, Lanczos otherwise;
//! - albumentations 1.4.24 `geometric/resize.py` 309 and 412: `scale = image_size / max(h, w)`
//!   (or `min`), a float division; 172: each side becomes `max(1, round(side * scale))`, Python's
//!   `round`, which rounds halves to even (513 × 0.5 = 256.5 → 256, 515 × 0.5 = 257.5 → 258);
//!   `geometric/functional.py` 259: no resampling when that is the size already;
//! - albumentations `crops/functional.py` 128–136: the crop starts at `(side - crop) // 2`;
//!   `geometric/functional.py` 2816–2820: padding before is `int((target - side) / 2.0)`, the
//!   rest after.
//!
//! With `resize_only_if_bigger`, an image no larger than `image_size` is left as it is in every
//! mode: not cropped and not padded either (the crop and the pad are inside the same `if`).

use std::fmt;
use std::str::FromStr;

use crate::{ImageFailure, Limits};

/// The largest side of an output, in pixels: libjpeg's `JPEG_MAX_DIMENSION`. The JPEG frame
/// header could store 65,535, but libjpeg (so OpenCV, hence img2dataset, and Pillow and most
/// readers of the shards) refuses sides above 65,500.
pub const MAX_JPEG_SIDE: u32 = 65_500;

/// How the pixels are sized, with img2dataset's names (its `--resize_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResizeMode {
    /// img2dataset `no`: the original size; the pixels are still re-encoded as JPEG, as
    /// img2dataset does unless its `skip_reencode` is set.
    No,
    /// img2dataset `keep_ratio`: the smaller side becomes `image_size`, the other keeps the ratio
    /// (a 2000×1500 photo at 256 becomes 341×256).
    KeepRatio,
    /// img2dataset `keep_ratio_largest`: the larger side becomes `image_size`, the other keeps
    /// the ratio (2000×1500 at 256 becomes 256×192).
    KeepRatioLargest,
    /// img2dataset `center_crop`: as `keep_ratio`, then the centre `image_size` × `image_size`
    /// square is kept.
    CenterCrop,
    /// img2dataset `border` (its default): as `keep_ratio_largest`, then padded with white to an
    /// `image_size` × `image_size` square, the image centred.
    #[default]
    Border,
}

impl ResizeMode {
    /// Every mode, in the order img2dataset's `ResizeMode` enum lists them.
    pub const ALL: [ResizeMode; 5] =
        [Self::No, Self::KeepRatio, Self::CenterCrop, Self::Border, Self::KeepRatioLargest];

    /// img2dataset's name of the mode: `no`, `keep_ratio`, `keep_ratio_largest`, `center_crop`
    /// or `border`.
    pub fn name(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::KeepRatio => "keep_ratio",
            Self::KeepRatioLargest => "keep_ratio_largest",
            Self::CenterCrop => "center_crop",
            Self::Border => "border",
        }
    }
}

impl fmt::Display for ResizeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A resize mode name that is none of img2dataset's; the string is the name given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown resize mode {0:?}: expected no, keep_ratio, keep_ratio_largest, center_crop or border")]
pub struct UnknownResizeMode(pub String);

impl FromStr for ResizeMode {
    type Err = UnknownResizeMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|m| m.name() == s).ok_or_else(|| UnknownResizeMode(s.to_owned()))
    }
}

/// What to make of a decoded image; the defaults are img2dataset's.
#[derive(Debug, Clone, PartialEq)]
pub struct ResizeOptions {
    /// How the pixels are sized (img2dataset `resize_mode`, default `border`).
    pub resize_mode: ResizeMode,
    /// The target side, in pixels (img2dataset `image_size`, default 256). 0 acts as 1.
    pub image_size: u32,
    /// Leave images no larger than `image_size` as they are instead of upscaling them
    /// (img2dataset `resize_only_if_bigger`, default false). "No larger" means the smaller side
    /// for `keep_ratio` and `center_crop`, the larger side for `border` and `keep_ratio_largest`.
    pub resize_only_if_bigger: bool,
    /// Images whose smaller side is below this many pixels fail with `too_small`
    /// (img2dataset `min_image_size`, default 0: none).
    pub min_image_size: u32,
    /// Images whose larger side divided by the smaller side is above this fail with
    /// `bad_aspect_ratio` (img2dataset `max_aspect_ratio`, default infinity: none).
    pub max_aspect_ratio: f64,
    /// JPEG quality, 1–100; 0 acts as 1 and above 100 as 100 (img2dataset `encode_quality`,
    /// default 95).
    pub quality: u8,
}

impl Default for ResizeOptions {
    fn default() -> Self {
        Self {
            resize_mode: ResizeMode::Border,
            image_size: 256,
            resize_only_if_bigger: false,
            min_image_size: 0,
            max_aspect_ratio: f64::INFINITY,
            quality: 95,
        }
    }
}

/// Which resampling filter a resize uses, chosen as img2dataset chooses its interpolation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Shrinking (img2dataset's `downscale` was true): area averaging, img2dataset's default
    /// `downscale_interpolation="area"` (OpenCV `INTER_AREA`), which [`process`](crate::process())
    /// does with a box kernel at whole-number factors and approximates with Hamming otherwise.
    Area,
    /// Enlarging: Lanczos, img2dataset's default `upscale_interpolation="lanczos"`.
    Lanczos,
}

/// What happens to the scaled image to give the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// The scaled image is the output.
    Whole,
    /// The output is the window of the scaled image starting at `left`, `top` (pixels).
    Crop {
        /// First column kept, in pixels of the scaled image.
        left: u32,
        /// First row kept, in pixels of the scaled image.
        top: u32,
    },
    /// The scaled image is placed at `left`, `top` on a white canvas of the output size.
    Pad {
        /// White columns before the image, in pixels.
        left: u32,
        /// White rows above the image, in pixels.
        top: u32,
    },
}

/// The scaling step of a [`Plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scale {
    /// Width the original is resampled to, in pixels (equal to the original when only a crop or
    /// a pad is needed).
    pub width: u32,
    /// Height the original is resampled to, in pixels.
    pub height: u32,
    /// The resampling filter.
    pub filter: Filter,
    /// What is done to the scaled image.
    pub frame: Frame,
}

/// The geometry of one image's processing, from [`ResizeOptions::plan`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    /// How the pixels are scaled and framed; `None` when the original pixels are kept as they
    /// are (`no` mode, or `resize_only_if_bigger` with a small image).
    pub scale: Option<Scale>,
    /// Width of the output, in pixels.
    pub width: u32,
    /// Height of the output, in pixels.
    pub height: u32,
}

impl ResizeOptions {
    /// The geometry img2dataset gives an image of `width` × `height` pixels under these
    /// options, or why it is refused: `too_small`, `bad_aspect_ratio` (checked in that order, as
    /// img2dataset does), `encode_error` when a side of the output would exceed
    /// [`MAX_JPEG_SIDE`] (as img2dataset's encoder fails), `bomb` when the output would have more than `limits.max_pixels` pixels.
    ///
    /// Sides of 0 are taken as 1 (a decoder never yields them).
    pub fn plan(&self, width: u32, height: u32, limits: &Limits) -> Result<Plan, ImageFailure> {
        let (w, h) = (width.max(1), height.max(1));
        let (small, large) = (w.min(h), w.max(h));
        if small < self.min_image_size {
            return Err(ImageFailure::TooSmall { width, height, min_image_size: self.min_image_size });
        }
        if f64::from(large) / f64::from(small) > self.max_aspect_ratio {
            return Err(ImageFailure::BadAspectRatio { width, height, max_aspect_ratio: self.max_aspect_ratio });
        }
        let size = self.image_size.max(1);
        let scale = match self.resize_mode {
            ResizeMode::No => None,
            ResizeMode::KeepRatio | ResizeMode::CenterCrop => {
                let downscale = small > size;
                (!self.resize_only_if_bigger || downscale).then(|| {
                    let (sw, sh) = scaled(w, h, f64::from(size) / f64::from(small));
                    let frame = if self.resize_mode == ResizeMode::CenterCrop {
                        // The smaller side is now `size` (round(s × size / s) = size), so the
                        // crop fits; `saturating_sub` only guards the arithmetic.
                        Frame::Crop { left: sw.saturating_sub(size) / 2, top: sh.saturating_sub(size) / 2 }
                    } else {
                        Frame::Whole
                    };
                    (sw, sh, downscale, frame)
                })
            }
            ResizeMode::Border | ResizeMode::KeepRatioLargest => {
                let downscale = large > size;
                (!self.resize_only_if_bigger || downscale).then(|| {
                    let (sw, sh) = scaled(w, h, f64::from(size) / f64::from(large));
                    let frame = if self.resize_mode == ResizeMode::Border {
                        Frame::Pad { left: size.saturating_sub(sw) / 2, top: size.saturating_sub(sh) / 2 }
                    } else {
                        Frame::Whole
                    };
                    (sw, sh, downscale, frame)
                })
            }
        };
        let plan = match scale {
            None => Plan { scale: None, width: w, height: h },
            Some((sw, sh, downscale, frame)) => {
                let (ow, oh) = match frame {
                    Frame::Whole => (sw, sh),
                    Frame::Crop { .. } => (sw.min(size), sh.min(size)),
                    Frame::Pad { .. } => (sw.max(size), sh.max(size)),
                };
                let filter = if downscale { Filter::Area } else { Filter::Lanczos };
                Plan { scale: Some(Scale { width: sw, height: sh, filter, frame }), width: ow, height: oh }
            }
        };
        // Checked before any pixel is decoded or allocated: a 5000×10 banner in keep_ratio at 256
        // would be 128,000×256, which img2dataset computes and then fails to encode.
        if plan.width > MAX_JPEG_SIDE || plan.height > MAX_JPEG_SIDE {
            return Err(ImageFailure::EncodeError(format!(
                "the output would be {}×{} pixels; a JPEG reader takes at most {MAX_JPEG_SIDE} a side",
                plan.width, plan.height
            )));
        }
        // Only the output is allocated (a crop resamples just the window), so only it is bounded.
        if u64::from(plan.width) * u64::from(plan.height) > limits.max_pixels {
            return Err(ImageFailure::Bomb(format!(
                "the output would be {}×{} pixels, more than the limit of {}",
                plan.width, plan.height, limits.max_pixels
            )));
        }
        Ok(plan)
    }
}

/// Both sides times `scale`, each rounded as albumentations 1.4.24 does (resize.py 172):
/// `max(1, round(side * scale))`, halves to even, in double precision like Python. A side too
/// large for `u32` saturates; the JPEG side check refuses it anyway.
fn scaled(w: u32, h: u32, scale: f64) -> (u32, u32) {
    // `as` saturates (and the value is at least 1), which is the intent.
    let side = |s: u32| (f64::from(s) * scale).round_ties_even().max(1.0) as u32;
    (side(w), side(h))
}
