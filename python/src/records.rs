//! Records and batches as Python sees them: `Record` (one record, its data and key as
//! zero-copy memoryviews) and `RecordBatch` (a GetRecords answer or a subscription's
//! delivery: a sequence of records plus where to continue).
//!
//! Invariants: a batch holds the engine's `ReadBatch` (reference-counted handles on the
//! segments its records are in); a `Record` holds its own `RecordView`, so records,
//! and memoryviews of them, outlive the batch they came from. Nothing here copies a
//! payload; `bytes(record)` is the one explicit copy.
#![forbid(unsafe_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pyo3::exceptions::{PyIndexError, PyTypeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PySlice, PyString};
use tidelog::engine::ChildShard;
use tidelog::log::{ReadBatch, RecordView};

use crate::buffer::{Part, memoryview};
use crate::convert::{datetime_from_ms, type_name};

/// One record: sequence number, arrival time, partition key and data. `data` and
/// `key` are read-only memoryviews over the mapped log (no copy); they stay valid
/// after the batch, the engine handle and the segment file are gone.
#[pyclass(frozen, module = "tidelog")]
pub struct Record {
    view: RecordView,
    shard_id: Arc<str>,
}

impl Record {
    pub(crate) fn new(view: RecordView, shard_id: Arc<str>) -> Self {
        Self { view, shard_id }
    }
}

#[pymethods]
impl Record {
    /// The data blob: a read-only memoryview over the mapped log (no copy).
    #[getter]
    fn data<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyMemoryView>> {
        memoryview(py, self.view.clone(), Part::Data)
    }

    /// The partition key's UTF-8 bytes: a read-only memoryview over the mapped log.
    #[getter]
    fn key<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyMemoryView>> {
        memoryview(py, self.view.clone(), Part::Key)
    }

    /// The partition key as `str` (decoded from the log; a new object).
    #[getter]
    fn partition_key(&self) -> String {
        String::from_utf8_lossy(self.view.key()).into_owned()
    }

    /// The sequence number, a decimal `str` (as on every Kinesis wire).
    #[getter]
    fn sequence_number(&self) -> String {
        self.view.seq().to_string()
    }

    /// Approximate arrival time, a timezone-aware UTC `datetime`.
    #[getter]
    fn arrival_time<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        datetime_from_ms(py, self.view.timestamp_ms())
    }

    /// Approximate arrival time, milliseconds since the Unix epoch.
    #[getter]
    fn arrival_ms(&self) -> u64 {
        self.view.timestamp_ms()
    }

    /// The shard the record was read from.
    #[getter]
    fn shard_id(&self) -> &str {
        &self.shard_id
    }

    /// True if the record is stored encrypted (its `data` and `key` are then a
    /// decrypted copy, not a view of the mapped log).
    #[getter]
    fn encrypted(&self) -> bool {
        self.view.flags() & tidelog::log::format::FRAME_FLAG_ENCRYPTED != 0
    }

    /// A copy of the data as `bytes`.
    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.view.data())
    }

    fn __repr__(&self) -> String {
        format!(
            "Record(shard_id={:?}, sequence_number='{}', partition_key={:?}, data=<{} bytes>)",
            &*self.shard_id,
            self.view.seq(),
            String::from_utf8_lossy(self.view.key()),
            self.view.data().len()
        )
    }
}

/// A batch of records read from one shard (GetRecords, or one delivery of a
/// subscription): a sequence of [`Record`]s plus where to continue.
#[pyclass(frozen, sequence, module = "tidelog")]
pub struct RecordBatch {
    batch: ReadBatch,
    /// Records before this index were already handed out one by one (subscriptions).
    start: usize,
    shard_id: Arc<str>,
    next_iterator: Option<String>,
    millis_behind_latest: u64,
    child_shards: Vec<ChildShard>,
}

impl RecordBatch {
    pub(crate) fn new(
        batch: ReadBatch,
        start: usize,
        shard_id: Arc<str>,
        next_iterator: Option<String>,
        millis_behind_latest: u64,
        child_shards: Vec<ChildShard>,
    ) -> Self {
        let start = start.min(batch.len());
        Self {
            batch,
            start,
            shard_id,
            next_iterator,
            millis_behind_latest,
            child_shards,
        }
    }

    fn len(&self) -> usize {
        self.batch.len() - self.start
    }

    /// The records handed out so far skipped (subscriptions), as Arrow.
    fn arrow_batch(&self) -> PyResult<tidelog_analytics::arrow::array::RecordBatch> {
        let full = tidelog_analytics::records_to_arrow(&self.batch, &self.shard_id)
            .map_err(crate::analytics::analytics_err)?;
        Ok(full.slice(self.start, self.len()))
    }

    fn record(&self, i: usize) -> Option<Record> {
        self.batch
            .view(self.start + i)
            .map(|view| Record::new(view, Arc::clone(&self.shard_id)))
    }
}

/// A child shard as a dict: `shard_id`, `parent_shards`, `starting_hash_key`,
/// `ending_hash_key`.
pub(crate) fn child_shard_dict<'py>(
    py: Python<'py>,
    child: &ChildShard,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    dict.set_item("shard_id", &child.shard_id)?;
    dict.set_item("parent_shards", &child.parent_shards)?;
    dict.set_item("starting_hash_key", child.hash_range.start)?;
    dict.set_item("ending_hash_key", child.hash_range.end)?;
    Ok(dict)
}

#[pymethods]
impl RecordBatch {
    fn __len__(&self) -> usize {
        self.len()
    }

    /// `batch[i]` (negative `i` counts from the end) or `batch[a:b:c]` (a list).
    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        index: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let len = self.len();
        if let Ok(slice) = index.cast::<PySlice>() {
            let indices = slice.indices(len as isize)?;
            let mut out = Vec::with_capacity(indices.slicelength);
            let mut i = indices.start;
            for _ in 0..indices.slicelength {
                if let Some(record) = self.record(i as usize) {
                    out.push(record);
                }
                i += indices.step;
            }
            return Ok(PyList::new(py, out)?.into_any());
        }
        let Ok(i) = index.extract::<isize>() else {
            return Err(PyTypeError::new_err(format!(
                "batch indices must be integers or slices, not {}",
                type_name(index)
            )));
        };
        let resolved = if i < 0 { i + len as isize } else { i };
        if resolved < 0 || resolved as usize >= len {
            return Err(PyIndexError::new_err(format!(
                "record index {i} out of range for a batch of {len}"
            )));
        }
        let record = self
            .record(resolved as usize)
            .ok_or_else(|| PyIndexError::new_err("record index out of range"))?;
        Ok(Bound::new(py, record)?.into_any())
    }

    fn __iter__(slf: Bound<'_, Self>) -> RecordIter {
        RecordIter {
            batch: slf.unbind(),
            next: AtomicUsize::new(0),
        }
    }

    /// The shard the records come from.
    #[getter]
    fn shard_id(&self) -> &str {
        &self.shard_id
    }

    /// The iterator to continue from (GetRecords), or `None` once a closed shard has
    /// been read to its end, and for subscription deliveries.
    #[getter]
    fn next_iterator(&self) -> Option<&str> {
        self.next_iterator.as_deref()
    }

    /// How far behind the newest record of the shard this batch ends, ms (0 at the tip).
    #[getter]
    fn millis_behind_latest(&self) -> u64 {
        self.millis_behind_latest
    }

    /// The shard's children (dicts), once it is closed and read to its end.
    #[getter]
    fn child_shards<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        self.child_shards
            .iter()
            .map(|c| child_shard_dict(py, c))
            .collect()
    }

    /// Partition key plus data bytes of the records in the batch.
    #[getter]
    fn payload_bytes(&self) -> usize {
        if self.start == 0 {
            self.batch.payload_bytes()
        } else {
            (self.start..self.batch.len())
                .filter_map(|i| self.batch.get(i))
                .map(|r| r.key.len() + r.data.len())
                .sum()
        }
    }

    /// The Arrow PyCapsule stream interface: the batch as one Arrow record batch with
    /// `shard_id`, `sequence_number` (decimal), `partition_key`,
    /// `approximate_arrival_time` and `data` (a binary view over the mapped log: no
    /// payload is copied). `pyarrow.table(batch)`, `polars.from_arrow(batch)`, DuckDB.
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_stream__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, pyo3::types::PyCapsule>> {
        let _ = requested_schema;
        let batch = self.arrow_batch()?;
        crate::analytics::export_batches(py, batch.schema(), vec![batch])
    }

    /// The records as boto3's GetRecords gives them: a list of dicts with
    /// `SequenceNumber`, `ApproximateArrivalTimestamp` (an aware UTC `datetime`, one
    /// object shared by records of the same millisecond), `Data` (a `bytes` copy),
    /// `PartitionKey` and `EncryptionType`. Built here in one pass for the
    /// boto3-compatible client, which otherwise pays five attribute calls per record.
    fn _boto3_records<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        let (k_seq, k_time, k_data, k_key, k_enc) = (
            pyo3::intern!(py, "SequenceNumber"),
            pyo3::intern!(py, "ApproximateArrivalTimestamp"),
            pyo3::intern!(py, "Data"),
            pyo3::intern!(py, "PartitionKey"),
            pyo3::intern!(py, "EncryptionType"),
        );
        let (kms, none) = (pyo3::intern!(py, "KMS"), pyo3::intern!(py, "NONE"));
        let mut last_time: Option<(u64, Bound<'py, PyAny>)> = None;
        // Records of a batch often share their partition key: one str for a run of
        // equal keys (str is immutable, so sharing it is invisible to the caller).
        let mut last_key: Option<(&[u8], Bound<'py, PyAny>)> = None;
        let mut digits = [0u8; 40];
        for i in self.start..self.batch.len() {
            let Some(r) = self.batch.get(i) else {
                continue;
            };
            let ms = r.timestamp_ms;
            let time = match &last_time {
                Some((at, time)) if *at == ms => time.clone(),
                _ => {
                    let time = datetime_from_ms(py, ms)?;
                    last_time = Some((ms, time.clone()));
                    time
                }
            };
            let dict = PyDict::new(py);
            dict.set_item(k_seq, PyString::new(py, decimal(r.seq, &mut digits)))?;
            dict.set_item(k_time, time)?;
            dict.set_item(k_data, PyBytes::new(py, r.data))?;
            let key = match &last_key {
                Some((bytes, key)) if *bytes == r.key => key.clone(),
                _ => {
                    let key = PyString::new(py, &String::from_utf8_lossy(r.key)).into_any();
                    last_key = Some((r.key, key.clone()));
                    key
                }
            };
            dict.set_item(k_key, key)?;
            let encrypted = r.flags & tidelog::log::format::FRAME_FLAG_ENCRYPTED != 0;
            dict.set_item(k_enc, if encrypted { kms } else { none })?;
            list.append(dict)?;
        }
        Ok(list)
    }

    /// The batch as a `pyarrow.Table` (needs pyarrow); see `__arrow_c_stream__`.
    fn to_arrow<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyAny>> {
        slf.py().import("pyarrow")?.call_method1("table", (slf,))
    }

    fn __repr__(&self) -> String {
        format!(
            "RecordBatch(shard_id={:?}, records={}, millis_behind_latest={}, next_iterator={})",
            &*self.shard_id,
            self.len(),
            self.millis_behind_latest,
            if self.next_iterator.is_some() {
                "<token>"
            } else {
                "None"
            }
        )
    }
}

/// Iterator over a [`RecordBatch`].
#[pyclass(frozen, module = "tidelog")]
pub struct RecordIter {
    batch: Py<RecordBatch>,
    next: AtomicUsize,
}

#[pymethods]
impl RecordIter {
    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> Option<Record> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.batch.bind(py).get().record(i)
    }
}

/// `v` in decimal, written into `buf` (no allocation): a sequence number's text.
fn decimal(v: u128, buf: &mut [u8; 40]) -> &str {
    // 19 digits per u128 division (the rest in u64), not one division per digit.
    const E19: u128 = 10_000_000_000_000_000_000;
    let mut at = buf.len();
    let mut rest = v;
    loop {
        let mut part = (rest % E19) as u64;
        rest /= E19;
        if rest == 0 {
            // The leading part: its digits only (at least one).
            loop {
                at -= 1;
                buf[at] = b'0' + (part % 10) as u8;
                part /= 10;
                if part == 0 {
                    break;
                }
            }
            break;
        }
        for _ in 0..19 {
            at -= 1;
            buf[at] = b'0' + (part % 10) as u8;
            part /= 10;
        }
    }
    std::str::from_utf8(&buf[at..]).unwrap_or("0")
}

#[cfg(test)]
mod tests {
    use super::decimal;

    #[test]
    fn decimal_matches_display() {
        let mut buf = [0u8; 40];
        for v in [
            0u128,
            7,
            10,
            9_999_999_999_999_999_999,
            10_000_000_000_000_000_000,
            10_000_000_000_000_000_001,
            100_000_000_000_000_000_000_000_000_000_000_000_000,
            u128::MAX,
        ] {
            assert_eq!(decimal(v, &mut buf), v.to_string());
        }
        let mut x: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834;
        for _ in 0..10_000 {
            x = x.rotate_left(7) ^ (x >> 3).wrapping_mul(0x2545_F491_4F6C_DD1D);
            assert_eq!(decimal(x, &mut buf), x.to_string());
            assert_eq!(decimal(x >> 64, &mut buf), (x >> 64).to_string());
        }
    }
}
