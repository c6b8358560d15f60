//! The layering of `src/lib.rs`, checked: no module imports a module above it.
//!
//! The table of layers lives in `src/lib.rs`'s `//!` doc (the block under "Layers, bottom to
//! top"), so the documentation a newcomer reads and the rule this test enforces are one text.
//! Every `crate::<module>` path in a module's non-comment source lines (its `#[cfg(test)]` part
//! excepted: a unit test may build its fixtures with anything) must name the module itself or a
//! module of a strictly lower layer. Constants of the crate root (`crate::VERSION`, …) are free.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// module → layer number, from lib.rs's doc table.
fn layers() -> BTreeMap<String, u32> {
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs is readable");
    let mut in_table = false;
    let mut out = BTreeMap::new();
    for line in lib.lines() {
        let Some(doc) = line.strip_prefix("//!") else {
            continue;
        };
        let doc = doc.trim();
        if doc.starts_with("Layers, bottom to top") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if doc == "```" && !out.is_empty() {
            break;
        }
        // `3  store, …   description`: a number, the modules, two spaces, free text.
        let mut parts = doc.splitn(2, char::is_whitespace);
        let Some(Ok(n)) = parts.next().map(str::parse::<u32>) else {
            continue;
        };
        let rest = parts.next().unwrap_or("").trim_start();
        let modules = rest.split("  ").next().unwrap_or("");
        for m in modules.split(',') {
            let m = m.trim();
            if !m.is_empty() {
                out.insert(m.to_string(), n);
            }
        }
    }
    assert!(
        !out.is_empty(),
        "src/lib.rs has no table under \"Layers, bottom to top\""
    );
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("src/ is readable").flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Files that are whole `#[cfg(test)] mod name;` modules (unit tests kept beside their module):
/// like the `#[cfg(test)]` tail of a file, they may build fixtures with anything.
fn test_modules(files: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(f).expect("a source file is readable");
        let mut after_cfg_test = false;
        for line in text.lines() {
            let t = line.trim();
            if let Some(name) = t.strip_prefix("mod ").and_then(|r| r.strip_suffix(';'))
                && after_cfg_test
            {
                let dir = f.parent().expect("a file has a folder");
                let stem = f.file_stem().expect("a file has a name");
                let base = if stem == "mod" || stem == "lib" {
                    dir.to_path_buf()
                } else {
                    dir.join(stem)
                };
                out.push(base.join(format!("{name}.rs")));
                out.push(base.join(name).join("mod.rs"));
            }
            after_cfg_test = t == "#[cfg(test)]";
        }
    }
    out
}

/// Every `crate::name` on a line, in order.
fn crate_paths(line: &str) -> Vec<&str> {
    let mut v = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `mycrate::`, `dondoc_crate::`
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end > 0 {
            v.push(&rest[..end]);
        }
    }
    v
}

#[test]
fn no_module_imports_a_module_above_it() {
    let layers = layers();
    let src = root().join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let test_only = test_modules(&files);
    let mut violations = Vec::new();
    let mut unknown = Vec::new();
    for f in &files {
        if test_only.contains(f) {
            continue;
        }
        let rel = f.strip_prefix(&src).expect("under src/");
        let first = rel.components().next().expect("a path");
        let module = first
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(&own) = layers.get(&module) else {
            unknown.push(module);
            continue;
        };
        let text = std::fs::read_to_string(f).expect("a source file is readable");
        for (no, line) in text.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("#[cfg(test)]") {
                break;
            }
            if t.starts_with("//") {
                continue;
            }
            for target in crate_paths(t) {
                if target == module || target.chars().next().is_some_and(char::is_uppercase) {
                    continue;
                }
                match layers.get(target) {
                    Some(&l) if l < own => {}
                    Some(&l) => violations.push(format!(
                        "src/{}:{}: {module} (layer {own}) imports {target} (layer {l})",
                        rel.display(),
                        no + 1
                    )),
                    None => unknown.push(target.to_string()),
                }
            }
        }
    }
    unknown.sort();
    unknown.dedup();
    assert!(
        unknown.is_empty(),
        "modules missing from lib.rs's layer table: {unknown:?}"
    );
    assert!(
        violations.is_empty(),
        "imports that point up the layers of src/lib.rs:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_layer_table_names_every_module_of_the_crate() {
    let layers = layers();
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs is readable");
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    for m in &declared {
        assert!(layers.contains_key(*m), "`{m}` is not in the layer table");
    }
    for m in layers.keys() {
        assert!(
            declared.contains(&m.as_str()),
            "the layer table names `{m}`, which lib.rs does not declare"
        );
    }
}

#[test]
fn the_scanner_sees_what_it_must() {
    assert_eq!(
        crate_paths("use crate::store::{Store, x}; let a = crate::domain::time::epoch(n);"),
        vec!["store", "domain"]
    );
    assert_eq!(crate_paths("mycrate::store::X"), Vec::<&str>::new());
}

/// README's "Where things live" names paths that exist, and names every module of `src/`.
#[test]
fn the_readme_map_matches_the_tree() {
    let readme = std::fs::read_to_string(root().join("README.md")).expect("README.md is readable");
    let start = readme
        .find("## Where things live")
        .expect("README.md has a \"Where things live\" section");
    let section = &readme[start..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |i| i + 3)];
    let mut named = Vec::new();
    for cell in section.split('`').skip(1).step_by(2) {
        let looks_like_path = cell.starts_with("src/")
            || cell.starts_with("migrations/")
            || cell.starts_with("tests/")
            || cell.starts_with("scripts/")
            || cell.starts_with("deploy/")
            || cell.starts_with("config/")
            || cell.starts_with("docs/")
            || cell == "build.rs";
        if looks_like_path {
            assert!(
                root().join(cell).exists(),
                "README's \"Where things live\" names `{cell}`, which does not exist"
            );
            named.push(cell.to_string());
        }
    }
    for m in layers().keys() {
        let dir = format!("src/{m}/");
        let file = format!("src/{m}.rs");
        assert!(
            named.iter().any(|n| *n == dir || *n == file),
            "README's \"Where things live\" does not name module `{m}` (`{dir}` or `{file}`)"
        );
    }
}
