//! The layer and size rules of the crate, checked against its own source.
//!
//! Dependencies point down the layer table only (DESIGN.md "Layers"): a
//! module never imports one above it, engines never import `client` or
//! `config`, and the one exception is `Hook::on_new_client(&Client)`. No
//! hand-written library function runs past 100 lines and no file past 800
//! lines of code before its tests (generated files, marked DO NOT EDIT, and
//! the fake cluster are exempt from the size rules).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Layer rank per top-level module: a module may import only lower ranks
/// (and, within the engines' rank, other engines).
fn ranks() -> HashMap<&'static str, i32> {
    [
        ("client", 6),
        ("config", 5),
        ("producer", 4),
        ("consumer", 4),
        ("group", 4),
        ("txn", 4),
        ("cluster", 3),
        ("metadata", 2),
        ("broker", 2),
        ("sasl", 2),
        ("protocol", 1),
        ("messages", 0),
        ("error", -1),
        ("record", -1),
        ("hooks", -1),
        ("logger", -1),
        ("sync", -1),
    ]
    .into_iter()
    .collect()
}

const ENGINES: [&str; 4] = ["producer", "consumer", "group", "txn"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The top-level module a source file belongs to.
fn module_of(path: &Path) -> String {
    let rel = path.strip_prefix(src()).unwrap_or(path);
    let first = rel
        .components()
        .next()
        .map(|c| c.as_os_str().to_string_lossy().to_string())
        .unwrap_or_default();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file before its `#[cfg(test)]` module.
fn code_of(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

/// Every `crate::<module>` a line names, with root re-exports mapped to
/// their modules.
fn targets(line: &str) -> Vec<String> {
    let aliases: HashMap<&str, &str> = [
        ("Client", "client"),
        ("ClientInner", "client"),
        ("Config", "config"),
        ("ConfigBuilder", "config"),
    ]
    .into_iter()
    .collect();
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let after = &rest[i + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let before = rest[..i].chars().last();
        // `kafka_sync::crate::` never occurs; skip identifiers like `xcrate::`.
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            out.push(
                aliases
                    .get(name.as_str())
                    .map_or(name.clone(), |m| m.to_string()),
            );
        }
        rest = &after[name.len()..];
    }
    out
}

/// Whether `module` may import `target` under the layer table.
fn allowed(ranks: &HashMap<&str, i32>, module: &str, target: &str, code: &str) -> bool {
    let (Some(&m), Some(&t)) = (ranks.get(module), ranks.get(target)) else {
        return true;
    };
    if module == target {
        return true;
    }
    if module == "hooks" && target == "client" && code.contains("on_new_client") {
        return true; // the documented exception
    }
    let engine = ENGINES.contains(&module);
    if engine && (target == "client" || target == "config") {
        return false;
    }
    if t > m {
        return false;
    }
    // Same rank below the engines: only broker/sasl and metadata/broker pair.
    if t == m && m >= 2 && !engine && !ENGINES.contains(&target) {
        let pair = |a: &str, b: &str| (module == a && target == b) || (module == b && target == a);
        return pair("broker", "sasl") || pair("metadata", "broker");
    }
    true
}

fn violations() -> Vec<String> {
    let ranks = ranks();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    files.sort();
    let mut problems = Vec::new();
    for f in &files {
        let Ok(text) = std::fs::read_to_string(f) else {
            problems.push(format!("{}: unreadable", f.display()));
            continue;
        };
        let module = module_of(f);
        let code = code_of(&text);
        for (i, line) in code.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for t in targets(line) {
                if !allowed(&ranks, &module, &t, code) {
                    problems.push(format!(
                        "{}:{}: {module} imports crate::{t} (a layer above or beside it)",
                        f.display(),
                        i + 1
                    ));
                }
            }
        }
        let generated = text.lines().take(10).any(|l| l.contains("DO NOT EDIT"));
        if module == "fake" || generated {
            continue;
        }
        problems.extend(size_problems(f, code));
    }
    problems
}

/// Files over 800 code lines and functions over 100 lines.
fn size_problems(f: &Path, code: &str) -> Vec<String> {
    let lines: Vec<&str> = code.lines().collect();
    let mut out = Vec::new();
    if lines.len() > 800 {
        out.push(format!(
            "{}: {} lines of code before its tests (over 800)",
            f.display(),
            lines.len()
        ));
    }
    let mut i = 0;
    while i < lines.len() {
        let Some(name) = fn_name(lines[i]) else {
            i += 1;
            continue;
        };
        let (mut depth, mut started, mut j) = (0i64, false, i);
        while j < lines.len() {
            let l = lines[j];
            depth += l.matches('{').count() as i64 - l.matches('}').count() as i64;
            started |= l.contains('{');
            if started && depth <= 0 {
                break;
            }
            j += 1;
        }
        let n = j - i + 1;
        if n > 100 {
            out.push(format!(
                "{}:{}: fn {name} is {n} lines (over 100)",
                f.display(),
                i + 1
            ));
        }
        i = if started { j + 1 } else { i + 1 };
    }
    out
}

/// The name of a function whose definition starts on `line` (not a
/// declaration ending in `;`).
fn fn_name(line: &str) -> Option<String> {
    if line.trim_end().ends_with(';') {
        return None;
    }
    let mut rest = line.trim_start();
    for prefix in ["pub(crate) ", "pub(super) ", "pub ", "const ", "unsafe "] {
        rest = rest.strip_prefix(prefix).unwrap_or(rest);
    }
    let after = rest.strip_prefix("fn ")?;
    let name: String = after
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[test]
fn layers_and_sizes_hold() {
    let problems = violations();
    assert!(
        problems.is_empty(),
        "{} layer or size rule(s) broken:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checker_sees_what_it_must() {
    let ranks = ranks();
    // An engine reaching up, a core module reaching an engine, a floor
    // module reaching the core: all refused; the reverse directions pass.
    assert!(!allowed(&ranks, "producer", "client", ""));
    assert!(!allowed(&ranks, "consumer", "config", ""));
    assert!(!allowed(&ranks, "cluster", "producer", ""));
    assert!(!allowed(&ranks, "broker", "config", ""));
    assert!(!allowed(&ranks, "error", "consumer", ""));
    assert!(!allowed(&ranks, "hooks", "broker", ""));
    assert!(!allowed(&ranks, "metadata", "cluster", ""));
    assert!(allowed(&ranks, "client", "producer", ""));
    assert!(allowed(&ranks, "producer", "cluster", ""));
    assert!(allowed(&ranks, "broker", "protocol", ""));
    assert!(allowed(&ranks, "hooks", "client", "fn on_new_client"));
    assert!(!allowed(&ranks, "hooks", "client", "fn other"));
    assert_eq!(targets("use crate::Client;"), vec!["client"]);
    assert_eq!(
        targets("let x = crate::config::X + crate::error::Y;"),
        vec!["config", "error"]
    );
    assert_eq!(
        fn_name("    pub(crate) fn drain(&mut self) {"),
        Some("drain".into())
    );
    assert_eq!(fn_name("    fn decl(&self);"), None);
    let long = format!("fn f() {{\n{}}}\n", "    x();\n".repeat(120));
    assert_eq!(size_problems(Path::new("x.rs"), &long).len(), 1);
}
