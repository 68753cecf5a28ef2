//! The catalog of delivery streams: `<data_dir>/firehose/catalog`, one framed JSON file
//! (files.rs) holding every delivery stream's record (configuration, status, version,
//! tags), every Kinesis channel's record (`channel.rs`; absent in catalogs written
//! before channels, read as none) and the next id (shared by both). Replaced atomically on every change, before the change takes
//! effect, so a crash leaves the old catalog or the new one.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tidelog::io::Storage;

use crate::error::{Error, Result};
use crate::files;
use crate::model::DeliveryStreamRecord;

/// The catalog's file name.
pub const CATALOG_FILE: &str = "catalog";

/// The catalog's contents.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CatalogData {
    /// The id the next delivery stream gets (ids are never reused).
    pub next_id: u64,
    /// Every delivery stream.
    pub delivery_streams: Vec<DeliveryStreamRecord>,
    /// Every Kinesis channel.
    #[serde(default)]
    pub channels: Vec<crate::channel::ChannelRecord>,
}

impl CatalogData {
    /// The delivery stream of this name.
    pub fn get(&self, name: &str) -> Option<&DeliveryStreamRecord> {
        self.delivery_streams.iter().find(|d| d.name == name)
    }

    /// The delivery stream of this name, to change.
    pub fn get_mut(&mut self, name: &str) -> Option<&mut DeliveryStreamRecord> {
        self.delivery_streams.iter_mut().find(|d| d.name == name)
    }

    /// The channel of this name.
    pub fn channel(&self, name: &str) -> Option<&crate::channel::ChannelRecord> {
        self.channels.iter().find(|c| c.name == name)
    }

    /// The channel of this name, to change.
    pub fn channel_mut(&mut self, name: &str) -> Option<&mut crate::channel::ChannelRecord> {
        self.channels.iter_mut().find(|c| c.name == name)
    }
}

/// The path of the catalog in Firehose's directory.
pub fn path(dir: &Path) -> PathBuf {
    dir.join(CATALOG_FILE)
}

/// Reads the catalog (empty if there is none).
pub fn load(storage: &dyn Storage, dir: &Path) -> Result<CatalogData> {
    let file = path(dir);
    match files::load(storage, &file, files::CATALOG_MAGIC)
        .map_err(|e| Error::io("read catalog", &file, e))?
    {
        None => Ok(CatalogData {
            next_id: 1,
            delivery_streams: Vec::new(),
            channels: Vec::new(),
        }),
        Some(Err(problem)) => Err(Error::Corrupt {
            path: file,
            problem,
        }),
        Some(Ok(body)) => serde_json::from_slice(&body).map_err(|e| Error::Corrupt {
            path: file,
            problem: e.to_string(),
        }),
    }
}

/// Writes the catalog atomically (always synced: configuration changes are rare).
pub fn save(storage: &dyn Storage, dir: &Path, data: &CatalogData) -> Result<()> {
    let file = path(dir);
    let body = serde_json::to_vec(data).map_err(|e| Error::Internal(e.to_string()))?;
    files::save(storage, &file, files::CATALOG_MAGIC, &body, true)
        .map_err(|e| Error::io("write catalog", &file, e))
}
