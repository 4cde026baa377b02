//! The repository stands alone: no tracked file refers to a path outside it, every
//! `docs/*.md` a file names exists, and every `tests/fixtures/…` path a file names exists.
//! A clone with nothing beside it must build, test and read correctly.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The directory that used to sit beside the repository; written in two pieces so that this
/// file does not name it.
const OUTSIDE_DIR: &str = concat!("..", "/shared");
/// One step up in a relative path.
const PARENT: &str = concat!("..", "/");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file git tracks, relative to the repository root. Fails when git cannot say.
fn tracked_files(repo: &Path) -> Vec<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["ls-files", "-z", "--cached"])
        .output()
        .unwrap_or_else(|e| {
            panic!("this test lists the tracked files with `git ls-files`, but git could not be run: {e}; install git")
        });
    assert!(
        out.status.success(),
        "`git ls-files` failed in {} ({}): {}; this test needs a git checkout of the repository",
        repo.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    let files: Vec<String> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect();
    assert!(
        !files.is_empty(),
        "`git ls-files` listed no files in {}",
        repo.display()
    );
    files
}

/// The text of a tracked file, or `None` for binary files and files missing from the work tree.
fn text_of(repo: &Path, file: &str) -> Option<String> {
    let bytes = std::fs::read(repo.join(file)).ok()?;
    if bytes.contains(&0) {
        return None;
    }
    String::from_utf8(bytes).ok()
}

/// A character that can be part of a path segment.
fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/')
}

/// Whether `rest` (what follows a run of parent steps) starts with a named path segment:
/// a name, or a hidden name such as `.config`, but not another `..`.
fn starts_with_segment(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphanumeric() || c == '_' => true,
        Some('.') => chars
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_'),
        _ => false,
    }
}

/// Whether a Rust line resolves its relative paths against the file's own directory
/// (`#[path]`, `include_str!` and friends) rather than the package root.
fn is_file_relative_rust(line: &str) -> bool {
    ["#[path", "include_str!", "include_bytes!", "include!"]
        .iter()
        .any(|m| line.contains(m))
}

/// Problems with relative paths in one line of `file`: each a message naming the path.
fn path_problems(file: &str, line: &str) -> Vec<String> {
    let mut problems = Vec::new();
    if line.contains(OUTSIDE_DIR) {
        problems.push(format!(
            "refers to {OUTSIDE_DIR}, outside the repository; use the copy inside it (tests/fixtures/, docs/)"
        ));
    }
    let depth = file.matches('/').count();
    let rust_root_relative = file.ends_with(".rs") && !is_file_relative_rust(line);
    let mut from = 0;
    while let Some(found) = line[from..].find(PARENT) {
        let start = from + found;
        let mut end = start;
        let mut steps = 0;
        while line[end..].starts_with(PARENT) {
            end += PARENT.len();
            steps += 1;
        }
        from = end;
        // Not a path, or one already reported above.
        if !starts_with_segment(&line[end..]) || line[end - PARENT.len()..].starts_with(OUTSIDE_DIR)
        {
            continue;
        }
        let before = &line[..start];
        let prev = before.chars().next_back();
        // Where the path is resolved from, as a depth below the repository root.
        let base = if rust_root_relative && (prev == Some('"') || before.ends_with("\"/")) {
            // A Rust string literal starting with a parent step is joined to the package root
            // (CARGO_MANIFEST_DIR, or the working directory cargo gives tests).
            Some(0)
        } else if prev.is_none_or(|c| !is_path_char(c)) {
            // A path of its own, relative to the file that holds it.
            Some(depth)
        } else {
            // A step in the middle of a longer path: its base is unknown here.
            None
        };
        if let Some(base) = base.filter(|base| steps > *base) {
            let path: String = line[start..]
                .chars()
                .take_while(|c| is_path_char(*c))
                .collect();
            problems.push(format!(
                "{path} climbs {steps} level(s) from a base {base} level(s) below the repository root, so it leaves the repository"
            ));
        }
    }
    problems
}

/// The documents under `docs/` a line names, such as `docs/STYLE.md` (a name of capitals,
/// digits and `_`).
fn doc_paths(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices("docs/") {
        if line[..at].chars().next_back().is_some_and(is_path_char) {
            continue;
        }
        let name_start = at + "docs/".len();
        let name_len = line[name_start..]
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(line.len() - name_start);
        let end = name_start + name_len;
        if name_len > 0 && line[end..].starts_with(".md") {
            found.push(&line[at..end + ".md".len()]);
        }
    }
    found
}

/// Document names a line gives without a directory, such as `README.md` (a name of capitals,
/// digits and `_`): a citation that lost its `docs/` shows up here.
fn bare_doc_names(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices(".md") {
        if line[at + ".md".len()..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            continue;
        }
        let start = line[..at]
            .rfind(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_'))
            .map_or(0, |i| i + 1);
        let starts_upper = line[start..at]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_uppercase());
        if starts_upper && !line[..start].chars().next_back().is_some_and(is_path_char) {
            found.push(&line[start..at + ".md".len()]);
        }
    }
    found
}

/// The `tests/fixtures/…` paths a line names, up to the first character that cannot be part
/// of a path (a placeholder such as `{file}` ends it), without trailing punctuation.
fn fixture_paths(line: &str) -> Vec<&str> {
    let mut found = Vec::new();
    for (at, _) in line.match_indices("tests/fixtures/") {
        if line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        {
            continue;
        }
        let len = line[at..]
            .find(|c: char| !is_path_char(c))
            .unwrap_or(line.len() - at);
        found.push(line[at..at + len].trim_end_matches('.'));
    }
    found
}

#[test]
fn tracked_files_refer_only_to_paths_inside_the_repository() {
    let repo = repo();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in tracked_files(&repo) {
        let Some(text) = text_of(&repo, &file) else {
            continue;
        };
        checked += 1;
        for (n, line) in text.lines().enumerate() {
            for problem in path_problems(&file, line) {
                problems.push(format!("{file}:{}: {problem}", n + 1));
            }
            for doc in doc_paths(line) {
                if !repo.join(doc).is_file() {
                    problems.push(format!(
                        "{file}:{}: names {doc}, which does not exist",
                        n + 1
                    ));
                }
            }
            for name in bare_doc_names(line) {
                let beside = Path::new(&file)
                    .parent()
                    .unwrap_or(Path::new(""))
                    .join(name);
                if !repo.join(name).is_file() && !repo.join(&beside).is_file() {
                    problems.push(format!(
                        "{file}:{}: names {name} without a directory, and there is no such file at the root or beside this file (docs/{name}?)",
                        n + 1
                    ));
                }
            }
            for fixture in fixture_paths(line) {
                if !repo.join(fixture).exists() {
                    problems.push(format!(
                        "{file}:{}: names {fixture}, which does not exist",
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(checked > 0, "no tracked text file could be read");
    assert!(
        problems.is_empty(),
        "{} reference(s) to paths outside the repository or to missing files:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checks_find_what_they_look_for() {
    // Built at run time, so that this file names no such path itself.
    let up = PARENT;
    let outside = OUTSIDE_DIR;
    let md = ".md";
    let doc_a = format!("docs/A{md}");
    let readme = format!("README{md}");
    // The directory that used to lie beside the repository, anywhere in any file.
    assert_eq!(
        path_problems(&readme, &format!("see {outside}/design/X{md}")).len(),
        1
    );
    // Relative to the file: fine while it stays inside, wrong once it climbs above the root.
    assert!(path_problems(&doc_a, &format!("[x]({up}{readme})")).is_empty());
    assert_eq!(
        path_problems(&doc_a, &format!("[x]({up}{up}other/{readme})")).len(),
        1
    );
    assert_eq!(
        path_problems(&readme, &format!("[x]({up}other/{readme})")).len(),
        1
    );
    // Rust paths are resolved from the package root, except where Rust reads them relative
    // to the file.
    let joined = format!("    repo.join(\"{up}sibling/file\");");
    assert_eq!(path_problems("tests/x.rs", &joined).len(), 1);
    let appended = format!("concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/{up}sibling\")");
    assert_eq!(path_problems("src/x.rs", &appended).len(), 1);
    let module = format!("#[path = \"{up}tests/e2e/env.rs\"]");
    assert!(path_problems("benches/bench.rs", &module).is_empty());
    // Not paths: ranges, a run of parent steps that names nothing, a step inside a path.
    assert!(path_problems("src/x.rs", "for i in 0..n { v[..i].len(); }").is_empty());
    assert!(path_problems("scripts/x.sh", &format!("ln -s {up}{up}.. link")).is_empty());
    assert!(path_problems(&readme, &format!("a/b/{up}{up}{up}c")).is_empty());

    assert_eq!(
        doc_paths(&format!(
            "see `docs/AUTH0_API{md} §10` and docs/TESTENV{md}."
        )),
        [format!("docs/AUTH0_API{md}"), format!("docs/TESTENV{md}")]
    );
    assert!(doc_paths(&format!("mydocs/X{md} docs/lower{md}")).is_empty());
    assert_eq!(
        bare_doc_names(&format!(
            "(see TESTENV{md}) and `AUTH0_API{md} §10`; {readme}"
        )),
        [
            format!("TESTENV{md}"),
            format!("AUTH0_API{md}"),
            readme.clone()
        ]
    );
    assert!(bare_doc_names(&format!("docs/STYLE{md} lower{md} a/B{md} X{md}x")).is_empty());
    let fx = "tests/fixtures";
    assert_eq!(
        fixture_paths(&format!("\"{{}}/{fx}/idp-metadata/{{file}}\", {fx}/a.xml.")),
        [format!("{fx}/idp-metadata/"), format!("{fx}/a.xml")]
    );
}
