//! Dashboard form bodies: URL-encoded or multipart (with uploaded files), read with limits,
//! kept as an ordered list of fields because a form repeats names (`modes`, `knowledge.remove`).

use super::page::DashboardError;
use crate::body::read_limited;
use actix_multipart::Multipart;
use actix_web::{web, HttpRequest};
use futures_util::StreamExt;
use voxgate_engine::ErrorCode;

/// Largest URL-encoded form.
pub const FORM_LIMIT: usize = 256 * 1024;
/// Largest uploaded knowledge file.
pub const FILE_LIMIT: usize = 512 * 1024;
/// Largest multipart body in all (a few files and the form around them).
pub const MULTIPART_LIMIT: usize = 4 * 1024 * 1024;

/// A file sent with a form.
#[derive(Debug, Clone)]
pub struct UploadedFile {
    pub field: String,
    pub filename: String,
    pub bytes: Vec<u8>,
}

/// A submitted form.
#[derive(Debug, Clone, Default)]
pub struct FormData {
    pub fields: Vec<(String, String)>,
    pub files: Vec<UploadedFile>,
}

impl FormData {
    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.fields.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    /// Files sent as `name` (an empty file input sends one nameless, empty part: skipped).
    pub fn files<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a UploadedFile> + 'a {
        self.files.iter().filter(move |f| f.field == name && !(f.filename.is_empty() && f.bytes.is_empty()))
    }
}

fn invalid(message: impl Into<String>) -> DashboardError {
    DashboardError::new(ErrorCode::InvalidRequest, message)
}

fn too_large(message: impl Into<String>) -> DashboardError {
    DashboardError::new(ErrorCode::PayloadTooLarge, message)
}

/// Reads a form body of either encoding.
pub async fn read_form(req: &HttpRequest, payload: web::Payload) -> Result<FormData, DashboardError> {
    let content_type =
        req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    if content_type.starts_with("multipart/form-data") {
        return read_multipart(req, payload).await;
    }
    if !content_type.starts_with("application/x-www-form-urlencoded") {
        return Err(DashboardError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "a dashboard form is sent as application/x-www-form-urlencoded or multipart/form-data, not {content_type:?}"
            ),
        ));
    }
    let body = read_limited(payload, FORM_LIMIT).await.map_err(|e| DashboardError::new(e.code, e.message))?;
    let fields = url::form_urlencoded::parse(&body).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    Ok(FormData { fields, files: Vec::new() })
}

async fn read_multipart(req: &HttpRequest, payload: web::Payload) -> Result<FormData, DashboardError> {
    let mut parts = Multipart::new(req.headers(), payload.into_inner());
    let mut form = FormData::default();
    let mut total = 0usize;
    while let Some(part) = parts.next().await {
        let mut part = part.map_err(|e| invalid(format!("the form could not be read: {e}")))?;
        let disposition = part.content_disposition().cloned();
        let name = disposition.as_ref().and_then(|d| d.get_name()).unwrap_or("").to_string();
        let filename = disposition.as_ref().and_then(|d| d.get_filename()).map(str::to_string);
        let limit = if filename.is_some() { FILE_LIMIT } else { FORM_LIMIT };
        let mut bytes = Vec::new();
        while let Some(chunk) = part.next().await {
            let chunk = chunk.map_err(|e| invalid(format!("the form could not be read: {e}")))?;
            total += chunk.len();
            if total > MULTIPART_LIMIT {
                return Err(too_large(format!("the form is larger than the {MULTIPART_LIMIT}-byte limit")));
            }
            if bytes.len() + chunk.len() > limit {
                let what =
                    filename.as_deref().map_or_else(|| format!("field {name}"), |f| format!("file {f:?}"));
                return Err(
                    too_large(format!("{what} is larger than the {limit}-byte limit")).with_field(&name)
                );
            }
            bytes.extend_from_slice(&chunk);
        }
        match filename {
            Some(filename) => form.files.push(UploadedFile { field: name, filename, bytes }),
            None => {
                let text = String::from_utf8(bytes)
                    .map_err(|_| invalid(format!("field {name} is not UTF-8 text")).with_field(&name))?;
                form.fields.push((name, text));
            }
        }
    }
    Ok(form)
}
