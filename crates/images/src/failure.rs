//! Why one downloaded body did not become an image: six reasons, each with a stable snake_case
//! status name (a status column stores it beside the network's `ok`, `timeout`, …) and a short
//! message for a person.

/// Why the bytes of one downloaded image were refused or could not be turned into a JPEG.
///
/// [`status`](Self::status) is the stable name a status column stores; the `Display` text is a
/// short message for a person and may change.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageFailure {
    /// The bytes start like no format this crate decodes: an HTML error page, JSON, an empty
    /// body, or an image format outside JPEG, PNG, GIF, WebP, BMP and TIFF (AVIF, ICO, SVG, …).
    /// The string says what was seen.
    #[error("not an image: {0}")]
    NotAnImage(String),
    /// The bytes start like a format this crate decodes, but its header or its pixels cannot be
    /// read: a truncated download, a corrupt file, an unsupported variant of the format.
    #[error("cannot decode the image: {0}")]
    DecodeError(String),
    /// A decompression bomb: the header claims more pixels than [`Limits::max_pixels`], decoding
    /// would need more memory than [`Limits::max_decode_bytes`], or the resize asked for would
    /// produce more than `max_pixels`. Refused before the memory is allocated.
    ///
    /// [`Limits::max_pixels`]: crate::Limits::max_pixels
    /// [`Limits::max_decode_bytes`]: crate::Limits::max_decode_bytes
    #[error("refused as a decompression bomb: {0}")]
    Bomb(String),
    /// The smaller side is below [`ResizeOptions::min_image_size`](crate::ResizeOptions::min_image_size).
    #[error("image too small: {width}×{height} has a side below {min_image_size} pixels")]
    TooSmall {
        /// Width of the original image, in pixels.
        width: u32,
        /// Height of the original image, in pixels.
        height: u32,
        /// The smallest side allowed, in pixels.
        min_image_size: u32,
    },
    /// The larger side divided by the smaller is above
    /// [`ResizeOptions::max_aspect_ratio`](crate::ResizeOptions::max_aspect_ratio).
    #[error("aspect ratio too large: {width}×{height} is more than {max_aspect_ratio} times as long as it is wide")]
    BadAspectRatio {
        /// Width of the original image, in pixels.
        width: u32,
        /// Height of the original image, in pixels.
        height: u32,
        /// The largest ratio allowed (larger side / smaller side).
        max_aspect_ratio: f64,
    },
    /// The output cannot be written as a JPEG (libjpeg takes at most 65,500 pixels a side: a
    /// 5000×10 banner in `keep_ratio` mode at 256 would be 128,000 pixels wide), or resizing
    /// failed.
    #[error("cannot encode the JPEG: {0}")]
    EncodeError(String),
}

impl ImageFailure {
    /// Every status name [`status`](Self::status) can return, in declaration order.
    pub const STATUSES: [&'static str; 6] =
        ["not_an_image", "decode_error", "bomb", "too_small", "bad_aspect_ratio", "encode_error"];

    /// The stable snake_case name of this failure, for a status column: one of [`Self::STATUSES`].
    pub fn status(&self) -> &'static str {
        match self {
            Self::NotAnImage(_) => "not_an_image",
            Self::DecodeError(_) => "decode_error",
            Self::Bomb(_) => "bomb",
            Self::TooSmall { .. } => "too_small",
            Self::BadAspectRatio { .. } => "bad_aspect_ratio",
            Self::EncodeError(_) => "encode_error",
        }
    }

    /// The failure `image` reports while reading a header or pixels: a limit it enforced is a bomb
    /// (it refused an allocation), anything else is a decode error.
    pub(crate) fn from_decoding(err: image::ImageError) -> Self {
        match err {
            image::ImageError::Limits(e) => Self::Bomb(e.to_string()),
            other => Self::DecodeError(other.to_string()),
        }
    }
}
