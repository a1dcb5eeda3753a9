//! Stopping a running plan within a batch of its deadline.
//!
//! Dropping a DataFusion stream only cancels work at its next await point, and some operators
//! have none for a long time: a cross join turns each input batch into thousands of output
//! batches without polling its input, so an aggregation above it runs for minutes inside one
//! `poll_next`, and the tasks of other partitions keep running after the stream is dropped. So
//! [`stoppable`] puts a check between every two operators of the plan: before a batch moves up,
//! it fails with [`Stopped`] once the deadline has passed or the query's results were dropped.
//! Every operator hands batches up at least every `batch_size` rows of work, so a query stops
//! within a batch of its deadline, however it is executed.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::execution_plan::{ChildrenPropertiesMode, ReplaceChildrenOptions};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use futures::StreamExt;

/// When one query must stop: at its deadline, or as soon as nobody reads its results.
#[derive(Debug)]
pub struct Stop {
    deadline: Option<Instant>,
    stopped: AtomicBool,
}

impl Stop {
    pub(crate) fn new(deadline: Option<Instant>) -> Arc<Stop> {
        Arc::new(Stop { deadline, stopped: AtomicBool::new(false) })
    }

    /// Stops the query at the next batch of each of its operators.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Relaxed);
    }

    fn check(&self) -> Result<()> {
        if self.stopped.load(Ordering::Relaxed) || self.deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(DataFusionError::External(Box::new(Stopped)));
        }
        Ok(())
    }
}

/// The error a stopped plan ends with.
#[derive(Debug, thiserror::Error)]
#[error("the query was stopped")]
pub struct Stopped;

/// Whether `error` is the one [`Stop`] raises, however the operators above wrapped it.
pub fn is_stopped(error: &DataFusionError) -> bool {
    matches!(error.find_root(), DataFusionError::External(e) if e.is::<Stopped>())
}

/// `plan` with a check of `stop` above every operator.
pub fn stoppable(plan: Arc<dyn ExecutionPlan>, stop: &Arc<Stop>) -> Result<Arc<dyn ExecutionPlan>> {
    let children: Vec<_> =
        plan.children().into_iter().map(|child| stoppable(child.clone(), stop)).collect::<Result<_>>()?;
    let plan = if children.is_empty() {
        plan
    } else {
        // The checks change no property of their input, so neither does the operator.
        plan.replace_children(children, ReplaceChildrenOptions::new(ChildrenPropertiesMode::Keep))?
    };
    Ok(Arc::new(StoppableExec { input: plan, stop: stop.clone() }))
}

#[derive(Debug)]
struct StoppableExec {
    input: Arc<dyn ExecutionPlan>,
    stop: Arc<Stop>,
}

impl DisplayAs for StoppableExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "StoppableExec")
    }
}

impl ExecutionPlan for StoppableExec {
    fn name(&self) -> &str {
        "StoppableExec"
    }

    // Operators that look for a particular kind of input at execution time (a recursive
    // query's work table) see through the check.
    fn downcast_delegate(&self) -> Option<&dyn ExecutionPlan> {
        Some(self.input.as_ref())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(self: Arc<Self>, mut children: Vec<Arc<dyn ExecutionPlan>>) -> Result<Arc<dyn ExecutionPlan>> {
        match (children.pop(), children.is_empty()) {
            (Some(input), true) => Ok(Arc::new(StoppableExec { input, stop: self.stop.clone() })),
            _ => Err(DataFusionError::Internal("StoppableExec has one child".into())),
        }
    }

    fn execute(&self, partition: usize, context: Arc<TaskContext>) -> Result<SendableRecordBatchStream> {
        self.stop.check()?;
        let input = self.input.execute(partition, context)?;
        let schema = input.schema();
        let stop = self.stop.clone();
        let checked = input.map(move |batch| {
            stop.check()?;
            batch
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, checked)))
    }
}
