//! The crate layout is the architecture (DESIGN.md): `engine` is sans-IO and depends on no
//! actix, tokio or HTTP crate; `http` is a thin edge that imports nothing from the store; and no
//! module of `actors` imports in a circle. Checked from `cargo metadata` and the source tree.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// Every package `voxgate-engine` depends on, directly or not, for a normal (non-dev) build.
fn engine_dependencies() -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--locked", "--manifest-path"])
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("cargo metadata runs");
    assert!(out.status.success(), "cargo metadata: {}", String::from_utf8_lossy(&out.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata is JSON");
    let names: HashMap<&str, &str> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p["name"].as_str().unwrap()))
        .collect();
    let nodes: HashMap<&str, &serde_json::Value> =
        meta["resolve"]["nodes"].as_array().unwrap().iter().map(|n| (n["id"].as_str().unwrap(), n)).collect();
    let engine = names.iter().find(|(_, n)| **n == "voxgate-engine").map(|(id, _)| *id).expect("engine");
    let mut seen = BTreeSet::new();
    let mut stack = vec![engine];
    while let Some(id) = stack.pop() {
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let normal = dep["dep_kinds"].as_array().unwrap().iter().any(|k| k["kind"].is_null());
            let dep_id = dep["pkg"].as_str().unwrap();
            if normal && seen.insert(names[dep_id].to_string()) {
                stack.push(dep_id);
            }
        }
    }
    seen
}

#[test]
fn the_engine_depends_on_no_runtime_actor_or_http_crate() {
    let deps = engine_dependencies();
    assert!(deps.contains("str0m"), "the walk found the engine's dependencies: {deps:?}");
    let forbidden = ["actix", "tokio", "hyper", "http", "reqwest", "axum", "tungstenite", "mio", "async-std"];
    let found: Vec<&String> = deps
        .iter()
        .filter(|d| forbidden.iter().any(|f| *d == f || d.starts_with(&format!("{f}-"))))
        .collect();
    assert!(found.is_empty(), "the sans-IO engine must not depend on {found:?}");
}

/// Rust sources under `dir`, recursively.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_http_edge_imports_nothing_from_the_store() {
    let root = workspace_root();
    let files = sources(&root.join("http/src"));
    assert!(files.len() > 10);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for needle in ["voxgate_actors::store", ".store()", "rusqlite", "StoreError"] {
                assert!(
                    !code.contains(needle),
                    "{}:{}: the edge asks the control plane or the runtime, not the store: {line}",
                    file.display(),
                    n + 1
                );
            }
        }
    }
}

/// The modules of `actors` the HTTP edge may name. A new one is a deliberate change of the
/// edge's reach (add it here, with the reason in the commit). Of the media path and the
/// talking call's wing, the edge names only the pool, its errors and configuration (`media`)
/// and the builtin recogniser's readiness for /health (`talk`); what answers a call is decided
/// inside `talk::plan`, not here.
const ACTORS_MODULES_HTTP_MAY_IMPORT: &[&str] = &[
    "agent_tests",
    "agents",
    "api_keys",
    "backup",
    "clock",
    "config",
    "control",
    "dashboard_sign_in",
    "dashboard_users",
    "media",
    "metrics",
    "offline_store",
    "rate_limits",
    "recordings",
    "runtime",
    "talk",
    "text_session",
    "usage",
    "webhooks",
];

#[test]
fn the_http_edge_imports_only_the_actors_modules_on_its_list() {
    let mut seen = BTreeSet::new();
    for file in sources(&workspace_root().join("http/src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("voxgate_actors::{"),
                "{}:{}: name each module: {line}",
                file.display(),
                n + 1
            );
            for (at, _) in code.match_indices("voxgate_actors::") {
                let module: String = code[at + "voxgate_actors::".len()..]
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                assert!(
                    ACTORS_MODULES_HTTP_MAY_IMPORT.contains(&module.as_str()),
                    "{}:{}: the edge imports actors::{module}, which is not on its list: {line}",
                    file.display(),
                    n + 1
                );
                seen.insert(module);
            }
        }
    }
    let unused: Vec<&&str> = ACTORS_MODULES_HTTP_MAY_IMPORT.iter().filter(|m| !seen.contains(**m)).collect();
    assert!(unused.is_empty(), "no longer imported by the edge, so off the list: {unused:?}");
}

#[test]
fn the_engine_draws_no_randomness_of_its_own() {
    for file in sources(&workspace_root().join("engine/src")) {
        let text = std::fs::read_to_string(&file).unwrap();
        let outside_tests = text.split("#[cfg(test)]").next().unwrap();
        for needle in ["rand::rng()", "thread_rng", "OsRng", "getrandom", "rand::random"] {
            assert!(
                !outside_tests.contains(needle),
                "{} takes randomness itself ({needle}); the driver passes it in",
                file.display()
            );
        }
    }
}

/// The modules of `crate_src` (a crate's `src`), by path like `media::worker`, and for each the
/// other modules of the same crate it names (`use super::x`, `crate::x::y`, `super::x::...`).
fn module_graph(crate_src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut modules = BTreeMap::new();
    for file in sources(crate_src) {
        let rel = file.strip_prefix(crate_src).unwrap().with_extension("");
        let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
        if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
            parts.pop();
        }
        modules.insert(parts.join("::"), std::fs::read_to_string(&file).unwrap());
    }
    let names: BTreeSet<String> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in &modules {
        let parent: Vec<&str> = if module.is_empty() { vec![] } else { module.split("::").collect() };
        let parent = &parent[..parent.len().saturating_sub(1)];
        let code: String = text
            .split("#[cfg(test)]")
            .next()
            .unwrap()
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        let mut refs = BTreeSet::new();
        let words: Vec<&str> = code
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .filter(|w| w.starts_with("crate::") || w.starts_with("super::"))
            .collect();
        for word in words {
            let path: Vec<&str> = word.split("::").filter(|s| !s.is_empty()).collect();
            let absolute: Vec<&str> = match path[0] {
                "crate" => path[1..].to_vec(),
                _ => parent.iter().copied().chain(path[1..].iter().copied()).collect(),
            };
            // The longest prefix that names a module is the one depended on.
            let target = (1..=absolute.len())
                .rev()
                .map(|n| absolute[..n].join("::"))
                .find(|candidate| names.contains(candidate));
            if let Some(t) = target {
                if t != *module && !module.starts_with(&format!("{t}::")) {
                    refs.insert(t);
                }
            }
        }
        graph.insert(module.clone(), refs);
    }
    graph
}

/// A cycle in `graph`, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut HashMap<String, u8>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let start = path.iter().position(|p| p == next).unwrap();
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, path) {
                        return Some(c);
                    }
                }
            }
        }
        path.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = HashMap::new();
    for node in graph.keys() {
        if !state.contains_key(node.as_str()) {
            if let Some(c) = visit(node, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn the_media_path_has_no_import_circle() {
    let graph = module_graph(&workspace_root().join("actors/src"));
    let media: BTreeMap<String, BTreeSet<String>> = graph
        .iter()
        .filter(|(m, _)| m.starts_with("media::"))
        .map(|(m, refs)| (m.clone(), refs.iter().filter(|r| r.starts_with("media::")).cloned().collect()))
        .collect();
    assert!(media.len() >= 6, "the media modules were found: {media:?}");
    assert!(media["media::pool"].contains("media::worker"), "references are seen: {media:?}");
    assert_eq!(find_cycle(&media), None, "media modules import in a circle: {media:?}");
}

#[test]
fn the_cycle_finder_finds_a_cycle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    graph.insert("b".to_string(), BTreeSet::from(["c".to_string()]));
    graph.insert("c".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(find_cycle(&graph), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
    graph.insert("c".to_string(), BTreeSet::new());
    assert_eq!(find_cycle(&graph), None);
}

#[test]
fn no_module_of_actors_imports_in_a_circle() {
    let graph = module_graph(&workspace_root().join("actors/src"));
    assert_eq!(find_cycle(&graph), None, "{graph:#?}");
}

/// Every crate of the tree, not only `actors`: no module imports in a circle anywhere.
#[test]
fn no_module_of_any_crate_imports_in_a_circle() {
    for dir in ["engine/src", "actors/src", "http/src", "loadtest/src", "tests/src"] {
        let graph = module_graph(&workspace_root().join(dir));
        assert!(graph.len() > 3, "{dir}'s modules were found");
        assert_eq!(find_cycle(&graph), None, "{dir}: {graph:#?}");
    }
}
