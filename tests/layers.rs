//! The library's modules import one way, down:
//! `replication -> pool -> conn -> balancer -> {dial, srv} -> {opts, strategy, health} ->
//! {error, observe} -> {addr, random}`,
//! where `health` is the blacklist, the exception checker and the per-host stats. This test
//! reads every source file of the library, collects the `crate::…` paths each top-level
//! module names (in `use` lines and in code, not in comments), and fails on any import that
//! goes up a layer or closes a circle among siblings.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each module's layer; a module may name modules of lower layers, and siblings as long as
/// no circle forms.
const LAYERS: &[(&str, u32)] = &[
    ("replication", 8),
    ("pool", 7),
    ("conn", 6),
    ("balancer", 5),
    ("dial", 4),
    // DNS SRV lookups: reads the options (3), does network I/O as `dial` does.
    ("srv", 4),
    ("opts", 3),
    ("strategy", 3),
    ("blacklist", 3),
    ("checker", 3),
    ("stats", 3),
    ("hedge", 3),
    ("error", 2),
    ("observe", 2),
    ("addr", 1),
    ("random", 1),
];

fn layer(m: &str) -> Option<u32> {
    LAYERS.iter().find(|(n, _)| *n == m).map(|(_, l)| *l)
}

/// The top-level modules that `text` (one file of module `from`) names through `crate::`.
fn named(text: &str, from: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if layer(&name).is_some() && name != from {
                out.insert(name);
            }
        }
    }
    out
}

fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            walk(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

#[test]
fn imports_run_down_and_never_in_a_circle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&src).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy()
            .trim_end_matches(".rs")
            .to_owned();
        if layer(&top).is_none() {
            continue; // lib.rs and anything outside the layers
        }
        let text = std::fs::read_to_string(&f).unwrap();
        edges
            .entry(top.clone())
            .or_default()
            .extend(named(&text, &top));
    }
    let mut wrong = Vec::new();
    for (from, tos) in &edges {
        for to in tos {
            if layer(to) > layer(from) {
                wrong.push(format!("{from} -> {to} goes up a layer"));
            }
        }
    }
    // A circle among modules of one layer.
    fn reaches(
        edges: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        to: &str,
        seen: &mut BTreeSet<String>,
    ) -> bool {
        edges.get(from).is_some_and(|tos| {
            tos.iter()
                .any(|t| t == to || (seen.insert(t.clone()) && reaches(edges, t, to, seen)))
        })
    }
    for m in edges.keys() {
        if reaches(&edges, m, m, &mut BTreeSet::new()) {
            wrong.push(format!("{m} is in an import circle"));
        }
    }
    assert!(wrong.is_empty(), "{}\nedges: {edges:#?}", wrong.join("\n"));
}
