//! Blobs in S3-compatible object storage, through `object_store`. Several
//! Ferry nodes can share one bucket; a PUT that S3 has acknowledged is durable
//! there, so nothing is fsynced locally: a staged file is only a buffer for
//! the upload.

use std::io;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use tokio::io::AsyncWriteExt;

use super::{BlobReader, BlobStore};

/// Where and how to reach the bucket.
#[derive(Debug, Clone)]
pub struct S3Config {
    /// The bucket; it must exist.
    pub bucket: String,
    /// The endpoint of an S3-compatible service (`http://127.0.0.1:9000`);
    /// `None` for AWS itself.
    pub endpoint: Option<String>,
    /// The region (most S3-compatible services accept any).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// A prefix for every key, so one bucket can hold several consortia.
    pub prefix: String,
}

/// [`BlobStore`] over S3.
#[derive(Debug, Clone)]
pub struct S3BlobStore {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl S3BlobStore {
    /// Connects lazily: the first request reaches the service.
    pub fn new(config: &S3Config) -> io::Result<S3BlobStore> {
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key);
        if let Some(endpoint) = &config.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                // Self-hosted services are addressed by path, not bucket subdomain.
                .with_virtual_hosted_style_request(false)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder.build().map_err(io::Error::other)?;
        Ok(S3BlobStore {
            store: Arc::new(store),
            prefix: config.prefix.trim_matches('/').to_owned(),
        })
    }

    fn path(&self, key: &str) -> ObjectPath {
        if self.prefix.is_empty() {
            ObjectPath::from(key)
        } else {
            ObjectPath::from(format!("{}/{key}", self.prefix))
        }
    }
}

fn io_error(error: object_store::Error) -> io::Error {
    match error {
        object_store::Error::NotFound { .. } => io::Error::new(io::ErrorKind::NotFound, error),
        other => io::Error::other(other),
    }
}

impl BlobStore for S3BlobStore {
    fn put_file<'a>(&'a self, key: &'a str, staged: &'a Path) -> BoxFuture<'a, io::Result<()>> {
        async move {
            let mut file = tokio::fs::File::open(staged).await?;
            // Multipart above the writer's buffer, a single PUT below: large
            // instances are streamed, never held whole in memory.
            let mut writer = BufWriter::new(self.store.clone(), self.path(key));
            tokio::io::copy(&mut file, &mut writer).await?;
            writer.shutdown().await?;
            tokio::fs::remove_file(staged).await
        }
        .boxed()
    }

    fn put_bytes<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, io::Result<()>> {
        async move {
            self.store
                .put(&self.path(key), PutPayload::from(bytes))
                .await
                .map_err(io_error)?;
            Ok(())
        }
        .boxed()
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<BlobReader>> {
        async move {
            let result = self.store.get(&self.path(key)).await.map_err(io_error)?;
            let stream = result.into_stream().map_err(io_error).boxed();
            let reader: BlobReader = Box::pin(tokio_util::io::StreamReader::new(stream));
            Ok(reader)
        }
        .boxed()
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<()>> {
        async move {
            match self.store.delete(&self.path(key)).await {
                Ok(()) => Ok(()),
                Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(other) => Err(io::Error::other(other)),
            }
        }
        .boxed()
    }

    fn exists<'a>(&'a self, key: &'a str) -> BoxFuture<'a, io::Result<bool>> {
        async move {
            match self.store.head(&self.path(key)).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(other) => Err(io::Error::other(other)),
            }
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sit_under_the_prefix() {
        let config = S3Config {
            bucket: "b".into(),
            endpoint: Some("http://127.0.0.1:9".into()),
            region: "us-east-1".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            prefix: "/consortium-a/".into(),
        };
        let store = S3BlobStore::new(&config).expect("a client");
        assert_eq!(store.path("ab/cd/ef").as_ref(), "consortium-a/ab/cd/ef");
    }
}
