//! Subscriptions from Python: tail a shard (and, on request, its children after a
//! reshard) and receive records as they commit, one record or one batch at a time.
//!
//! Waiting releases the GIL and happens in slices of at most [`WAIT_SLICE`], with a
//! check for signals (Ctrl-C in a notebook) between slices, so a wait without a timeout
//! can still be interrupted, and `close()` (of the subscription or of the engine) ends
//! a blocked wait within one slice.
//!
//! Invariants: the engine's `Subscription` is used by one thread at a time (a mutex,
//! taken only with the GIL released, so a waiting thread never blocks the interpreter);
//! records are handed out in the order the engine delivers them, each exactly once, and
//! a batch partly handed out record by record continues where it stopped.
#![forbid(unsafe_code)]

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tidelog::engine::ChildShard;
use tidelog::log::{ReadBatch, RecordView};
use tidelog::{Subscription as CoreSubscription, SubscriptionEvent};

use crate::errors::{ClosedError, OrRaise};
use crate::records::{Record, RecordBatch, child_shard_dict};

/// Longest a wait runs without looking at signals and at `close()`.
const WAIT_SLICE: Duration = Duration::from_millis(50);

struct Pending {
    batch: ReadBatch,
    shard_id: Arc<str>,
    next: usize,
}

/// Why a wait ended without an event.
enum Stop {
    /// `close()` ran.
    Closed,
    /// The engine refused (closed engine, expired shard, ...).
    Engine(tidelog::Error),
}

struct State {
    /// `None` once closed.
    subscription: Option<CoreSubscription>,
    /// A batch being handed out record by record.
    pending: Option<Pending>,
    ended: Vec<(String, Vec<ChildShard>)>,
    finished: bool,
}

/// A live subscription to a shard (the native half of `tidelog.Subscription`).
#[pyclass(frozen, module = "tidelog._tidelog")]
pub struct Subscription {
    state: Mutex<State>,
}

impl Subscription {
    pub(crate) fn new(subscription: CoreSubscription) -> Self {
        Self {
            state: Mutex::new(State {
                subscription: Some(subscription),
                pending: None,
                ended: Vec::new(),
                finished: false,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (GIL released, in slices) for records, then hands out what `take` takes
    /// from the pending batch, both under the lock (so two threads never hand out the
    /// same record, nor drop one). `None` on timeout or once finished.
    fn wait_for<T: Send>(
        &self,
        py: Python<'_>,
        timeout: Option<Duration>,
        take: impl Fn(&mut Option<Pending>) -> Option<T> + Sync,
    ) -> PyResult<Option<T>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let slice = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()).min(WAIT_SLICE),
                None => WAIT_SLICE,
            };
            let step = py.detach(|| -> Result<Option<Option<T>>, Stop> {
                let mut state = self.lock();
                if state.pending.is_some() {
                    return Ok(Some(take(&mut state.pending)));
                }
                if state.finished {
                    return Ok(Some(None));
                }
                let Some(subscription) = state.subscription.as_mut() else {
                    return Err(Stop::Closed);
                };
                match subscription.next(slice).map_err(Stop::Engine)? {
                    SubscriptionEvent::Records { shard_id, batch } => {
                        state.pending = Some(Pending {
                            batch,
                            shard_id: Arc::from(shard_id),
                            next: 0,
                        });
                        Ok(Some(take(&mut state.pending)))
                    }
                    SubscriptionEvent::ShardEnded {
                        shard_id,
                        child_shards,
                    } => {
                        state.ended.push((shard_id, child_shards));
                        Ok(None)
                    }
                    SubscriptionEvent::Finished => {
                        state.finished = true;
                        Ok(Some(None))
                    }
                    SubscriptionEvent::Timeout => Ok(None),
                }
            });
            match step {
                Ok(Some(outcome)) => return Ok(outcome),
                Ok(None) => {}
                Err(Stop::Closed) => {
                    return Err(ClosedError::new_err("the subscription is closed"));
                }
                Err(Stop::Engine(e)) => return Err(e).or_raise(),
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(None);
            }
            py.check_signals()?;
        }
    }
}

/// Takes the next record of the pending batch (dropping the batch after its last).
fn take_record(slot: &mut Option<Pending>) -> Option<(RecordView, Arc<str>)> {
    let pending = slot.as_mut()?;
    let view = pending.batch.view(pending.next);
    let shard_id = Arc::clone(&pending.shard_id);
    pending.next += 1;
    if pending.next >= pending.batch.len() {
        *slot = None;
    }
    view.map(|view| (view, shard_id))
}

#[pymethods]
impl Subscription {
    /// The next record, waiting up to `timeout` seconds (`None`: without end); `None`
    /// if nothing arrived in time or the subscription is finished.
    #[pyo3(signature = (timeout=None))]
    fn next_record(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<Record>> {
        let timeout = crate::convert::timeout(timeout)?;
        Ok(self
            .wait_for(py, timeout, take_record)?
            .map(|(view, shard_id)| Record::new(view, shard_id)))
    }

    /// The next batch of records (the rest of a batch partly handed out by
    /// `next_record` first), waiting up to `timeout` seconds; `None` if nothing arrived
    /// in time or the subscription is finished.
    #[pyo3(signature = (timeout=None))]
    fn next_batch(&self, py: Python<'_>, timeout: Option<f64>) -> PyResult<Option<RecordBatch>> {
        let timeout = crate::convert::timeout(timeout)?;
        Ok(self
            .wait_for(py, timeout, Option::take)?
            .map(|p| RecordBatch::new(p.batch, p.next, p.shard_id, None, 0, Vec::new())))
    }

    /// The shards being read now.
    #[getter]
    fn shard_ids(&self, py: Python<'_>) -> Vec<String> {
        py.detach(|| {
            self.lock()
                .subscription
                .as_ref()
                .map(|s| s.shard_ids())
                .unwrap_or_default()
        })
    }

    /// The shards that ended (closed and read to their end), in order, each as a dict
    /// with `shard_id` and `child_shards`.
    #[getter]
    fn ended_shards<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyDict>>> {
        let ended = py.detach(|| self.lock().ended.clone());
        ended
            .iter()
            .map(|(shard_id, children)| {
                let dict = PyDict::new(py);
                dict.set_item("shard_id", shard_id)?;
                let children = children
                    .iter()
                    .map(|c| child_shard_dict(py, c))
                    .collect::<PyResult<Vec<_>>>()?;
                dict.set_item("child_shards", children)?;
                Ok(dict)
            })
            .collect()
    }

    /// True once every shard the subscription reads has ended: nothing more will come.
    #[getter]
    fn finished(&self, py: Python<'_>) -> bool {
        py.detach(|| {
            let state = self.lock();
            state.finished && state.pending.is_none()
        })
    }

    /// True once `close()` ran.
    #[getter]
    fn closed(&self, py: Python<'_>) -> bool {
        py.detach(|| self.lock().subscription.is_none())
    }

    /// Stops the subscription and lets go of its shards (records already handed out
    /// stay valid). Idempotent.
    fn close(&self, py: Python<'_>) {
        py.detach(|| {
            let mut state = self.lock();
            state.subscription = None;
            state.pending = None;
        });
    }
}
