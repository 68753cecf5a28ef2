//! Enhanced fan-out consumers: RegisterStreamConsumer, DeregisterStreamConsumer,
//! DescribeStreamConsumer, ListStreamConsumers. A consumer is a named reader of a
//! stream that SubscribeToShard (`fanout.rs`) pushes records to, with its own read
//! budget per shard.
//!
//! Lifecycle, on the engine's clock: CREATING for `consumer_transition` after
//! registration, then ACTIVE; once deregistered, DELETING for `consumer_transition`,
//! then gone (the maintenance thread removes gone consumers from the catalog). A
//! consumer's ARN carries its creation time in seconds, so an ARN of an earlier
//! consumer of the same name names nothing.
//!
//! Invariants: at most `consumers_per_stream_max` consumers (20 by default, as
//! Kinesis) are registered (CREATING, ACTIVE or DELETING) per stream, at most 5 of them
//! CREATING; every change is written to the catalog before it is answered;
//! deregistering a consumer ends its subscriptions.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::admin::validate_tags;
use super::{Engine, lock};
use crate::error::{Error, InvalidArgument, Result, Validation};
use crate::stream::arn::{self, Resource};
use crate::stream::catalog::{ConsumerRecord, StreamRecord, TAGS_PER_STREAM_MAX};
use crate::stream::names::{validate_consumer_name, validate_stream_name};

/// Consumers that may be CREATING at once on a stream (Kinesis: 5).
pub const CONSUMERS_CREATING_MAX: usize = 5;
/// Most consumers one ListStreamConsumers page returns (Kinesis: 10,000).
pub const LIST_CONSUMERS_MAX: usize = 10_000;

/// A consumer's status (Kinesis ConsumerStatus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConsumerStatus {
    /// Registered, not usable yet.
    Creating,
    /// Usable by SubscribeToShard.
    Active,
    /// Deregistered, going away.
    Deleting,
}

impl ConsumerStatus {
    /// The Kinesis name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Active => "ACTIVE",
            Self::Deleting => "DELETING",
        }
    }
}

/// A consumer as DescribeStreamConsumer and ListStreamConsumers show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerDescription {
    /// Its name.
    pub name: String,
    /// Its ARN (`<stream ARN>/consumer/<name>:<creation time, s>`).
    pub arn: String,
    /// Its status now.
    pub status: ConsumerStatus,
    /// When it was registered, ms since the epoch.
    pub created_ms: u64,
    /// The stream's name.
    pub stream: String,
    /// The stream's ARN.
    pub stream_arn: String,
}

/// A page of ListStreamConsumers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListConsumersOutput {
    /// Consumers in name order.
    pub consumers: Vec<ConsumerDescription>,
    /// True if more consumers follow the last one.
    pub has_more: bool,
}

/// A consumer's status at `now_ms`; `None` once it is gone.
pub(crate) fn status_at(c: &ConsumerRecord, now_ms: u64) -> Option<ConsumerStatus> {
    match c.gone_ms {
        Some(gone) if now_ms >= gone => None,
        Some(_) => Some(ConsumerStatus::Deleting),
        None if now_ms < c.active_ms => Some(ConsumerStatus::Creating),
        None => Some(ConsumerStatus::Active),
    }
}

/// The consumer a call names, found in the catalog.
#[derive(Debug, Clone)]
pub(crate) struct FoundConsumer {
    pub stream: String,
    pub stream_id: u64,
    pub record: ConsumerRecord,
    pub status: ConsumerStatus,
}

impl Engine {
    fn consumer_description(
        &self,
        stream: &str,
        c: &ConsumerRecord,
        status: ConsumerStatus,
    ) -> ConsumerDescription {
        let scope = &self.inner.config.arn_scope;
        ConsumerDescription {
            name: c.name.clone(),
            arn: scope.consumer_arn(stream, &c.name, c.created_ms),
            status,
            created_ms: c.created_ms,
            stream: stream.to_string(),
            stream_arn: scope.stream_arn(stream),
        }
    }

    /// RegisterStreamConsumer: registers `consumer` on `stream` with `tags`. The
    /// answer shows the consumer as Kinesis does, CREATING; it is ACTIVE after
    /// `consumer_transition` (at once by default).
    pub fn register_stream_consumer(
        &self,
        stream: &str,
        consumer: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<ConsumerDescription> {
        self.check_open()?;
        validate_stream_name(stream).map_err(Validation::StreamName)?;
        validate_consumer_name(consumer).map_err(Validation::ConsumerName)?;
        validate_tags(tags)?;
        if tags.len() > TAGS_PER_STREAM_MAX {
            return Err(Error::LimitExceeded {
                what: "tags on a consumer",
                requested: tags.len() as u64,
                limit: TAGS_PER_STREAM_MAX as u64,
            });
        }
        let now_ms = self.inner.config.clock.now_ms();
        let transition = self.inner.config.consumer_transition.as_millis() as u64;
        let max = self.inner.config.consumers_per_stream_max;
        let record = self.update_stream_record(stream, |r| {
            r.settings
                .consumers
                .retain(|c| status_at(c, now_ms).is_some());
            if let Some(existing) = r.settings.consumers.iter().find(|c| c.name == consumer) {
                let status = status_at(existing, now_ms).map_or("gone", |s| s.name());
                return Err(Error::ConsumerExists {
                    stream: stream.to_string(),
                    consumer: consumer.to_string(),
                    status,
                });
            }
            let registered = r.settings.consumers.len() + self.queue_count(r.id, now_ms);
            if registered >= max {
                return Err(Error::LimitExceeded {
                    what: "consumers and queues registered on a stream",
                    requested: registered as u64 + 1,
                    limit: max as u64,
                });
            }
            let creating = r
                .settings
                .consumers
                .iter()
                .filter(|c| status_at(c, now_ms) == Some(ConsumerStatus::Creating))
                .count();
            if creating >= CONSUMERS_CREATING_MAX {
                return Err(Error::LimitExceeded {
                    what: "consumers in CREATING status at once",
                    requested: creating as u64 + 1,
                    limit: CONSUMERS_CREATING_MAX as u64,
                });
            }
            r.settings.consumers.push(ConsumerRecord {
                name: consumer.to_string(),
                created_ms: now_ms,
                active_ms: now_ms + transition,
                gone_ms: None,
                tags: tags.clone(),
                policy: None,
            });
            Ok(())
        })?;
        let c = record
            .settings
            .consumers
            .iter()
            .find(|c| c.name == consumer)
            .ok_or(Error::Internal("registered consumer vanished"))?;
        Ok(self.consumer_description(stream, c, ConsumerStatus::Creating))
    }

    /// Finds the consumer named by its ARN, or by its stream and name, or by all three
    /// (which must agree). Gone consumers and ARNs of earlier consumers of the same
    /// name are not found.
    pub(crate) fn find_consumer(
        &self,
        stream: Option<&str>,
        consumer_name: Option<&str>,
        consumer_arn: Option<&str>,
    ) -> Result<FoundConsumer> {
        self.check_open()?;
        let now_ms = self.inner.config.clock.now_ms();
        let (stream, name, created_s) = match (stream, consumer_name, consumer_arn) {
            (_, _, Some(text)) => {
                let (s, n, created) = self.parse_consumer_arn(text)?;
                if stream.is_some_and(|given| given != s)
                    || consumer_name.is_some_and(|given| given != n)
                {
                    return Err(InvalidArgument::Conflict(format!(
                        "ConsumerARN {text:?} does not name the stream and consumer given with it"
                    ))
                    .into());
                }
                (s, n, Some(created))
            }
            (Some(s), Some(n), None) => {
                validate_stream_name(s).map_err(Validation::StreamName)?;
                validate_consumer_name(n).map_err(Validation::ConsumerName)?;
                (s.to_string(), n.to_string(), None)
            }
            _ => {
                return Err(Validation::Argument(
                    "name a consumer by ConsumerARN, or by StreamARN and ConsumerName".to_string(),
                )
                .into());
            }
        };
        let data = lock(&self.inner.catalog);
        let record: &StreamRecord = data.stream(&stream).ok_or_else(|| Error::StreamNotFound {
            stream: stream.clone(),
        })?;
        let not_found = || Error::ConsumerNotFound {
            stream: stream.clone(),
            consumer: consumer_arn.unwrap_or(&name).to_string(),
        };
        let c = record
            .settings
            .consumers
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(not_found)?;
        if created_s.is_some_and(|s| s != c.created_ms / 1000) {
            return Err(not_found());
        }
        let status = status_at(c, now_ms).ok_or_else(not_found)?;
        Ok(FoundConsumer {
            stream: stream.clone(),
            stream_id: record.id,
            record: c.clone(),
            status,
        })
    }

    /// (stream, consumer, creation seconds) of a consumer ARN of this engine.
    pub(crate) fn parse_consumer_arn(&self, text: &str) -> Result<(String, String, u64)> {
        let parsed = arn::parse(text).map_err(Validation::Arn)?;
        match parsed.resource {
            Resource::Consumer {
                stream,
                consumer,
                created_s,
            } if parsed.scope == self.inner.config.arn_scope => Ok((stream, consumer, created_s)),
            Resource::Consumer {
                stream, consumer, ..
            } => Err(Error::ConsumerNotFound {
                stream,
                consumer: format!("{consumer} (the ARN names another account or region)"),
            }),
            Resource::Stream { .. } | Resource::Queue { .. } => {
                Err(Validation::Argument(format!("{text:?} is not a consumer ARN")).into())
            }
        }
    }

    /// DeregisterStreamConsumer: the consumer (by ARN, or stream and name) becomes
    /// DELETING and its subscriptions end; it is gone after `consumer_transition`.
    pub fn deregister_stream_consumer(
        &self,
        stream: Option<&str>,
        consumer_name: Option<&str>,
        consumer_arn: Option<&str>,
    ) -> Result<()> {
        let found = self.find_consumer(stream, consumer_name, consumer_arn)?;
        if found.status == ConsumerStatus::Deleting {
            return Err(Error::ConsumerBusy {
                consumer: self.inner.config.arn_scope.consumer_arn(
                    &found.stream,
                    &found.record.name,
                    found.record.created_ms,
                ),
                reason: "it is being deleted already".to_string(),
            });
        }
        let now_ms = self.inner.config.clock.now_ms();
        let transition = self.inner.config.consumer_transition.as_millis() as u64;
        self.update_stream_record(&found.stream, |r| {
            let c = r
                .settings
                .consumers
                .iter_mut()
                .find(|c| c.name == found.record.name && c.created_ms == found.record.created_ms)
                .ok_or_else(|| Error::ConsumerNotFound {
                    stream: found.stream.clone(),
                    consumer: found.record.name.clone(),
                })?;
            c.gone_ms = Some(now_ms + transition);
            r.settings
                .consumers
                .retain(|c| status_at(c, now_ms).is_some());
            Ok(())
        })?;
        self.inner
            .fanout
            .forget_consumer(found.stream_id, &found.record.name);
        Ok(())
    }

    /// DescribeStreamConsumer (by ARN, or stream and name).
    pub fn describe_stream_consumer(
        &self,
        stream: Option<&str>,
        consumer_name: Option<&str>,
        consumer_arn: Option<&str>,
    ) -> Result<ConsumerDescription> {
        let found = self.find_consumer(stream, consumer_name, consumer_arn)?;
        Ok(self.consumer_description(&found.stream, &found.record, found.status))
    }

    /// ListStreamConsumers: at most `limit` (1 to 10,000; default 100) consumers of
    /// `stream` in name order, after `exclusive_start_name`.
    pub fn list_stream_consumers(
        &self,
        stream: &str,
        limit: Option<usize>,
        exclusive_start_name: Option<&str>,
    ) -> Result<ListConsumersOutput> {
        let limit = limit.unwrap_or(100);
        if limit == 0 || limit > LIST_CONSUMERS_MAX {
            return Err(Validation::ReadLimit {
                given: limit,
                max: LIST_CONSUMERS_MAX,
            }
            .into());
        }
        if let Some(start) = exclusive_start_name {
            validate_consumer_name(start).map_err(Validation::ConsumerName)?;
        }
        let now_ms = self.inner.config.clock.now_ms();
        let mut consumers: Vec<ConsumerDescription> = self.with_record(stream, |r| {
            r.settings
                .consumers
                .iter()
                .filter_map(|c| {
                    let status = status_at(c, now_ms)?;
                    Some(self.consumer_description(&r.name, c, status))
                })
                .collect()
        })?;
        consumers.sort_by(|a, b| a.name.cmp(&b.name));
        if let Some(start) = exclusive_start_name {
            consumers.retain(|c| c.name.as_str() > start);
        }
        let has_more = consumers.len() > limit;
        consumers.truncate(limit);
        Ok(ListConsumersOutput {
            consumers,
            has_more,
        })
    }

    /// Removes gone consumers from the catalog (run by the maintenance thread); returns
    /// how many went.
    pub fn prune_consumers(&self) -> Result<usize> {
        self.check_open()?;
        let now_ms = self.inner.config.clock.now_ms();
        let pruned = self.commit_if(|data| {
            let mut count = 0;
            for r in &mut data.streams {
                let before = r.settings.consumers.len();
                r.settings
                    .consumers
                    .retain(|c| status_at(c, now_ms).is_some());
                count += before - r.settings.consumers.len();
            }
            Ok((count > 0).then_some(count))
        })?;
        Ok(pruned.unwrap_or(0))
    }
}
