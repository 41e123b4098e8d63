//! `openapi.yaml` describes exactly the API the code serves: the same routes, a valid
//! document, and every error code the API can answer (`ErrorCode::ALL`).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use schedule_api::error::ErrorCode;
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

#[test]
fn every_error_code_the_code_emits_is_documented() {
    let emitted: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|code| code.as_str().to_owned())
        .collect();
    assert_eq!(
        emitted.len(),
        ErrorCode::ALL.len(),
        "ErrorCode::ALL lists a code twice"
    );

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
        "the Error schema's code enum differs from schedule_api::error::ErrorCode::ALL\n  emitted, not documented: {undocumented:?}\n  documented, never emitted: {unused:?}"
    );
}
