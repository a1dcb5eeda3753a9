//! A search page and facets of its selection from one pass over the matching rows (what the
//! web UI's search page shows): each batch of matching documents is counted into the total,
//! offered to the top-k and counted into every facet, instead of one scan for the search and
//! one more per facet.

use std::time::{Duration, Instant};

use pairscope_index::tantivy::{DocId, Score};

use crate::columns::SegmentColumns;
use crate::engine::{Deadline, Engine, Limits, SegmentAt, Sink};
use crate::error::Result;
use crate::facets::{Counter, Facet, FacetBy};
use crate::search::{SearchPage, SearchRequest, SortBy, TopSink};

/// A search page and facets of the same selection.
#[derive(Debug, Clone, PartialEq)]
pub struct FacetedPage {
    /// The page, as [`Engine::search`] gives it.
    pub page: SearchPage,
    /// In the order asked for; `None` for a facet that did not fit its time.
    pub facets: Vec<Option<Facet>>,
}

struct PageSink {
    top: TopSink,
    /// `None` once a facet has spent its time.
    counters: Vec<Option<Counter>>,
    /// Time each facet has spent counting on this thread.
    spent: Vec<Duration>,
    budget: Duration,
}

impl Sink for PageSink {
    fn take(
        &mut self,
        at: SegmentAt<'_>,
        columns: &mut SegmentColumns<'_>,
        docs: &[DocId],
        scores: &[Score],
    ) -> Result<()> {
        self.top.take(at, columns, docs, scores)?;
        for (slot, spent) in self.counters.iter_mut().zip(&mut self.spent) {
            let Some(counter) = slot else { continue };
            let started = Instant::now();
            counter.take(at, columns, docs)?;
            *spent += started.elapsed();
            if *spent > self.budget {
                *slot = None;
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: Self) {
        self.top.merge(other.top);
        for ((mine, theirs), (spent, their_spent)) in
            self.counters.iter_mut().zip(other.counters).zip(self.spent.iter_mut().zip(other.spent))
        {
            // Threads run side by side: a facet's time is that of its slowest thread.
            *spent = (*spent).max(their_spent);
            match (mine.as_mut(), theirs) {
                (Some(counter), Some(theirs)) => counter.merge(theirs),
                _ => *mine = None,
            }
        }
    }
}

impl Engine {
    /// A page of the rows `request` selects with the exact total (whatever
    /// [`SearchRequest::count_total`] says: the facets count every row anyway), and the facets `facets` of
    /// all those rows, from one pass over them. Each facet may take `facet_time` (counting, on
    /// each scanning thread, then listing its values); one that needs more is left out
    /// (`None`) and the search goes on. The page is the one [`Engine::search`] returns.
    pub fn search_with_facets(
        &self,
        request: &SearchRequest,
        facets: &[FacetBy],
        facet_time: Duration,
        limits: &Limits,
    ) -> Result<FacetedPage> {
        let deadline = Deadline::new(limits);
        let after = self.after(request)?;
        let counters = facets.iter().map(|by| Counter::new(self, by)).collect::<Result<Vec<_>>>()?;
        let prepared = self.prepare(&request.selection, &deadline)?;
        let scoring = request.sort == SortBy::Relevance;
        let live = !facet_time.is_zero();
        let sink = self.scan(&prepared, scoring, &deadline, || PageSink {
            top: TopSink::new(request, after),
            counters: counters.iter().map(|c| live.then(|| c.fresh())).collect(),
            spent: vec![Duration::ZERO; counters.len()],
            budget: facet_time,
        })?;
        let total = sink.top.total;
        let mut done = Vec::with_capacity(facets.len());
        for (counter, spent) in sink.counters.into_iter().zip(sink.spent) {
            let started = Instant::now();
            let facet = counter.map(|c| c.finish(total, &deadline)).transpose()?;
            done.push(facet.filter(|_| spent + started.elapsed() <= facet_time));
        }
        Ok(FacetedPage { page: self.page_of(request, sink.top.finish(), Some(total))?, facets: done })
    }
}
