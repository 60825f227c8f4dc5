//! Reads a history of results files from an S3 prefix (MinIO or AWS), with the same
//! TUNEBENCH_S3_* variables the S3 targets use. Credentials go only to the client.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::error::{Error, InputIssue, Result};
use crate::results::Results;

pub(crate) const VARS: &str = "TUNEBENCH_S3_ENDPOINT (e.g. http://127.0.0.1:9000; unset for AWS), TUNEBENCH_S3_ACCESS_KEY, TUNEBENCH_S3_SECRET_KEY, TUNEBENCH_S3_REGION (default us-east-1)";

/// A client from the TUNEBENCH_S3_* variables and the endpoint's name; `what` (e.g.
/// `--history s3://...`) names the flag in the error when they are missing.
pub(crate) fn client(what: &str) -> Result<(Client, String)> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(key), Some(secret)) = (
        var("TUNEBENCH_S3_ACCESS_KEY"),
        var("TUNEBENCH_S3_SECRET_KEY"),
    ) else {
        return Err(Error::Usage(format!(
            "{what}: set TUNEBENCH_S3_ACCESS_KEY and TUNEBENCH_S3_SECRET_KEY; read: {VARS}"
        )));
    };
    let region = var("TUNEBENCH_S3_REGION").unwrap_or_else(|| "us-east-1".into());
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region))
        .credentials_provider(Credentials::new(
            key,
            secret,
            None,
            None,
            "tunebench-history",
        ))
        .http_client(http);
    let endpoint = match var("TUNEBENCH_S3_ENDPOINT") {
        Some(e) => {
            // MinIO serves buckets as paths, not as host names.
            conf = conf
                .endpoint_url(e.trim_end_matches('/'))
                .force_path_style(true);
            e
        }
        None => "AWS S3".into(),
    };
    Ok((Client::from_conf(conf.build()), endpoint))
}

/// Every object named `results.json` under the prefix, parsed.
pub async fn load(bucket: &str, prefix: &str) -> Result<Vec<(String, Results)>> {
    let (client, endpoint) = client("--history s3://...")?;
    let url = format!("s3://{bucket}/{prefix}");
    let fail = |what: &str, code: Option<&str>, detail: String| {
        let msg = format!("{what} {url} at {endpoint}: {detail}");
        match code {
            // The server answered that the request is wrong: the user's input, not an outage.
            Some(_) => Error::Usage(format!(
                "--history {msg} (check the bucket, the prefix and {VARS})"
            )),
            None => Error::target("--history", msg),
        }
    };
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            use aws_sdk_s3::error::ProvideErrorMetadata;
            fail("listing", e.code(), crate::backend::s3::describe(&e))
        })?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .filter(|k| *k == "results.json" || k.ends_with("/results.json"))
                .map(str::to_string),
        );
    }
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let label = format!("s3://{bucket}/{key}");
        let issue = |msg: String| Error::input(InputIssue::new(&label, "", msg));
        let obj = client
            .get_object()
            .bucket(bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| {
                use aws_sdk_s3::error::ProvideErrorMetadata;
                fail("reading", e.code(), crate::backend::s3::describe(&e))
            })?;
        let bytes = obj
            .body
            .collect()
            .await
            .map_err(|e| issue(format!("cannot read the object: {e}")))?
            .into_bytes();
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| issue("is not UTF-8 text: not a tunebench results file".into()))?;
        out.push((
            label.clone(),
            Results::parse(text, std::path::Path::new(&label))?,
        ));
    }
    Ok(out)
}
