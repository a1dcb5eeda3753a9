//! `/overview`: what the dataset holds: its size, the sources of its current version,
//! histograms of the scores and sizes and the top domains, as server-drawn charts;
//! `/overview.json`: the same as a document. The counts are `pairscope-query`'s facets over
//! every row, computed once per dataset version (and set of hidden rows) and kept, in the
//! server and beside the version (`pairscope_store::cache`), so the first overview after a
//! restart is read, not counted again.

use std::path::Path;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use maud::html;
use pairscope_model::Registry;
use pairscope_query::{Engine, Facet, FacetBy, Limits, Selection, TermCount};
use pairscope_store::cache::VersionCache;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::App;
use crate::chart;
use crate::error::Failure;
use crate::form::SearchForm;
use crate::view::page;

const BUCKETS: usize = 20;
const TOP_DOMAINS: usize = 20;
/// The column of the top list.
const DOMAIN: &str = "domain";

/// Bumped whenever the overview's shape or what it counts changes (a kept one of another
/// format is not read).
const OVERVIEW_FORMAT: u32 = 2;

/// `/overview.json`, and what the overview page shows.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub(crate) struct Overview {
    #[schemars(range(min = 1))]
    version: u64,
    committed_at: String,
    pairscope_version: String,
    /// Rows shown: the version's rows but those the removal lists hide.
    rows: u64,
    /// Rows of the version the removal lists hide (counted nowhere on the overview).
    hidden_rows: u64,
    sources: Vec<Source>,
    /// One per column the registry draws on the overview, in registry order (over each
    /// column's default range).
    histograms: Vec<Facet>,
    /// The most frequent registrable domains.
    domains: Facet,
}

/// One ingested source file. Only its file name is shown: where it was on the machine that
/// ingested it is none of a visitor's business.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
struct Source {
    file: String,
    id: String,
    input_rows: u64,
    rows: u64,
    skipped_rows: u64,
    bytes: u64,
    ingested_at: String,
}

pub(crate) async fn json(State(app): State<Arc<App>>) -> Response {
    match overview(&app).await {
        Ok(overview) => axum::Json(&*overview).into_response(),
        Err(failure) => failure.respond(true),
    }
}

pub(crate) async fn html(State(app): State<Arc<App>>) -> Response {
    let overview = match overview(&app).await {
        Ok(overview) => overview,
        Err(failure) => return failure.respond(false),
    };
    let config = &app.config;
    let body = html! {
        h1 { "Overview" }
        p {
            strong { (overview.rows) } " rows"
            @if overview.hidden_rows > 0 { " (and " (overview.hidden_rows) " hidden by the removal lists)" }
            " · dataset version " (overview.version) " committed " (overview.committed_at)
            " by pairscope " (overview.pairscope_version) " · " a href="/overview.json" { "JSON" }
        }
        h2 { "Sources" }
        table {
            tr { th { "file" } th { "id" } th { "rows read" } th { "rows stored" } th { "rows skipped" } th { "bytes" } th { "ingested" } }
            @for source in &overview.sources {
                tr {
                    td { (source.file) }
                    td { code { (source.id.get(..12).unwrap_or(&source.id)) } }
                    td.num { (source.input_rows) }
                    td.num { (source.rows) }
                    td.num { (source.skipped_rows) }
                    td.num { (source.bytes) }
                    td { (source.ingested_at) }
                }
            }
        }
        div.charts {
            @for facet in &overview.histograms {
                @if let Facet::Histogram { column, buckets, below, above, null, .. } = facet {
                    figure {
                        figcaption { strong { (column) } }
                        (chart::histogram(column, buckets))
                        p.note { (null) " rows without a value · " (below) " below the range · " (above) " at or above it" }
                    }
                }
            }
        }
        @if let Facet::Terms { values, distinct, null, total, .. } = &overview.domains {
            @let most = values.first().map_or(1, |top| top.rows.max(1)) as f64;
            h2 { "Top domains" }
            table {
                tr { th { "domain" } th { "rows" } th { "share" } th {} }
                @for TermCount { value: domain, rows } in values {
                    @let share = *rows as f64 / (*total).max(1) as f64;
                    tr {
                        td { a href=(SearchForm::new(config.page_size).with_term(DOMAIN, domain).href("/", config)) { (domain) } }
                        td.num { (rows) }
                        td.num { (format!("{:.2} %", share * 100.0)) }
                        td { (chart::bar(*rows as f64 / most)) }
                    }
                }
            }
            p.note { (distinct) " distinct domains; " (null) " rows without one" }
        }
    };
    page("overview", body).into_response()
}

/// The overview of the current version: the one kept in memory or beside the version, or
/// computed (under a permit) and kept in both.
async fn overview(app: &Arc<App>) -> Result<Arc<Overview>, Failure> {
    let engine = app.engine().await;
    let kept = app.overview.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if let Some(overview) = kept.filter(|o| o.version == engine.version()) {
        return Ok(overview);
    }
    let limits = app.limits();
    let overview = Arc::new(app.blocking(move || kept_or_computed(&engine, &limits)).await?);
    *app.overview.lock().unwrap_or_else(|e| e.into_inner()) = Some(overview.clone());
    Ok(overview)
}

fn kept_or_computed(engine: &Engine, limits: &Limits) -> Result<Overview, Failure> {
    let cache = VersionCache::new(engine.dataset(), "overview");
    let key = format!("f{OVERVIEW_FORMAT}-{}.json", engine.hidden_digest());
    let kept = cache.read(&key).and_then(|bytes| serde_json::from_slice::<Overview>(&bytes).ok());
    if let Some(overview) = kept.filter(|o| o.version == engine.version()) {
        return Ok(overview);
    }
    let overview = compute(engine, limits)?;
    match serde_json::to_vec(&overview) {
        Ok(bytes) => {
            if let Err(why) = cache.write(&key, &bytes) {
                tracing::warn!("the overview was not kept: {why}");
            }
        }
        Err(e) => tracing::warn!("the overview was not kept: {e}"),
    }
    Ok(overview)
}

fn compute(engine: &Engine, limits: &Limits) -> Result<Overview, Failure> {
    let all = Selection::default();
    let histograms = Registry::CANONICAL
        .overview_histograms()
        .map(|column| {
            let by = FacetBy::Histogram { column: column.name.to_string(), buckets: BUCKETS, range: None };
            engine.facets(&all, &by, limits)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let by = FacetBy::Terms { column: DOMAIN.into(), top: TOP_DOMAINS };
    let domains = engine.facets(&all, &by, limits)?;
    let manifest = engine.dataset().manifest();
    let sources = manifest
        .sources
        .iter()
        .map(|source| Source {
            file: Path::new(&source.path).file_name().map_or(String::new(), |f| f.to_string_lossy().into_owned()),
            id: source.id.clone(),
            input_rows: source.input_rows,
            rows: source.rows,
            skipped_rows: source.skipped_rows.values().sum(),
            bytes: source.bytes,
            ingested_at: source.ingested_at.clone(),
        })
        .collect();
    Ok(Overview {
        version: engine.version(),
        committed_at: manifest.committed_at.clone(),
        pairscope_version: manifest.pairscope_version.clone(),
        rows: engine.rows() - engine.hidden_rows(),
        hidden_rows: engine.hidden_rows(),
        sources,
        histograms,
        domains,
    })
}
