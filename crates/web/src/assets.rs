//! The static files: the stylesheet and htmx, each served under a name that carries a hash
//! of its content, so browsers may keep them for a year and still never run a stale copy.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const HTMX: &[u8] = include_bytes!("../assets/htmx.min.js");
const CSS: &[u8] = include_bytes!("../assets/app.css");

/// The SHA-256 the vendored htmx must have (assets/VENDORED.md).
#[cfg(test)]
const HTMX_SHA256: &str = "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717";

struct Asset {
    name: String,
    bytes: &'static [u8],
    content_type: &'static str,
}

fn hashed(stem: &str, extension: &str, bytes: &'static [u8], content_type: &'static str) -> Asset {
    let hash = hex::encode(Sha256::digest(bytes));
    Asset {
        name: format!("{stem}.{}.{extension}", &hash[..12]),
        bytes,
        content_type,
    }
}

static ASSETS: LazyLock<[Asset; 2]> = LazyLock::new(|| {
    [
        hashed("app", "css", CSS, "text/css; charset=utf-8"),
        hashed("htmx", "min.js", HTMX, "text/javascript; charset=utf-8"),
    ]
});

/// The stylesheet's path.
pub fn css_path() -> String {
    format!("/assets/{}", ASSETS[0].name)
}

/// htmx's path.
pub fn htmx_path() -> String {
    format!("/assets/{}", ASSETS[1].name)
}

pub async fn asset(Path(name): Path<String>) -> Response {
    let Some(asset) = ASSETS.iter().find(|asset| asset.name == name) else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let mut response = asset.bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_htmx_is_the_one_recorded() {
        assert_eq!(hex::encode(Sha256::digest(HTMX)), HTMX_SHA256);
        assert!(htmx_path().starts_with("/assets/htmx."));
        assert_ne!(css_path(), htmx_path());
    }
}
