//! The tests' own S3 client, independent of the harness's configuration.

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};

use super::env_or;

/// The stack's MinIO endpoint (`TUNEBENCH_S3_ENDPOINT`, else MinIO's default port).
pub fn endpoint() -> String {
    env_or("TUNEBENCH_S3_ENDPOINT", "http://127.0.0.1:9000")
}

/// A path-style client for `endpoint` with the stack's keys and region.
pub fn client(endpoint: &str) -> Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new(env_or("TUNEBENCH_S3_REGION", "us-east-1")))
        .credentials_provider(Credentials::new(
            env_or("TUNEBENCH_S3_ACCESS_KEY", "tunebench"),
            env_or("TUNEBENCH_S3_SECRET_KEY", "tunebench-secret"),
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .http_client(
            aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
                ))
                .build_https(),
        )
        .build();
    Client::from_conf(conf)
}
