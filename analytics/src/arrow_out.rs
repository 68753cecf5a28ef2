//! Records as Arrow, without copying payloads.
//!
//! [`records_to_arrow`] turns a batch read from the engine (`get_records`, a
//! subscription, `scan_shard`) into an Arrow `RecordBatch` whose `data` column is a
//! `BinaryView` array over the log's own memory: each segment the records lie in
//! becomes one Arrow buffer (a `bytes::Bytes` that owns a reference on the segment's
//! mapping, so the bytes stay valid as long as any Arrow array, Python object or C
//! consumer holds the buffer), and each record is a 16-byte view into it. Payloads of
//! at most 12 bytes live inside their view, as the format requires.
//!
//! Invariants: the buffers only cover published record bytes (immutable for the
//! mapping's life); no payload byte is copied for payloads above 12 bytes; the
//! schema is [`records_schema`] whatever the batch holds.
#![forbid(unsafe_code)]

use std::sync::Arc;

use arrow::array::builder::make_view;
use arrow::array::{
    ArrayRef, BinaryViewArray, Decimal128Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::buffer::{Buffer, ScalarBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use tidelog::log::ReadBatch;

use crate::error::{Error, Result};
use crate::schema::{UTC, seq_decimal, timestamp_type};

/// The schema of [`records_to_arrow`]'s batches: `shard_id`, `sequence_number`
/// (DECIMAL(38,0)), `partition_key`, `approximate_arrival_time` (ms, UTC), `data`
/// (binary view, zero-copy).
pub fn records_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("shard_id", DataType::Utf8, false),
        Field::new("sequence_number", DataType::Decimal128(38, 0), false),
        Field::new("partition_key", DataType::Utf8, false),
        Field::new("approximate_arrival_time", timestamp_type(), false),
        Field::new("data", DataType::BinaryView, false),
    ]))
}

/// The records of `batch` (read from shard `shard_id`) as Arrow (see the module doc).
pub fn records_to_arrow(batch: &ReadBatch, shard_id: &str) -> Result<RecordBatch> {
    let n = batch.len();
    let mut buffers = Vec::with_capacity(batch.region_count());
    for region in 0..batch.region_count() {
        let bytes = batch
            .segment_bytes(region)
            .ok_or_else(|| Error::Invalid("a batch region vanished".into()))?;
        if bytes.bytes().len() > u32::MAX as usize {
            return Err(Error::Invalid("a segment region over 4 GiB".into()));
        }
        buffers.push(Buffer::from(bytes::Bytes::from_owner(bytes)));
    }
    let mut views = Vec::with_capacity(n);
    let mut seqs = Vec::with_capacity(n);
    let mut times = Vec::with_capacity(n);
    let mut keys = arrow::array::StringBuilder::with_capacity(n, n * 16);
    for (i, record) in batch.iter().enumerate() {
        let location = batch
            .record_location(i)
            .ok_or_else(|| Error::Invalid("a record without a location".into()))?;
        views.push(make_view(
            record.data,
            location.region as u32,
            location.data.start as u32,
        ));
        seqs.push(seq_decimal(record.seq).ok_or_else(|| {
            Error::Invalid(format!(
                "sequence number {} does not fit DECIMAL(38,0)",
                record.seq
            ))
        })?);
        times.push(record.timestamp_ms as i64);
        keys.append_value(record.key_str());
    }
    let data = BinaryViewArray::try_new(ScalarBuffer::from(views), buffers, None)?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![shard_id; n])),
        Arc::new(Decimal128Array::from(seqs).with_precision_and_scale(38, 0)?),
        Arc::new(keys.finish()),
        Arc::new(TimestampMillisecondArray::from(times).with_timezone(UTC)),
        Arc::new(data),
    ];
    Ok(RecordBatch::try_new(records_schema(), columns)?)
}
