//! A query session over one dataset version: the table, the functions, the limits, and the
//! results as a stream.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use datafusion::execution::memory_pool::{FairSpillPool, TrackConsumersPool};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::execution::{FunctionRegistry, SendableRecordBatchStream, SessionStateBuilder};
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use futures::{Stream, StreamExt};
use pairscope_store::Dataset;
use tokio::time::{Instant, Sleep};

use crate::error::SqlError;
use crate::stop::{self, Stop};
use crate::{capped, guard, table, udf};

/// A DataFusion context with pairscope's functions and a memory pool of `memory_limit` bytes
/// (operators that can spill write temporary files past it), where the functions whose output
/// can outgrow their input fail past a quarter of that ([`capped`]). No tables: callers
/// register them. `pairscope sql` and `pairscope subset`/`diff` plan on the same configuration.
pub fn context(memory_limit: usize) -> Result<SessionContext, SqlError> {
    let pool = TrackConsumersPool::new(FairSpillPool::new(memory_limit), std::num::NonZeroUsize::MIN);
    let runtime = RuntimeEnvBuilder::new().with_memory_pool(Arc::new(pool)).build_arc().map_err(SqlError::Execution)?;
    // The information schema makes `SHOW TABLES` and `SHOW COLUMNS FROM pairs` work; it is
    // read-only metadata.
    let config = SessionConfig::new().with_information_schema(true);
    let state =
        SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
    let mut context = SessionContext::new_with_state(state);
    for function in udf::functions() {
        context.register_udf(function);
    }
    context
        .register_function_rewrite(Arc::new(capped::CapFunctions::new(capped::output_cap(memory_limit))))
        .map_err(SqlError::Execution)?;
    Ok(context)
}

/// The limits of one query. Each is a named setting with a default; the CLI has a flag for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time from the start of planning to the last batch; `None` for no limit.
    pub timeout: Option<Duration>,
    /// Bytes DataFusion's operators may hold; sorts, aggregations and joins that can spill
    /// write to temporary files past it, the others fail with [`SqlError::Memory`], as does a
    /// call of a function such as `repeat` that could return more than a quarter of it.
    pub memory_limit: usize,
}

impl Limits {
    /// The time limit when none is given (`--timeout`'s default).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
    /// The memory limit when none is given (`--memory-limit`'s default): 2 GiB.
    pub const DEFAULT_MEMORY_LIMIT: usize = 2 << 30;
}

impl Default for Limits {
    fn default() -> Self {
        Limits { timeout: Some(Limits::DEFAULT_TIMEOUT), memory_limit: Limits::DEFAULT_MEMORY_LIMIT }
    }
}

/// SQL over one committed version of a dataset. Cheap to query repeatedly (the table is
/// registered once); a newer version needs a new session.
pub struct SqlSession {
    context: SessionContext,
    files: HashSet<ObjectPath>,
    limits: Limits,
    version: u64,
}

impl SqlSession {
    /// A session over the current version of `dataset`, whose queries run within `limits`.
    pub fn new(dataset: &Dataset, limits: Limits) -> Result<SqlSession, SqlError> {
        let context = context(limits.memory_limit)?;
        let pairs = table::pairs_table(dataset)?;
        context.register_table(table::TABLE, pairs.provider).map_err(SqlError::Execution)?;
        Ok(SqlSession { context, files: pairs.files.into_iter().collect(), limits, version: dataset.version() })
    }

    /// The dataset version every query of this session sees.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The limits every query of this session runs within.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Plans `sql`, checks it is read-only and within the dataset, and starts it. The time
    /// limit runs from this call; the stream ends with [`SqlError::Timeout`] when it passes,
    /// within a batch of every operator ([`stop`]). Dropping the stream stops the query.
    pub async fn query(&self, sql: &str) -> Result<Rows, SqlError> {
        let deadline = self.limits.timeout.map(|t| (Instant::now() + t, t));
        let stop = Stop::new(deadline.map(|(at, _)| at.into_std()));
        let start = async {
            let memory = self.limits.memory_limit;
            let frame = self
                .context
                .sql_with_options(sql, guard::sql_options())
                .await
                .map_err(|e| SqlError::from_datafusion(e, true, memory))?;
            let plan = frame.create_physical_plan().await.map_err(|e| SqlError::from_datafusion(e, true, memory))?;
            guard::check_physical_plan(&plan, &self.files)?;
            let batch_size = self.context.state().config().batch_size();
            capped::check_constants(&plan, capped::output_cap(memory), batch_size)
                .map_err(|e| SqlError::from_datafusion(e, true, memory))?;
            let plan = stop::stoppable(plan, &stop).map_err(SqlError::Execution)?;
            execute_stream(plan, self.context.task_ctx()).map_err(|e| SqlError::from_datafusion(e, false, memory))
        };
        let stream = match deadline {
            Some((at, limit)) => tokio::time::timeout_at(at, start).await.map_err(|_| SqlError::Timeout(limit))??,
            None => start.await?,
        };
        Ok(Rows {
            schema: stream.schema(),
            stream: Some(stream),
            deadline: deadline.map(|(at, limit)| (Box::pin(tokio::time::sleep_until(at)), limit)),
            memory_limit: self.limits.memory_limit,
            stop,
        })
    }

    /// [`SqlSession::query`] for callers without an async runtime: runs the query on its own
    /// runtime and yields its batches as an iterator.
    pub fn query_blocking(&self, sql: &str) -> Result<BlockingRows, SqlError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_time()
            .build()
            .map_err(|e| SqlError::Execution(e.into()))?;
        let rows = runtime.block_on(self.query(sql))?;
        Ok(BlockingRows { rows, runtime })
    }
}

/// A running query's results, batch by batch. Ends after the first error.
pub struct Rows {
    schema: SchemaRef,
    stream: Option<SendableRecordBatchStream>,
    deadline: Option<(Pin<Box<Sleep>>, Duration)>,
    memory_limit: usize,
    stop: Arc<Stop>,
}

impl Rows {
    /// The schema of every batch the query yields.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}

impl Stream for Rows {
    type Item = Result<RecordBatch, SqlError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        let Some(stream) = this.stream.as_mut() else { return Poll::Ready(None) };
        if let Some((sleep, limit)) = this.deadline.as_mut()
            && sleep.as_mut().poll(cx).is_ready()
        {
            let limit = *limit;
            this.stop.stop();
            this.stream = None;
            return Poll::Ready(Some(Err(SqlError::Timeout(limit))));
        }
        match stream.poll_next_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Ok(batch))) => Poll::Ready(Some(Ok(batch))),
            Poll::Ready(Some(Err(error))) => {
                this.stream = None;
                Poll::Ready(Some(Err(match this.deadline.as_ref() {
                    Some((_, limit)) if stop::is_stopped(&error) => SqlError::Timeout(*limit),
                    _ => SqlError::from_datafusion(error, false, this.memory_limit),
                })))
            }
            Poll::Ready(None) => {
                this.stream = None;
                Poll::Ready(None)
            }
        }
    }
}

impl Drop for Rows {
    // Dropping the plan's stream cancels its tasks only at their next await point; the stop
    // ends them at their next batch.
    fn drop(&mut self) {
        self.stop.stop();
    }
}

/// [`Rows`] driven by a runtime of its own.
pub struct BlockingRows {
    // Declared before the runtime so the query stops before its runtime shuts down.
    rows: Rows,
    runtime: tokio::runtime::Runtime,
}

impl BlockingRows {
    /// The schema of every batch the query yields.
    pub fn schema(&self) -> SchemaRef {
        self.rows.schema()
    }
}

impl Iterator for BlockingRows {
    type Item = Result<RecordBatch, SqlError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.runtime.block_on(self.rows.next())
    }
}
