//! S3 / MinIO: the client (path-style, no retries, so every measured request is one
//! request), the per-worker executor, bucket ownership, profiles and server evidence.

mod bucket;
mod checks;
mod drill;
mod evidence;
mod exec;
mod journal;
mod metrics;
mod profile;
mod server;
pub mod spec;
mod store;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    retry::RetryConfig, timeout::TimeoutConfig,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

pub use checks::{CHECK_HELP, CHECK_NAMES, S3Check, parse_check};
pub use evidence::{BucketConfig, S3Evidence, SeriesPoint, TtfbSummary};
pub use exec::S3Exec;
pub use profile::AppliedS3;
pub use store::S3Store;

use crate::backend::model::Target;
use crate::driver::OpError;
use crate::error::Error;

/// What an S3 target's workloads read and write.
pub enum S3Data {
    /// tunebench's own objects dataset, in its `tunebench-` bucket.
    Objects(crate::dataset::objects::ObjectSet),
    /// Buckets tunebench did not create: each (bucket, prefix) the workloads without a
    /// dataset read, listed once before any clock (`readiness`).
    Foreign(Vec<Listed>),
}

/// A bucket and prefix tunebench did not create, with its listing once taken.
pub struct Listed {
    pub place: spec::Place,
    /// (key, size) of up to [`spec::MAX_LISTED`] objects under the prefix.
    pub objects: std::sync::OnceLock<Vec<(String, u64)>>,
}

impl S3Data {
    pub fn objects(&self) -> Option<&crate::dataset::objects::ObjectSet> {
        match self {
            S3Data::Objects(o) => Some(o),
            S3Data::Foreign(_) => None,
        }
    }

    pub fn listed(&self, i: usize) -> Option<&Listed> {
        match self {
            S3Data::Foreign(l) => l.get(i),
            S3Data::Objects(_) => None,
        }
    }
}

/// The tag tunebench puts on buckets it creates; a bucket without it is never touched.
pub const OWNER_TAG: (&str, &str) = ("tunebench-owner", "tunebench");

/// A new HTTP client with its own connection pool.
fn http_client() -> aws_sdk_s3::config::SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A client like `base` (same endpoint, credentials and settings) with its own connection
/// pool: a worker's connections then live on the thread (and runtime) that runs it, and
/// never outlive it in a pool another runtime would reuse.
pub fn own_pool(base: &aws_sdk_s3::Config) -> Client {
    Client::from_conf(base.to_builder().http_client(http_client()).build())
}

pub fn client(target: &Target, opts: &spec::S3Target) -> Client {
    let creds = Credentials::new(
        opts.access_key.clone(),
        opts.secret_key.clone(),
        None,
        None,
        "tunebench-scenario",
    );
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(target.url.trim_end_matches('/'))
        .region(Region::new(
            opts.region.clone().unwrap_or_else(|| "us-east-1".into()),
        ))
        .credentials_provider(creds)
        // MinIO serves buckets as paths, not as host names.
        .force_path_style(true)
        .http_client(http_client())
        // The harness verifies every byte it reads itself; SDK checksums would add CPU work
        // on both sides that a plain client does not do.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        // A retried request would hide a failure inside one measured latency.
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(target.pool_connect_timeout)
                .build(),
        )
        .build();
    Client::from_conf(conf)
}

/// A runtime error about the target, naming it by its endpoint and access key (never the
/// secret key).
pub fn target_error<E, R>(target: &Target, what: &str, e: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    crate::backend::model::target_error(target, what, describe(&e))
}

/// The S3 error code and message when the server answered, else the transport failure.
pub fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.code() {
        Some(code) => format!(
            "{code}: {}{}",
            e.message().unwrap_or("(no message)"),
            match code {
                "InvalidAccessKeyId" | "SignatureDoesNotMatch" =>
                    " (check access_key / secret_key)",
                _ => "",
            }
        ),
        None => format!("{}", DisplayErrorContext(e)),
    }
}

/// Classifies a failed operation for the per-kind error counts.
pub fn op_error<E, R>(e: SdkError<E, R>) -> OpError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let kind = match (&e, e.code()) {
        (_, Some(code)) => format!("s3:{code}"),
        (SdkError::TimeoutError(_), _) => "timeout".into(),
        (SdkError::DispatchFailure(_), _) => "connection".into(),
        _ => "response".into(),
    };
    OpError {
        kind,
        message: describe(&e),
    }
}
