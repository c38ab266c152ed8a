//! Where recordings' files are kept: the data dir, or an S3-compatible object store through
//! `object_store` (files are written to the data dir while the call runs, and uploaded once it
//! has ended, since an object cannot be appended to).

use super::RecordingError;
use bytes::Bytes;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, PutPayload};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The storage of this node's recordings.
pub(crate) struct Storage {
    /// Files being written (and, without an object store, kept).
    pub dir: PathBuf,
    pub objects: Option<Arc<dyn ObjectStore>>,
}

fn storage_error(e: impl std::fmt::Display) -> RecordingError {
    RecordingError::Storage(e.to_string())
}

impl Storage {
    /// Storage in `dir`, and in the object store at `url` (`s3://bucket/prefix`) when given. The
    /// store's credentials, region and endpoint come from the usual `AWS_*` variables.
    pub fn new(dir: PathBuf, url: Option<&str>) -> Result<Storage, String> {
        let objects = match url {
            None => None,
            Some(url) => Some(object_store_at(url)?),
        };
        Ok(Storage { dir, objects })
    }

    pub fn local_path(&self, location: &str) -> PathBuf {
        self.dir.join(location)
    }

    /// The length of a local file; `None` when this node does not have it.
    pub async fn local_len(&self, location: &str) -> Result<Option<u64>, RecordingError> {
        let path = self.local_path(location);
        blocking(move || match std::fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(storage_error(e)),
        })
        .await
    }

    pub async fn read_local(&self, location: &str, range: Range<u64>) -> Result<Bytes, RecordingError> {
        let path = self.local_path(location);
        blocking(move || {
            use std::io::{Read, Seek, SeekFrom};
            let mut file = std::fs::File::open(&path).map_err(storage_error)?;
            file.seek(SeekFrom::Start(range.start)).map_err(storage_error)?;
            let mut out = Vec::with_capacity((range.end - range.start) as usize);
            file.take(range.end - range.start).read_to_end(&mut out).map_err(storage_error)?;
            Ok(Bytes::from(out))
        })
        .await
    }

    fn objects(&self) -> Result<&Arc<dyn ObjectStore>, RecordingError> {
        self.objects.as_ref().ok_or_else(|| {
            RecordingError::Storage(
                "the recording is in the object store, and this node has none configured (--recordings-url)"
                    .into(),
            )
        })
    }

    pub async fn object_len(&self, location: &str) -> Result<u64, RecordingError> {
        let meta = self.objects()?.head(&ObjectPath::from(location)).await.map_err(storage_error)?;
        Ok(meta.size)
    }

    pub async fn read_object(&self, location: &str, range: Range<u64>) -> Result<Bytes, RecordingError> {
        self.objects()?.get_range(&ObjectPath::from(location), range).await.map_err(storage_error)
    }

    /// Uploads a finished local file; the local copy stays until [`Storage::remove_local`]
    /// (once the record says where it is now, so a read in between finds one or the other).
    pub async fn upload(&self, location: &str) -> Result<(), RecordingError> {
        let path = self.local_path(location);
        let data = blocking(move || std::fs::read(&path).map_err(storage_error)).await?;
        self.objects()?
            .put(&ObjectPath::from(location), PutPayload::from(data))
            .await
            .map_err(storage_error)?;
        Ok(())
    }

    /// Removes the local copy of an uploaded recording.
    pub async fn remove_local(&self, location: &str) -> Result<(), RecordingError> {
        let path = self.local_path(location);
        blocking(move || remove_file(&path)).await
    }

    /// Deletes a recording's file wherever it is; one already gone is deleted.
    pub async fn delete(&self, location: &str, in_object_store: bool) -> Result<(), RecordingError> {
        if in_object_store {
            match self.objects()?.delete(&ObjectPath::from(location)).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(storage_error(e)),
            }
        }
        let path = self.local_path(location);
        blocking(move || remove_file(&path)).await
    }
}

fn remove_file(path: &Path) -> Result<(), RecordingError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(storage_error(e)),
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RecordingError> + Send + 'static,
) -> Result<T, RecordingError> {
    tokio::task::spawn_blocking(f).await.map_err(storage_error)?
}

/// An S3-compatible store at `s3://bucket/prefix`.
fn object_store_at(url: &str) -> Result<Arc<dyn ObjectStore>, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("--recordings-url {url:?} is not a URL: {e}"))?;
    if parsed.scheme() != "s3" {
        return Err(format!(
            "--recordings-url {url:?} must be s3://bucket/prefix (any S3-compatible store; set AWS_ENDPOINT for one that is not AWS)"
        ));
    }
    let bucket = parsed
        .host_str()
        .filter(|b| !b.is_empty())
        .ok_or_else(|| format!("--recordings-url {url:?} names no bucket"))?;
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|e| format!("--recordings-url {url:?}: {e}"))?;
    let prefix = parsed.path().trim_matches('/');
    Ok(if prefix.is_empty() { Arc::new(s3) } else { Arc::new(PrefixStore::new(s3, prefix)) })
}
