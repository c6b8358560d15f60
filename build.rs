//! Build script: records the git commit the binary is built from, for `dondoc --version`, the
//! User-Agent and `dondoc_build_info` (`crate::GIT_COMMIT`).
//!
//! The commit comes from `DONDOC_GIT_COMMIT` when set (an image built without `.git`), else from
//! `git rev-parse --short=10 HEAD`; without git or outside a clone it is empty and the version
//! is the crate's version alone. Never fails the build.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=DONDOC_GIT_COMMIT");
    let from_env = std::env::var("DONDOC_GIT_COMMIT")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    let commit = match from_env {
        Some(c) => c,
        None => {
            // Rebuild when HEAD moves: HEAD itself, the branch it points to, packed refs.
            for path in [
                git(&["rev-parse", "--git-path", "HEAD"]),
                git(&["symbolic-ref", "-q", "HEAD"])
                    .and_then(|r| git(&["rev-parse", "--git-path", &r])),
                git(&["rev-parse", "--git-path", "packed-refs"]),
            ]
            .into_iter()
            .flatten()
            {
                if std::path::Path::new(&path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            git(&["rev-parse", "--short=10", "HEAD"]).unwrap_or_default()
        }
    };
    // Only what is safe in a version string and a User-Agent token.
    let commit: String = commit
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
        .take(40)
        .collect();
    println!("cargo:rustc-env=DONDOC_GIT_COMMIT={commit}");
    let long = if commit.is_empty() {
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
    } else {
        format!(
            "{}+{commit}",
            std::env::var("CARGO_PKG_VERSION").unwrap_or_default()
        )
    };
    println!("cargo:rustc-env=DONDOC_VERSION_LONG={long}");
}
