//! The rest of the Kinesis Data Streams API on the native `Engine`: consumers and
//! SubscribeToShard, resources by ARN (tags, policies), encryption, capacity (modes,
//! warm throughput, account settings, record size), limits and monitoring; plus the
//! native `ShardSubscription` and the adapter that lets a Python callable be the
//! engine's key provider.
//!
//! Invariants: as `engine.rs` (every engine call runs with the GIL released; results
//! are plain dicts whose keys are the dataclass fields in `tidelog/_types.py`); a key
//! provider callable runs with the GIL taken back only for its own call, and whatever
//! it raises or returns that is not 32 bytes becomes a KMS-named engine error, never a
//! panic.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use tidelog::ShardSubscription as CoreShardSubscription;
use tidelog::crypto::{KeyProvider, KmsError, KmsFailure, MasterKey};
use tidelog::engine::{
    AccountSettingsOutput, ConsumerDescription, EnhancedMonitoringOutput, FanoutEvent,
    WarmThroughput,
};
use tidelog::stream::catalog::{RecordDistribution, StreamMode};

use crate::convert::{self, datetime_from_ms, opt_uint, text, uint};
use crate::engine::Engine;
use crate::errors::{ClosedError, OrRaise, kms_failure};
use crate::records::{RecordBatch, child_shard_dict};

/// Longest a SubscribeToShard wait runs without looking at signals and `close()`.
const WAIT_SLICE: Duration = Duration::from_millis(50);

/// A Python callable as the engine's key provider: `provider(key_id: str) -> bytes`
/// (32 bytes), raising `tidelog.KMSNotFoundError` (or another KMS error class) to
/// refuse.
pub(crate) struct PyKeyProvider {
    callable: Py<PyAny>,
}

impl PyKeyProvider {
    pub(crate) fn new(callable: Py<PyAny>) -> Self {
        Self { callable }
    }
}

impl std::fmt::Debug for PyKeyProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyKeyProvider(..)")
    }
}

impl KeyProvider for PyKeyProvider {
    fn key(&self, key_id: &str) -> Result<MasterKey, KmsError> {
        Python::attach(|py| {
            let refused = |failure, message: String| Err(KmsError::new(failure, message));
            match self.callable.call1(py, (key_id,)) {
                Err(err) => {
                    let failure = kms_failure(&err, py).unwrap_or(KmsFailure::InvalidState);
                    let message = err
                        .value(py)
                        .str()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|_| "the key provider raised".to_string());
                    refused(failure, format!("key provider: {message}"))
                }
                Ok(value) => {
                    let value = value.bind(py);
                    let Ok(bytes) = value.cast::<PyBytes>() else {
                        return refused(
                            KmsFailure::InvalidState,
                            format!(
                                "the key provider returned {} for {key_id:?}, not 32 bytes",
                                convert::type_name(value)
                            ),
                        );
                    };
                    let bytes = bytes.as_bytes();
                    if bytes.len() != 32 {
                        return refused(
                            KmsFailure::InvalidState,
                            format!(
                                "the key provider returned {} bytes for {key_id:?}, not 32",
                                bytes.len()
                            ),
                        );
                    }
                    let mut key = zeroize::Zeroizing::new([0u8; 32]);
                    key.copy_from_slice(bytes);
                    Ok(key)
                }
            }
        })
    }
}

pub(crate) fn tags_arg(tags: Option<&Bound<'_, PyAny>>) -> PyResult<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    let Some(tags) = tags.filter(|t| !t.is_none()) else {
        return Ok(map);
    };
    let Ok(dict) = tags.cast::<PyDict>() else {
        return Err(PyTypeError::new_err(format!(
            "tags must be a dict of str to str, not {}",
            convert::type_name(tags)
        )));
    };
    for (k, v) in dict.iter() {
        map.insert(
            text(&k, "a tag key")?.to_owned(),
            text(&v, "a tag value")?.to_owned(),
        );
    }
    Ok(map)
}

fn strings(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Vec<String>> {
    if obj.cast::<pyo3::types::PyString>().is_ok() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a list of str, not a str"
        )));
    }
    let mut out = Vec::new();
    for item in obj.try_iter().map_err(|_| {
        PyTypeError::new_err(format!(
            "{what} must be a list of str, not {}",
            convert::type_name(obj)
        ))
    })? {
        out.push(text(&item?, what)?.to_owned());
    }
    Ok(out)
}

fn consumer_dict<'py>(py: Python<'py>, c: &ConsumerDescription) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", &c.name)?;
    d.set_item("arn", &c.arn)?;
    d.set_item("status", c.status.name())?;
    d.set_item("created", datetime_from_ms(py, c.created_ms)?)?;
    d.set_item("stream", &c.stream)?;
    d.set_item("stream_arn", &c.stream_arn)?;
    Ok(d)
}

fn monitoring_dict<'py>(
    py: Python<'py>,
    m: &EnhancedMonitoringOutput,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("stream", &m.stream)?;
    d.set_item("stream_arn", &m.stream_arn)?;
    d.set_item("current", &m.current)?;
    d.set_item("desired", &m.desired)?;
    Ok(d)
}

pub(crate) fn warm_dict<'py>(
    py: Python<'py>,
    w: Option<WarmThroughput>,
) -> PyResult<Bound<'py, PyAny>> {
    match w {
        None => Ok(py.None().into_bound(py)),
        Some(w) => {
            let d = PyDict::new(py);
            d.set_item("target_mibps", w.target_mibps)?;
            d.set_item("current_mibps", w.current_mibps)?;
            Ok(d.into_any())
        }
    }
}

fn account_dict<'py>(py: Python<'py>, a: &AccountSettingsOutput) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    let time = |t: Option<u64>| -> PyResult<Bound<'py, PyAny>> {
        match t {
            Some(ms) => datetime_from_ms(py, ms),
            None => Ok(py.None().into_bound(py)),
        }
    };
    d.set_item("status", a.status.name())?;
    d.set_item("started", time(a.started_ms)?)?;
    d.set_item("ended", time(a.ended_ms)?)?;
    d.set_item("earliest_allowed_end", time(a.earliest_allowed_end_ms)?)?;
    Ok(d)
}

pub(crate) fn stream_mode(mode: &str) -> PyResult<StreamMode> {
    StreamMode::from_name(&mode.to_ascii_uppercase()).ok_or_else(|| {
        PyValueError::new_err(format!(
            "mode must be 'PROVISIONED' or 'ON_DEMAND', not {mode:?}"
        ))
    })
}

pub(crate) fn record_distribution(strategy: &str) -> PyResult<RecordDistribution> {
    RecordDistribution::from_name(&strategy.to_ascii_uppercase()).ok_or_else(|| {
        PyValueError::new_err(format!(
            "record_distribution must be 'USER_PARTITION_KEY' or 'AUTO', not {strategy:?}"
        ))
    })
}

#[pymethods]
impl Engine {
    /// The ARN of stream `name` (whether or not it exists).
    fn stream_arn(&self, name: &str) -> String {
        self.engine.stream_arn(name)
    }

    /// The stream a stream ARN of this engine names.
    fn resolve_stream_arn(&self, py: Python<'_>, arn: &str) -> PyResult<String> {
        py.detach(|| self.engine.resolve_stream_arn(arn)).or_raise()
    }

    /// `(partition, region, account)` of this engine's ARNs.
    #[getter]
    fn arn_scope(&self) -> (String, String, String) {
        let s = &self.engine.config().arn_scope;
        (s.partition.clone(), s.region.clone(), s.account.clone())
    }

    /// RegisterStreamConsumer; the consumer as a dict (status CREATING).
    #[pyo3(signature = (stream, consumer, tags=None))]
    fn register_stream_consumer<'py>(
        &self,
        py: Python<'py>,
        stream: &str,
        consumer: &str,
        tags: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let tags = tags_arg(tags)?;
        let c = py
            .detach(|| {
                self.engine
                    .register_stream_consumer(stream, consumer, &tags)
            })
            .or_raise()?;
        consumer_dict(py, &c)
    }

    /// DeregisterStreamConsumer, by `consumer_arn` or by `stream` and `consumer_name`.
    #[pyo3(signature = (stream=None, consumer_name=None, consumer_arn=None))]
    fn deregister_stream_consumer(
        &self,
        py: Python<'_>,
        stream: Option<&str>,
        consumer_name: Option<&str>,
        consumer_arn: Option<&str>,
    ) -> PyResult<()> {
        py.detach(|| {
            self.engine
                .deregister_stream_consumer(stream, consumer_name, consumer_arn)
        })
        .or_raise()
    }

    /// DescribeStreamConsumer, by `consumer_arn` or by `stream` and `consumer_name`.
    #[pyo3(signature = (stream=None, consumer_name=None, consumer_arn=None))]
    fn describe_stream_consumer<'py>(
        &self,
        py: Python<'py>,
        stream: Option<&str>,
        consumer_name: Option<&str>,
        consumer_arn: Option<&str>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let c = py
            .detach(|| {
                self.engine
                    .describe_stream_consumer(stream, consumer_name, consumer_arn)
            })
            .or_raise()?;
        consumer_dict(py, &c)
    }

    /// ListStreamConsumers: `(consumers, has_more)`, in name order.
    #[pyo3(signature = (stream, limit=None, exclusive_start_name=None))]
    fn list_stream_consumers<'py>(
        &self,
        py: Python<'py>,
        stream: &str,
        limit: Option<&Bound<'_, PyAny>>,
        exclusive_start_name: Option<&str>,
    ) -> PyResult<(Vec<Bound<'py, PyDict>>, bool)> {
        let limit = opt_uint(limit, "limit")?;
        let out = py
            .detach(|| {
                self.engine
                    .list_stream_consumers(stream, limit, exclusive_start_name)
            })
            .or_raise()?;
        let consumers = out
            .consumers
            .iter()
            .map(|c| consumer_dict(py, c))
            .collect::<PyResult<Vec<_>>>()?;
        Ok((consumers, out.has_more))
    }

    /// SubscribeToShard: a `ShardSubscription` of the consumer to the shard from the
    /// position (`iterator_type` with `sequence_number` or `timestamp_ms`).
    #[pyo3(signature = (consumer_arn, shard_id, iterator_type, sequence_number=None, timestamp_ms=None))]
    fn subscribe_to_shard(
        &self,
        py: Python<'_>,
        consumer_arn: &str,
        shard_id: &str,
        iterator_type: &str,
        sequence_number: Option<&Bound<'_, PyAny>>,
        timestamp_ms: Option<u64>,
    ) -> PyResult<ShardSubscription> {
        let position = convert::position(iterator_type, sequence_number, timestamp_ms)?;
        let sub = py
            .detach(|| {
                self.engine
                    .subscribe_to_shard(consumer_arn, shard_id, position)
            })
            .or_raise()?;
        Ok(ShardSubscription {
            state: Mutex::new(Some(sub)),
        })
    }

    /// TagResource (a stream or consumer ARN; tags: dict of str to str).
    fn tag_resource(&self, py: Python<'_>, arn: &str, tags: &Bound<'_, PyAny>) -> PyResult<()> {
        let tags = tags_arg(Some(tags))?;
        py.detach(|| self.engine.tag_resource(arn, &tags))
            .or_raise()
    }

    /// UntagResource (a stream or consumer ARN; keys: list of str).
    fn untag_resource(&self, py: Python<'_>, arn: &str, keys: &Bound<'_, PyAny>) -> PyResult<()> {
        let keys = strings(keys, "tag keys")?;
        py.detach(|| self.engine.untag_resource(arn, &keys))
            .or_raise()
    }

    /// ListTagsForResource: a dict.
    fn list_tags_for_resource(
        &self,
        py: Python<'_>,
        arn: &str,
    ) -> PyResult<BTreeMap<String, String>> {
        py.detach(|| self.engine.list_tags_for_resource(arn))
            .or_raise()
    }

    /// PutResourcePolicy (a JSON policy document; stored, not enforced).
    fn put_resource_policy(&self, py: Python<'_>, arn: &str, policy: &str) -> PyResult<()> {
        py.detach(|| self.engine.put_resource_policy(arn, policy))
            .or_raise()
    }

    /// GetResourcePolicy: the document, or `None`.
    fn get_resource_policy(&self, py: Python<'_>, arn: &str) -> PyResult<Option<String>> {
        py.detach(|| self.engine.get_resource_policy(arn))
            .or_raise()
    }

    /// DeleteResourcePolicy.
    fn delete_resource_policy(&self, py: Python<'_>, arn: &str) -> PyResult<()> {
        py.detach(|| self.engine.delete_resource_policy(arn))
            .or_raise()
    }

    /// DescribeLimits, as a dict.
    fn describe_limits<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let l = py.detach(|| self.engine.describe_limits()).or_raise()?;
        let d = PyDict::new(py);
        d.set_item("shard_limit", l.shard_limit)?;
        d.set_item("open_shard_count", l.open_shard_count)?;
        d.set_item("on_demand_stream_count", l.on_demand_stream_count)?;
        d.set_item(
            "on_demand_stream_count_limit",
            l.on_demand_stream_count_limit,
        )?;
        Ok(d)
    }

    /// EnableEnhancedMonitoring: `{stream, stream_arn, current, desired}`.
    fn enable_enhanced_monitoring<'py>(
        &self,
        py: Python<'py>,
        stream: &str,
        metrics: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let metrics = strings(metrics, "metrics")?;
        let out = py
            .detach(|| self.engine.enable_enhanced_monitoring(stream, &metrics))
            .or_raise()?;
        monitoring_dict(py, &out)
    }

    /// DisableEnhancedMonitoring: `{stream, stream_arn, current, desired}`.
    fn disable_enhanced_monitoring<'py>(
        &self,
        py: Python<'py>,
        stream: &str,
        metrics: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let metrics = strings(metrics, "metrics")?;
        let out = py
            .detach(|| self.engine.disable_enhanced_monitoring(stream, &metrics))
            .or_raise()?;
        monitoring_dict(py, &out)
    }

    /// StartStreamEncryption (`encryption_type` "KMS", a key id of the key provider).
    fn start_stream_encryption(
        &self,
        py: Python<'_>,
        stream: &str,
        encryption_type: &str,
        key_id: &str,
    ) -> PyResult<()> {
        py.detach(|| {
            self.engine
                .start_stream_encryption(stream, encryption_type, key_id)
        })
        .or_raise()
    }

    /// StopStreamEncryption (the stream's current key id).
    fn stop_stream_encryption(
        &self,
        py: Python<'_>,
        stream: &str,
        encryption_type: &str,
        key_id: &str,
    ) -> PyResult<()> {
        py.detach(|| {
            self.engine
                .stop_stream_encryption(stream, encryption_type, key_id)
        })
        .or_raise()
    }

    /// UpdateMaxRecordSize (KiB, 1,024 to 10,240).
    fn update_max_record_size(
        &self,
        py: Python<'_>,
        stream: &str,
        kib: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let kib: u32 = uint(kib, "max_record_size_kib")?;
        py.detach(|| self.engine.update_max_record_size(stream, kib))
            .or_raise()
    }

    /// UpdateStreamRecordDistributionStrategy ("USER_PARTITION_KEY" or "AUTO"; AUTO
    /// for ON_DEMAND streams only).
    fn update_stream_record_distribution(
        &self,
        py: Python<'_>,
        stream: &str,
        strategy: &str,
    ) -> PyResult<()> {
        let strategy = record_distribution(strategy)?;
        py.detach(|| {
            self.engine
                .update_stream_record_distribution(stream, strategy)
        })
        .or_raise()
    }

    /// UpdateStreamMode ("PROVISIONED" or "ON_DEMAND").
    #[pyo3(signature = (stream, mode, warm_throughput_mibps=None))]
    fn update_stream_mode(
        &self,
        py: Python<'_>,
        stream: &str,
        mode: &str,
        warm_throughput_mibps: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let mode = stream_mode(mode)?;
        let warm = opt_uint(warm_throughput_mibps, "warm_throughput_mibps")?;
        py.detach(|| self.engine.update_stream_mode(stream, mode, warm))
            .or_raise()
    }

    /// UpdateStreamWarmThroughput: `{stream, stream_arn, warm_throughput}`.
    fn update_stream_warm_throughput<'py>(
        &self,
        py: Python<'py>,
        stream: &str,
        mibps: &Bound<'_, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mibps: u32 = uint(mibps, "warm_throughput_mibps")?;
        let out = py
            .detach(|| self.engine.update_stream_warm_throughput(stream, mibps))
            .or_raise()?;
        let d = PyDict::new(py);
        d.set_item("stream", &out.stream)?;
        d.set_item("stream_arn", &out.stream_arn)?;
        d.set_item("warm_throughput", warm_dict(py, Some(out.warm_throughput))?)?;
        Ok(d)
    }

    /// DescribeAccountSettings: the billing commitment as a dict.
    fn describe_account_settings<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let a = py
            .detach(|| self.engine.describe_account_settings())
            .or_raise()?;
        account_dict(py, &a)
    }

    /// UpdateAccountSettings (`enabled`: the commitment's new status).
    fn update_account_settings<'py>(
        &self,
        py: Python<'py>,
        enabled: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let a = py
            .detach(|| self.engine.update_account_settings(enabled))
            .or_raise()?;
        account_dict(py, &a)
    }

    /// Runs on-demand scaling for the streams whose evaluation is due on the engine's
    /// clock; what changed, as dicts.
    fn scale_on_demand_streams<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let reports = py
            .detach(|| self.engine.scale_on_demand_streams())
            .or_raise()?;
        reports
            .iter()
            .map(|r| {
                let d = PyDict::new(py);
                d.set_item("stream", &r.stream)?;
                d.set_item("from_shards", r.from_shards)?;
                d.set_item("to_shards", r.to_shards)?;
                d.set_item("demand_bytes_per_sec", r.demand_bytes_per_sec)?;
                d.set_item("demand_records_per_sec", r.demand_records_per_sec)?;
                d.set_item("peak_bytes_per_sec", r.peak.0)?;
                d.set_item("peak_records_per_sec", r.peak.1)?;
                Ok(d)
            })
            .collect()
    }

    /// Removes consumers whose deletion finished; how many.
    fn prune_consumers(&self, py: Python<'_>) -> PyResult<usize> {
        py.detach(|| self.engine.prune_consumers()).or_raise()
    }
}

/// A SubscribeToShard subscription (the native half of `tidelog.ShardSubscription`
/// and of the client's `EventStream`).
#[pyclass(frozen, module = "tidelog._tidelog")]
pub struct ShardSubscription {
    state: Mutex<Option<CoreShardSubscription>>,
}

impl ShardSubscription {
    fn lock(&self) -> MutexGuard<'_, Option<CoreShardSubscription>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

enum Next {
    Event(tidelog::SubscribeToShardEvent, String),
    End,
    Timeout,
    Closed,
}

#[pymethods]
impl ShardSubscription {
    /// The next event, waiting up to `timeout` seconds (`None`: until one comes): a
    /// dict with `records` (a RecordBatch), `continuation_sequence_number` (str, or
    /// None at a closed shard's end), `millis_behind_latest` and `child_shards`; `None`
    /// on timeout or once the subscription ended (see `ended`).
    #[pyo3(signature = (timeout=None))]
    fn next_event<'py>(
        &self,
        py: Python<'py>,
        timeout: Option<f64>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let timeout = convert::timeout(timeout)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_SLICE),
                None => WAIT_SLICE,
            };
            let step = py.detach(|| -> tidelog::Result<Next> {
                let mut state = self.lock();
                let Some(sub) = state.as_mut() else {
                    return Ok(Next::Closed);
                };
                Ok(match sub.next(slice)? {
                    FanoutEvent::Event(e) => Next::Event(e, sub.shard_id().to_string()),
                    FanoutEvent::End => Next::End,
                    FanoutEvent::Timeout => Next::Timeout,
                })
            });
            match step.or_raise()? {
                Next::Event(e, shard_id) => {
                    let shard_id: Arc<str> = Arc::from(shard_id);
                    let d = PyDict::new(py);
                    let children = e
                        .child_shards
                        .iter()
                        .map(|c| child_shard_dict(py, c))
                        .collect::<PyResult<Vec<_>>>()?;
                    d.set_item(
                        "records",
                        Bound::new(
                            py,
                            RecordBatch::new(
                                e.records,
                                0,
                                shard_id,
                                None,
                                e.millis_behind_latest,
                                Vec::new(),
                            ),
                        )?,
                    )?;
                    d.set_item(
                        "continuation_sequence_number",
                        e.continuation_sequence_number.map(|n| n.to_string()),
                    )?;
                    d.set_item("millis_behind_latest", e.millis_behind_latest)?;
                    d.set_item("child_shards", children)?;
                    return Ok(Some(d));
                }
                Next::End => return Ok(None),
                Next::Closed => {
                    return Err(ClosedError::new_err("the subscription is closed"));
                }
                Next::Timeout => {}
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }

    /// True once the subscription is over (its 5 minutes passed, or its shard ended).
    #[getter]
    fn ended(&self, py: Python<'_>) -> bool {
        py.detach(|| self.lock().as_ref().is_none_or(|s| s.is_ended()))
    }

    /// The consumer's ARN.
    #[getter]
    fn consumer_arn(&self, py: Python<'_>) -> String {
        py.detach(|| {
            self.lock()
                .as_ref()
                .map(|s| s.consumer_arn().to_string())
                .unwrap_or_default()
        })
    }

    /// The shard subscribed to.
    #[getter]
    fn shard_id(&self, py: Python<'_>) -> String {
        py.detach(|| self.shard_id_now().unwrap_or_default())
    }

    /// When the subscription ends (5 minutes after it started), a UTC datetime.
    #[getter]
    fn expires_at<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let ms = py.detach(|| self.lock().as_ref().map_or(0, |s| s.expires_at_ms()));
        datetime_from_ms(py, ms)
    }

    /// Ends the subscription (records already handed out stay valid). Idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            self.lock().take();
        });
    }
}

impl ShardSubscription {
    fn shard_id_now(&self) -> Option<String> {
        self.lock().as_ref().map(|s| s.shard_id().to_string())
    }
}
