//! What the README shows is what the code and `make demo` use.

use std::path::Path;

/// Every query of `docs/queries/` (which `make demo` runs) is in the README word for word.
#[test]
fn the_readme_shows_every_query_the_demo_runs_as_it_is() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let mut queries: Vec<_> = std::fs::read_dir(root.join("docs/queries"))
        .expect("docs/queries")
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "sql"))
        .collect();
    queries.sort();
    assert!(queries.len() >= 3, "docs/queries holds the demo's queries");
    for path in queries {
        let query = std::fs::read_to_string(&path).expect("a query");
        assert!(
            readme.contains(query.trim_end()),
            "README.md does not show {} as it is",
            path.display()
        );
    }
}
