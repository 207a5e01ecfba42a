//! Graph builtins: `graph.reachable` and `graph.reachable_paths` over an
//! adjacency object (node → array or set of neighbours). `walk` is
//! implemented by the evaluator.

use super::{arg_object, type_err, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Set, Value};
use std::collections::{BTreeMap, VecDeque};

pub fn register(r: &mut Registry) {
    r.func("graph", "graph.reachable", "(object[any: any<array[any], set[any]>], any<array[any], set[any]>) => set[any]", reachable);
    r.func(
        "graph",
        "graph.reachable_paths",
        "(object[any: any<array[any], set[any]>], any<array[any], set[any]>) => set[array[any]]",
        reachable_paths,
    );
}

/// A node's neighbours: the elements of an array or set; anything else has none.
fn neighbours(edges: &Value) -> Vec<&Value> {
    match edges {
        Value::Array(a) => a.iter().collect(),
        Value::Set(s) => s.iter().collect(),
        _ => Vec::new(),
    }
}

/// Operand 2: the initial nodes, an array or a set.
fn initial(a: &[Value]) -> Result<Vec<&Value>, BuiltinError> {
    match a.get(1) {
        Some(v @ (Value::Array(_) | Value::Set(_))) => Ok(neighbours(v)),
        Some(v) => Err(type_err(1, "{array, set}", v)),
        None => Err(BuiltinError::Eval("missing operand 2".into())),
    }
}

/// Every node reachable from the initial ones, themselves included; only
/// nodes that are keys of the graph count as reached.
fn reachable(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let graph = arg_object(a, 0)?;
    let mut queue: VecDeque<&Value> = initial(a)?.into_iter().collect();
    let mut reached = Set::new();
    while let Some(node) = queue.pop_front() {
        if reached.contains(node) {
            continue;
        }
        if let Some(edges) = graph.get(node) {
            queue.extend(neighbours(edges).into_iter().filter(|n| !reached.contains(*n)));
            reached.insert(node.clone());
        }
    }
    Ok(Value::from_set(reached))
}

/// A node of the depth-first walk whose neighbours are being visited.
struct Frame<'a> {
    next: Vec<&'a Value>,
    i: usize,
    /// Whether the walk went on from this node to one of its neighbours:
    /// from then on the node counts as reached for the rest of its subtree.
    descended: bool,
}

/// OPA's path builder, without recursion: records every maximal path that
/// starts with `start` and goes on to `first`. A path ends at a node without
/// neighbours, before a node that is not in the graph, or before a node
/// already reached on the way to it (a cycle).
fn walk_paths<'a>(graph: &'a Map, start: &'a Value, first: &'a Value, out: &mut Set) {
    // The current path: `start`, then the node of each frame.
    let mut path: Vec<Value> = vec![start.clone()];
    let mut stack: Vec<Frame<'a>> = Vec::new();
    // How many times each node counts as reached on the current path.
    let mut reached: BTreeMap<Value, usize> = BTreeMap::new();
    reached.insert(start.clone(), 1);

    let enter = |node: &'a Value, path: &mut Vec<Value>, stack: &mut Vec<Frame<'a>>, out: &mut Set| {
        let Some(edges) = graph.get(node) else {
            // Not in the graph: the path ends before it.
            out.insert(Value::from_array(path.clone()));
            return;
        };
        let next = neighbours(edges);
        if next.is_empty() {
            let mut p = path.clone();
            p.push(node.clone());
            out.insert(Value::from_array(p));
        } else {
            path.push(node.clone());
            stack.push(Frame { next, i: 0, descended: false });
        }
    };

    enter(first, &mut path, &mut stack, out);
    while let Some(top) = stack.last_mut() {
        let Some(&n) = top.next.get(top.i) else {
            let descended = top.descended;
            stack.pop();
            if let Some(node) = path.pop() {
                if descended {
                    if let Some(c) = reached.get_mut(&node) {
                        *c = c.saturating_sub(1);
                        if *c == 0 {
                            reached.remove(&node);
                        }
                    }
                }
            }
            continue;
        };
        top.i += 1;
        if reached.contains_key(n) {
            out.insert(Value::from_array(path.clone()));
            continue;
        }
        if !top.descended {
            top.descended = true;
            if let Some(node) = path.last() {
                *reached.entry(node.clone()).or_insert(0) += 1;
            }
        }
        enter(n, &mut path, &mut stack, out);
    }
}

fn reachable_paths(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let graph = arg_object(a, 0)?;
    let mut out = Set::new();
    for node in initial(a)? {
        let Some(edges) = graph.get(node) else { continue };
        let next = neighbours(edges);
        if next.is_empty() {
            out.insert(Value::from_array(vec![node.clone()]));
            continue;
        }
        for n in next {
            walk_paths(graph, node, n, &mut out);
        }
    }
    Ok(Value::from_set(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Value {
        Value::from_json_str(s).unwrap_or_else(|e| panic!("bad json {s}: {e}"))
    }
    fn set_of(v: Vec<Value>) -> Value {
        Value::from_set(v.into_iter().collect())
    }

    #[test]
    fn reach() {
        let g = j(r#"{"a": ["b"], "b": ["c"], "c": ["a"], "d": ["e"]}"#);
        let r = reachable(&mut Ctx::new(0, true), &[g, j(r#"["a"]"#)]);
        assert_eq!(r, Ok(set_of(vec![j(r#""a""#), j(r#""b""#), j(r#""c""#)])));
    }

    #[test]
    fn reach_bad_initial() {
        let r = reachable(&mut Ctx::new(0, true), &[j("{}"), Value::int(1)]);
        assert_eq!(r, Err(BuiltinError::Type("operand 2 must be {array, set} but got number".into())));
    }

    #[test]
    fn paths() {
        let g = j(r#"{"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": [], "e": ["f"], "f": ["e"]}"#);
        let r = reachable_paths(&mut Ctx::new(0, true), &[g, j(r#"["a", "e"]"#)]);
        assert_eq!(r, Ok(set_of(vec![j(r#"["a", "b", "d"]"#), j(r#"["a", "c", "d"]"#), j(r#"["e", "f"]"#)])));
    }

    #[test]
    fn paths_cycle_and_missing() {
        let g = j(r#"{"a": ["b"], "b": ["c", "zz"], "c": ["a"]}"#);
        let r = reachable_paths(&mut Ctx::new(0, true), &[g, j(r#"["a"]"#)]);
        assert_eq!(r, Ok(set_of(vec![j(r#"["a", "b", "c"]"#), j(r#"["a", "b"]"#)])));
    }

    #[test]
    fn paths_shared_ancestor() {
        let g = j(r#"{"1": [], "2": ["1"], "3": ["2"], "4": ["3", "2"], "5": ["4"]}"#);
        let r = reachable_paths(&mut Ctx::new(0, true), &[g, j(r#"["5"]"#)]);
        assert_eq!(r, Ok(set_of(vec![j(r#"["5", "4", "2", "1"]"#), j(r#"["5", "4", "3", "2", "1"]"#)])));
    }

    #[test]
    fn paths_self_loop() {
        let g = j(r#"{"a": ["x"], "x": ["x"]}"#);
        let r = reachable_paths(&mut Ctx::new(0, true), &[g, j(r#"["a"]"#)]);
        assert_eq!(r, Ok(set_of(vec![j(r#"["a", "x", "x"]"#)])));
    }

    #[test]
    fn deep_chain_without_recursion() {
        let n = 50_000i64;
        let mut g = Map::new();
        for i in 0..n {
            g.insert(Value::int(i), Value::from_array(vec![Value::int(i + 1)]));
        }
        let r = reachable_paths(&mut Ctx::new(0, true), &[Value::from_map(g.clone()), j("[0]")]);
        let Ok(Value::Set(s)) = r else { panic!("not a set: {r:?}") };
        assert_eq!(s.len(), 1);
        assert_eq!(s.iter().next().and_then(|p| p.as_array()).map(|p| p.len()), Some(n as usize));
        let r = reachable(&mut Ctx::new(0, true), &[Value::from_map(g), j("[0]")]);
        assert_eq!(r.ok().and_then(|v| v.as_set().map(|s| s.len())), Some(n as usize));
    }
}
