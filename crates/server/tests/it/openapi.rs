//! The OpenAPI document is generated from the handlers and DTOs; this snapshot test fails
//! when it drifts. After an intended change, regenerate with
//! `UPDATE_OPENAPI=1 cargo test -p orderly-server openapi` and commit the file.

#[test]
fn the_openapi_document_matches_its_snapshot() {
    let document = orderly_server::openapi(true)
        .to_pretty_json()
        .expect("the document serialises");
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");
    if std::env::var("UPDATE_OPENAPI").is_ok() {
        std::fs::write(path, format!("{document}\n")).expect("write the snapshot");
    }
    let snapshot =
        std::fs::read_to_string(path).expect("the snapshot exists; run with UPDATE_OPENAPI=1 once");
    assert_eq!(
        snapshot.trim_end(),
        document.trim_end(),
        "the OpenAPI document changed; review it and update the snapshot"
    );
    let parsed: serde_json::Value = serde_json::from_str(&document).expect("valid JSON");
    assert!(
        parsed["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.")
    );
    for path in [
        "/api/v1/orders",
        "/api/v1/orders/{id}/cancel",
        "/api/v1/test-clock/advance",
    ] {
        assert!(parsed["paths"][path].is_object(), "{path} is documented");
    }
    assert!(parsed["components"]["schemas"]["OrderDocument"].is_object());
    assert!(parsed["components"]["schemas"]["Problem"].is_object());
}
