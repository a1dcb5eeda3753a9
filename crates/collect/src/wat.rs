//! The WAT JSON layout (`Envelope` → `Payload-Metadata` → `HTTP-Response-Metadata` →
//! `HTML-Metadata`): only the fields pairscope reads are parsed, everything else is skipped.

use serde::{Deserialize, Deserializer};

use crate::archive::{Record, SkipReason};

/// The JSON of a WAT `metadata` record, or `None` for any other record (`warcinfo`, a
/// metadata record that is not JSON). Bad JSON is a skip with its reason.
pub fn parse(record: &Record) -> Result<Option<WatMetadata>, (SkipReason, String)> {
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
    serde_json::from_slice::<WatMetadata>(&record.payload).map(Some).map_err(|e| {
        let reason = if e.is_data() { SkipReason::UnexpectedJsonShape } else { SkipReason::BadJson };
        (reason, e.to_string())
    })
}

/// The fields of a WAT JSON payload that pairscope reads; everything else is ignored unparsed.
/// Strings of an unexpected JSON type read as absent rather than failing the record.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WatMetadata {
    #[serde(rename = "Envelope")]
    pub envelope: Envelope,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Envelope {
    #[serde(rename = "WARC-Header-Metadata", default)]
    pub warc_header: WarcHeaderMetadata,
    #[serde(rename = "Payload-Metadata", default)]
    pub payload: PayloadMetadata,
}

/// The header of the WARC record the WAT entry describes (the crawl's response record).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct WarcHeaderMetadata {
    #[serde(rename = "WARC-Target-URI", default, deserialize_with = "lenient_string")]
    pub target_uri: Option<String>,
    #[serde(rename = "WARC-Date", default, deserialize_with = "lenient_string")]
    pub date: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct PayloadMetadata {
    #[serde(rename = "HTTP-Response-Metadata", default)]
    pub http_response: Option<HttpResponseMetadata>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HttpResponseMetadata {
    /// Response headers as (name, value); a header given as a JSON array yields one entry per value.
    #[serde(rename = "Headers", default, deserialize_with = "headers")]
    pub headers: Vec<(String, String)>,
    #[serde(rename = "HTML-Metadata", default)]
    pub html: Option<HtmlMetadata>,
}

impl HttpResponseMetadata {
    /// Values of header `name`, matched case-insensitively.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct HtmlMetadata {
    #[serde(rename = "Head", default)]
    pub head: Head,
    #[serde(rename = "Links", default)]
    pub links: Vec<Link>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Head {
    /// `<base href>`, as written.
    #[serde(rename = "Base", default, deserialize_with = "lenient_string")]
    pub base: Option<String>,
    #[serde(rename = "Metas", default)]
    pub metas: Vec<Meta>,
}

/// A `<meta>` element; only `name` and `content` matter here (`property`, `http-equiv` ignored).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Meta {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub content: Option<String>,
}

/// A link of the page: `path` says where it came from (`IMG@/src` is an `<img src>`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Link {
    #[serde(default, deserialize_with = "lenient_string")]
    pub path: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub url: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub alt: Option<String>,
}

fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Some(s),
        _ => None,
    })
}

fn headers<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
    let serde_json::Value::Object(map) = serde_json::Value::deserialize(d)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(map.len());
    for (name, value) in map {
        match value {
            serde_json::Value::String(v) => out.push((name, v)),
            serde_json::Value::Array(values) => {
                out.extend(values.into_iter().filter_map(|v| v.as_str().map(|v| (name.clone(), v.to_owned()))))
            }
            _ => {}
        }
    }
    Ok(out)
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
            payload: payload.to_vec(),
        }
    }

    const JSON: &[u8] = br#"{"Envelope":{"Payload-Metadata":{"HTTP-Response-Metadata":{"Headers":{"X-Robots-Tag":["noai","noindex"],"Server":"x"},"HTML-Metadata":{"Head":{"Base":7,"Metas":[{"name":"robots","content":"all"}]},"Links":[{"path":"IMG@/src","url":"/a.jpg","alt":"A cat"}]}}}}}"#;

    #[test]
    fn reads_the_fields_leniently() {
        let metadata = parse(&record("metadata", "application/json", JSON)).unwrap().unwrap();
        let response = metadata.envelope.payload.http_response.unwrap();
        assert_eq!(response.header_values("x-robots-tag").collect::<Vec<_>>(), ["noai", "noindex"]);
        let html = response.html.unwrap();
        assert_eq!(html.head.base, None, "a non-string Base reads as absent");
        assert_eq!(html.links[0].alt.as_deref(), Some("A cat"));
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
