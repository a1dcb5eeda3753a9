//! Image URLs: a host universe with LAION's shape (a Pinterest-like giant near 8 % of rows,
//! a few dozen big CDNs, then tens of thousands of small sites across many TLDs, multi-label
//! public suffixes included) and paths in each host's own style.
//!
//! The host universe is fixed (generated from a constant seed), like the web is: two runs
//! with different seeds share their hosts and differ in which rows land on them.

use std::fmt::Write;
use std::sync::LazyLock;

use crate::sample::{Alias, BandedZipf, Rng, push_code, push_digits, push_hex};
use crate::vocab::{Lang, VOCAB, WordList};

/// How a host lays out its image paths (and, for some, the image sizes it serves).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Site {
    Pinterest,
    Shopify,
    Ebay,
    Amazon,
    WordPressCdn,
    Blogger,
    AliExpress,
    Etsy,
    Dreamstime,
    Shutterstock,
    Rf123,
    Alamy,
    IStock,
    FineArtAmerica,
    Wix,
    Squarespace,
    BigCommerce,
    DhGate,
    Flickr,
    Wikimedia,
    YouTube,
    Redbubble,
    Pixabay,
    /// Any other site: WordPress uploads, shop catalogues, CMS media folders.
    Generic,
}

struct Host {
    /// Byte range in [`Hosts::names`].
    name: (u32, u32),
    site: Site,
}

/// The giants, with their share of rows in percent.
const GIANTS: &[(&str, Site, f64)] = &[
    ("i.pinimg.com", Site::Pinterest, 8.0),
    ("cdn.shopify.com", Site::Shopify, 2.2),
    ("i.ebayimg.com", Site::Ebay, 1.6),
    ("images-na.ssl-images-amazon.com", Site::Amazon, 1.0),
    ("m.media-amazon.com", Site::Amazon, 0.6),
    ("ae01.alicdn.com", Site::AliExpress, 1.0),
    ("i0.wp.com", Site::WordPressCdn, 0.6),
    ("i1.wp.com", Site::WordPressCdn, 0.5),
    ("i2.wp.com", Site::WordPressCdn, 0.4),
    ("1.bp.blogspot.com", Site::Blogger, 0.45),
    ("2.bp.blogspot.com", Site::Blogger, 0.4),
    ("3.bp.blogspot.com", Site::Blogger, 0.4),
    ("4.bp.blogspot.com", Site::Blogger, 0.35),
    ("i.etsystatic.com", Site::Etsy, 0.9),
    ("thumbs.dreamstime.com", Site::Dreamstime, 0.8),
    ("image.shutterstock.com", Site::Shutterstock, 0.7),
    ("c8.alamy.com", Site::Alamy, 0.6),
    ("previews.123rf.com", Site::Rf123, 0.5),
    ("images.fineartamerica.com", Site::FineArtAmerica, 0.5),
    ("live.staticflickr.com", Site::Flickr, 0.5),
    ("media.istockphoto.com", Site::IStock, 0.4),
    ("static.wixstatic.com", Site::Wix, 0.4),
    ("images.squarespace-cdn.com", Site::Squarespace, 0.4),
    ("ih1.redbubble.net", Site::Redbubble, 0.35),
    ("cdn11.bigcommerce.com", Site::BigCommerce, 0.3),
    ("www.dhresource.com", Site::DhGate, 0.3),
    ("upload.wikimedia.org", Site::Wikimedia, 0.3),
    ("i.ytimg.com", Site::YouTube, 0.3),
    ("cdn.pixabay.com", Site::Pixabay, 0.25),
];

/// Hosts in the long tail.
const TAIL_HOSTS: usize = 40_000;

/// Share of rows on tail hosts, in percent (what the giants leave).
fn tail_share() -> f64 {
    100.0 - GIANTS.iter().map(|g| g.2).sum::<f64>()
}

/// Top-level and public suffixes of tail hosts with their weights; the language is the one
/// whose captions favour them.
const TLDS: &[(&str, f64, Option<Lang>)] = &[
    ("com", 55.0, None),
    ("net", 4.0, None),
    ("org", 4.0, None),
    ("co.uk", 5.0, None),
    ("de", 5.0, Some(Lang::De)),
    ("com.au", 2.0, None),
    ("fr", 2.5, Some(Lang::Fr)),
    ("ru", 3.0, Some(Lang::Ru)),
    ("nl", 1.5, Some(Lang::Nl)),
    ("it", 1.5, Some(Lang::It)),
    ("es", 1.2, Some(Lang::Es)),
    ("jp", 1.0, Some(Lang::Ja)),
    ("co.jp", 0.6, Some(Lang::Ja)),
    ("pl", 1.0, Some(Lang::Pl)),
    ("ca", 1.2, None),
    ("com.br", 1.2, Some(Lang::Pt)),
    ("pt", 0.3, Some(Lang::Pt)),
    ("in", 0.7, None),
    ("co.nz", 0.4, None),
    ("io", 0.5, None),
    ("info", 0.5, None),
    ("us", 0.4, None),
    ("eu", 0.3, None),
    ("ch", 0.5, Some(Lang::De)),
    ("at", 0.4, Some(Lang::De)),
    ("be", 0.4, Some(Lang::Nl)),
    ("se", 0.4, None),
    ("dk", 0.3, None),
    ("no", 0.3, None),
    ("fi", 0.2, None),
    ("cz", 0.3, None),
    ("gr", 0.2, None),
    ("ro", 0.3, None),
    ("hu", 0.2, None),
    ("ua", 0.3, Some(Lang::Ru)),
    ("vn", 0.3, None),
    ("cn", 0.4, Some(Lang::Zh)),
    ("com.cn", 0.2, Some(Lang::Zh)),
    ("com.tw", 0.15, Some(Lang::Zh)),
    ("com.hk", 0.1, Some(Lang::Zh)),
    ("co.kr", 0.1, None),
    ("com.mx", 0.3, Some(Lang::Es)),
    ("com.ar", 0.2, Some(Lang::Es)),
    ("co.za", 0.3, None),
    ("ie", 0.2, None),
    ("com.sg", 0.1, None),
    ("com.tr", 0.2, None),
    ("org.uk", 0.2, None),
    ("ac.uk", 0.1, None),
    ("gov.au", 0.05, None),
    ("blogspot.com", 0.3, None),
];

pub(crate) struct Hosts {
    /// Every host name back to back, so drawing a host touches one small record and one
    /// contiguous string table.
    names: String,
    hosts: Vec<Host>,
    /// Over the giants, then one entry for the whole tail.
    table: Alias,
    tail: BandedZipf,
    /// Tail hosts under each foreign language's TLDs, with a Zipf table over them.
    by_lang: Vec<(Lang, Vec<u32>, Alias)>,
}

pub(crate) static HOSTS: LazyLock<Hosts> = LazyLock::new(Hosts::build);

impl Hosts {
    fn build() -> Hosts {
        // The stream is "hosts" in ASCII: fixed, so every run shares one web.
        let mut rng = Rng::fixed(0x0068_6f73_7473);
        let en = &VOCAB.en;
        let tld_table = Alias::new(&TLDS.iter().map(|t| t.1).collect::<Vec<_>>());
        let mut names = String::new();
        let add = |names: &mut String, name: &str| {
            let start = names.len() as u32;
            names.push_str(name);
            (start, names.len() as u32)
        };
        let mut hosts: Vec<Host> =
            GIANTS.iter().map(|&(name, site, _)| Host { name: add(&mut names, name), site }).collect();
        let mut weights: Vec<f64> = GIANTS.iter().map(|g| g.2).collect();
        weights.push(tail_share());
        let mut seen = std::collections::HashSet::new();
        let mut by_lang: Vec<(Lang, Vec<u32>)> = Lang::FOREIGN.iter().map(|&l| (l, Vec::new())).collect();
        let mut rank = 0;
        while rank < TAIL_HOSTS {
            let tld = &TLDS[tld_table.sample(&mut rng)];
            let name = tail_host(&mut rng, &en.nouns, &en.adjectives, tld.0);
            if !seen.insert(name.clone()) {
                continue;
            }
            if let Some(lang) = tld.2
                && let Some(entry) = by_lang.iter_mut().find(|e| e.0 == lang)
            {
                entry.1.push(hosts.len() as u32);
            }
            hosts.push(Host { name: add(&mut names, &name), site: Site::Generic });
            rank += 1;
        }
        Hosts {
            names,
            hosts,
            table: Alias::new(&weights),
            // Offset 100 keeps the biggest tail site near 0.12 % of rows, under every giant.
            tail: BandedZipf::new(TAIL_HOSTS, 100.0),
            by_lang: by_lang
                .into_iter()
                .map(|(l, ids)| {
                    let t = Alias::zipf(ids.len().max(1), 10.0);
                    (l, ids, t)
                })
                .collect(),
        }
    }

    fn name(&self, host: &Host) -> &str {
        &self.names[host.name.0 as usize..host.name.1 as usize]
    }

    /// A host for a row whose caption is in `lang`: sites under a language's own TLDs carry
    /// half of its captions.
    fn pick(&self, rng: &mut Rng, lang: Lang) -> usize {
        if lang != Lang::En
            && rng.chance(0.5)
            && let Some((_, ids, table)) = self.by_lang.iter().find(|e| e.0 == lang)
            && !ids.is_empty()
        {
            return ids[table.sample(rng)] as usize;
        }
        match self.table.sample(rng) {
            giant if giant < GIANTS.len() => giant,
            _ => GIANTS.len() + self.tail.sample(rng),
        }
    }
}

fn tail_host(rng: &mut Rng, nouns: &WordList, adjectives: &WordList, tld: &str) -> String {
    let word = |rng: &mut Rng| -> String {
        let list = if rng.chance(0.3) { adjectives } else { nouns };
        // Uniform, not Zipf: site names are spread over the whole vocabulary.
        let w = list.get(rng.below(list.len())).text;
        w.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase()
    };
    let a = word(rng);
    let b = word(rng);
    let mut name = String::new();
    match rng.below(20) {
        0..8 => {
            let _ = write!(name, "www.{a}{b}");
        }
        8..11 => {
            let _ = write!(name, "{a}{b}");
        }
        11..13 => {
            let _ = write!(name, "{a}-{b}");
        }
        13..17 => {
            let sub = *rng.pick(&["cdn", "images", "static", "img", "media", "assets", "files", "www2", "shop"]);
            let _ = write!(name, "{sub}.{a}{b}");
        }
        17 => {
            let _ = write!(name, "{a}{b}.files.wordpress.com");
            return name;
        }
        18 => {
            let _ = write!(name, "www.{a}{b}{}", rng.range(1, 99));
        }
        _ => {
            let _ = write!(name, "{a}{b}{}", rng.pick(&["shop", "store", "blog", "online", "world", "hub", "ideas"]));
        }
    }
    name.push('.');
    name.push_str(tld);
    name
}

/// The image size folders Pinterest serves, with their width (0: the original's).
const PIN_SIZES: [(&str, u32, f64); 4] =
    [("236x", 236, 50.0), ("474x", 474, 25.0), ("736x", 736, 20.0), ("originals", 0, 5.0)];

/// What the URL says about the image: the Pinterest size folder fixes its width.
pub(crate) struct UrlFacts {
    pub(crate) site: Site,
    /// Width the URL pins down, if any.
    pub(crate) width: Option<u32>,
}

/// Writes an image URL for a row with caption `caption` in `lang` into `out` (cleared).
pub(crate) fn write_url(rng: &mut Rng, lang: Lang, caption: &str, out: &mut String) -> UrlFacts {
    out.clear();
    let hosts = &*HOSTS;
    let host = &hosts.hosts[hosts.pick(rng, lang)];
    out.push_str("https://");
    out.push_str(hosts.name(host));
    let mut width = None;
    match host.site {
        Site::Pinterest => {
            let size = &PIN_SIZES[pin_size(rng)];
            if size.1 > 0 {
                width = Some(size.1);
            }
            out.push('/');
            out.push_str(size.0);
            let mut hex = String::with_capacity(32);
            push_hex(&mut hex, rng, 32);
            let _ = write!(out, "/{}/{}/{}/{hex}.jpg", &hex[..2], &hex[2..4], &hex[4..6]);
        }
        Site::Shopify => {
            out.push_str("/s/files/1/");
            let _ = write!(out, "{:04}/{:04}/{:04}/products/", rng.below(10_000), rng.below(10_000), rng.below(10_000));
            slug(rng, caption, out);
            let _ = write!(out, "_{}.jpg?v=", rng.pick(&["1024x1024", "800x", "large", "grande", "1200x1200", "600x"]));
            push_digits(out, rng, 10);
        }
        Site::Ebay => {
            out.push_str("/images/g/");
            push_code(out, rng, B64, 16);
            let _ = write!(out, "/s-l{}.jpg", rng.pick(&[300, 400, 500, 1600]));
        }
        Site::Amazon => {
            out.push_str("/images/I/");
            push_code(out, rng, ALNUM, 11);
            let _ = write!(
                out,
                ".{}.jpg",
                rng.pick(&["_AC_SL1500_", "_AC_UL320_", "_SX342_", "_AC_SX679_", "_SL1000_", "_AC_UY218_"])
            );
        }
        Site::WordPressCdn => {
            // Photon proxies another site's upload.
            let other = &hosts.hosts[GIANTS.len() + rng.below(TAIL_HOSTS)];
            let _ = write!(
                out,
                "/{}/wp-content/uploads/{}/{:02}/",
                hosts.name(other),
                rng.range(2012, 2021),
                rng.range(1, 12)
            );
            slug(rng, caption, out);
            let _ = write!(
                out,
                ".jpg?resize={}%2C{}&ssl=1",
                rng.pick(&[600, 750, 800, 1024]),
                rng.pick(&[400, 500, 600, 683])
            );
        }
        Site::Blogger => {
            out.push_str("/-");
            push_code(out, rng, B64, 11);
            out.push('/');
            push_code(out, rng, B64, 11);
            out.push_str("/AAAAAAAA");
            push_code(out, rng, B64, 3);
            out.push('/');
            push_code(out, rng, B64, 27);
            let _ = write!(out, "/s{}/", rng.pick(&[1600, 640, 400, 320]));
            slug(rng, caption, out);
            out.push_str(".jpg");
        }
        Site::AliExpress => {
            out.push_str("/kf/HTB1");
            push_code(out, rng, ALNUM, 27);
            out.push_str(".jpg");
        }
        Site::Etsy => {
            let _ = write!(out, "/{}/r/il/", rng.range(10_000_000, 39_999_999));
            push_hex(out, rng, 6);
            let _ = write!(
                out,
                "/{}/il_{}.",
                rng.range(1_000_000_000, 3_999_999_999),
                rng.pick(&["570xN", "794xN", "fullxfull", "340x270"])
            );
            push_digits(out, rng, 10);
            out.push('_');
            push_code(out, rng, b"abcdefghijklmnopqrstuvwxyz0123456789", 4);
            out.push_str(".jpg");
        }
        Site::Dreamstime => {
            out.push_str(if rng.chance(0.7) { "/b/" } else { "/z/" });
            slug(rng, caption, out);
            out.push('-');
            push_digits(out, rng, 9);
            out.push_str(".jpg");
        }
        Site::Shutterstock => {
            let _ = write!(out, "/{}/", rng.pick(&["image-photo", "image-vector", "image-illustration"]));
            slug(rng, caption, out);
            out.push_str("-600w-");
            push_digits(out, rng, 10);
            out.push_str(".jpg");
        }
        Site::Rf123 => {
            let mut user = String::new();
            push_code(&mut user, rng, b"abcdefghijklmnopqrstuvwxyz", 7);
            let _ = write!(out, "/images/{user}/{user}{}/{user}", rng.range(1501, 2011));
            push_digits(out, rng, 8);
            out.push('-');
            slug(rng, caption, out);
            out.push_str(".jpg");
        }
        Site::Alamy => {
            out.push_str("/comp/");
            push_code(out, rng, UPPER_ALNUM, 6);
            out.push('/');
            slug(rng, caption, out);
            out.push('-');
            push_code(out, rng, UPPER_ALNUM, 6);
            out.push_str(".jpg");
        }
        Site::IStock => {
            out.push_str("/photos/");
            slug(rng, caption, out);
            out.push_str("-picture-id");
            push_digits(out, rng, 9);
            let _ = write!(out, "?k=6&m={}&s=612x612&w=0&h=", rng.range(100_000_000, 999_999_999));
            push_code(out, rng, B64, 43);
            out.push('=');
        }
        Site::FineArtAmerica => {
            let _ = write!(out, "/images/artworkimages/mediumlarge/{}/", rng.range(1, 3));
            slug(rng, caption, out);
            out.push('-');
            push_code(out, rng, b"abcdefghijklmnopqrstuvwxyz", 8);
            out.push_str(".jpg");
        }
        Site::Wix => {
            out.push_str("/media/");
            push_hex(out, rng, 6);
            out.push('_');
            push_hex(out, rng, 32);
            out.push_str(if rng.chance(0.8) { "~mv2.jpg" } else { "~mv2.png" });
        }
        Site::Squarespace => {
            out.push_str("/content/v1/");
            push_hex(out, rng, 24);
            out.push('/');
            push_digits(out, rng, 13);
            out.push('-');
            push_code(out, rng, UPPER_ALNUM, 20);
            out.push('/');
            slug(rng, caption, out);
            out.push_str(".jpg");
        }
        Site::BigCommerce => {
            out.push_str("/s-");
            push_code(out, rng, b"abcdefghijklmnopqrstuvwxyz0123456789", 10);
            let _ =
                write!(out, "/images/stencil/1280x1280/products/{}/{}/", rng.range(100, 9999), rng.range(1000, 99999));
            slug(rng, caption, out);
            out.push_str("__");
            push_digits(out, rng, 5);
            out.push('.');
            push_digits(out, rng, 10);
            out.push_str(".jpg");
        }
        Site::DhGate => {
            let _ = write!(out, "/0x0/f2/albu/g{}/M00/", rng.range(1, 9));
            push_hex(out, rng, 2);
            out.push('/');
            push_hex(out, rng, 2);
            out.push_str("/rBVa");
            push_code(out, rng, ALNUM, 20);
            out.push_str(".jpg");
        }
        Site::Flickr => {
            let _ = write!(out, "/{}/", rng.range(1000, 65535));
            push_digits(out, rng, 11);
            out.push('_');
            push_hex(out, rng, 10);
            let _ = write!(out, "_{}.jpg", rng.pick(&["b", "z", "c", "o", "h"]));
        }
        Site::Wikimedia => {
            let mut hex = String::new();
            push_hex(&mut hex, rng, 2);
            let mut title = String::new();
            slug(rng, caption, &mut title);
            let title = title.replace('-', "_");
            let _ = write!(
                out,
                "/wikipedia/commons/thumb/{}/{}/{title}.jpg/{}px-{title}.jpg",
                &hex[..1],
                &hex,
                rng.pick(&[220, 320, 640, 800, 1024, 1280])
            );
        }
        Site::YouTube => {
            out.push_str("/vi/");
            push_code(out, rng, B64, 11);
            out.push_str(if rng.chance(0.5) { "/maxresdefault.jpg" } else { "/hqdefault.jpg" });
        }
        Site::Redbubble => {
            out.push_str("/image.");
            push_digits(out, rng, 9);
            let _ = write!(out, ".{}/", rng.range(1000, 9999));
            let file = *rng.pick(&REDBUBBLE_FILES);
            out.push_str(file);
        }
        Site::Pixabay => {
            let _ = write!(
                out,
                "/photo/{}/{:02}/{:02}/{:02}/{:02}/",
                rng.range(2013, 2021),
                rng.range(1, 12),
                rng.range(1, 28),
                rng.range(0, 23),
                rng.range(0, 59)
            );
            slug(rng, caption, out);
            out.push('-');
            push_digits(out, rng, 7);
            out.push_str("_960_720.jpg");
        }
        Site::Generic => generic_path(rng, caption, out),
    }
    UrlFacts { site: host.site, width }
}

const REDBUBBLE_FILES: [&str; 4] = [
    "flat,750x1000,075,f.jpg",
    "ssrco,classic_tee,mens,fafafa:ca443f4786,front_alt,square_product,600x600.jpg",
    "st,small,507x507-pad,600x600,f8f8f8.jpg",
    "poster,504x498,f8f8f8-pad,600x600,f8f8f8.jpg",
];

fn pin_size(rng: &mut Rng) -> usize {
    let r = rng.unit() * 100.0;
    let mut acc = 0.0;
    for (i, s) in PIN_SIZES.iter().enumerate() {
        acc += s.2;
        if r < acc {
            return i;
        }
    }
    PIN_SIZES.len() - 1
}

const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn extension(rng: &mut Rng) -> &'static str {
    match rng.below(100) {
        0..72 => ".jpg",
        72..77 => ".jpeg",
        77..80 => ".JPG",
        80..93 => ".png",
        _ => ".webp",
    }
}

fn generic_path(rng: &mut Rng, caption: &str, out: &mut String) {
    match rng.below(100) {
        0..35 => {
            let _ = write!(out, "/wp-content/uploads/{}/{:02}/", rng.range(2010, 2021), rng.range(1, 12));
            slug(rng, caption, out);
            if rng.chance(0.4) {
                let _ =
                    write!(out, "-{}x{}", rng.pick(&[300, 600, 768, 1024, 150]), rng.pick(&[200, 400, 512, 683, 150]));
            }
        }
        35..45 => {
            out.push_str("/images/");
            slug(rng, caption, out);
        }
        45..53 => {
            out.push_str("/media/catalog/product/cache/1/image/");
            push_hex(out, rng, 32);
            let mut letters = String::new();
            push_code(&mut letters, rng, b"abcdefghijklmnopqrstuvwxyz", 2);
            let _ = write!(out, "/{}/{}/", &letters[..1], &letters[1..]);
            slug(rng, caption, out);
        }
        53..63 => {
            let _ = write!(out, "/uploads/{}/{:02}/", rng.range(2014, 2021), rng.range(1, 12));
            push_hex(out, rng, 16);
        }
        63..73 => {
            out.push_str("/images/products/");
            push_digits(out, rng, 6);
            let _ = write!(out, "_{}", rng.range(1, 8));
        }
        73..81 => {
            out.push_str("/photos/");
            push_digits(out, rng, 6);
            out.push('/');
            slug(rng, caption, out);
        }
        81..86 => {
            let _ = write!(
                out,
                "/sites/default/files/styles/large/public/{}-{:02}/",
                rng.range(2015, 2021),
                rng.range(1, 12)
            );
            slug(rng, caption, out);
        }
        86..93 => {
            out.push('/');
            push_hex(out, rng, 2);
            out.push('/');
            push_hex(out, rng, 2);
            out.push('/');
            push_hex(out, rng, 32);
        }
        _ => {
            out.push_str("/assets/img/");
            slug(rng, caption, out);
        }
    }
    out.push_str(extension(rng));
}

/// A file-name slug from the caption's ASCII words, the way CMSs derive them (up to eight
/// words, hyphens or underscores, sometimes cased as written); a random code when the
/// caption has no ASCII word.
fn slug(rng: &mut Rng, caption: &str, out: &mut String) {
    let sep = if rng.chance(0.85) { '-' } else { '_' };
    let keep_case = rng.chance(0.15);
    let start = out.len();
    let bytes = caption.as_bytes();
    let mut words = 0;
    let mut i = 0;
    while i < bytes.len() && words < 8 {
        // Non-ASCII bytes are never alphanumeric here, so word bounds fall on char bounds.
        if !bytes[i].is_ascii_alphanumeric() {
            i += 1;
            continue;
        }
        let end = bytes[i..].iter().position(|b| !b.is_ascii_alphanumeric()).map_or(bytes.len(), |n| i + n);
        if words > 0 {
            out.push(sep);
        }
        out.push_str(&caption[i..end]);
        words += 1;
        i = end;
    }
    if !keep_case {
        out[start..].make_ascii_lowercase();
    }
    if out.len() == start {
        let nouns = &VOCAB.en.nouns;
        out.extend(nouns.get(rng.below(nouns.len())).text.chars().map(|c| if c == ' ' { '-' } else { c }));
        out.push('-');
        push_digits(out, rng, 6);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn universe_has_giants_and_a_long_tail() {
        let hosts = &*HOSTS;
        assert_eq!(hosts.hosts.len(), GIANTS.len() + TAIL_HOSTS);
        assert!(hosts.hosts.iter().any(|h| hosts.name(h).ends_with(".co.uk")));
        assert!(hosts.hosts.iter().any(|h| hosts.name(h).ends_with(".com.au")));
        let tlds: std::collections::HashSet<&str> =
            hosts.hosts.iter().map(|h| hosts.name(h).rsplit('.').next().unwrap_or("")).collect();
        assert!(tlds.len() > 30, "{} TLDs", tlds.len());
        assert!(hosts.by_lang.iter().all(|(_, ids, _)| !ids.is_empty()));
    }

    #[test]
    fn urls_are_well_formed() {
        let mut rng = Rng::fixed(5);
        let mut out = String::new();
        let mut pins = 0;
        for _ in 0..20_000 {
            let facts = write_url(&mut rng, Lang::En, "Red Dress for Women, size 8 (2019)", &mut out);
            assert!(out.starts_with("https://"), "{out}");
            assert!(!out.contains(' ') && out.is_ascii(), "{out}");
            let host = &out["https://".len()..].split('/').next().unwrap_or("");
            assert!(host.contains('.') && !host.is_empty());
            if facts.site == Site::Pinterest {
                pins += 1;
                assert!(out.ends_with(".jpg"));
            }
        }
        assert!((1200..2000).contains(&pins), "{pins} Pinterest rows of 20000");
    }
}
