//! The documents a newcomer reads: every relative link in README.md and docs/*.md resolves
//! (files and `#anchors`), the README's `alarmhub decode` examples run as pasted (the real
//! binary), the declared licence has its files, and the release profile ships without debug
//! info while benchmarks keep symbols.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The documents checked: README.md and every docs/*.md.
fn documents() -> Vec<PathBuf> {
    let mut docs = vec![root().join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

/// Markdown text outside fenced code blocks.
fn prose(text: &str) -> String {
    let mut fenced = false;
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Targets of `[text](target)` links (and `![alt](target)` images).
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            found.push(rest[..end].trim().to_string());
        }
    }
    found
}

/// GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

fn anchors(markdown: &str) -> Vec<String> {
    prose(markdown)
        .lines()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

#[test]
fn every_relative_link_in_the_documents_resolves() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = read(&doc);
        for target in links(&prose(&text)) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, fragment) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let path = if file.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(file)
            };
            if !path.exists() {
                broken.push(format!("{}: {target}: no such file", doc.display()));
                continue;
            }
            if let Some(fragment) = fragment {
                let is_md = path.extension().is_some_and(|e| e == "md");
                if is_md && !anchors(&read(&path)).iter().any(|a| a == fragment) {
                    broken.push(format!("{}: {target}: no such heading", doc.display()));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_checker_sees_links_and_anchors() {
    let md = "# Web console\n[a](x.md) ![b](docs/y.png)\n```\n[not](a link)\n```\n";
    assert_eq!(links(&prose(md)), vec!["x.md", "docs/y.png"]);
    assert_eq!(anchors(md), vec!["web-console"]);
    assert_eq!(
        anchor("`alarmhub decode` — see what a panel sent"),
        "alarmhub-decode--see-what-a-panel-sent"
    );
}

/// The README's `alarmhub decode …` lines with a frame argument (not `-`, which reads a
/// capture file), run through `sh` as pasted, with `alarmhub` being the binary under test.
#[test]
fn the_readme_decode_examples_work_as_pasted() {
    let readme = read(&root().join("README.md"));
    let examples: Vec<&str> = readme
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with("alarmhub decode ") && !l.starts_with("alarmhub decode - "))
        .collect();
    assert!(examples.len() >= 3, "{examples:?}");
    assert!(
        examples.iter().filter(|l| l.contains("--key ")).count() >= 2,
        "encrypted examples: {examples:?}"
    );
    let dir = Path::new(env!("CARGO_BIN_EXE_alarmhub")).parent().unwrap();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for line in examples {
        let out = Command::new("sh")
            .arg("-c")
            .arg(line)
            .env("PATH", &path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{line}\n{out:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(!stdout.is_empty(), "{line}");
        for frame in stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(frame).unwrap();
            assert!(v.get("error").is_none(), "{line}\n{frame}");
            if line.contains("--key ") {
                // Decrypted: the data block is read, not left as ciphertext.
                assert_ne!(v["data"], "encrypted", "{line}\n{frame}");
                assert_eq!(v["encrypted"], true, "{line}\n{frame}");
            }
        }
    }
}

#[test]
fn the_declared_licence_has_its_files() {
    let manifest: toml::Table = read(&root().join("Cargo.toml")).parse().unwrap();
    let license = manifest["workspace"]["package"]["license"]
        .as_str()
        .unwrap();
    let files = [
        ("MIT", "LICENSE-MIT", "Permission is hereby granted"),
        ("Apache-2.0", "LICENSE-APACHE", "Apache License"),
    ];
    let ids: Vec<&str> = license.split(" OR ").collect();
    assert!(!ids.is_empty());
    for id in ids {
        let (_, file, text) = files
            .iter()
            .find(|(spdx, _, _)| *spdx == id)
            .unwrap_or_else(|| panic!("licence {id} has no file in the repository"));
        assert!(read(&root().join(file)).contains(text), "{file}");
        assert!(
            read(&root().join("README.md")).contains(&format!("]({file})")),
            "README links {file}"
        );
    }
}

#[test]
fn release_builds_carry_no_debug_info_and_benchmarks_keep_symbols() {
    let manifest: toml::Table = read(&root().join("Cargo.toml")).parse().unwrap();
    let profile = manifest["profile"].as_table().unwrap();
    let release = profile["release"].as_table().unwrap();
    assert!(
        matches!(
            release.get("debug"),
            None | Some(toml::Value::Boolean(false)) | Some(toml::Value::Integer(0))
        ),
        "{release:?}"
    );
    assert!(
        matches!(
            release.get("strip").and_then(|s| s.as_str()),
            Some("debuginfo" | "symbols")
        ),
        "{release:?}"
    );
    let bench = profile["bench"].as_table().unwrap();
    assert!(
        !matches!(
            bench.get("debug"),
            None | Some(toml::Value::Boolean(false)) | Some(toml::Value::Integer(0))
        ),
        "{bench:?}"
    );
    assert_eq!(
        bench.get("strip").and_then(|s| s.as_str()),
        Some("none"),
        "{bench:?}"
    );
}
