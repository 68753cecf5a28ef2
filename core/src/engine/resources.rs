//! Resources named by ARN (streams, consumers and queues): TagResource, UntagResource,
//! ListTagsForResource, Put/Get/DeleteResourcePolicy; and the account- and
//! stream-level reports: DescribeLimits, Enable/DisableEnhancedMonitoring.
//!
//! Invariants: an ARN is checked for shape (ValidationException) and then for this
//! engine's partition, region and account (another scope names nothing here:
//! ResourceNotFoundException); every change is written to the catalog before it is
//! answered. Resource policies are validated and stored, never enforced: an embedded
//! engine has no principals to check them against (`stream/policy.rs`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use super::admin::validate_tags;
use super::consumers::status_at;
use super::{Engine, lock};
use crate::error::{Error, InvalidArgument, Result, Validation};
use crate::stream::arn::{self, Resource};
use crate::stream::catalog::{ShardState, StreamMode, TAGS_PER_STREAM_MAX};
use crate::stream::metrics::{parse_shard_level_metrics, shard_level_metric_names};
use crate::stream::names::validate_stream_name;
use crate::stream::policy::validate_policy;

/// DescribeLimits' answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitsDescription {
    /// The most open shards the engine allows (`max_shards`).
    pub shard_limit: u32,
    /// Open shards now, across every stream.
    pub open_shard_count: u32,
    /// ON_DEMAND streams now.
    pub on_demand_stream_count: u32,
    /// The most ON_DEMAND streams allowed (`on_demand_stream_count_max`).
    pub on_demand_stream_count_limit: u32,
}

/// Enable/DisableEnhancedMonitoring's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnhancedMonitoringOutput {
    /// The stream's name.
    pub stream: String,
    /// Its ARN.
    pub stream_arn: String,
    /// The shard-level metrics enabled before the call.
    pub current: Vec<&'static str>,
    /// The shard-level metrics enabled after it.
    pub desired: Vec<&'static str>,
}

/// Where a tag or policy lives.
enum Target {
    Stream(String),
    Consumer {
        stream: String,
        name: String,
        created_ms: u64,
    },
    /// A queue, by its ARN.
    Queue(String),
}

const UNTAG_KEYS_MAX: usize = 50;
const METRIC_NAMES_MAX: usize = 7;

impl Engine {
    /// The ARN of stream `stream` (whether or not it exists).
    pub fn stream_arn(&self, stream: &str) -> String {
        self.inner.config.arn_scope.stream_arn(stream)
    }

    /// The name of the stream a stream ARN of this engine names (it need not exist).
    /// Malformed: ValidationException; a consumer ARN: InvalidArgument; another
    /// account or region: ResourceNotFound.
    pub fn resolve_stream_arn(&self, text: &str) -> Result<String> {
        let parsed = arn::parse(text).map_err(Validation::Arn)?;
        match parsed.resource {
            Resource::Stream { stream } if parsed.scope == self.inner.config.arn_scope => {
                Ok(stream)
            }
            Resource::Stream { stream } => Err(Error::StreamNotFound {
                stream: format!("{stream} (the ARN names another account or region)"),
            }),
            Resource::Consumer { .. } | Resource::Queue { .. } => {
                Err(InvalidArgument::Conflict(format!("{text:?} is not a stream ARN")).into())
            }
        }
    }

    fn target(&self, text: &str) -> Result<Target> {
        let parsed = arn::parse(text).map_err(Validation::Arn)?;
        match parsed.resource {
            Resource::Stream { stream } => {
                if parsed.scope != self.inner.config.arn_scope {
                    return Err(Error::ResourceNotFound {
                        what: format!("{text} (another account or region)"),
                    });
                }
                self.with_record(&stream, |_| ())?;
                Ok(Target::Stream(stream))
            }
            Resource::Queue { .. } => {
                self.queue_by_arn(text)?;
                Ok(Target::Queue(text.to_string()))
            }
            Resource::Consumer { .. } => {
                let found = self.find_consumer(None, None, Some(text))?;
                Ok(Target::Consumer {
                    stream: found.stream,
                    name: found.record.name,
                    created_ms: found.record.created_ms,
                })
            }
        }
    }

    /// Applies `change` to the tags (or policy) of a target, in one catalog commit.
    fn change_target(
        &self,
        target: &Target,
        change: impl FnOnce(&mut BTreeMap<String, String>, &mut Option<String>) -> Result<()>,
    ) -> Result<()> {
        let now_ms = self.inner.config.clock.now_ms();
        let stream = match target {
            Target::Stream(s) | Target::Consumer { stream: s, .. } => s.clone(),
            Target::Queue(arn) => return self.change_queue_resource(arn, change),
        };
        self.update_stream_record(&stream, |r| match target {
            Target::Queue(_) => Err(Error::Internal("queue target reached the stream catalog")),
            Target::Stream(_) => change(&mut r.tags, &mut r.settings.policy),
            Target::Consumer {
                name, created_ms, ..
            } => {
                let c = r
                    .settings
                    .consumers
                    .iter_mut()
                    .find(|c| &c.name == name && c.created_ms == *created_ms)
                    .filter(|c| status_at(c, now_ms).is_some())
                    .ok_or_else(|| Error::ConsumerNotFound {
                        stream: stream.clone(),
                        consumer: name.clone(),
                    })?;
                change(&mut c.tags, &mut c.policy)
            }
        })
        .map(|_| ())
    }

    /// TagResource: adds (or overwrites) tags of a stream or consumer named by ARN; at
    /// most 50 tags per resource.
    pub fn tag_resource(&self, resource_arn: &str, tags: &BTreeMap<String, String>) -> Result<()> {
        self.check_open()?;
        if tags.is_empty() || tags.len() > 200 {
            return Err(Validation::ListLength {
                what: "Tags",
                given: tags.len(),
                min: 1,
                max: 200,
            }
            .into());
        }
        validate_tags(tags)?;
        let target = self.target(resource_arn)?;
        self.change_target(&target, |current, _| {
            let mut merged = current.clone();
            merged.extend(tags.iter().map(|(k, v)| (k.clone(), v.clone())));
            if merged.len() > TAGS_PER_STREAM_MAX {
                return Err(Error::LimitExceeded {
                    what: "tags on a resource",
                    requested: merged.len() as u64,
                    limit: TAGS_PER_STREAM_MAX as u64,
                });
            }
            *current = merged;
            Ok(())
        })
    }

    /// UntagResource: removes tags by key (absent keys are ignored); 1 to 50 keys.
    pub fn untag_resource(&self, resource_arn: &str, keys: &[String]) -> Result<()> {
        self.check_open()?;
        if keys.is_empty() || keys.len() > UNTAG_KEYS_MAX {
            return Err(Validation::ListLength {
                what: "TagKeys",
                given: keys.len(),
                min: 1,
                max: UNTAG_KEYS_MAX,
            }
            .into());
        }
        for key in keys {
            let chars = key.chars().count();
            if chars == 0 || chars > crate::stream::catalog::TAG_KEY_CHARS_MAX {
                return Err(Validation::Tag {
                    key: key.chars().take(40).collect(),
                    rule: "keys are 1 to 128 characters",
                }
                .into());
            }
        }
        let target = self.target(resource_arn)?;
        self.change_target(&target, |current, _| {
            for key in keys {
                current.remove(key);
            }
            Ok(())
        })
    }

    /// ListTagsForResource: the tags of a stream or consumer named by ARN.
    pub fn list_tags_for_resource(&self, resource_arn: &str) -> Result<BTreeMap<String, String>> {
        self.check_open()?;
        match self.target(resource_arn)? {
            Target::Stream(stream) => self.with_record(&stream, |r| r.tags.clone()),
            Target::Queue(arn) => self.queue_tags(&arn),
            Target::Consumer { .. } => Ok(self
                .find_consumer(None, None, Some(resource_arn))?
                .record
                .tags),
        }
    }

    /// PutResourcePolicy: attaches (or replaces) a policy document to a stream or
    /// consumer. The document is validated and stored durably; an embedded engine does
    /// not enforce it (there are no principals in-process).
    pub fn put_resource_policy(&self, resource_arn: &str, policy: &str) -> Result<()> {
        self.check_open()?;
        // The ARN first (its form, then the resource), then the document.
        let target = self.target(resource_arn)?;
        validate_policy(policy).map_err(|e| InvalidArgument::Policy(e.0))?;
        self.change_target(&target, |_, current| {
            *current = Some(policy.to_string());
            Ok(())
        })
    }

    /// GetResourcePolicy: the policy attached to a stream or consumer (`None` if none).
    pub fn get_resource_policy(&self, resource_arn: &str) -> Result<Option<String>> {
        self.check_open()?;
        match self.target(resource_arn)? {
            Target::Stream(stream) => self.with_record(&stream, |r| r.settings.policy.clone()),
            Target::Queue(arn) => self.queue_policy(&arn),
            Target::Consumer { .. } => Ok(self
                .find_consumer(None, None, Some(resource_arn))?
                .record
                .policy),
        }
    }

    /// DeleteResourcePolicy: removes the policy of a stream or consumer
    /// (ResourceNotFound if it has none).
    pub fn delete_resource_policy(&self, resource_arn: &str) -> Result<()> {
        self.check_open()?;
        let target = self.target(resource_arn)?;
        self.change_target(&target, |_, current| match current.take() {
            Some(_) => Ok(()),
            None => Err(Error::ResourceNotFound {
                what: format!("a resource policy of {resource_arn}"),
            }),
        })
    }

    /// DescribeLimits: the shard limit and open shards, and the ON_DEMAND stream count
    /// and its limit.
    pub fn describe_limits(&self) -> Result<LimitsDescription> {
        self.check_open()?;
        let data = lock(&self.inner.catalog);
        let open = data
            .streams
            .iter()
            .flat_map(|s| &s.shards)
            .filter(|s| s.state == ShardState::Open)
            .count();
        let on_demand = data
            .streams
            .iter()
            .filter(|s| s.settings.mode == StreamMode::OnDemand)
            .count();
        Ok(LimitsDescription {
            shard_limit: self.inner.config.max_shards,
            open_shard_count: u32::try_from(open).unwrap_or(u32::MAX),
            on_demand_stream_count: u32::try_from(on_demand).unwrap_or(u32::MAX),
            on_demand_stream_count_limit: self.inner.config.on_demand_stream_count_max,
        })
    }

    fn set_monitoring<S: AsRef<str>>(
        &self,
        stream: &str,
        metrics: &[S],
        enable: bool,
    ) -> Result<EnhancedMonitoringOutput> {
        self.check_open()?;
        validate_stream_name(stream).map_err(Validation::StreamName)?;
        if metrics.is_empty() || metrics.len() > METRIC_NAMES_MAX {
            return Err(Validation::ListLength {
                what: "ShardLevelMetrics",
                given: metrics.len(),
                min: 1,
                max: METRIC_NAMES_MAX,
            }
            .into());
        }
        let mask = parse_shard_level_metrics(metrics).map_err(Validation::MetricName)?;
        self.fail_if_busy(stream)?;
        let mut before = 0;
        let record = self.update_stream_record(stream, |r| {
            before = r.settings.shard_level_metrics;
            r.settings.shard_level_metrics = if enable {
                before | mask
            } else {
                before & !mask
            };
            Ok(())
        })?;
        Ok(EnhancedMonitoringOutput {
            stream: stream.to_string(),
            stream_arn: self.stream_arn(stream),
            current: shard_level_metric_names(before),
            desired: shard_level_metric_names(record.settings.shard_level_metrics),
        })
    }

    /// EnableEnhancedMonitoring: turns on shard-level metrics (Kinesis names, or
    /// `ALL`). Enabled metrics are exported per shard by
    /// [`metrics_openmetrics`](Self::metrics_openmetrics); stream-level totals always
    /// are.
    pub fn enable_enhanced_monitoring<S: AsRef<str>>(
        &self,
        stream: &str,
        metrics: &[S],
    ) -> Result<EnhancedMonitoringOutput> {
        self.set_monitoring(stream, metrics, true)
    }

    /// DisableEnhancedMonitoring: turns shard-level metrics off.
    pub fn disable_enhanced_monitoring<S: AsRef<str>>(
        &self,
        stream: &str,
        metrics: &[S],
    ) -> Result<EnhancedMonitoringOutput> {
        self.set_monitoring(stream, metrics, false)
    }
}
