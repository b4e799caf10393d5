//! The shape of the code, checked: the engine imports no front end, front ends never reach the
//! PostgreSQL adapter, no two files of `src/` import each other (directly or round a loop), and
//! no source file outgrows one sitting. Reads the source as text; runs nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`crate::engine::run`) → file.
fn modules() -> BTreeMap<String, PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = BTreeMap::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") || path.ends_with("main.rs") {
                continue;
            }
            let relative = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = relative
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            let name = std::iter::once("crate".to_string())
                .chain(parts)
                .collect::<Vec<_>>()
                .join("::");
            found.insert(name, path);
        }
    }
    found
}

/// The file's code without comments, string literals and `#[cfg(test)]` modules, which may
/// import anything.
fn code_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut code = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        code.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                code.push_str("\"\"");
            }
            // A char literal such as '"' must not open a string; lifetimes pass through.
            '\'' => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("\\") || rest.chars().nth(1) == Some('\'') {
                    for c in chars.by_ref() {
                        if c == '\'' {
                            break;
                        }
                    }
                    code.push_str("' '");
                } else {
                    code.push(c);
                }
            }
            _ => code.push(c),
        }
    }
    code
}

/// Every path the code names: `use` trees expanded, and inline `crate::…`, `super::…` and
/// `child::…` paths.
fn paths_named(code: &str, children: &[String]) -> Vec<String> {
    let mut paths = vec![];
    let tokens = tokenize(code);
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i] == "use" {
            let end = tokens[i..]
                .iter()
                .position(|t| t == ";")
                .map_or(tokens.len(), |p| i + p);
            expand(&tokens[i + 1..end], String::new(), &mut paths);
            i = end;
            continue;
        }
        let starts_path = tokens[i] == "crate"
            || tokens[i] == "super"
            || children.iter().any(|c| *c == tokens[i]);
        let after_path_sep = i > 0 && tokens[i - 1] == "::";
        if starts_path && !after_path_sep && tokens.get(i + 1).is_some_and(|t| t == "::") {
            let mut path = tokens[i].clone();
            let mut j = i + 1;
            while tokens.get(j).is_some_and(|t| t == "::")
                && tokens.get(j + 1).is_some_and(|t| is_ident(t))
            {
                path.push_str("::");
                path.push_str(&tokens[j + 1]);
                j += 2;
            }
            paths.push(path);
            i = j;
            continue;
        }
        i += 1;
    }
    paths
}

fn is_ident(token: &str) -> bool {
    token.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = vec![];
    let mut word = String::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        if !word.is_empty() {
            tokens.push(std::mem::take(&mut word));
        }
        if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            tokens.push("::".into());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    if !word.is_empty() {
        tokens.push(word);
    }
    tokens
}

/// Expands a use tree (`a::{b, c::{d, e}}`) into whole paths.
fn expand(tree: &[String], prefix: String, out: &mut Vec<String>) {
    let mut i = 0;
    let mut path = prefix.clone();
    while i < tree.len() {
        let t = &tree[i];
        if t == "{" {
            let mut depth = 0;
            let mut start = i + 1;
            for j in i..tree.len() {
                match tree[j].as_str() {
                    "{" => depth += 1,
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            expand(&tree[start..j], path.clone(), out);
                            return;
                        }
                    }
                    "," if depth == 1 => {
                        expand(&tree[start..j], path.clone(), out);
                        start = j + 1;
                    }
                    _ => {}
                }
            }
            return;
        } else if t == "," {
            out.push(std::mem::take(&mut path));
            path = prefix.clone();
        } else if t == "as" {
            i += 2;
            continue;
        } else if t != "::" && t != "pub" && t != "(" && t != ")" {
            if !path.is_empty() && !path.ends_with("::") {
                path.push_str("::");
            }
            path.push_str(t);
        }
        i += 1;
    }
    if !path.is_empty() && path != prefix {
        out.push(path);
    }
}

/// The module a path lands in: `super` and `self` resolved, the longest known prefix.
fn module_of(path: &str, from: &str, known: &BTreeMap<String, PathBuf>) -> Option<String> {
    let mut base: Vec<&str> = from.split("::").collect();
    let mut rest = vec![];
    for (k, part) in path.split("::").enumerate() {
        match part {
            "super" if rest.is_empty() => {
                base.pop();
            }
            "self" if rest.is_empty() => {}
            "crate" if k == 0 => base = vec!["crate"],
            _ => rest.push(part),
        }
    }
    if !path.starts_with("crate") && !path.starts_with("super") && !path.starts_with("self") {
        // A child module's name.
        base = from.split("::").collect();
    }
    let full: Vec<&str> = base.into_iter().chain(rest).collect();
    (1..=full.len())
        .rev()
        .map(|n| full[..n].join("::"))
        .find(|candidate| known.contains_key(candidate))
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let known = modules();
    let mut edges = BTreeMap::new();
    for (module, file) in &known {
        let children: Vec<String> = known
            .keys()
            .filter_map(|m| m.strip_prefix(&format!("{module}::")))
            .filter(|rest| !rest.contains("::"))
            .map(String::from)
            .collect();
        let targets: BTreeSet<String> = paths_named(&code_of(file), &children)
            .iter()
            .filter_map(|p| module_of(p, module, &known))
            .filter(|m| m != module)
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// A loop of imports, if any: every file on it imports the next.
fn find_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, stack, done) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    for node in edges.keys() {
        if let Some(cycle) = visit(node, edges, &mut vec![], &mut done) {
            return Some(cycle);
        }
    }
    None
}

#[test]
fn the_parser_sees_use_trees_inline_paths_and_child_modules() {
    let code = "use super::{a::B, c};\nuse crate::engine::{run::{self, Context}, Error};\n\
                fn f() { crate::log::line(); child::go(); x::child::no(); }";
    let paths = paths_named(code, &["child".to_string()]);
    for expected in [
        "super::a::B",
        "super::c",
        "crate::engine::run::self",
        "crate::engine::run::Context",
        "crate::engine::Error",
        "crate::log::line",
        "child::go",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
    assert!(!paths.iter().any(|p| p == "child::no"), "{paths:?}");
}

#[test]
fn a_loop_of_imports_is_found() {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    edges.insert("a".into(), ["b".to_string()].into());
    edges.insert("b".into(), ["c".to_string()].into());
    edges.insert("c".into(), ["a".to_string()].into());
    assert_eq!(find_cycle(&edges).unwrap().len(), 4);
    edges.insert("c".into(), BTreeSet::new());
    assert_eq!(find_cycle(&edges), None);
}

#[test]
fn no_two_files_import_each_other() {
    let edges = graph();
    assert!(
        edges.len() > 40,
        "the source tree was read: {}",
        edges.len()
    );
    if let Some(cycle) = find_cycle(&edges) {
        panic!("import cycle: {}", cycle.join(" → "));
    }
}

#[test]
fn the_engine_imports_no_front_end_and_front_ends_never_reach_the_adapter() {
    let edges = graph();
    let front_ends = [
        "crate::cli",
        "crate::app",
        "crate::ui",
        "crate::tui",
        "crate::worker",
    ];
    let within = |m: &str, top: &str| m == top || m.starts_with(&format!("{top}::"));
    for (module, targets) in &edges {
        if within(module, "crate::engine") {
            for t in targets {
                assert!(
                    !front_ends.iter().any(|f| within(t, f)),
                    "{module} imports the front end {t}"
                );
            }
        }
        if within(module, "crate::cli") || within(module, "crate::worker") {
            for t in targets {
                assert!(
                    !within(t, "crate::engine::postgres"),
                    "{module} imports the PostgreSQL adapter ({t}): call a use case of engine::run"
                );
            }
        }
    }
}

#[test]
fn no_source_file_outgrows_one_sitting() {
    for file in modules().values() {
        let lines = std::fs::read_to_string(file).unwrap().lines().count();
        assert!(lines <= 600, "{} has {lines} lines", file.display());
    }
}
