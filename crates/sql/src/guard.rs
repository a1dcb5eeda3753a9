//! The read-only guard. Three layers, each enough on its own for what it covers:
//! - `SQLOptions` refuses DDL (CREATE, DROP), DML (INSERT, COPY) and statements (SET,
//!   PREPARE, transactions) while the query is planned (`sql_with_options`);
//! - URL tables stay off, so a file name in FROM is an unknown table, not a scan;
//! - [`check_physical_plan`] walks the plan about to run and refuses any write and any scan of a
//!   file that is not one of the version's data files, whatever produced it (a table function, a
//!   future DataFusion feature).

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::sink::DataSinkExec;
use datafusion::datasource::source::DataSourceExec;
use datafusion::execution::context::SQLOptions;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion::physical_plan::ExecutionPlan;

use crate::error::SqlError;

/// Only queries: no DDL, DML or other statements.
pub fn sql_options() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Refuses a plan that writes, or reads any file outside `allowed` (or from a store other than
/// the local file system, which is where every data file is).
pub fn check_physical_plan(plan: &Arc<dyn ExecutionPlan>, allowed: &HashSet<ObjectPath>) -> Result<(), SqlError> {
    let local = ObjectStoreUrl::local_filesystem();
    let mut pending = vec![plan];
    while let Some(node) = pending.pop() {
        if node.is::<DataSinkExec>() {
            return Err(SqlError::refused(format!("pairscope sql is read-only: the plan writes ({})", node.name())));
        }
        if let Some(source) = node.downcast_ref::<DataSourceExec>()
            && let Some(scan) = source.data_source().downcast_ref::<FileScanConfig>()
        {
            let outside = scan
                .file_groups
                .iter()
                .flat_map(|group| group.iter())
                .map(|file| &file.object_meta.location)
                .find(|location| scan.object_store_url != local || !allowed.contains(*location));
            if let Some(location) = outside {
                return Err(SqlError::refused(format!(
                    "the query reads {}{location}, which is not a data file of this dataset version",
                    scan.object_store_url.as_str()
                )));
            }
        }
        pending.extend(node.children());
    }
    Ok(())
}
