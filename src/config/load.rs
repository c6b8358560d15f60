//! Loading: the TOML file, then `DONDOC__SECTION__KEY` environment overrides, then secrets read
//! from `token_file` / `password_file`; then validation of the whole.
//!
//! Every problem is collected (a typo'd key, a wrong type, each failed rule of
//! [`super::validate`]) and reported together, each with its key path and the line of the file
//! where the key stands, so that an administrator fixes the file in one pass.

use super::types::Settings;
use config::{Config, Environment, File, FileFormat};
use secrecy::SecretString;
use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Key path such as `units[3].parent` or `sources.motcua.base_url`.
    pub path: String,
    pub message: String,
    /// Line of the file (1-based) where the key, or its nearest enclosing table, stands.
    pub line: Option<usize>,
}

impl Problem {
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            line: None,
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(l) => write!(f, "{} (line {l}): {}", self.path, self.message),
            None => write!(f, "{}: {}", self.path, self.message),
        }
    }
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "cannot read the configuration file {path}: {source}. Give another with --config FILE or \
         DONDOC_CONFIG, or copy config/dondoc.example.toml there"
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the configuration {} has {} problem(s):\n{}", file.display(), problems.len(), list(problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<Problem>,
    },
}

fn list(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A valid configuration and the file it came from.
#[derive(Debug, Clone)]
pub struct LoadedConfig {
    pub settings: Settings,
    pub file: PathBuf,
    /// What is valid but probably not meant ([`super::validate::warnings`]), with lines.
    pub warnings: Vec<Problem>,
}

/// Loads and validates `path`, with overrides from the process environment.
pub fn load(path: &Path) -> Result<LoadedConfig, ConfigError> {
    let env: HashMap<String, String> = std::env::vars().collect();
    load_with_env(path, &env)
}

/// Loads and validates `path` with the given environment (tests pass their own).
pub fn load_with_env(
    path: &Path,
    env: &HashMap<String, String>,
) -> Result<LoadedConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let settings = load_from_str(&text, env, base).map_err(|problems| ConfigError::Invalid {
        file: path.to_path_buf(),
        problems,
    })?;
    let warnings = match toml_edit::Document::parse(text.as_str()) {
        Ok(doc) => super::validate::warnings(&settings)
            .into_iter()
            .map(|w| with_line(w, &doc))
            .collect(),
        Err(_) => super::validate::warnings(&settings),
    };
    Ok(LoadedConfig {
        settings,
        file: path.to_path_buf(),
        warnings,
    })
}

/// Parses, overrides, reads secrets and validates a configuration text. `base` is the folder that
/// relative `*_file` paths are taken from (the configuration file's folder).
pub fn load_from_str(
    text: &str,
    env: &HashMap<String, String>,
    base: &Path,
) -> Result<Settings, Vec<Problem>> {
    let doc = match toml_edit::Document::parse(text) {
        Ok(d) => d,
        Err(e) => {
            let line = e.span().map(|s| line_of(text, s.start));
            return Err(vec![Problem {
                path: "(file)".into(),
                message: format!("not valid TOML: {}", e.message()),
                line,
            }]);
        }
    };

    let env_map: HashMap<String, String> = env
        .iter()
        .filter(|(k, _)| k.starts_with("DONDOC__"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let builder = || {
        Config::builder()
            .add_source(File::from_str(text, FileFormat::Toml))
            .add_source(
                Environment::with_prefix("DONDOC")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(env_map.clone())),
            )
    };
    let merged = match builder().build() {
        Ok(c) => c,
        Err(e) => return Err(vec![with_line(Problem::new("(file)", e.to_string()), &doc)]),
    };

    // Required keys are checked on the merged tree first, so that every missing one is reported
    // (serde would stop at the first). Each gets a placeholder so that the rest is still read and
    // validated; problems the placeholders themselves would cause are not reported.
    let tree: serde_json::Value = merged.try_deserialize().unwrap_or_default();
    let missing = missing_required(&tree);
    let mut problems: Vec<Problem> = missing
        .iter()
        .map(|(path, _)| Problem::new(path.clone(), "is required but missing"))
        .collect();
    let cfg = if missing.is_empty() {
        builder().build()
    } else {
        let mut b = builder();
        for (path, placeholder) in &missing {
            b = match b.set_override(path.as_str(), *placeholder) {
                Ok(b) => b,
                Err(e) => {
                    return Err(vec![with_line(
                        Problem::new(path.clone(), e.to_string()),
                        &doc,
                    )]);
                }
            };
        }
        b.build()
    };
    let cfg = match cfg {
        Ok(c) => c,
        Err(e) => return Err(vec![with_line(Problem::new("(file)", e.to_string()), &doc)]),
    };

    let mut unknown = Vec::new();
    let settings: Settings =
        match serde_ignored::deserialize(cfg, |p| unknown.push(render_path(&p))) {
            Ok(s) => s,
            Err(e) => {
                let (path, message) = describe_de_error(&e);
                problems.push(Problem::new(path, message));
                for u in unknown {
                    problems.push(Problem::new(
                        u,
                        "unknown key (a typo?): it is not part of dondoc's configuration",
                    ));
                }
                return Err(problems.into_iter().map(|p| with_line(p, &doc)).collect());
            }
        };
    for u in unknown {
        problems.push(Problem::new(
            u,
            "unknown key (a typo?): it is not part of dondoc's configuration",
        ));
    }

    let mut settings = settings;
    read_secret_files(&mut settings, base, &mut problems);
    let placeholders: Vec<&String> = missing.iter().map(|(p, _)| p).collect();
    problems.extend(
        super::validate::validate(&settings)
            .into_iter()
            .filter(|p| {
                !placeholders
                    .iter()
                    .any(|m| p.path == **m || p.path.starts_with(&format!("{m}[")))
            }),
    );
    if problems.is_empty() {
        Ok(settings)
    } else {
        Err(problems.into_iter().map(|p| with_line(p, &doc)).collect())
    }
}

/// The required keys that the merged configuration lacks, each with a placeholder value.
fn missing_required(tree: &serde_json::Value) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let absent = |v: &serde_json::Value, key: &str| v.get(key).is_none_or(|x| x.is_null());
    if let Some(sources) = tree.get("sources").and_then(|s| s.as_object()) {
        for (name, src) in sources {
            if !src.is_object() {
                continue;
            }
            // An import source reads a folder: it has no base_url.
            let import = src.get("kind").and_then(|k| k.as_str()) == Some("import");
            for (key, placeholder) in [("kind", "one_stop"), ("base_url", "")] {
                if absent(src, key) && !(import && key == "base_url") {
                    out.push((format!("sources.{name}.{key}"), placeholder));
                }
            }
        }
    }
    if let Some(smtp) = tree.get("smtp").filter(|s| s.is_object()) {
        for key in ["from"] {
            if absent(smtp, key) {
                out.push((format!("smtp.{key}"), ""));
            }
        }
    }
    for (list, keys) in [
        ("units", ["code", "name"]),
        ("scoped_targets", ["metric", "scope"]),
    ] {
        if let Some(items) = tree.get(list).and_then(|u| u.as_array()) {
            for (i, item) in items.iter().enumerate() {
                for key in keys {
                    if item.is_object() && absent(item, key) {
                        out.push((format!("{list}[{i}].{key}"), ""));
                    }
                }
            }
        }
    }
    out
}

/// The config crate writes `units[1]name`; dondoc's paths read `units[1].name`.
fn normalize_key(k: &str) -> String {
    let mut out = String::with_capacity(k.len() + 4);
    let mut prev = ' ';
    for c in k.chars() {
        if prev == ']' && c != '.' && c != '[' {
            out.push('.');
        }
        out.push(c);
        prev = c;
    }
    out
}

fn describe_de_error(e: &config::ConfigError) -> (String, String) {
    match e {
        config::ConfigError::Type {
            key: Some(k),
            unexpected,
            expected,
            ..
        } => (
            normalize_key(k),
            format!("expected {expected}, found {unexpected}"),
        ),
        config::ConfigError::NotFound(k) => (normalize_key(k), "is required but missing".into()),
        config::ConfigError::At {
            error,
            key: Some(k),
            ..
        } => {
            let (_, message) = describe_de_error(error);
            (normalize_key(k), message)
        }
        config::ConfigError::At {
            error, key: None, ..
        } => describe_de_error(error),
        config::ConfigError::Message(m) => match m.split_once(" for key `") {
            Some((msg, rest)) => (normalize_key(rest.trim_end_matches('`')), msg.to_string()),
            None => ("(file)".into(), m.clone()),
        },
        other => ("(file)".into(), other.to_string()),
    }
}

fn render_path(p: &serde_ignored::Path) -> String {
    use serde_ignored::Path as P;
    match p {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", render_path(parent)),
        P::Map { parent, key } => {
            let head = render_path(parent);
            if head.is_empty() {
                key.clone()
            } else {
                format!("{head}.{key}")
            }
        }
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            render_path(parent)
        }
    }
}

fn read_secret(
    inline: &mut Option<SecretString>,
    file: &Option<PathBuf>,
    path: &str,
    what: &str,
    base: &Path,
    problems: &mut Vec<Problem>,
) {
    let Some(f) = file else { return };
    if inline.is_some() {
        problems.push(Problem::new(
            format!("{path}_file"),
            format!("both {what} and {what}_file are set: keep one"),
        ));
        return;
    }
    let full = if f.is_absolute() {
        f.clone()
    } else {
        base.join(f)
    };
    match std::fs::read_to_string(&full) {
        Ok(s) => *inline = Some(SecretString::from(s.trim().to_string())),
        Err(e) => problems.push(Problem::new(
            format!("{path}_file"),
            format!("cannot read {}: {e}", full.display()),
        )),
    }
}

fn read_secret_files(s: &mut Settings, base: &Path, problems: &mut Vec<Problem>) {
    for (name, src) in s.sources.iter_mut() {
        let file = src.token_file.clone();
        read_secret(
            &mut src.token,
            &file,
            &format!("sources.{name}.token"),
            "token",
            base,
            problems,
        );
        if let Some(auth) = src.auth.as_mut() {
            let file = auth.password_file.clone();
            read_secret(
                &mut auth.password,
                &file,
                &format!("sources.{name}.auth.password"),
                "password",
                base,
                problems,
            );
        }
    }
    let file = s.http.password_file.clone();
    read_secret(
        &mut s.http.password,
        &file,
        "http.password",
        "password",
        base,
        problems,
    );
    if let Some(smtp) = s.smtp.as_mut() {
        let file = smtp.password_file.clone();
        read_secret(
            &mut smtp.password,
            &file,
            "smtp.password",
            "password",
            base,
            problems,
        );
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// Attaches the line of the key path (or of its nearest enclosing table) in the file.
fn with_line(mut p: Problem, doc: &toml_edit::Document<&str>) -> Problem {
    p.line = locate(doc, &p.path).map(|off| line_of(doc.raw(), off));
    p
}

fn locate(doc: &toml_edit::Document<&str>, path: &str) -> Option<usize> {
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best: Option<usize> = None;
    for part in path.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            let key_span = item
                .as_table_like()
                .and_then(|t| t.get_key_value(name))
                .and_then(|(k, _)| k.span());
            match item.get(name) {
                Some(next) => {
                    item = next;
                    best = key_span
                        .map(|s| s.start)
                        .or(item.span().map(|s| s.start))
                        .or(best);
                }
                None => return best,
            }
        }
        for idx in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            let Ok(i) = idx.parse::<usize>() else {
                return best;
            };
            match item.get(i) {
                Some(next) => {
                    item = next;
                    best = item.span().map(|s| s.start).or(best);
                }
                None => return best,
            }
        }
    }
    best
}
