//! AWS Signature Version 4: verifying the requests clients sign (header or presigned
//! query) and signing the requests this crate's own client sends.
//!
//! Verification, in order, each failure with AWS's error name:
//! 1. an `Authorization` header or `X-Amz-Algorithm` query, not both
//!    (MissingAuthenticationTokenException, InvalidSignatureException);
//! 2. well formed: algorithm `AWS4-HMAC-SHA256`, `Credential=<key>/<date>/<region>/
//!    <service>/aws4_request`, `SignedHeaders` including `host`, `Signature`, an
//!    `X-Amz-Date` (IncompleteSignatureException);
//! 3. the access key is configured (UnrecognizedClientException);
//! 4. the scope's service is the target's and its date the request's day
//!    (InvalidSignatureException);
//! 5. the request time within the skew window of now, and a presigned request not
//!    past its `X-Amz-Expires` (InvalidSignatureException "Signature expired");
//! 6. the signature recomputed over the canonical request (method, path, sorted
//!    query, signed headers, SHA-256 of the body) equals the one given, compared in
//!    constant time (InvalidSignatureException).
//!
//! Every signature covers the body: the canonical request ends with the SHA-256 of the
//! body as received (a presigned request too, as botocore presigns for services other
//! than S3), and a given `X-Amz-Content-Sha256` must match it.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::time::{format_amz_date, parse_amz_date};
use crate::api::ApiError;

type HmacSha256 = Hmac<Sha256>;

/// The one algorithm SigV4 has.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Longest `X-Amz-Expires` (AWS: 7 days).
pub const PRESIGN_EXPIRES_MAX_SECS: i64 = 604_800;

/// What a request looks like to the verifier.
#[derive(Debug, Clone, Copy)]
pub struct RequestParts<'a> {
    /// `POST`.
    pub method: &'a str,
    /// The path as sent (percent-encoded).
    pub path: &'a str,
    /// The raw query string (without `?`), empty if none.
    pub query: &'a str,
    /// The headers.
    pub headers: &'a HeaderMap,
    /// The `Host` to use when the request has no `Host` header (HTTP/2's
    /// `:authority`).
    pub authority: Option<&'a str>,
    /// The body.
    pub body: &'a [u8],
    /// The request came over HTTP/2, whose SDKs sign `:authority` out (the AWS SDK for
    /// JavaScript v3 drops `host` there): `host` need not be a signed header.
    pub http2: bool,
}

/// Who signed a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// No signature, and anonymous access is enabled.
    Anonymous,
    /// A configured access key.
    AccessKey(String),
}

/// The verifier's settings.
#[derive(Clone)]
pub struct Verifier {
    /// Secret keys by access key id.
    pub keys: HashMap<String, String>,
    /// Accept requests without any signature.
    pub allow_anonymous: bool,
    /// How far a request's time may be from now (AWS: 15 minutes).
    pub skew: Duration,
    /// The only region a scope may name, if set.
    pub region: Option<String>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("access_keys", &self.keys.keys().collect::<Vec<_>>())
            .field("allow_anonymous", &self.allow_anonymous)
            .field("skew", &self.skew)
            .field("region", &self.region)
            .finish()
    }
}

fn incomplete(message: impl Into<String>) -> ApiError {
    ApiError::new("IncompleteSignatureException", message)
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new("InvalidSignatureException", message)
}

fn mismatch() -> ApiError {
    invalid(
        "The request signature we calculated does not match the signature you provided. \
         Check your AWS Secret Access Key and signing method. Consult the service \
         documentation for details.",
    )
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// The signing key of a secret for a day, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> Vec<u8> {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// AWS's URI encoding: unreserved characters kept, everything else `%XX` (upper case);
/// `/` kept when `keep_slash`.
pub fn uri_encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hexval = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hexval(b[i + 1]), hexval(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Query pairs, decoded.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn canonical_query(pairs: &[(String, String)], skip: Option<&str>) -> String {
    let mut encoded: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The canonical path of a non-S3 service: dot segments and empty segments removed,
/// then each segment encoded again (SDKs encode the already-encoded path).
fn canonical_path(path: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(&segments.join("/"));
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    uri_encode(&out, true)
}

fn header_value(parts: &RequestParts<'_>, name: &str) -> Option<String> {
    if name == ":authority" {
        // HTTP/2's pseudo-header, which some SDKs sign (the JavaScript SDK v3 does).
        return parts.authority.map(str::to_string).or_else(|| {
            parts
                .headers
                .get(http::header::HOST)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
        });
    }
    let values: Vec<String> = parts
        .headers
        .get_all(name)
        .iter()
        .map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    if values.is_empty() {
        if name == "host" {
            return parts.authority.map(str::to_string);
        }
        return None;
    }
    Some(values.join(","))
}

/// The canonical request and its signed-headers line.
fn canonical_request(
    parts: &RequestParts<'_>,
    pairs: &[(String, String)],
    skip_query: Option<&str>,
    signed_headers: &[&str],
    payload_hash: &str,
) -> Result<String, ApiError> {
    let mut headers = String::new();
    for name in signed_headers {
        let value = header_value(parts, name).ok_or_else(mismatch)?;
        headers.push_str(name);
        headers.push(':');
        headers.push_str(&value);
        headers.push('\n');
    }
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        parts.method,
        canonical_path(parts.path),
        canonical_query(pairs, skip_query),
        headers,
        signed_headers.join(";"),
        payload_hash
    ))
}

fn string_to_sign(amz_date: &str, scope: &str, canonical: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    )
}

struct Signed<'a> {
    access_key: &'a str,
    date: &'a str,
    region: &'a str,
    service: &'a str,
    signed_headers: Vec<&'a str>,
    signature: &'a str,
    amz_date: String,
    expires_secs: Option<i64>,
}

fn parse_credential(credential: &str) -> Result<(&str, &str, &str, &str), ApiError> {
    let parts: Vec<&str> = credential.split('/').collect();
    match parts.as_slice() {
        [key, date, region, service, "aws4_request"]
            if !key.is_empty() && date.len() == 8 && !region.is_empty() =>
        {
            Ok((key, date, region, service))
        }
        _ => Err(incomplete(format!(
            "Credential should be <access key>/<date>/<region>/<service>/aws4_request, \
             got {credential:?}"
        ))),
    }
}

fn split_signed_headers(list: &str, http2: bool) -> Result<Vec<&str>, ApiError> {
    let headers: Vec<&str> = list.split(';').collect();
    if headers
        .iter()
        .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
    {
        return Err(incomplete(
            "SignedHeaders must be lower-case names separated by ';'",
        ));
    }
    if !http2 && !headers.contains(&"host") {
        return Err(invalid(
            "'Host' must be a 'SignedHeader' in the AWS Authorization.",
        ));
    }
    let mut sorted = headers.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted != headers {
        return Err(incomplete("SignedHeaders must be sorted and unique"));
    }
    Ok(headers)
}

fn from_header<'a>(
    authorization: &'a str,
    parts: &RequestParts<'_>,
) -> Result<Signed<'a>, ApiError> {
    let (algorithm, rest) = authorization.split_once(' ').ok_or_else(|| {
        incomplete(format!(
            "Authorization header is malformed: {authorization}"
        ))
    })?;
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let mut credential = None;
    let mut signed = None;
    let mut signature = None;
    for item in rest.split(',') {
        let item = item.trim();
        match item.split_once('=') {
            Some(("Credential", v)) => credential = Some(v),
            Some(("SignedHeaders", v)) => signed = Some(v),
            Some(("Signature", v)) => signature = Some(v),
            _ => {}
        }
    }
    let mut missing = String::new();
    for (name, v) in [
        ("Credential", credential),
        ("Signature", signature),
        ("SignedHeaders", signed),
    ] {
        if v.is_none() {
            missing.push_str(&format!(
                "Authorization header requires '{name}' parameter. "
            ));
        }
    }
    let amz_date = header_value(parts, "x-amz-date");
    if amz_date.is_none() {
        missing.push_str("Authorization header requires existence of an 'X-Amz-Date' header. ");
    }
    if !missing.is_empty() {
        return Err(incomplete(format!(
            "{missing}Authorization={authorization}"
        )));
    }
    let (access_key, date, region, service) = parse_credential(credential.unwrap_or_default())?;
    Ok(Signed {
        access_key,
        date,
        region,
        service,
        signed_headers: split_signed_headers(signed.unwrap_or_default(), parts.http2)?,
        signature: signature.unwrap_or_default(),
        amz_date: amz_date.unwrap_or_default(),
        expires_secs: None,
    })
}

fn from_query<'a>(pairs: &'a [(String, String)], http2: bool) -> Result<Signed<'a>, ApiError> {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut missing = String::new();
    for name in [
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Signature",
        "X-Amz-SignedHeaders",
        "X-Amz-Date",
    ] {
        if get(name).is_none() {
            missing.push_str(&format!(
                "AWS query-string parameters must include '{name}'. "
            ));
        }
    }
    if !missing.is_empty() {
        return Err(incomplete(format!(
            "{missing}Re-examine the query-string parameters."
        )));
    }
    let algorithm = get("X-Amz-Algorithm").unwrap_or_default();
    if algorithm != ALGORITHM {
        return Err(incomplete(format!(
            "Unsupported AWS 'algorithm': '{algorithm}'"
        )));
    }
    let (access_key, date, region, service) =
        parse_credential(get("X-Amz-Credential").unwrap_or_default())?;
    let expires = match get("X-Amz-Expires") {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if (1..=PRESIGN_EXPIRES_MAX_SECS).contains(&n) => Some(n),
            _ => {
                return Err(invalid(format!(
                    "X-Amz-Expires must be 1 to {PRESIGN_EXPIRES_MAX_SECS} seconds, got {v:?}"
                )));
            }
        },
    };
    Ok(Signed {
        access_key,
        date,
        region,
        service,
        signed_headers: split_signed_headers(
            get("X-Amz-SignedHeaders").unwrap_or_default(),
            http2,
        )?,
        signature: get("X-Amz-Signature").unwrap_or_default(),
        amz_date: get("X-Amz-Date").unwrap_or_default().to_string(),
        expires_secs: expires,
    })
}

impl Verifier {
    /// Checks a request signed for `service` (`kinesis`, `firehose`) at `now` (Unix
    /// seconds).
    pub fn verify(
        &self,
        parts: &RequestParts<'_>,
        service: &str,
        now_secs: i64,
    ) -> Result<Identity, ApiError> {
        let authorization = parts
            .headers
            .get(http::header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let pairs = query_pairs(parts.query);
        let presigned = pairs.iter().any(|(k, _)| k == "X-Amz-Algorithm");
        let signed = match (authorization.as_deref(), presigned) {
            (Some(_), true) => {
                return Err(invalid(
                    "Found both 'X-Amz-Algorithm' as a query-string param and \
                     'Authorization' as HTTP header.",
                ));
            }
            (None, false) if self.allow_anonymous => return Ok(Identity::Anonymous),
            (None, false) => {
                return Err(ApiError::new(
                    "MissingAuthenticationTokenException",
                    "Missing Authentication Token",
                ));
            }
            (Some(header), false) => from_header(header, parts)?,
            (None, true) => from_query(&pairs, parts.http2)?,
        };
        let Some(secret) = self.keys.get(signed.access_key) else {
            return Err(ApiError::new(
                "UnrecognizedClientException",
                "The security token included in the request is invalid.",
            ));
        };
        if signed.service != service {
            return Err(invalid(format!(
                "Credential should be scoped to correct service: '{service}'."
            )));
        }
        if let Some(region) = &self.region
            && signed.region != region
        {
            return Err(invalid(format!(
                "Credential should be scoped to a valid region, not '{}'. ",
                signed.region
            )));
        }
        let request_secs = parse_amz_date(&signed.amz_date).ok_or_else(|| {
            incomplete(format!(
                "X-Amz-Date must be in the ISO8601 basic format (YYYYMMDD'T'HHMMSS'Z'), got {:?}",
                signed.amz_date
            ))
        })?;
        if !signed.amz_date.starts_with(signed.date) {
            return Err(invalid(format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of \
                 date from HTTP: '{}' != '{}', from '{}'.",
                signed.date,
                &signed.amz_date[..8],
                signed.amz_date
            )));
        }
        let skew = self.skew.as_secs() as i64;
        match signed.expires_secs {
            Some(expires) => {
                if now_secs > request_secs + expires {
                    return Err(invalid(format!(
                        "Signature expired: {} is now earlier than {} ({} - {expires} sec.)",
                        format_amz_date(request_secs + expires),
                        format_amz_date(now_secs),
                        format_amz_date(now_secs)
                    )));
                }
                if request_secs > now_secs + skew {
                    return Err(invalid(format!(
                        "Signature not yet current: {} is still later than {} ({} + {} min.)",
                        signed.amz_date,
                        format_amz_date(now_secs + skew),
                        format_amz_date(now_secs),
                        skew / 60
                    )));
                }
            }
            None => {
                if request_secs < now_secs - skew {
                    return Err(invalid(format!(
                        "Signature expired: {} is now earlier than {} ({} - {} min.)",
                        signed.amz_date,
                        format_amz_date(now_secs - skew),
                        format_amz_date(now_secs),
                        skew / 60
                    )));
                }
                if request_secs > now_secs + skew {
                    return Err(invalid(format!(
                        "Signature not yet current: {} is still later than {} ({} + {} min.)",
                        signed.amz_date,
                        format_amz_date(now_secs + skew),
                        format_amz_date(now_secs),
                        skew / 60
                    )));
                }
            }
        }
        let payload_hash = sha256_hex(parts.body);
        if let Some(given) = header_value(parts, "x-amz-content-sha256")
            && given != payload_hash
        {
            return Err(invalid(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            ));
        }
        let skip = presigned.then_some("X-Amz-Signature");
        let canonical =
            canonical_request(parts, &pairs, skip, &signed.signed_headers, &payload_hash)?;
        let scope = format!(
            "{}/{}/{}/aws4_request",
            signed.date, signed.region, signed.service
        );
        let to_sign = string_to_sign(&signed.amz_date, &scope, &canonical);
        let key = signing_key(secret, signed.date, signed.region, signed.service);
        let expected = hex(&hmac(&key, to_sign.as_bytes()));
        let given = signed.signature.as_bytes();
        if given.len() != expected.len() || !bool::from(given.ct_eq(expected.as_bytes())) {
            // As AWS does, say what was signed here, so a client can find its mistake
            // (nothing secret: the canonical request and the string to sign).
            let mut e = mismatch();
            e.message.push_str(&format!(
                "\n\nThe Canonical String for this request should have been\n'{canonical}'\n\n\
                 The String-to-Sign should have been\n'{to_sign}'\n"
            ));
            return Err(e);
        }
        Ok(Identity::AccessKey(signed.access_key.to_string()))
    }
}

/// Signs a request (header form): returns the `X-Amz-Date` and `Authorization` values.
/// `headers` must hold every header to sign (`host` among them) with its final value.
#[allow(clippy::too_many_arguments)]
pub fn sign(
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    access_key: &str,
    secret: &str,
    region: &str,
    service: &str,
    now_secs: i64,
) -> (String, String) {
    let amz_date = format_amz_date(now_secs);
    let mut with_date = headers.clone();
    if let Ok(v) = http::HeaderValue::from_str(&amz_date) {
        with_date.insert("x-amz-date", v);
    }
    let mut names: Vec<String> = with_date.keys().map(|k| k.as_str().to_string()).collect();
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let parts = RequestParts {
        method,
        path,
        query,
        headers: &with_date,
        authority: None,
        body,
        http2: false,
    };
    let pairs = query_pairs(query);
    let canonical =
        canonical_request(&parts, &pairs, None, &names, &sha256_hex(body)).unwrap_or_default();
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let to_sign = string_to_sign(&amz_date, &scope, &canonical);
    let signature = hex(&hmac(
        &signing_key(secret, date, region, service),
        to_sign.as_bytes(),
    ));
    let authorization = format!(
        "{ALGORITHM} Credential={access_key}/{scope}, SignedHeaders={}, Signature={signature}",
        names.join(";")
    );
    (amz_date, authorization)
}

/// Presigns a request (query form): every header in `headers` (`host` among them) and
/// the body are signed. Returns the query string to append to the path, valid for
/// `expires_secs` from `now_secs`.
#[allow(clippy::too_many_arguments)]
pub fn presign(
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
    access_key: &str,
    secret: &str,
    region: &str,
    service: &str,
    now_secs: i64,
    expires_secs: i64,
) -> String {
    let amz_date = format_amz_date(now_secs);
    let date = &amz_date[..8];
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let mut names: Vec<String> = headers.keys().map(|k| k.as_str().to_string()).collect();
    names.sort();
    names.dedup();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let pairs: Vec<(String, String)> = vec![
        ("X-Amz-Algorithm".into(), ALGORITHM.into()),
        ("X-Amz-Credential".into(), format!("{access_key}/{scope}")),
        ("X-Amz-Date".into(), amz_date.clone()),
        ("X-Amz-Expires".into(), expires_secs.to_string()),
        ("X-Amz-SignedHeaders".into(), names.join(";")),
    ];
    let parts = RequestParts {
        method,
        path,
        query: "",
        headers,
        authority: None,
        body,
        http2: false,
    };
    let canonical =
        canonical_request(&parts, &pairs, None, &names, &sha256_hex(body)).unwrap_or_default();
    let to_sign = string_to_sign(&amz_date, &scope, &canonical);
    let signature = hex(&hmac(
        &signing_key(secret, date, region, service),
        to_sign.as_bytes(),
    ));
    let mut query = canonical_query(&pairs, None);
    query.push_str("&X-Amz-Signature=");
    query.push_str(&signature);
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    /// AWS's published example (the IAM ListUsers GET of the SigV4 documentation):
    /// its canonical request hash and signature, with the example keys.
    #[test]
    fn aws_documented_example() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let parts = RequestParts {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers: &headers,
            authority: None,
            body: b"",
            http2: false,
        };
        let pairs = query_pairs(parts.query);
        let canonical = canonical_request(
            &parts,
            &pairs,
            None,
            &["content-type", "host", "x-amz-date"],
            &sha256_hex(b""),
        )
        .unwrap();
        assert_eq!(
            sha256_hex(canonical.as_bytes()),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        let key = signing_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20150830",
            "us-east-1",
            "iam",
        );
        let to_sign = string_to_sign(
            "20150830T123600Z",
            "20150830/us-east-1/iam/aws4_request",
            &canonical,
        );
        assert_eq!(
            hex(&hmac(&key, to_sign.as_bytes())),
            "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
    }

    fn verifier() -> Verifier {
        Verifier {
            keys: HashMap::from([("AKID".to_string(), "secret".to_string())]),
            allow_anonymous: false,
            skew: Duration::from_secs(900),
            region: None,
        }
    }

    fn signed_request(body: &[u8], now: i64) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4567".parse().unwrap());
        headers.insert(
            "x-amz-target",
            "Kinesis_20131202.ListStreams".parse().unwrap(),
        );
        let (date, auth) = sign(
            "POST",
            "/",
            "",
            &headers,
            body,
            "AKID",
            "secret",
            "us-east-1",
            "kinesis",
            now,
        );
        headers.insert("x-amz-date", date.parse().unwrap());
        headers.insert("authorization", auth.parse().unwrap());
        headers
    }

    fn parts<'a>(headers: &'a HeaderMap, body: &'a [u8]) -> RequestParts<'a> {
        RequestParts {
            method: "POST",
            path: "/",
            query: "",
            headers,
            authority: None,
            body,
            http2: false,
        }
    }

    #[test]
    fn sign_then_verify_and_every_tamper_fails() {
        let now = 1_700_000_000;
        let headers = signed_request(b"{}", now);
        let v = verifier();
        assert_eq!(
            v.verify(&parts(&headers, b"{}"), "kinesis", now),
            Ok(Identity::AccessKey("AKID".into()))
        );
        let code = |h: &HeaderMap, body: &[u8], service: &str, at: i64| {
            v.verify(&parts(h, body), service, at).unwrap_err().code
        };
        assert_eq!(
            code(&headers, b"{ }", "kinesis", now),
            "InvalidSignatureException"
        );
        assert_eq!(
            code(&headers, b"{}", "firehose", now),
            "InvalidSignatureException"
        );
        assert_eq!(
            code(&headers, b"{}", "kinesis", now + 901),
            "InvalidSignatureException"
        );
        assert_eq!(
            code(&headers, b"{}", "kinesis", now - 901),
            "InvalidSignatureException"
        );
        let mut other = headers.clone();
        other.insert(
            "x-amz-target",
            "Kinesis_20131202.DeleteStream".parse().unwrap(),
        );
        assert_eq!(
            code(&other, b"{}", "kinesis", now),
            "InvalidSignatureException"
        );
        let mut other = headers.clone();
        other.insert("host", "evil.example:4567".parse().unwrap());
        assert_eq!(
            code(&other, b"{}", "kinesis", now),
            "InvalidSignatureException"
        );
        let mut other = headers.clone();
        other.insert("x-amz-date", "20231114T221321Z".parse().unwrap());
        assert_eq!(
            code(&other, b"{}", "kinesis", now),
            "InvalidSignatureException"
        );
        let mut other = HeaderMap::new();
        other.insert("host", "127.0.0.1:4567".parse().unwrap());
        assert_eq!(
            code(&other, b"{}", "kinesis", now),
            "MissingAuthenticationTokenException"
        );
        let v2 = Verifier {
            keys: HashMap::new(),
            ..verifier()
        };
        assert_eq!(
            v2.verify(&parts(&headers, b"{}"), "kinesis", now)
                .unwrap_err()
                .code,
            "UnrecognizedClientException"
        );
        let mut other = headers.clone();
        other.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID".parse().unwrap(),
        );
        assert_eq!(
            code(&other, b"{}", "kinesis", now),
            "IncompleteSignatureException"
        );
    }

    #[test]
    fn host_must_be_signed_except_over_http2() {
        let now = 1_700_000_000;
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-amz-target",
            "Kinesis_20131202.ListStreams".parse().unwrap(),
        );
        let (date, auth) = sign(
            "POST",
            "/",
            "",
            &headers,
            b"{}",
            "AKID",
            "secret",
            "us-east-1",
            "kinesis",
            now,
        );
        headers.insert("x-amz-date", date.parse().unwrap());
        headers.insert("authorization", auth.parse().unwrap());
        let v = verifier();
        let mut p = parts(&headers, b"{}");
        assert_eq!(
            v.verify(&p, "kinesis", now).unwrap_err().code,
            "InvalidSignatureException"
        );
        p.http2 = true;
        assert!(v.verify(&p, "kinesis", now).is_ok());
    }

    #[test]
    fn presigned_requests_verify_until_they_expire() {
        let now = 1_700_000_000;
        let mut headers = HeaderMap::new();
        headers.insert("host", "127.0.0.1:4567".parse().unwrap());
        headers.insert(
            "x-amz-target",
            "Kinesis_20131202.ListStreams".parse().unwrap(),
        );
        let query = presign(
            "POST",
            "/",
            &headers,
            b"{}",
            "AKID",
            "secret",
            "us-east-1",
            "kinesis",
            now,
            60,
        );
        let v = verifier();
        let at = |q: &str, t: i64| {
            let p = RequestParts {
                query: q,
                ..parts(&headers, b"{}")
            };
            v.verify(&p, "kinesis", t)
        };
        let tampered = RequestParts {
            query: &query,
            ..parts(&headers, b"{\"Limit\":1}")
        };
        assert_eq!(
            v.verify(&tampered, "kinesis", now).unwrap_err().code,
            "InvalidSignatureException"
        );
        assert_eq!(at(&query, now + 30), Ok(Identity::AccessKey("AKID".into())));
        assert_eq!(
            at(&query, now + 61).unwrap_err().code,
            "InvalidSignatureException"
        );
        let forged = query.replace("X-Amz-Expires=60", "X-Amz-Expires=600");
        assert_eq!(
            at(&forged, now + 61).unwrap_err().code,
            "InvalidSignatureException"
        );
        let mut both = headers.clone();
        both.insert("authorization", "AWS4-HMAC-SHA256 x".parse().unwrap());
        let p = RequestParts {
            query: &query,
            ..parts(&both, b"")
        };
        assert_eq!(
            v.verify(&p, "kinesis", now).unwrap_err().code,
            "InvalidSignatureException"
        );
    }

    #[test]
    fn anonymous_only_when_enabled() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "h".parse().unwrap());
        let v = Verifier {
            allow_anonymous: true,
            ..verifier()
        };
        assert_eq!(
            v.verify(&parts(&headers, b""), "kinesis", 0),
            Ok(Identity::Anonymous)
        );
    }

    #[test]
    fn percent_decoding_is_total() {
        for s in ["%", "%4", "%zz", "a%41b", "+", "%ff%fe"] {
            let _ = percent_decode(s);
        }
        assert_eq!(percent_decode("a%41b"), "aAb");
    }
}
