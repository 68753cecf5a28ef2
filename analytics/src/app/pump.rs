//! Evaluating a pump's SELECT over rows: DataFusion runs the rewritten query
//! (`dialect.rs`) over an in-memory table named like the pump's source, holding the
//! rows a window operator (`window.rs`) released.
//!
//! Invariants: each evaluation sees exactly the rows given (a fresh table each time);
//! results come back sorted by `"__window_start"` when the query has one, so a pump's
//! output order is deterministic.
#![forbid(unsafe_code)]

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::execution::context::SessionContext;
use datafusion::prelude::SessionConfig;

use super::dialect::Pump;
use crate::error::Result;

/// A pump's query, ready to run over rows.
pub struct PumpQuery {
    pump: Pump,
    /// The name the rows are registered under (the pump's source unless set).
    table: Option<String>,
    ctx: SessionContext,
}

impl std::fmt::Debug for PumpQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PumpQuery")
            .field("pump", &self.pump)
            .finish_non_exhaustive()
    }
}

impl PumpQuery {
    /// The query of `pump`. Identifiers keep their case (as in Kinesis Data Analytics'
    /// quoted names; write unquoted ones as declared).
    pub fn new(pump: Pump) -> Self {
        let mut config = SessionConfig::new().with_target_partitions(1);
        config.options_mut().sql_parser.parse_float_as_decimal = true;
        config.options_mut().sql_parser.enable_ident_normalization = false;
        Self {
            pump,
            table: None,
            ctx: SessionContext::new_with_config(config),
        }
    }

    /// The query of `pump`, its rows registered as `table` (a table function's rows).
    pub fn with_table(pump: Pump, table: &str) -> Self {
        let mut q = Self::new(pump);
        q.table = Some(table.to_string());
        q
    }

    /// The pump.
    pub fn pump(&self) -> &Pump {
        &self.pump
    }

    /// Runs the query over `rows` (the source's rows, plus `"__window_start"` for
    /// windowed pumps).
    pub async fn run(&self, rows: RecordBatch) -> Result<Vec<RecordBatch>> {
        let select = self.pump.select.clone();
        self.run_sql(rows, &select).await
    }

    /// Runs `sql` with `rows` as the pump's source table.
    pub async fn run_sql(&self, rows: RecordBatch, sql: &str) -> Result<Vec<RecordBatch>> {
        self.set_source(rows)?;
        let df = self.ctx.sql(sql).await?;
        Ok(df.collect().await?)
    }

    /// Plans `sql` with `rows` as the source table (nothing runs): the result's
    /// number of columns, or the error with its position.
    pub async fn plan_sql(&self, rows: RecordBatch, sql: &str) -> Result<usize> {
        self.set_source(rows)?;
        let df = self.ctx.sql(sql).await?;
        let plan = df.create_physical_plan().await?;
        Ok(plan.schema().fields().len())
    }

    /// Plans `sql` with `rows` as the source table: the result's columns.
    pub async fn plan_schema(
        &self,
        rows: RecordBatch,
        sql: &str,
    ) -> Result<arrow::datatypes::SchemaRef> {
        self.set_source(rows)?;
        let df = self.ctx.sql(sql).await?;
        let plan = df.create_physical_plan().await?;
        Ok(plan.schema())
    }

    /// The columns of the source table that `sql` reads (DataFusion's optimized plan,
    /// whose scans project only what the query uses), with `rows` as the source:
    /// `None` if no scan of the source names its columns (then keep them all).
    pub async fn scanned_columns(
        &self,
        rows: RecordBatch,
        sql: &str,
    ) -> Result<Option<Vec<String>>> {
        use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
        use datafusion::logical_expr::LogicalPlan;
        self.set_source(rows)?;
        let plan = self.ctx.sql(sql).await?.into_optimized_plan()?;
        let source = self.table.as_deref().unwrap_or(self.pump.source.as_str());
        let mut columns: Option<Vec<String>> = None;
        let mut whole = false;
        plan.apply(|node| {
            if let LogicalPlan::TableScan(scan) = node
                && scan.table_name.table() == source
            {
                if scan.projection.is_none() {
                    whole = true;
                }
                let names = columns.get_or_insert_with(Vec::new);
                for f in scan.projected_schema.fields() {
                    if !names.contains(f.name()) {
                        names.push(f.name().clone());
                    }
                }
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        Ok(if whole { None } else { columns })
    }

    fn set_source(&self, rows: RecordBatch) -> Result<()> {
        let schema = rows.schema();
        let table = MemTable::try_new(schema, vec![vec![rows]])?;
        // A bare reference keeps the name's case (a parsed one would be lower-cased).
        let name = datafusion::common::TableReference::bare(
            self.table.as_deref().unwrap_or(self.pump.source.as_str()),
        );
        self.ctx.deregister_table(name.clone())?;
        self.ctx.register_table(name, Arc::new(table))?;
        Ok(())
    }

    /// Registers (or replaces) a table the query can join (reference data).
    pub fn set_table(&self, name: &str, rows: RecordBatch) -> Result<()> {
        let table = MemTable::try_new(rows.schema(), vec![vec![rows]])?;
        let name = datafusion::common::TableReference::bare(name);
        self.ctx.deregister_table(name.clone())?;
        self.ctx.register_table(name, Arc::new(table))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{Int64Array, StringArray, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::app::dialect::{Statement, parse_application};
    use crate::app::window::{FixedWindows, ROWTIME, WINDOW_START};
    use crate::schema::{UTC, timestamp_type};

    #[test]
    fn an_hour_of_one_minute_windows_matches_a_reference() {
        let text = r#"CREATE OR REPLACE PUMP "P" AS INSERT INTO "OUT"
            SELECT STREAM ticker, COUNT(*) AS n, SUM(price) AS total,
                   STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE) AS window_start
            FROM "SOURCE_SQL_STREAM_001"
            GROUP BY ticker, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' MINUTE)
            ORDER BY window_start, ticker"#;
        let Statement::CreatePump(pump) = parse_application(text).unwrap().remove(0) else {
            panic!()
        };
        let mut windows = FixedWindows::from_spec(&pump.window, 0).unwrap();
        let query = PumpQuery::new(pump);
        let schema = Arc::new(Schema::new(vec![
            Field::new(ROWTIME, timestamp_type(), false),
            Field::new("ticker", DataType::Utf8, false),
            Field::new("price", DataType::Int64, false),
        ]));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut reference: BTreeMap<(i64, String), (i64, i64)> = BTreeMap::new();
        let mut got: BTreeMap<(i64, String), (i64, i64)> = BTreeMap::new();
        let collect = |windows: &mut FixedWindows,
                       got: &mut BTreeMap<(i64, String), (i64, i64)>| {
            let Some(closed) = windows.close().unwrap() else {
                return;
            };
            assert!(closed.column_by_name(WINDOW_START).is_some());
            for out in rt.block_on(query.run(closed)).unwrap() {
                let tick = out
                    .column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap();
                let n = out.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
                let total = out.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
                let start = out
                    .column(3)
                    .as_any()
                    .downcast_ref::<TimestampMillisecondArray>()
                    .unwrap();
                for i in 0..out.num_rows() {
                    let previous = got.insert(
                        (start.value(i), tick.value(i).to_string()),
                        (n.value(i), total.value(i)),
                    );
                    assert!(previous.is_none(), "a window was emitted twice");
                }
            }
        };
        let tickers = ["AMZN", "MSFT", "ACME"];
        // An hour of events, one every 700 ms, fed in 10-second batches.
        let mut t = 0i64;
        while t < 3_600_000 {
            let mut times = Vec::new();
            let mut names = Vec::new();
            let mut prices = Vec::new();
            let batch_end = t + 10_000;
            while t < batch_end {
                let ticker = tickers[(t / 700 % 3) as usize];
                let price = t % 97;
                times.push(t);
                names.push(ticker);
                prices.push(price);
                let e = reference
                    .entry((t - t % 60_000, ticker.to_string()))
                    .or_insert((0, 0));
                e.0 += 1;
                e.1 += price;
                t += 700;
            }
            let batch = RecordBatch::try_new(
                Arc::clone(&schema),
                vec![
                    Arc::new(TimestampMillisecondArray::from(times).with_timezone(UTC)),
                    Arc::new(StringArray::from(names)),
                    Arc::new(Int64Array::from(prices)),
                ],
            )
            .unwrap();
            assert!(windows.add(&batch).unwrap().is_empty());
            windows.advance_rowtime(t);
            collect(&mut windows, &mut got);
        }
        // The last window (events past the hour) closes once time moves past it.
        assert_eq!(windows.open_windows(), 1);
        windows.advance_rowtime(t + 60_000);
        collect(&mut windows, &mut got);
        assert_eq!(got.len(), 60 * 3 + 2);
        assert_eq!(got, reference);
    }
}
