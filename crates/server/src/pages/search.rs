//! `/` (and `/search`): the search form, the total, a grid of hits with the next-page link, and
//! the top hosts of the matching rows; `/search.json`: the same as a document.

use std::collections::VecDeque;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Response};
use maud::{Markup, html};
use pairscope_model::Registry;
use pairscope_query::{Facet, FacetBy, Hit, SearchPage, SearchRequest, SortBy, TermCount};
use schemars::JsonSchema;
use serde::Serialize;

use crate::app::LISTS;
use crate::error::Failure;
use crate::form::{FieldValue, SearchForm};
use crate::view::{excerpt, image, is_unsafe, page, score};
use crate::{App, ServerConfig};

/// The entity a search is restricted to.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub(crate) struct Mention {
    name: String,
    /// The list it was found in; null when no list has it (searched as one alias).
    list: Option<&'static str>,
    pub(crate) aliases: Vec<String>,
}

struct Outcome {
    form: SearchForm,
    mention: Option<Mention>,
    page: SearchPage,
    /// Exact counts of the matching rows by host and by language; `None` when the search
    /// left no time for it.
    hosts: Option<Facet>,
    languages: Option<Facet>,
}

/// `/search.json`, and what the search page shows.
#[derive(Debug, Serialize, JsonSchema)]
#[schemars(rename = "SearchPage")]
pub(crate) struct SearchDocument {
    #[schemars(range(min = 1))]
    version: u64,
    /// Every row the search matches, exact.
    total: u64,
    /// The cursor of the next page; null on the last.
    next: Option<String>,
    /// This search's next page, as JSON.
    next_url: Option<String>,
    hits: Vec<Hit>,
    /// The most frequent hosts of the matching rows.
    hosts: Option<TermCounts>,
    /// The most frequent caption languages of the matching rows.
    languages: Option<TermCounts>,
    /// The EXPR the filter fields stand for.
    filter: Option<String>,
    mention: Option<Mention>,
}

/// Exact counts of a keyword among the matching rows; null when the time limit left no time
/// for them.
#[derive(Debug, Serialize, JsonSchema)]
pub(crate) struct TermCounts {
    /// Most rows first, ties by value.
    values: Vec<TermCount>,
    /// Rows without a value.
    null: u64,
    /// Distinct values among the matching rows (the list may show fewer).
    distinct: u64,
}

impl TermCounts {
    fn of(facet: Option<Facet>) -> Option<TermCounts> {
        match facet? {
            Facet::Terms { values, null, distinct, .. } => Some(TermCounts { values, null, distinct }),
            Facet::Histogram { .. } => None,
        }
    }
}

impl SearchDocument {
    fn new(outcome: Outcome, config: &ServerConfig) -> SearchDocument {
        let Outcome { form, mention, page, hosts, languages } = outcome;
        SearchDocument {
            version: page.version,
            // The server's requests always count the total (`SearchForm::request`).
            total: page.total.unwrap_or_default(),
            next_url: page.next.as_ref().map(|next| form.with_after(next).href("/search.json", config)),
            next: page.next,
            hits: page.hits,
            hosts: TermCounts::of(hosts),
            languages: TermCounts::of(languages),
            filter: form.filter(),
            mention,
        }
    }
}

pub(crate) async fn html(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    match run(&app, query.as_deref()).await {
        Ok(outcome) => {
            let form = outcome.form.clone();
            let similar = crate::pages::similar::available(&*app.engine().await);
            render(&app, &form, &SearchDocument::new(outcome, &app.config), similar).into_response()
        }
        Err(failure) => failure.respond(false),
    }
}

pub(crate) async fn json(State(app): State<Arc<App>>, RawQuery(query): RawQuery) -> Response {
    match run(&app, query.as_deref()).await {
        Ok(outcome) => axum::Json(SearchDocument::new(outcome, &app.config)).into_response(),
        Err(failure) => failure.respond(true),
    }
}

async fn run(app: &Arc<App>, query: Option<&str>) -> Result<Outcome, Failure> {
    let form = SearchForm::parse(query, &app.config)?;
    let mention = mention(app, &form)?;
    let request = form.request(mention.as_ref().map(|m| m.aliases.clone()).unwrap_or_default());
    let engine = app.engine().await;
    let limits = app.limits();
    let facet_timeout = app.config.facet_timeout;
    let by = [
        FacetBy::Terms { column: "host".into(), top: app.config.facet_hosts },
        FacetBy::Terms { column: "language".into(), top: app.config.facet_languages },
    ];
    // The facets depend on the selection only: the other pages and orders of a search share
    // them. The engine's identity stands for its dataset version and its hidden rows.
    let key = (engine.identity(), form.selection_key(&app.config));
    let kept = app.facets.lock().unwrap_or_else(|e| e.into_inner()).get(&key);
    let (page, facets) = app
        .blocking(move || {
            if let Some(facets) = kept {
                // Cached facets counted every matching row: their total is the page's, so the
                // page is found without counting (a sorted phrase page then checks only its
                // best candidates).
                let total = facets.iter().flatten().map(Facet::total).next();
                let uncounted = SearchRequest { count_total: total.is_none(), ..request };
                let mut page = engine.search(&uncounted, &limits)?;
                page.total = page.total.or(total);
                return Ok((page, facets));
            }
            // One pass over the matching rows for the page, its total and both facets; a facet
            // that does not fit its own time limit is left off the page.
            let faceted = engine.search_with_facets(&request, &by, facet_timeout, &limits)?;
            let mut facets = faceted.facets.into_iter();
            let facets = [facets.next().flatten(), facets.next().flatten()];
            Ok((faceted.page, Arc::new(facets)))
        })
        .await?;
    if facets.iter().all(Option::is_some) {
        app.facets.lock().unwrap_or_else(|e| e.into_inner()).put(key, facets.clone());
    }
    let [hosts, languages] = (*facets).clone();
    Ok(Outcome { form, mention, page, hosts, languages })
}

/// What [`FacetCache`] keeps facets by: the engine's identity and the form's selection key.
type FacetKey = (u64, String);

/// The search page's two facets, hosts then languages; `None` for one cut off by its time limit.
type PageFacets = Arc<[Option<Facet>; 2]>;

/// The search page's facets (hosts, languages) of the most recent selections, by engine
/// identity (dataset version and hidden rows) and selection. Only complete ones are kept: a
/// facet cut off by its time limit is tried again next time.
pub(crate) struct FacetCache {
    entries: VecDeque<(FacetKey, PageFacets)>,
    /// Selections whose facets are kept (0: none).
    size: usize,
}

impl FacetCache {
    pub(crate) fn new(size: usize) -> FacetCache {
        FacetCache { entries: VecDeque::with_capacity(size.min(1024)), size }
    }

    fn get(&self, key: &FacetKey) -> Option<PageFacets> {
        self.entries.iter().find(|(k, _)| k == key).map(|(_, facets)| facets.clone())
    }

    fn put(&mut self, key: FacetKey, facets: PageFacets) {
        if self.size == 0 || self.get(&key).is_some() {
            return;
        }
        // Entries of another engine (an older version) can no longer be asked for.
        self.entries.retain(|((identity, _), _)| *identity == key.0);
        if self.entries.len() == self.size {
            self.entries.pop_front();
        }
        self.entries.push_back((key, facets));
    }
}

/// The aliases `mention` stands for: those of the entity of the first list that has it (only
/// built-in lists: a request never names a file), or the text itself as one alias.
pub(crate) fn mention(app: &App, form: &SearchForm) -> Result<Option<Mention>, Failure> {
    if form.mention.is_empty() {
        return Ok(None);
    }
    let specs: Vec<&'static str> =
        if form.names.is_empty() { LISTS.to_vec() } else { LISTS.into_iter().filter(|l| *l == form.names).collect() };
    for spec in specs {
        let list = app.list(spec).ok_or(Failure::Internal)?;
        if let Some(entity) = list.find(&form.mention) {
            return Ok(Some(Mention { name: entity.name.clone(), list: Some(spec), aliases: entity.aliases.clone() }));
        }
    }
    if pairscope_text::normalize(&form.mention, false).is_empty() {
        return Err(Failure::bad("The name to find mentions of has no letters or digits."));
    }
    Ok(Some(Mention { name: form.mention.clone(), list: None, aliases: vec![form.mention.clone()] }))
}

fn render(app: &App, form: &SearchForm, result: &SearchDocument, similar: bool) -> Html<String> {
    let config = &app.config;
    let total = result.total;
    let title = if form.q.is_empty() { "search".to_string() } else { format!("{} – search", excerpt(&form.q, 60)) };
    page(
        &title,
        html! {
            (search_form(app, form))
            @if let Some(mention) = &result.mention {
                p.note {
                    "Captions that mention " strong { (mention.name) }
                    @match mention.list {
                        Some(list) => { " (" (list) ", " (mention.aliases.len()) " aliases)" }
                        None => { " (in no built-in list: searched as written)" }
                    }
                    " · "
                    a href=(SearchForm { mention: String::new(), names: String::new(), after: None, ..form.clone() }.href("/", config)) {
                        "search all captions"
                    }
                }
            }
            p {
                strong { (total) } " matching rows · dataset version " (result.version)
                " · " a href=(form.href("/search.json", config)) { "JSON" }
                @let export = SearchForm { after: None, limit: config.page_size, ..form.clone() };
                " · export "
                a href=(export.href("/export.csv", config)) { "CSV" } " "
                a href=(export.href("/export.jsonl", config)) { "JSON lines" } " "
                a href=(export.href("/export.parquet", config)) { "parquet" }
                span.note {
                    @if total > config.export_cap {
                        " (the first " (config.export_cap) " rows: the export limit)"
                    } @else {
                        " (all " (total) " rows)"
                    }
                }
            }
            @if let Some(filter) = form.filter() {
                p.note { "filter: " code { (filter) } }
            }
            div.layout {
                aside {
                    (terms(app, form, "host", "hosts", result.hosts.as_ref()))
                    (terms(app, form, "language", "languages", result.languages.as_ref()))
                }
                section.grid {
                    @for hit in &result.hits {
                        article.hit {
                            (image(hit.row_id, &hit.url, is_unsafe(hit.punsafe, hit.nsfw_label.as_deref(), config), config))
                            p.caption { (excerpt(&hit.caption, 300)) }
                            p.meta {
                                a href=(format!("/row/{}", hit.row_id)) { "row " (hit.row_id) }
                                @if similar {
                                    " · " a href=(form.selection_href(&format!("/similar/{}", hit.row_id), config)) { "similar" }
                                }
                                " · " (hit.host.as_deref().unwrap_or("no host"))
                                br;
                                "aesthetic " (score(hit.aesthetic)) " · punsafe " (score(hit.punsafe))
                                " · pwatermark " (score(hit.pwatermark))
                                @if hit.similarity.is_some() { " · similarity " (score(hit.similarity)) }
                                @if let (Some(w), Some(h)) = (hit.width, hit.height) { br; (w) "×" (h) }
                            }
                        }
                    }
                }
            }
            p.pager {
                @if form.after.is_some() {
                    a href=(SearchForm { after: None, ..form.clone() }.href("/", config)) { "← first page" } " "
                }
                @if let Some(next) = &result.next {
                    a rel="next" href=(form.with_after(next).href("/", config)) { "next page →" }
                }
            }
        },
    )
}

fn search_form(app: &App, form: &SearchForm) -> Markup {
    let config = &app.config;
    let number = |v: Option<f64>| v.map(|v| v.to_string());
    html! {
        form.search method="get" action="/" {
            label { "query"
                input.wide type="search" name="q" value=(form.q) placeholder="words, \"a phrase\", OR, NOT, prefix*";
            }
            label { "URL pattern"
                input.wide type="text" name="url" value=(form.url) placeholder="https://site.example/artist or *name*";
            }
            @for field in &form.columns {
                @let (column, keys) = (field.column, field.keys());
                @match &field.value {
                    FieldValue::Range(range) => {
                        label { (column) " ≥" input type="number" step="any" name=(keys[0]) value=[number(range.min)]; }
                        label { (column) " ≤" input type="number" step="any" name=(keys[1]) value=[number(range.max)]; }
                    }
                    FieldValue::AtLeast(least) => {
                        label { (column) " ≥" input type="number" min="0" name=(keys[0]) value=[least.map(|v| v.to_string())]; }
                    }
                    FieldValue::Equals(value) => {
                        label { (column) input type="text" name=(keys[0]) value=(value); }
                    }
                }
            }
            label { "sort"
                select name="sort" {
                    @for name in SortBy::names(Registry::CANONICAL) {
                        option value=(name) selected[name == form.sort.name()] { (name) }
                    }
                }
            }
            label { "order"
                select name="order" {
                    option value="desc" selected[!form.ascending] { "descending" }
                    option value="asc" selected[form.ascending] { "ascending" }
                }
            }
            label { "per page"
                input type="number" min="1" max=(config.max_page_size) name="limit" value=(form.limit);
            }
            label { "fold accents" input type="checkbox" name="fold_accents" value="1" checked[form.fold_accents]; }
            @if !form.mention.is_empty() {
                input type="hidden" name="mention" value=(form.mention);
                @if !form.names.is_empty() { input type="hidden" name="names" value=(form.names); }
            }
            button type="submit" { "search" }
        }
    }
}

/// A facet's values, each a link to this search restricted to it, with its exact count.
fn terms(app: &App, form: &SearchForm, column: &str, title: &str, counts: Option<&TermCounts>) -> Markup {
    let config = &app.config;
    let chosen = form.term(column);
    html! {
        h2 { (title) }
        @match counts {
            Some(TermCounts { values, distinct, null }) => {
                ol {
                    @for term in values {
                        li {
                            @if term.value == chosen { strong { (term.value) } } @else {
                                a href=(form.with_term(column, &term.value).href("/", config)) { (term.value) }
                            }
                            " " span.note { (term.rows) }
                        }
                    }
                }
                p.note { (*distinct) " distinct" @if *null > 0 { ", " (*null) " rows without one" } }
                @if !chosen.is_empty() {
                    p { a href=(form.with_term(column, "").href("/", config)) { "any " (column) } }
                }
            }
            None => { p.note { "These counts did not fit in the time limit." } }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_facet_cache_keeps_the_most_recent_selections() {
        let size = 256;
        let mut cache = FacetCache::new(size);
        let facets = Arc::new([None, None]);
        for i in 0..=size {
            cache.put((1, i.to_string()), facets.clone());
        }
        assert!(cache.get(&(1, "0".into())).is_none(), "the oldest went");
        assert!(cache.get(&(1, "1".into())).is_some() && cache.get(&(1, size.to_string())).is_some());
        assert!(cache.get(&(2, "1".into())).is_none(), "another engine is another key");
        cache.put((2, "1".into()), facets.clone());
        assert!(cache.get(&(1, "2".into())).is_none(), "a new engine's entry drops the old engine's");
        assert_eq!(cache.entries.len(), 1);

        let mut off = FacetCache::new(0);
        off.put((1, "a".into()), facets);
        assert!(off.get(&(1, "a".into())).is_none(), "size 0 keeps nothing");
    }
}
