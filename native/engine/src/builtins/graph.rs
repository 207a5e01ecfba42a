//! Graph builtins: `graph.reachable` and `graph.reachable_paths` over an
//! adjacency object (node → array or set of neighbours). `walk` is
//! implemented by the evaluator.

use super::{arg_object, type_err, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Set, Value};
use std::collections::VecDeque;

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

/// One pending node of the depth-first walk: the path up to and including
/// it, its neighbours, the next one to visit, and the nodes already on the
/// way to it (a neighbour among them ends the path: a cycle).
struct Frame<'a> {
    path: Vec<Value>,
    next: Vec<&'a Value>,
    i: usize,
    reached: Set,
}

/// OPA's path builder, iteratively: from `root` (reached through `path`,
/// whose nodes are `reached`), records every maximal path. A path ends at a
/// node without neighbours, before a node that is not in the graph, or
/// before closing a cycle.
fn walk_paths<'a>(graph: &'a Map, root: &'a Value, path: Vec<Value>, reached: Set, out: &mut Set) {
    let mut stack: Vec<Frame<'a>> = Vec::new();
    let enter = |root: &'a Value, mut path: Vec<Value>, reached: Set, stack: &mut Vec<Frame<'a>>, out: &mut Set| match graph.get(root) {
        Some(edges) => {
            path.push(root.clone());
            let next = neighbours(edges);
            if next.is_empty() {
                out.insert(Value::from_array(path));
            } else {
                stack.push(Frame { path, next, i: 0, reached });
            }
        }
        // Not in the graph: the path ends before it.
        None => {
            out.insert(Value::from_array(path));
        }
    };
    enter(root, path, reached, &mut stack, out);
    while let Some(top) = stack.last_mut() {
        let Some(&n) = top.next.get(top.i) else {
            stack.pop();
            continue;
        };
        top.i += 1;
        if top.reached.contains(n) {
            out.insert(Value::from_array(top.path.clone()));
        } else {
            if let Some(cur) = top.path.last() {
                top.reached.insert(cur.clone());
            }
            let (p, r) = (top.path.clone(), top.reached.clone());
            enter(n, p, r, &mut stack, out);
        }
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
            let reached: Set = std::iter::once(node.clone()).collect();
            walk_paths(graph, n, vec![node.clone()], reached, &mut out);
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
}
