//! Validation of the HTTP endpoint and Redshift (PostgreSQL) destinations into their
//! plans: the data buffers follow the destination's hints, and the S3 part
//! (`S3Configuration`) is where failed batches, backups and staged objects go.
#![forbid(unsafe_code)]

use super::http::HttpEndpointDestination;
use super::plan::{
    CopyFormat, DeliveryPlan, HttpPlan, INTERVAL_S_MAX, PostgresPlan, Target, TimeZone, buffering,
    check_role_arn, field, object_plan, processing,
};
use super::redshift::RedshiftDestination;
use crate::compression::Compression;
use crate::error::{Error, Result};
use crate::prefix::{Prefix, PrefixKind};

/// HTTP endpoint buffer sizes (AWS): 1 to 64 MB, default 5.
pub const HTTP_SIZE_MB_MAX: u32 = 64;
/// Default retry duration of HTTP endpoints, s.
pub const HTTP_RETRY_S_DEFAULT: u32 = 300;
/// Default retry duration of Redshift, s.
pub const REDSHIFT_RETRY_S_DEFAULT: u32 = 3600;
/// Longest retry duration, s.
pub const RETRY_S_MAX: u32 = 7200;

fn error_prefix(s3: &super::S3Destination, path: &str) -> Result<Prefix> {
    let prefix_src = s3.prefix.as_deref().unwrap_or("");
    let error_src = s3.error_output_prefix.as_deref().unwrap_or("");
    if error_src.is_empty() {
        Prefix::parse(
            &format!("{prefix_src}!{{firehose:error-output-type}}/!{{timestamp:yyyy/MM/dd/HH}}/"),
            PrefixKind::Error,
            false,
        )
    } else {
        Prefix::parse(error_src, PrefixKind::Error, false).map(Prefix::with_default_time)
    }
    .map_err(|e| Error::invalid(field(path, "ErrorOutputPrefix"), e))
}

fn retry_ms(value: Option<u32>, default_s: u32, path: &str) -> Result<u64> {
    let s = value.unwrap_or(default_s);
    if s > RETRY_S_MAX {
        return Err(Error::invalid(
            field(path, "RetryOptions.DurationInSeconds"),
            format!("{s} is outside 0..={RETRY_S_MAX}"),
        ));
    }
    Ok(u64::from(s) * 1000)
}

fn refuse_secrets(enabled: Option<bool>, path: &str) -> Result<()> {
    if enabled == Some(true) {
        return Err(Error::invalid(
            field(path, "SecretsManagerConfiguration"),
            "Secrets Manager is not available in-process; give the credentials directly",
        ));
    }
    Ok(())
}

impl DeliveryPlan {
    /// Validates an HTTP endpoint destination and builds its plan.
    pub fn build_http(
        name: &str,
        version: u64,
        d: &HttpEndpointDestination,
        path: &str,
    ) -> Result<Self> {
        let endpoint = d
            .endpoint_configuration
            .as_ref()
            .ok_or_else(|| Error::invalid(field(path, "EndpointConfiguration"), "is required"))?;
        let url = endpoint.url.clone().ok_or_else(|| {
            Error::invalid(field(path, "EndpointConfiguration.Url"), "is required")
        })?;
        let scheme_ok = url.starts_with("https://") || url.starts_with("http://");
        if !scheme_ok || url.len() > 1000 || url.chars().any(char::is_whitespace) {
            return Err(Error::invalid(
                field(path, "EndpointConfiguration.Url"),
                "an https:// (or, locally, http://) URL of at most 1,000 characters",
            ));
        }
        if let Some(name) = &endpoint.name
            && (name.trim().is_empty() || name.chars().count() > 256)
        {
            return Err(Error::invalid(
                field(path, "EndpointConfiguration.Name"),
                "1 to 256 characters",
            ));
        }
        if let Some(key) = &endpoint.access_key
            && key.len() > 4096
        {
            return Err(Error::invalid(
                field(path, "EndpointConfiguration.AccessKey"),
                "at most 4,096 characters",
            ));
        }
        if let Some(role) = &d.role_arn {
            check_role_arn(role, &field(path, "RoleARN"))?;
        }
        refuse_secrets(
            d.secrets_manager_configuration
                .as_ref()
                .and_then(|s| s.enabled),
            path,
        )?;
        let request = d.request_configuration.clone().unwrap_or_default();
        let gzip = match request.content_encoding.as_deref() {
            None | Some("NONE") => false,
            Some("GZIP") => true,
            Some(other) => {
                return Err(Error::invalid(
                    field(path, "RequestConfiguration.ContentEncoding"),
                    format!("{other:?} is not NONE or GZIP"),
                ));
            }
        };
        let common_attributes: Vec<(String, String)> = request
            .common_attributes
            .unwrap_or_default()
            .into_iter()
            .map(|a| (a.name, a.value))
            .collect();
        for (k, _) in &common_attributes {
            if k.is_empty() || k.chars().count() > 256 {
                return Err(Error::invalid(
                    field(path, "RequestConfiguration.CommonAttributes"),
                    "attribute names are 1 to 256 characters",
                ));
            }
        }
        let s3_path = field(path, "S3Configuration");
        let s3 = d.s3_configuration.as_ref().ok_or_else(|| {
            Error::invalid(s3_path.clone(), "is required (failed data goes there)")
        })?;
        let mut data = object_plan(s3, &s3_path, false)?;
        let (size, interval) = buffering(&d.buffering_hints, path, 1, HTTP_SIZE_MB_MAX, 5)?;
        debug_assert!(interval <= INTERVAL_S_MAX);
        let backup_plan = data.clone();
        data.size_bytes = u64::from(size) << 20;
        data.interval_ms = u64::from(interval) * 1000;
        data.compression = Compression::Uncompressed;
        data.extension = String::new();
        let backup = match d.s3_backup_mode.as_deref().unwrap_or("FailedDataOnly") {
            "FailedDataOnly" => None,
            "AllData" => Some(backup_plan),
            other => {
                return Err(Error::invalid(
                    field(path, "S3BackupMode"),
                    format!("{other:?} is not FailedDataOnly or AllData"),
                ));
            }
        };
        Ok(Self {
            name: name.to_string(),
            version,
            error_prefix: error_prefix(s3, &s3_path)?,
            data,
            time_zone: TimeZone::Utc,
            processing: processing(&d.processing_configuration, path)?,
            dynamic_partitioning: false,
            backup,
            conversion: None,
            channel: None,
            target: Target::Http(HttpPlan {
                url,
                access_key: endpoint.access_key.clone(),
                gzip,
                common_attributes,
                retry_duration_ms: retry_ms(
                    d.retry_options.as_ref().and_then(|r| r.duration_in_seconds),
                    HTTP_RETRY_S_DEFAULT,
                    path,
                )?,
            }),
        })
    }

    /// Validates a Redshift destination (delivered to PostgreSQL) and builds its plan.
    pub fn build_postgres(
        name: &str,
        version: u64,
        d: &RedshiftDestination,
        path: &str,
    ) -> Result<Self> {
        let role = d
            .role_arn
            .as_deref()
            .ok_or_else(|| Error::invalid(field(path, "RoleARN"), "is required"))?;
        check_role_arn(role, &field(path, "RoleARN"))?;
        refuse_secrets(
            d.secrets_manager_configuration
                .as_ref()
                .and_then(|s| s.enabled),
            path,
        )?;
        let jdbc = d
            .cluster_jdbc_url
            .as_deref()
            .ok_or_else(|| Error::invalid(field(path, "ClusterJDBCURL"), "is required"))?;
        let url =
            connection_url(jdbc).map_err(|e| Error::invalid(field(path, "ClusterJDBCURL"), e))?;
        if let Some(p) = &d.password
            && !(6..=512).contains(&p.chars().count())
        {
            return Err(Error::invalid(
                field(path, "Password"),
                "6 to 512 characters",
            ));
        }
        let copy = d
            .copy_command
            .as_ref()
            .ok_or_else(|| Error::invalid(field(path, "CopyCommand"), "is required"))?;
        let table = copy.data_table_name.clone().ok_or_else(|| {
            Error::invalid(field(path, "CopyCommand.DataTableName"), "is required")
        })?;
        check_table(&table)
            .map_err(|e| Error::invalid(field(path, "CopyCommand.DataTableName"), e))?;
        let columns: Vec<String> = match copy.data_table_columns.as_deref() {
            None | Some("") => Vec::new(),
            Some(list) => list.split(',').map(|c| c.trim().to_string()).collect(),
        };
        for c in &columns {
            if !is_identifier(c) {
                return Err(Error::invalid(
                    field(path, "CopyCommand.DataTableColumns"),
                    format!("{c:?} is not a column name ([A-Za-z_][A-Za-z0-9_$]*)"),
                ));
            }
        }
        let s3_path = field(path, "S3Configuration");
        let s3 = d.s3_configuration.as_ref().ok_or_else(|| {
            Error::invalid(s3_path.clone(), "is required (batches are staged there)")
        })?;
        let data = object_plan(s3, &s3_path, false)?;
        if !matches!(
            data.compression,
            Compression::Uncompressed | Compression::Gzip
        ) {
            return Err(Error::invalid(
                field(&s3_path, "CompressionFormat"),
                "the Redshift path stages UNCOMPRESSED or GZIP objects only",
            ));
        }
        let (format, gzip_option) =
            copy_format(copy.copy_options.as_deref().unwrap_or(""), &columns)
                .map_err(|e| Error::invalid(field(path, "CopyCommand.CopyOptions"), e))?;
        if gzip_option != (data.compression == Compression::Gzip) {
            return Err(Error::invalid(
                field(path, "CopyCommand.CopyOptions"),
                "GZIP in CopyOptions must match the staging CompressionFormat (GZIP)",
            ));
        }
        let backup = match d.s3_backup_mode.as_deref().unwrap_or("Disabled") {
            "Disabled" => None,
            "Enabled" => {
                let b = d.s3_backup_configuration.as_ref().ok_or_else(|| {
                    Error::invalid(
                        field(path, "S3BackupConfiguration"),
                        "S3BackupMode Enabled needs it",
                    )
                })?;
                Some(object_plan(
                    b,
                    &field(path, "S3BackupConfiguration"),
                    false,
                )?)
            }
            other => {
                return Err(Error::invalid(
                    field(path, "S3BackupMode"),
                    format!("{other:?} is not Disabled or Enabled"),
                ));
            }
        };
        Ok(Self {
            name: name.to_string(),
            version,
            error_prefix: error_prefix(s3, &s3_path)?,
            data,
            time_zone: TimeZone::Utc,
            processing: processing(&d.processing_configuration, path)?,
            dynamic_partitioning: false,
            backup,
            conversion: None,
            channel: None,
            target: Target::Postgres(PostgresPlan {
                url,
                user: d.username.clone(),
                password: d.password.clone(),
                table,
                columns,
                format,
                retry_duration_ms: retry_ms(
                    d.retry_options.as_ref().and_then(|r| r.duration_in_seconds),
                    REDSHIFT_RETRY_S_DEFAULT,
                    path,
                )?,
            }),
        })
    }
}

/// A PostgreSQL connection URL from a JDBC URL (`jdbc:postgresql://` or
/// `jdbc:redshift://`) or a `postgresql://` / `postgres://` URL; checked by parsing.
pub fn connection_url(text: &str) -> std::result::Result<String, String> {
    let rest = text.strip_prefix("jdbc:").unwrap_or(text);
    let url = if let Some(r) = rest.strip_prefix("redshift://") {
        format!("postgresql://{r}")
    } else if rest.starts_with("postgresql://") || rest.starts_with("postgres://") {
        rest.to_string()
    } else {
        return Err(format!(
            "{text:?} is not jdbc:postgresql://, jdbc:redshift:// or postgresql:// (host:port/database)"
        ));
    };
    url.parse::<tokio_postgres::Config>()
        .map_err(|e| format!("{text:?}: {e}"))?;
    Ok(url)
}

/// An unquoted SQL identifier: `[A-Za-z_][A-Za-z0-9_$]*`, at most 63 bytes.
pub fn is_identifier(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        && s.len() <= 63
}

fn check_table(table: &str) -> std::result::Result<(), String> {
    let parts: Vec<&str> = table.split('.').collect();
    if parts.len() > 2 || !parts.iter().all(|p| is_identifier(p)) {
        return Err(format!(
            "{table:?} is not a table name (table or schema.table, [A-Za-z_][A-Za-z0-9_$]*)"
        ));
    }
    Ok(())
}

fn quoted_char(tokens: &[String], i: usize, what: &str) -> std::result::Result<char, String> {
    let t = tokens
        .get(i)
        .ok_or_else(|| format!("{what} needs a quoted character"))?;
    let inner = t
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))
        .ok_or_else(|| format!("{what} needs a quoted character, got {t}"))?;
    let inner = match inner {
        "\\t" => "\t",
        other => other,
    };
    let mut chars = inner.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if c != '\n' && c != '\r' => Ok(c),
        _ => Err(format!("{what} must be one character, got {t}")),
    }
}

fn tokenize(options: &str) -> std::result::Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = options.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            let mut t = String::from('\'');
            chars.next();
            loop {
                match chars.next() {
                    Some('\'') if chars.peek() == Some(&'\'') => {
                        chars.next();
                        t.push('\'');
                    }
                    Some('\'') => break,
                    Some(ch) => t.push(ch),
                    None => return Err("an unterminated quote".to_string()),
                }
            }
            t.push('\'');
            out.push(t);
        } else {
            let mut t = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '\'' {
                    break;
                }
                t.push(ch);
                chars.next();
            }
            out.push(t);
        }
    }
    Ok(out)
}

fn sql_literal(c: char) -> String {
    if c == '\'' {
        "''''".to_string()
    } else {
        format!("'{c}'")
    }
}

/// Translates Redshift COPY options into PostgreSQL's. Supported: `CSV` / `FORMAT [AS]
/// CSV`, `DELIMITER [AS] 'c'`, `QUOTE [AS] 'c'`, `NULL [AS] 'text'`, `IGNOREHEADER [AS]
/// 0|1`, `JSON 'auto'` / `JSON 'auto ignorecase'` / `JSON 'noshred'` (also after `FORMAT
/// [AS]`), `GZIP`; `TIMEFORMAT 'auto'`, `DATEFORMAT 'auto'`, `COMPUPDATE`, `STATUPDATE`
/// are accepted and change nothing. Anything else is refused by name. Returns the format
/// and whether GZIP was given.
pub fn copy_format(
    options: &str,
    columns: &[String],
) -> std::result::Result<(CopyFormat, bool), String> {
    let tokens = tokenize(options)?;
    let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
    let mut csv = false;
    let mut json: Option<CopyFormat> = None;
    let mut gzip = false;
    let mut pg: Vec<String> = Vec::new();
    let mut i = 0;
    let skip_as = |i: usize| {
        if upper.get(i).map(String::as_str) == Some("AS") {
            i + 1
        } else {
            i
        }
    };
    while i < tokens.len() {
        match upper[i].as_str() {
            "FORMAT" => {
                i = skip_as(i + 1);
                continue;
            }
            "CSV" => {
                csv = true;
                i += 1;
            }
            "JSON" => {
                let arg = tokens.get(i + 1).map(|t| t.to_ascii_lowercase());
                json = Some(match arg.as_deref() {
                    Some("'auto'") => CopyFormat::JsonAuto { ignore_case: false },
                    Some("'auto ignorecase'") => CopyFormat::JsonAuto { ignore_case: true },
                    Some("'noshred'") => {
                        if columns.len() != 1 {
                            return Err("JSON 'noshred' loads each document into one column: name exactly one in DataTableColumns".to_string());
                        }
                        CopyFormat::JsonDocument
                    }
                    other => {
                        return Err(format!(
                            "JSON {} is not supported ('auto', 'auto ignorecase', 'noshred')",
                            other.unwrap_or("(nothing)")
                        ));
                    }
                });
                i += 2;
            }
            "DELIMITER" => {
                let j = skip_as(i + 1);
                pg.push(format!(
                    "DELIMITER {}",
                    sql_literal(quoted_char(&tokens, j, "DELIMITER")?)
                ));
                i = j + 1;
            }
            "QUOTE" => {
                let j = skip_as(i + 1);
                pg.push(format!(
                    "QUOTE {}",
                    sql_literal(quoted_char(&tokens, j, "QUOTE")?)
                ));
                i = j + 1;
            }
            "NULL" => {
                let j = skip_as(i + 1);
                let t = tokens.get(j).ok_or("NULL AS needs a quoted string")?;
                if !(t.starts_with('\'') && t.ends_with('\'') && t.len() >= 2) || t.contains('\n') {
                    return Err(format!("NULL AS needs a quoted string, got {t}"));
                }
                let inner = &t[1..t.len() - 1];
                pg.push(format!("NULL '{}'", inner.replace('\'', "''")));
                i = j + 1;
            }
            "IGNOREHEADER" => {
                let j = skip_as(i + 1);
                match tokens.get(j).map(String::as_str) {
                    Some("0") => {}
                    Some("1") => pg.push("HEADER true".to_string()),
                    other => {
                        return Err(format!(
                            "IGNOREHEADER {} is not supported (0 or 1)",
                            other.unwrap_or("")
                        ));
                    }
                }
                i = j + 1;
            }
            "GZIP" => {
                gzip = true;
                i += 1;
            }
            "TIMEFORMAT" | "DATEFORMAT" => {
                let j = skip_as(i + 1);
                match tokens.get(j).map(|t| t.to_ascii_lowercase()).as_deref() {
                    Some("'auto'") => {}
                    other => {
                        return Err(format!(
                            "{} {} is not supported ('auto' only)",
                            upper[i],
                            other.unwrap_or("")
                        ));
                    }
                }
                i = j + 1;
            }
            "COMPUPDATE" | "STATUPDATE" => {
                i += 1;
                if matches!(
                    upper.get(i).map(String::as_str),
                    Some("ON" | "OFF" | "TRUE" | "FALSE")
                ) {
                    i += 1;
                }
            }
            other => return Err(format!("COPY option {other} is not supported")),
        }
    }
    if let Some(json) = json {
        if csv || !pg.is_empty() {
            return Err(
                "JSON cannot be combined with CSV, DELIMITER, QUOTE, NULL or IGNOREHEADER"
                    .to_string(),
            );
        }
        return Ok((json, gzip));
    }
    let mut with = vec![if csv {
        "FORMAT csv".to_string()
    } else {
        "FORMAT text".to_string()
    }];
    if !csv
        && pg
            .iter()
            .any(|p| p.starts_with("QUOTE") || p.starts_with("HEADER"))
    {
        return Err("QUOTE and IGNOREHEADER need CSV".to_string());
    }
    if !csv && !pg.iter().any(|p| p.starts_with("DELIMITER")) {
        // Redshift's text default is the pipe.
        with.push("DELIMITER '|'".to_string());
    }
    with.extend(pg);
    Ok((CopyFormat::Direct(with.join(", ")), gzip))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_options_translate() {
        let cols = vec!["a".to_string()];
        assert_eq!(
            copy_format("CSV DELIMITER ',' IGNOREHEADER 1 NULL AS 'NA'", &cols).unwrap(),
            (
                CopyFormat::Direct("FORMAT csv, DELIMITER ',', HEADER true, NULL 'NA'".into()),
                false
            )
        );
        assert_eq!(
            copy_format("format as csv quote as '\"' gzip", &cols).unwrap(),
            (CopyFormat::Direct("FORMAT csv, QUOTE '\"'".into()), true)
        );
        assert_eq!(
            copy_format("", &cols).unwrap(),
            (
                CopyFormat::Direct("FORMAT text, DELIMITER '|'".into()),
                false
            )
        );
        assert_eq!(
            copy_format("JSON 'auto ignorecase' TIMEFORMAT 'auto'", &cols).unwrap(),
            (CopyFormat::JsonAuto { ignore_case: true }, false)
        );
        assert_eq!(
            copy_format("FORMAT AS JSON 'noshred'", &cols).unwrap().0,
            CopyFormat::JsonDocument
        );
        for bad in [
            "MAXERROR 10",
            "DELIMITER ',,'",
            "JSON 's3://bucket/paths.json'",
            "CSV JSON 'auto'",
            "IGNOREHEADER 2",
            "NULL AS x",
            "DELIMITER 'x",
            "QUOTE '\"'",
        ] {
            assert!(copy_format(bad, &cols).is_err(), "{bad}");
        }
        assert!(copy_format("JSON 'noshred'", &[]).is_err());
    }

    #[test]
    fn urls_and_identifiers() {
        assert_eq!(
            connection_url("jdbc:redshift://db.example:5439/dev").unwrap(),
            "postgresql://db.example:5439/dev"
        );
        assert!(connection_url("postgresql://u@127.0.0.1:5432/db?sslmode=disable").is_ok());
        assert!(connection_url("mysql://x").is_err());
        assert!(is_identifier("events_2024"));
        for bad in ["", "1a", "a;drop", "a b", "\"a\"", &"a".repeat(64)] {
            assert!(!is_identifier(bad), "{bad}");
        }
        assert!(check_table("public.events").is_ok());
        assert!(check_table("a.b.c").is_err());
    }
}
