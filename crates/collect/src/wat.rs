//! The WAT JSON layout (`Envelope` → `Payload-Metadata` → `HTTP-Response-Metadata` →
//! `HTML-Metadata`): only the fields pairscope reads are parsed, everything else is skipped
//! unparsed into values, and strings are borrowed from the payload unless they hold escapes.
//! A record costs one pass of the JSON scanner and an allocation per escaped string read, not
//! a tree of its values.
//!
//! The scanner is sonic-rs (SIMD) through the same serde derive: on 1.05 GB of WAT JSON it
//! takes 25–40% less time than serde_json (bench note of issue 6), and JSON is a third of the
//! time of a WAT collect. It checks UTF-8 over the whole payload, as simdjson does for
//! cc2dataset; serde_json checked only the strings it read.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::archive::{Record, SkipReason};

/// The JSON of a WAT `metadata` record, or `None` for any other record (`warcinfo`, a
/// metadata record that is not JSON). Bad JSON is a skip with its reason.
pub fn parse(record: &Record) -> Result<Option<WatMetadata<'_>>, (SkipReason, String)> {
    if !record.is_type("metadata") {
        return Ok(None);
    }
    let json = match &record.content_type {
        Some(ct) => ct.to_ascii_lowercase().contains("json"),
        None => record.payload.trim_ascii_start().starts_with(b"{"),
    };
    if !json {
        return Ok(None);
    }
    sonic_rs::from_slice::<WatMetadata<'_>>(&record.payload).map(Some).map_err(|e| {
        let reason = if e.is_unmatched_type() { SkipReason::UnexpectedJsonShape } else { SkipReason::BadJson };
        (reason, e.to_string())
    })
}

/// A string of the payload: borrowed unless JSON escapes had to be decoded.
pub type Text<'a> = Cow<'a, str>;

/// The fields of a WAT JSON payload that pairscope reads; everything else is ignored unparsed.
/// Strings of an unexpected JSON type read as absent rather than failing the record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WatMetadata<'a> {
    /// `Envelope`, the one top-level field of a WAT entry; a payload without it is a skip
    /// ([`SkipReason::UnexpectedJsonShape`]).
    #[serde(rename = "Envelope", borrow)]
    pub envelope: Envelope<'a>,
}

/// A WAT entry's `Envelope`: what the entry says about the WARC record it describes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Envelope<'a> {
    /// `WARC-Header-Metadata`: the described record's WARC header; empty when absent.
    #[serde(rename = "WARC-Header-Metadata", default, borrow)]
    pub warc_header: WarcHeaderMetadata<'a>,
    /// `Payload-Metadata`: what the described record holds; empty when absent.
    #[serde(rename = "Payload-Metadata", default, borrow)]
    pub payload: PayloadMetadata<'a>,
}

/// The header of the WARC record the WAT entry describes (the crawl's response record).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WarcHeaderMetadata<'a> {
    /// `WARC-Target-URI`: the page's URL; `None` when absent or not a string.
    #[serde(rename = "WARC-Target-URI", default, borrow, deserialize_with = "lenient_string")]
    pub target_uri: Option<Text<'a>>,
    /// `WARC-Date`: when the page was crawled, as written (ISO 8601); `None` when absent or
    /// not a string.
    #[serde(rename = "WARC-Date", default, borrow, deserialize_with = "lenient_string")]
    pub date: Option<Text<'a>>,
}

/// The `Payload-Metadata` of a WAT entry.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PayloadMetadata<'a> {
    /// `HTTP-Response-Metadata`: present when the described record is an HTTP response.
    #[serde(rename = "HTTP-Response-Metadata", default, borrow)]
    pub http_response: Option<HttpResponseMetadata<'a>>,
}

/// The `HTTP-Response-Metadata` of a WAT entry: the crawled response's headers and, for an
/// HTML page, what Common Crawl's parser found in it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HttpResponseMetadata<'a> {
    /// Response headers as (name, value); a header given as a JSON array yields one entry per value.
    #[serde(rename = "Headers", default, borrow, deserialize_with = "headers")]
    pub headers: Vec<(Text<'a>, Text<'a>)>,
    /// `HTML-Metadata`: present when Common Crawl parsed the response as an HTML page.
    #[serde(rename = "HTML-Metadata", default, borrow)]
    pub html: Option<HtmlMetadata<'a>>,
}

impl HttpResponseMetadata<'_> {
    /// Values of header `name`, matched case-insensitively.
    pub fn header_values<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'s str> + 's {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_ref())
    }
}

/// The `HTML-Metadata` of a WAT entry: the page's head and the image links of its body.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HtmlMetadata<'a> {
    /// `Head`: the page's `<base>` and `<meta>` elements; empty when absent.
    #[serde(rename = "Head", default, borrow)]
    pub head: Head<'a>,
    /// The `IMG@/src` links, in page order: the only ones pairscope reads. The others (most
    /// of a page's links: anchors, scripts, stylesheets) are read and dropped one by one
    /// rather than collected.
    #[serde(rename = "Links", default, borrow, deserialize_with = "image_links")]
    pub image_links: Vec<Link<'a>>,
}

/// The `Head` of a page's `HTML-Metadata`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Head<'a> {
    /// `<base href>`, as written.
    #[serde(rename = "Base", default, borrow, deserialize_with = "lenient_string")]
    pub base: Option<Text<'a>>,
    /// `Metas`: the page's `<meta>` elements, in page order (where opt-outs are read from).
    #[serde(rename = "Metas", default, borrow)]
    pub metas: Vec<Meta<'a>>,
}

/// A `<meta>` element; only `name` and `content` matter here (`property`, `http-equiv` ignored).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Meta<'a> {
    /// The `name` attribute (`robots`, `tdm-reservation`, ...); `None` when absent or not a string.
    #[serde(default, borrow, deserialize_with = "lenient_string")]
    pub name: Option<Text<'a>>,
    /// The `content` attribute, as written; `None` when absent or not a string.
    #[serde(default, borrow, deserialize_with = "lenient_string")]
    pub content: Option<Text<'a>>,
}

/// A link of the page: `path` says where it came from (`IMG@/src` is an `<img src>`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Link<'a> {
    /// Where the link came from, [`IMG_SRC_PATH`] for the links of
    /// [`HtmlMetadata::image_links`]; `None` when absent or not a string.
    #[serde(default, borrow, deserialize_with = "lenient_string")]
    pub path: Option<Text<'a>>,
    /// The link's URL as written in the page (possibly relative); `None` when absent or not a
    /// string.
    #[serde(default, borrow, deserialize_with = "lenient_string")]
    pub url: Option<Text<'a>>,
    /// The `<img>`'s alt text as Common Crawl gives it (HTML entities not decoded); `None` when
    /// absent or not a string.
    #[serde(default, borrow, deserialize_with = "lenient_string")]
    pub alt: Option<Text<'a>>,
}

/// A JSON string, borrowed where it can be; any other JSON value (skipped unparsed) is `None`.
struct LenientString;

impl<'de> Visitor<'de> for LenientString {
    type Value = Option<Text<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(None)
    }
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Text<'de>>, D::Error> {
    d.deserialize_any(LenientString)
}

/// A header value: a string, or an array of them (one entry each); anything else is ignored.
struct HeaderValues<'a, 'de>(&'a mut Vec<Text<'de>>);

impl<'de> de::DeserializeSeed<'de> for HeaderValues<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for HeaderValues<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        self.0.push(Cow::Borrowed(v));
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push(Cow::Owned(v.to_owned()));
        Ok(())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.0.push(Cow::Owned(v));
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(value) = seq.next_element::<IgnoredOrString<'de>>()? {
            self.0.extend(value.0);
        }
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }
}

/// An element of a header's array: kept when it is a string.
struct IgnoredOrString<'de>(Option<Text<'de>>);

impl<'de> Deserialize<'de> for IgnoredOrString<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient_string(d).map(IgnoredOrString)
    }
}

/// The `path` Common Crawl gives the `src` of an `<img>`.
pub const IMG_SRC_PATH: &str = "IMG@/src";

fn image_links<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Link<'de>>, D::Error> {
    struct ImageLinks;
    impl<'de> Visitor<'de> for ImageLinks {
        type Value = Vec<Link<'de>>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of links")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut images = Vec::new();
            while let Some(link) = seq.next_element::<Link<'de>>()? {
                if link.path.as_deref() == Some(IMG_SRC_PATH) {
                    images.push(link);
                }
            }
            Ok(images)
        }
    }
    d.deserialize_seq(ImageLinks)
}

fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(Text<'de>, Text<'de>)>, D::Error> {
    struct Headers;
    impl<'de> Visitor<'de> for Headers {
        type Value = Vec<(Text<'de>, Text<'de>)>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            let mut values = Vec::new();
            while let Some(name) = map.next_key::<Cow<'de, str>>()? {
                map.next_value_seed(HeaderValues(&mut values))?;
                out.extend(values.drain(..).map(|v| (name.clone(), v)));
            }
            Ok(out)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Vec::new())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
    }
    d.deserialize_any(Headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, content_type: &str, payload: &[u8]) -> Record {
        Record {
            offset: 0,
            warc_type: kind.to_owned(),
            target_uri: None,
            date: None,
            content_type: Some(content_type.to_owned()),
            payload: payload.to_vec().into(),
        }
    }

    const JSON: &[u8] = br#"{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"Headers":{"X-Robots-Tag":["noai","noindex"],"Server":"x"},"HTML-Metadata":{"Head":{"Base":7,"Metas":[{"name":"robots","content":"all"}]},"Links":[{"path":"IMG@/src","url":"/a.jpg","alt":"A cat"}]}}}}}"#;

    #[test]
    fn only_image_links_are_kept_in_page_order() {
        let json = br#"{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":{"Links":[{"path":"A@/href","url":"/p"},{"path":"IMG@/src","url":"/1.jpg"},{"path":"IMG@/data-src","url":"/x.jpg"},{"url":"/nopath.jpg"},{"path":"IMG@/src","url":"/2.jpg","alt":"two"}]}}}}}"#;
        let page = record("metadata", "application/json", json);
        let metadata = parse(&page).unwrap().unwrap();
        let html = metadata.envelope.payload.http_response.unwrap().html.unwrap();
        let urls: Vec<_> = html.image_links.iter().map(|l| l.url.as_deref().unwrap()).collect();
        assert_eq!(urls, ["/1.jpg", "/2.jpg"]);
        let not_a_list =
            br#"{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"HTML-Metadata":{"Links":"oops"}}}}}"#;
        let (reason, _) = parse(&record("metadata", "application/json", not_a_list)).unwrap_err();
        assert_eq!(reason, SkipReason::UnexpectedJsonShape);
    }

    #[test]
    fn reads_the_fields_leniently() {
        let page = record("metadata", "application/json", JSON);
        let metadata = parse(&page).unwrap().unwrap();
        let response = metadata.envelope.payload.http_response.unwrap();
        assert_eq!(response.header_values("x-robots-tag").collect::<Vec<_>>(), ["noai", "noindex"]);
        let html = response.html.unwrap();
        assert_eq!(html.head.base, None, "a non-string Base reads as absent");
        assert_eq!(html.image_links[0].alt.as_deref(), Some("A cat"));
        assert!(matches!(html.image_links[0].url, Some(Cow::Borrowed("/a.jpg"))), "unescaped strings are borrowed");
    }

    #[test]
    fn escapes_and_odd_types() {
        let json = br#"{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"Headers":{"A":[1,"x",{"b":2},["y"]],"B":null,"C":"\u00e9"},"HTML-Metadata":{"Head":{"Base":{"x":[1]}},"Links":[{"path":"IMG@\/src","url":null,"alt":"say \"hi\"\n","text":[1,2]}]}}}}}"#;
        let page = record("metadata", "application/json", json);
        let metadata = parse(&page).unwrap().unwrap();
        let response = metadata.envelope.payload.http_response.unwrap();
        let headers: Vec<(&str, &str)> = response.headers.iter().map(|(n, v)| (n.as_ref(), v.as_ref())).collect();
        assert_eq!(headers, [("A", "x"), ("C", "é")]);
        let html = response.html.unwrap();
        assert_eq!(html.head.base, None);
        let link = &html.image_links[0];
        assert_eq!(
            (link.path.as_deref(), link.url.as_deref(), link.alt.as_deref()),
            (Some("IMG@/src"), None, Some("say \"hi\"\n"))
        );
    }

    #[test]
    fn bad_json_is_a_counted_skip() {
        let reason = |payload: &[u8]| parse(&record("metadata", "application/json", payload)).unwrap_err().0;
        assert_eq!(reason(b"{not json"), SkipReason::BadJson);
        assert_eq!(reason(b"[1, 2]"), SkipReason::UnexpectedJsonShape);
        assert_eq!(parse(&record("warcinfo", "application/warc-fields", b"x: y")), Ok(None));
        assert_eq!(parse(&record("metadata", "application/warc-fields", b"x: y")), Ok(None));
    }
}
