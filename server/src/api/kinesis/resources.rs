//! Tags and resource policies by ARN (a stream's or a consumer's): TagResource,
//! UntagResource, ListTagsForResource, PutResourcePolicy, GetResourcePolicy,
//! DeleteResourcePolicy. Policies are validated and stored durably by the engine but
//! not enforced (an embedded engine has no principals; docs/kinesis-api.md).
#![forbid(unsafe_code)]

use super::streams::tags_map;
use super::string_list;
use crate::api::input::{missing, req_str};
use crate::api::{Api, ApiError};
use crate::wire::{Map, Value};

fn ok() -> Result<Value, ApiError> {
    Ok(Map::new().into())
}

/// TagResource(ResourceARN, Tags).
pub fn tag_resource(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "ResourceARN")?;
    let tags = tags_map(m, "Tags")?.ok_or_else(|| missing("Tags"))?;
    api.engine.tag_resource(arn, &tags)?;
    ok()
}

/// UntagResource(ResourceARN, TagKeys).
pub fn untag_resource(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "ResourceARN")?;
    let keys = string_list(m, "TagKeys")?;
    api.engine.untag_resource(arn, &keys)?;
    ok()
}

/// ListTagsForResource(ResourceARN): Tags as a list of {Key, Value}, in key order.
pub fn list_tags_for_resource(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let tags = api
        .engine
        .list_tags_for_resource(req_str(m, "ResourceARN")?)?;
    let list = tags
        .iter()
        .map(|(k, v)| {
            Map::new()
                .with("Key", k.as_str())
                .with("Value", v.as_str())
                .into()
        })
        .collect();
    Ok(Map::new().with("Tags", Value::List(list)).into())
}

/// PutResourcePolicy(ResourceARN, Policy).
pub fn put_resource_policy(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let arn = req_str(m, "ResourceARN")?;
    let policy = req_str(m, "Policy")?;
    api.engine.put_resource_policy(arn, policy)?;
    ok()
}

/// GetResourcePolicy(ResourceARN): the Policy (`{}` when none is attached, as AWS
/// answers).
pub fn get_resource_policy(api: &Api, m: &Map) -> Result<Value, ApiError> {
    let policy = api.engine.get_resource_policy(req_str(m, "ResourceARN")?)?;
    Ok(Map::new()
        .with("Policy", policy.unwrap_or_else(|| "{}".to_string()))
        .into())
}

/// DeleteResourcePolicy(ResourceARN).
pub fn delete_resource_policy(api: &Api, m: &Map) -> Result<Value, ApiError> {
    api.engine
        .delete_resource_policy(req_str(m, "ResourceARN")?)?;
    ok()
}
