//! `docs/api.md` is run, not just read: its `sh` blocks are played in order in one bash
//! session against a freshly started `orderly serve --test-clock`, with the binary on
//! `PATH`, and each block's output must be the JSON of the `json` block written after it
//! (a string `"…"` there stands for any value: ids, tokens, times). A block with no `json`
//! block after it must print nothing. So the document cannot drift from the server.

use std::process::Stdio;

use serde_json::Value;

use crate::support::{ADMIN_TOKEN, start};

struct Block {
    line: usize,
    code: String,
    expected: Option<String>,
}

/// The `sh` blocks of the document, each with the `json` block that follows it, if any.
fn blocks(document: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut lines = document.lines().enumerate();
    let mut last_was_sh = false;
    while let Some((number, line)) = lines.next() {
        let fence = line.trim_end();
        if fence == "```sh" || fence == "```json" {
            let body: Vec<&str> = lines
                .by_ref()
                .map(|(_, line)| line)
                .take_while(|line| line.trim_end() != "```")
                .collect();
            let body = body.join("\n");
            if fence == "```sh" {
                blocks.push(Block {
                    line: number + 1,
                    code: body,
                    expected: None,
                });
                last_was_sh = true;
            } else {
                let block = blocks
                    .last_mut()
                    .filter(|_| last_was_sh)
                    .unwrap_or_else(|| {
                        panic!(
                            "docs/api.md:{}: a json block must follow an sh block",
                            number + 1
                        )
                    });
                block.expected = Some(body);
                last_was_sh = false;
            }
        } else if !line.trim().is_empty() {
            last_was_sh = false;
        }
    }
    blocks
}

fn json_stream(text: &str) -> Result<Vec<Value>, serde_json::Error> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect()
}

/// Whether `actual` is `expected`, where an expected `"…"` matches anything.
fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(wildcard), _) if wildcard == "…" => true,
        (Value::Array(expected), Value::Array(actual)) => {
            expected.len() == actual.len()
                && expected.iter().zip(actual).all(|(e, a)| matches(e, a))
        }
        (Value::Object(expected), Value::Object(actual)) => {
            expected.len() == actual.len()
                && expected
                    .iter()
                    .all(|(key, e)| actual.get(key).is_some_and(|a| matches(e, a)))
        }
        _ => expected == actual,
    }
}

#[tokio::test]
async fn the_api_walkthrough_answers_as_the_document_says() {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let document = std::fs::read_to_string(repository.join("docs/api.md")).expect("docs/api.md");
    let blocks = blocks(&document);
    assert!(blocks.len() > 20, "the walkthrough has its blocks");

    let database = orderly_testkit::TestDb::sqlite();
    let (mut server, url) = start(&database.url).await;
    let mut script = String::from("set -euo pipefail\n");
    for (index, block) in blocks.iter().enumerate() {
        script.push_str(&block.code);
        script.push_str(&format!("\necho '@@block {index}@@'\n"));
    }
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_orderly"));
    let path = format!(
        "{}:{}",
        binary.parent().expect("a directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let work = std::env::temp_dir().join(format!(
        "orderly-walkthrough-{}",
        orderly_app::service::new_id().simple()
    ));
    std::fs::create_dir_all(&work).expect("a working directory");
    let output = tokio::process::Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(&work)
        .env("U", &url)
        .env("A", ADMIN_TOKEN)
        .env("PATH", path)
        .stdin(Stdio::null())
        .output()
        .await
        .expect("bash runs");
    let _ = std::fs::remove_dir_all(&work);
    server.kill().await.expect("stopped");
    database.drop_database().await;

    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut rest: &str = &stdout;
    let mut differences = Vec::new();
    for (index, block) in blocks.iter().enumerate() {
        let marker = format!("@@block {index}@@\n");
        let Some((printed, after)) = rest.split_once(&marker) else {
            panic!(
                "docs/api.md:{}: the walkthrough stopped in this block:\n{}\n--- it printed:\n{rest}\n--- stderr:\n{}",
                block.line,
                block.code,
                String::from_utf8_lossy(&output.stderr)
            );
        };
        rest = after;
        match &block.expected {
            None => {
                if !printed.trim().is_empty() {
                    differences.push(format!(
                        "docs/api.md:{}: this block prints something the document does not show:\n{}\n--- it printed:\n{printed}",
                        block.line, block.code
                    ));
                }
            }
            Some(expected) => {
                let want = json_stream(expected).unwrap_or_else(|error| {
                    panic!(
                        "docs/api.md:{}: the json block after this one: {error}",
                        block.line
                    )
                });
                let got = json_stream(printed).unwrap_or_else(|error| {
                    panic!(
                        "docs/api.md:{}: the block printed what is not JSON ({error}):\n{printed}",
                        block.line
                    )
                });
                let same =
                    want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| matches(w, g));
                if !same {
                    differences.push(format!(
                        "docs/api.md:{}: the answer differs from the document.\n{}\n--- the document says:\n{expected}\n--- the server said:\n{}",
                        block.line,
                        block.code,
                        got.iter()
                            .map(|value| value.to_string())
                            .collect::<Vec<_>>()
                            .join("\n")
                    ));
                }
            }
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n\n"));
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_wildcard_matches_anything_and_nothing_else_is_loose() {
    let expected =
        serde_json::json!({"id": "…", "status": "cancelled", "refunds": [{"amount": 3500}]});
    assert!(matches(
        &expected,
        &serde_json::json!({"id": 7, "status": "cancelled", "refunds": [{"amount": 3500}]})
    ));
    assert!(!matches(
        &expected,
        &serde_json::json!({"id": 7, "status": "closed", "refunds": [{"amount": 3500}]})
    ));
    assert!(!matches(
        &expected,
        &serde_json::json!({"id": 7, "status": "cancelled", "refunds": []})
    ));
    assert!(!matches(
        &expected,
        &serde_json::json!({"id": 7, "status": "cancelled", "refunds": [{"amount": 3500}], "extra": 1})
    ));
}

#[test]
fn every_action_code_is_mapped_to_its_endpoint_in_the_document() {
    let repository = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let document = std::fs::read_to_string(repository.join("docs/api.md")).expect("docs/api.md");
    let table: Vec<&str> = document
        .lines()
        .skip_while(|line| !line.starts_with("## Action codes and their endpoints"))
        .filter(|line| line.starts_with("| `"))
        .collect();
    for action in orderly_domain::Action::ALL {
        let code = format!("`{}`", action.code());
        assert!(
            table.iter().any(|row| row
                .split('|')
                .nth(1)
                .is_some_and(|cell| cell.contains(&code))),
            "docs/api.md maps no endpoint to {code}"
        );
    }
}

/// Every `../` path in `text`, written in the file at `dir`, that leads out of `root`.
fn paths_above(root: &std::path::Path, dir: &std::path::Path, text: &str) -> Vec<String> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "._/-".contains(c);
    let mut found = Vec::new();
    for (start, _) in text.match_indices("../") {
        if start > 0 && text[..start].ends_with(|c: char| allowed(c) && c != '/') {
            continue; // the middle of a longer token, seen from its start
        }
        let token: String = text[start..].chars().take_while(|c| allowed(*c)).collect();
        let mut depth: Vec<&std::ffi::OsStr> = dir
            .strip_prefix(root)
            .map(|relative| relative.iter().collect())
            .unwrap_or_default();
        let mut escapes = false;
        for part in std::path::Path::new(&token).iter() {
            if part == ".." {
                if depth.pop().is_none() {
                    escapes = true;
                    break;
                }
            } else if part != "." {
                depth.push(part);
            }
        }
        if escapes {
            found.push(token);
        }
    }
    found
}

#[test]
fn the_repository_explains_itself_without_files_outside_it() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository");
    let mut pending = vec![root.clone()];
    let mut outside = Vec::new();
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("a directory") {
            let path = entry.expect("an entry").path();
            let name = path
                .file_name()
                .and_then(|name| name.to_str())
                .unwrap_or("");
            if path.is_dir() {
                // Tests may point at fixtures wherever they like; build output is not ours.
                if !matches!(name, "target" | ".git" | "tests" | "node_modules") {
                    pending.push(path);
                }
                continue;
            }
            let Ok(text) = std::fs::read_to_string(&path) else {
                continue; // not text
            };
            for token in paths_above(&root, &dir, &text) {
                outside.push(format!(
                    "{}: {token}",
                    path.strip_prefix(&root).expect("inside").display()
                ));
            }
            // What a user reads must not cite documents they do not have.
            let read_by_users =
                name.ends_with(".md") || name == "openapi.json" || name == "config.rs";
            if read_by_users
                && (text.contains("SPEC") || (0..10).any(|n| text.contains(&format!("[00{n}]"))))
            {
                outside.push(format!(
                    "{}: cites SPEC or a source guide by number",
                    path.strip_prefix(&root).expect("inside").display()
                ));
            }
        }
    }
    assert!(
        outside.is_empty(),
        "references to files outside the repository:\n{}",
        outside.join("\n")
    );
}

#[test]
fn a_path_above_the_repository_is_found_and_one_inside_is_not() {
    let root = std::path::Path::new("/repo");
    let dir = std::path::Path::new("/repo/docs");
    assert_eq!(
        paths_above(root, root, "see ../shared/SPEC.md"),
        ["../shared/SPEC.md"]
    );
    assert_eq!(
        paths_above(root, dir, "see ../../shared/SPEC.md"),
        ["../../shared/SPEC.md"]
    );
    assert_eq!(
        paths_above(root, dir, "see ../crates/web and ../README.md"),
        Vec::<String>::new()
    );
    assert_eq!(paths_above(root, root, "join(\"../..\")"), ["../.."]);
}
