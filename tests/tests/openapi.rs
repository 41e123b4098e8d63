//! `openapi.yaml` describes exactly the API the code serves: the same routes, a valid
//! document, and every error code the handler can answer.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use schedule_api::routes::ROUTES;
use serde_yaml::Value;

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

fn spec() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

/// Walks `keys` down from `value`; panics naming the first key that is missing.
fn at<'a>(value: &'a Value, keys: &[&str]) -> &'a Value {
    keys.iter().fold(value, |v, key| {
        v.get(*key)
            .unwrap_or_else(|| panic!("openapi.yaml has no `{}`", keys.join(".")))
    })
}

fn difference(
    left: &BTreeSet<(String, String)>,
    right: &BTreeSet<(String, String)>,
) -> Vec<String> {
    left.difference(right)
        .map(|(method, path)| format!("{method} {path}"))
        .collect()
}

#[test]
fn openapi_lists_exactly_the_routes_the_router_serves() {
    let spec = spec();
    let paths = at(&spec, &["paths"])
        .as_mapping()
        .expect("`paths` is a mapping");
    let mut documented = BTreeSet::new();
    for (path, item) in paths {
        let path = path.as_str().expect("path keys are strings");
        let item = item
            .as_mapping()
            .unwrap_or_else(|| panic!("path item {path} is a mapping"));
        for key in item.keys().filter_map(Value::as_str) {
            if HTTP_METHODS.contains(&key) {
                documented.insert((key.to_ascii_uppercase(), path.to_owned()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    assert_eq!(served.len(), ROUTES.len(), "ROUTES lists a route twice");

    let undocumented = difference(&served, &documented);
    let unserved = difference(&documented, &served);
    assert!(
        undocumented.is_empty() && unserved.is_empty(),
        "openapi.yaml and schedule_api::routes::ROUTES differ\n  served, not in openapi.yaml: {undocumented:?}\n  in openapi.yaml, not served: {unserved:?}"
    );
}

#[test]
fn openapi_spec_validates() {
    let root = workspace();
    let validator = root.join(".venv/bin/openapi-spec-validator");
    assert!(
        validator.is_file(),
        "{} is missing: run `make venv` (it installs openapi-spec-validator)",
        validator.display()
    );
    let output = Command::new(&validator)
        .arg("openapi.yaml")
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}; run `make venv`", validator.display()));
    assert!(
        output.status.success(),
        "openapi-spec-validator refused openapi.yaml ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Every `.rs` file under `dir`, recursively.
fn rust_sources(dir: &Path, found: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(path);
        }
    }
}

/// The `code` of every `ApiError::new(StatusCode::X, "code", …)` and `Self::new(…)` (the
/// helper constructors) in `source`: the string literal after `new(StatusCode::X,` (or
/// `new(http::StatusCode::X,`).
fn error_codes(source: &str, codes: &mut BTreeSet<String>) {
    for (start, _) in source.match_indices("new(") {
        let rest = source[start + "new(".len()..].trim_start();
        let rest = rest.strip_prefix("http::").unwrap_or(rest);
        let Some(rest) = rest.strip_prefix("StatusCode::") else {
            continue;
        };
        let Some((status, rest)) = rest.split_once(',') else {
            continue;
        };
        if !status
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let Some(literal) = rest.trim_start().strip_prefix('"') else {
            continue;
        };
        if let Some((code, _)) = literal.split_once('"') {
            codes.insert(code.to_owned());
        }
    }
}

/// The codes of the local API's own refusals (403 before the handler): the string literal
/// that opens each `Some((\"code\", \"message\"))` / `then_some((…))` tuple of its
/// `refusal` function, the code before `#[cfg(test)]` only.
fn local_refusal_codes(source: &str, codes: &mut BTreeSet<String>) {
    let source = source.split("#[cfg(test)]").next().unwrap_or(source);
    let start = source
        .find("fn refusal(")
        .expect("local_api.rs has a `fn refusal(`");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").unwrap_or(body.len())];
    for (at, _) in body.match_indices("((") {
        let rest = body[at + 2..].trim_start();
        let Some(literal) = rest.strip_prefix('"') else {
            continue;
        };
        if let Some((code, after)) = literal.split_once('"') {
            if after.trim_start().starts_with(',') {
                codes.insert(code.to_owned());
            }
        }
    }
}

#[test]
fn every_error_code_the_code_emits_is_documented() {
    let mut sources = Vec::new();
    rust_sources(&workspace().join("crates/schedule-api/src"), &mut sources);
    let mut emitted = BTreeSet::new();
    for path in &sources {
        let text = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        error_codes(&text, &mut emitted);
    }
    let local_api = workspace().join("crates/schedule-api/src/bin/local_api.rs");
    let text = std::fs::read_to_string(&local_api)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", local_api.display()));
    let mut local = BTreeSet::new();
    local_refusal_codes(&text, &mut local);
    assert!(
        local.contains("forbidden_host"),
        "the scan of local_api.rs missed `forbidden_host`; found {local:?}"
    );
    emitted.extend(local);
    // The scan found the constructors at all: guards against a scan that silently finds nothing.
    for known in [
        "invalid_request",
        "not_found",
        "dependency_unavailable",
        "internal",
        "run_in_progress",
    ] {
        assert!(
            emitted.contains(known),
            "the scan of crates/schedule-api/src missed `{known}`; found {emitted:?}"
        );
    }

    let spec = spec();
    let enumerated = at(
        &spec,
        &[
            "components",
            "schemas",
            "Error",
            "properties",
            "error",
            "properties",
            "code",
            "enum",
        ],
    );
    let documented: BTreeSet<String> = enumerated
        .as_sequence()
        .expect("the Error code enum is a list")
        .iter()
        .map(|code| code.as_str().expect("error codes are strings").to_owned())
        .collect();

    let undocumented: Vec<_> = emitted.difference(&documented).collect();
    let unused: Vec<_> = documented.difference(&emitted).collect();
    assert!(
        undocumented.is_empty() && unused.is_empty(),
        "the Error schema's code enum differs from the codes in crates/schedule-api/src\n  emitted, not documented: {undocumented:?}\n  documented, never emitted: {unused:?}"
    );
}
