//! Evidence files (SPEC 16.4): what a file is, judged by its first bytes rather than its
//! name, and whether its name agrees. A PNG named `.pdf` is refused: a person opening it
//! would be misled, and a mismatch is the usual sign of a file passed off as another.

/// The media type of `bytes`, if it is one evidence may be: JPEG, PNG, WebP or PDF.
pub fn sniff(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if bytes.starts_with(b"%PDF-") {
        Some("application/pdf")
    } else {
        None
    }
}

/// Whether `filename`'s extension, if it has one, names `content_type`.
pub fn name_agrees(filename: &str, content_type: &str) -> bool {
    let Some((_, extension)) = filename.rsplit_once('.') else {
        return true;
    };
    let extension = extension.to_ascii_lowercase();
    match content_type {
        "image/jpeg" => matches!(extension.as_str(), "jpg" | "jpeg" | "jfif"),
        "image/png" => extension == "png",
        "image/webp" => extension == "webp",
        "application/pdf" => extension == "pdf",
        _ => false,
    }
}

/// A name safe to offer as a download: the last path part, printable, at most 200
/// characters; `evidence` when nothing is left.
pub fn clean_name(filename: &str) -> String {
    let last = filename.rsplit(['/', '\\']).next().unwrap_or("");
    let cleaned: String = last
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(orderly_domain::order::decide::FILENAME_LEN_MAX)
        .collect();
    let cleaned = cleaned.trim().to_owned();
    if cleaned.is_empty() {
        "evidence".into()
    } else {
        cleaned
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_judged_by_their_content_and_their_names_must_agree() {
        let png = b"\x89PNG\r\n\x1a\n0000";
        assert_eq!(sniff(png), Some("image/png"));
        assert_eq!(sniff(b"%PDF-1.7 ..."), Some("application/pdf"));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF\x00\x00\x00\x00WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff(b"<html>"), None);
        assert!(name_agrees("photo.PNG", "image/png"));
        assert!(!name_agrees("receipt.pdf", "image/png"));
        assert!(name_agrees("scan", "application/pdf"));
        assert_eq!(clean_name("../../etc/pass\"wd.pdf"), "passwd.pdf");
        assert_eq!(clean_name(""), "evidence");
    }
}
