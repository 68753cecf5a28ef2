//! The Redshift destination's shapes (RedshiftDestinationConfiguration and its update),
//! delivered by tidelog to PostgreSQL, the engine Redshift descends from.
#![forbid(unsafe_code)]

use serde::{Deserialize, Serialize};

use super::http::{DurationRetryOptions, SecretsManagerConfiguration};
use super::s3::{CloudWatchLoggingOptions, ProcessingConfiguration, S3Destination};

/// CopyCommand.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopyCommand {
    /// The table (`schema.table` or `table`).
    #[serde(rename = "DataTableName", skip_serializing_if = "Option::is_none")]
    pub data_table_name: Option<String>,
    /// Comma-separated columns.
    #[serde(rename = "DataTableColumns", skip_serializing_if = "Option::is_none")]
    pub data_table_columns: Option<String>,
    /// Redshift COPY options (the supported subset is translated).
    #[serde(rename = "CopyOptions", skip_serializing_if = "Option::is_none")]
    pub copy_options: Option<String>,
}

/// RedshiftDestinationConfiguration / Update (`S3Configuration` / `S3Update`,
/// `S3BackupConfiguration` / `S3BackupUpdate`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedshiftDestination {
    /// The role (recorded).
    #[serde(rename = "RoleARN", skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// `jdbc:postgresql://host:port/db`, `jdbc:redshift://...` or `postgresql://...`.
    #[serde(rename = "ClusterJDBCURL", skip_serializing_if = "Option::is_none")]
    pub cluster_jdbc_url: Option<String>,
    /// The COPY.
    #[serde(rename = "CopyCommand", skip_serializing_if = "Option::is_none")]
    pub copy_command: Option<CopyCommand>,
    /// The database user.
    #[serde(rename = "Username", skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// The password (never described back).
    #[serde(rename = "Password", skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// 0 to 7,200 s (default 3,600).
    #[serde(rename = "RetryOptions", skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<DurationRetryOptions>,
    /// The staging destination.
    #[serde(
        rename = "S3Configuration",
        alias = "S3Update",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_configuration: Option<S3Destination>,
    /// Processors.
    #[serde(
        rename = "ProcessingConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub processing_configuration: Option<ProcessingConfiguration>,
    /// Disabled (default) or Enabled.
    #[serde(rename = "S3BackupMode", skip_serializing_if = "Option::is_none")]
    pub s3_backup_mode: Option<String>,
    /// The source record backup.
    #[serde(
        rename = "S3BackupConfiguration",
        alias = "S3BackupUpdate",
        skip_serializing_if = "Option::is_none"
    )]
    pub s3_backup_configuration: Option<S3Destination>,
    /// Logging (recorded).
    #[serde(
        rename = "CloudWatchLoggingOptions",
        skip_serializing_if = "Option::is_none"
    )]
    pub cloud_watch_logging_options: Option<CloudWatchLoggingOptions>,
    /// Secrets Manager (refused when enabled).
    #[serde(
        rename = "SecretsManagerConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub secrets_manager_configuration: Option<SecretsManagerConfiguration>,
}

impl RedshiftDestination {
    /// Applies an update field by field.
    pub fn merge(&mut self, update: RedshiftDestination) {
        macro_rules! take {
            ($($f:ident),*) => { $( if update.$f.is_some() { self.$f = update.$f; } )* };
        }
        take!(
            role_arn,
            cluster_jdbc_url,
            copy_command,
            username,
            password,
            retry_options,
            processing_configuration,
            s3_backup_mode,
            cloud_watch_logging_options,
            secrets_manager_configuration
        );
        for (current, new) in [
            (&mut self.s3_configuration, update.s3_configuration),
            (
                &mut self.s3_backup_configuration,
                update.s3_backup_configuration,
            ),
        ] {
            if let Some(new) = new {
                match current {
                    Some(c) => c.merge(new),
                    None => *current = Some(new),
                }
            }
        }
    }
}
