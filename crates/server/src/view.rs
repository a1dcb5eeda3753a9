//! The pieces every page is made of: the layout, links and images of dataset URLs (http(s)
//! only), safe mode, number formatting. maud escapes every value put into a page; nothing
//! here bypasses it.

use axum::http::StatusCode;
use axum::response::Html;
use maud::{DOCTYPE, Markup, html};

use crate::ServerConfig;

/// The style sheet (served at `/-/style.css`: the CSP allows styles from the server only).
pub(crate) const STYLE: &str = include_str!("style.css");
/// The one script (`/-/app.js`; the CSP allows scripts from the server only, never inline):
/// it swaps an image that fails to load for the placeholder. Pages work without it.
pub(crate) const SCRIPT: &str = include_str!("app.js");

/// A whole page.
pub(crate) fn page(title: &str, body: Markup) -> Html<String> {
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · pairscope" }
                link rel="stylesheet" href="/-/style.css";
                // In the head, so its listener is there before the first image can fail.
                script src="/-/app.js" {}
            }
            body {
                header {
                    a.brand href="/" { "pairscope" }
                    nav {
                        a href="/" { "search" }
                        a href="/mentions" { "mentions" }
                        a href="/overview" { "overview" }
                        a href="/-/settings" { "settings" }
                    }
                }
                main { (body) }
            }
        }
    };
    Html(markup.into_string())
}

pub(crate) fn error_page(status: StatusCode, message: &str) -> Html<String> {
    page(
        status.canonical_reason().unwrap_or("error"),
        html! {
            h1 { (status.as_u16()) " " (status.canonical_reason().unwrap_or("")) }
            p.error { (message) }
            p { a href="/" { "Start a new search" } }
        },
    )
}

/// `raw` when it is an absolute http(s) URL, in its normalised form (the only form a page
/// puts into `href` or `src`); `None` for anything else (`javascript:`, `data:`, relative).
pub(crate) fn web_url(raw: &str) -> Option<String> {
    let parsed = url::Url::parse(raw).ok()?;
    matches!(parsed.scheme(), "http" | "https").then(|| parsed.to_string())
}

/// A link to a dataset URL, or the URL as text when it is not http(s).
pub(crate) fn external_link(raw: &str) -> Markup {
    match web_url(raw) {
        Some(href) => html! { a href=(href) rel="noopener noreferrer nofollow" target="_blank" { (raw) } },
        None => html! { span.nolink title="not an http(s) URL: not linked" { (raw) } },
    }
}

/// Whether safe mode hides an image until it is clicked: its punsafe is above the threshold,
/// or its NSFW label is anything but UNLIKELY.
pub(crate) fn is_unsafe(punsafe: Option<f64>, nsfw_label: Option<&str>, config: &ServerConfig) -> bool {
    pairscope_model::safety::is_unsafe(punsafe, nsfw_label, config.unsafe_threshold)
}

/// Where a page's images come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ImageSource {
    /// A fetch output on this server (`serve --images`): never another site.
    Local,
    /// The images' own sites (the browser fetches them).
    Remote,
    /// None at all.
    Off,
}

impl ImageSource {
    pub(crate) fn of(config: &ServerConfig) -> ImageSource {
        match (&config.images, config.remote_images) {
            (Some(_), _) => ImageSource::Local,
            (None, true) => ImageSource::Remote,
            (None, false) => ImageSource::Off,
        }
    }
}

/// The image of row `row_id`, as the settings allow: the fetched copy when images are local
/// (a placeholder when the row has none: never a hotlink), nothing with remote images off, a
/// placeholder for a URL that is not http(s); blurred behind a `<details>` (click to reveal,
/// no script) when it may be unsafe.
pub(crate) fn image(row_id: i64, raw_url: &str, unsafe_image: bool, config: &ServerConfig) -> Markup {
    let src = match (ImageSource::of(config), &config.images) {
        (ImageSource::Local, Some(images)) if images.contains(row_id) => format!("/-/image/{row_id}"),
        (ImageSource::Local, _) => return html! { div.noimage { "not fetched" } },
        (ImageSource::Off, _) => return html! { div.noimage { "remote images are off" } },
        (ImageSource::Remote, _) => match web_url(raw_url) {
            Some(src) => src,
            None => return html! { div.noimage { "no image: not an http(s) URL" } },
        },
    };
    let img = html! { img loading="lazy" referrerpolicy="no-referrer" decoding="async" alt="" src=(src); };
    if unsafe_image {
        html! {
            details class="unsafe" {
                summary title="possibly unsafe: click to show, click again to hide" {
                    (img)
                    span.reveal { "possibly unsafe · click to show" }
                }
            }
        }
    } else {
        img
    }
}

pub(crate) fn score(value: Option<f64>) -> String {
    value.map_or("–".to_string(), |v| format!("{v:.2}"))
}

/// At most `max` characters of `text`, on one line.
pub(crate) fn excerpt(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() > max { format!("{}…", flat.chars().take(max).collect::<String>()) } else { flat }
}
