//! Object builtins (`object.*`) and the JSON-document editing builtins
//! `json.filter`, `json.remove` and `json.patch`, with OPA's semantics.
//!
//! Paths given to the `json.*` builtins are either strings (`"a/b/c"`,
//! JSON-pointer escapes `~0` and `~1`, leading slashes ignored) or arrays of
//! path segments (`["a", "b", 1]`).

use super::{arg_array, arg_object, type_err, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::value::{Map, Set, Value};
use std::collections::BTreeMap;

/// The operand type of the `json.filter` / `json.remove` paths.
const JSON_PATHS_DECL: &str = "(object[any: any], any<array[any<string, array[any]>], set[any<string, array[any]>]>) => object[any: any]";

/// The operand type of `object.filter` / `object.remove` keys.
const KEYS_DECL: &str = "(object[any: any], any<array[any], object[any: any], set[any]>) => object[any: any]";

pub fn register(r: &mut Registry) {
    r.func("object", "object.get", "(object[any: any], any, any) => any", get);
    r.func("object", "object.keys", "(object[any: any]) => set[any]", keys);
    r.func("object", "object.remove", KEYS_DECL, remove);
    r.func("object", "object.filter", KEYS_DECL, filter);
    r.func("object", "object.union", "(object[any: any], object[any: any]) => object[any: any]", union);
    r.func("object", "object.union_n", "(array[object[any: any]]) => object[any: any]", union_n);
    r.func(
        "object",
        "object.subset",
        "(any<array[any], object[any: any], set[any]>, any<array[any], object[any: any], set[any]>) => boolean",
        subset,
    );
    r.func("object", "json.filter", JSON_PATHS_DECL, json_filter);
    r.func("object", "json.remove", JSON_PATHS_DECL, json_remove);
    r.func("object", "json.patch", "(any, array[{op: string, path: any | any: any}]) => any", json_patch);
}

// ---- object.* ----

/// `object.get(obj, key, default)`; an array key is a path into nested
/// objects, arrays (by index) and sets (by membership).
fn get(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let obj = arg_object(a, 0)?;
    let key = a.get(1).ok_or_else(|| BuiltinError::Eval("missing operand 2".into()))?;
    let default = a.get(2).ok_or_else(|| BuiltinError::Eval("missing operand 3".into()))?;
    let Value::Array(path) = key else {
        return Ok(obj.get(key).unwrap_or(default).clone());
    };
    let mut cur = a.first().unwrap_or(default);
    for seg in path.iter() {
        match cur.get(seg) {
            Some(next) => cur = next,
            None => return Ok(default.clone()),
        }
    }
    Ok(cur.clone())
}

fn keys(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let obj = arg_object(a, 0)?;
    Ok(Value::from_set(obj.keys().cloned().collect()))
}

/// The keys named by operand 2 of `object.remove` / `object.filter`:
/// an array's or set's elements, or an object's keys.
fn key_set(a: &[Value]) -> Result<Set, BuiltinError> {
    match a.get(1) {
        Some(Value::Array(v)) => Ok(v.iter().cloned().collect()),
        Some(Value::Set(s)) => Ok((**s).clone()),
        Some(Value::Object(o)) => Ok(o.keys().cloned().collect()),
        Some(v) => Err(type_err(1, "one of {object, set, array}", v)),
        None => Err(BuiltinError::Eval("missing operand 2".into())),
    }
}

fn remove(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let obj = arg_object(a, 0)?;
    let ks = key_set(a)?;
    Ok(Value::from_map(obj.iter().filter(|(k, _)| !ks.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect()))
}

fn filter(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let obj = arg_object(a, 0)?;
    let ks = key_set(a)?;
    Ok(Value::from_map(obj.iter().filter(|(k, _)| ks.contains(*k)).map(|(k, v)| (k.clone(), v.clone())).collect()))
}

/// Merges `b` into `a`: keys of `b` win, except that two objects under the
/// same key are merged recursively.
fn merge(a: &Map, b: &Map) -> Map {
    let mut out = a.clone();
    merge_into(&mut out, b);
    out
}

/// `b` merged into `out` in place, so a left fold stays linear in the keys.
fn merge_into(out: &mut Map, b: &Map) {
    for (k, vb) in b {
        if let (Some(Value::Object(oa)), Value::Object(ob)) = (out.get_mut(k), vb) {
            merge_into(std::sync::Arc::make_mut(oa), ob);
        } else {
            out.insert(k.clone(), vb.clone());
        }
    }
}

fn union(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let x = arg_object(a, 0)?;
    let y = arg_object(a, 1)?;
    if x.is_empty() {
        return Ok(a.get(1).cloned().unwrap_or_default());
    }
    if y.is_empty() || x == y {
        return Ok(a.first().cloned().unwrap_or_default());
    }
    Ok(Value::from_map(merge(x, y)))
}

/// Left-to-right `object.union` over an array of objects.
fn union_n(ctx: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let arr = arg_array(a, 0)?;
    let mut objs = Vec::with_capacity(arr.len());
    for v in arr.iter() {
        match v {
            Value::Object(o) => objs.push(o),
            v => {
                return Err(BuiltinError::Type(format!("operand 1 must be array of objects but got array containing {}", v.type_name())))
            }
        }
    }
    match objs.as_slice() {
        [] => Ok(Value::empty_object()),
        [one] => Ok(Value::Object((*one).clone())),
        [first, rest @ ..] => {
            let mut acc: Map = (***first).clone();
            for o in rest {
                ctx.charge(o.len() as u64 + 1)?;
                merge_into(&mut acc, o);
            }
            Ok(Value::from_map(acc))
        }
    }
}

/// Whether `sub` is part of `sup`: recursively for objects (values that are
/// objects, sets or arrays are compared with this same relation), by
/// membership for sets, as a contiguous run for arrays.
fn object_subset(sup: &Map, sub: &Map) -> bool {
    sub.iter().all(|(k, sv)| match sup.get(k) {
        None => false,
        Some(pv) if pv == sv => true,
        Some(Value::Object(po)) => matches!(sv, Value::Object(so) if object_subset(po, so)),
        Some(Value::Set(ps)) => matches!(sv, Value::Set(ss) if ss.is_subset(ps)),
        Some(Value::Array(pa)) => matches!(sv, Value::Array(sa) if array_subset(pa, sa)),
        Some(_) => false,
    })
}

/// Whether `sub` occurs as a contiguous run of elements of `sup`.
fn array_subset(sup: &[Value], sub: &[Value]) -> bool {
    if sub.is_empty() {
        return true;
    }
    if sub.len() > sup.len() {
        return false;
    }
    sup.windows(sub.len()).any(|w| w == sub)
}

/// OPA's array/set subset: walks the array counting elements that are in
/// the set (duplicates count again) and succeeds once the count reaches the
/// set's size; an empty array never succeeds.
fn array_set_subset(sup: &[Value], sub: &Set) -> bool {
    let mut unmatched = sub.len();
    for t in sup {
        if sub.contains(t) {
            unmatched = unmatched.saturating_sub(1);
        }
        if unmatched == 0 {
            return true;
        }
    }
    false
}

fn subset(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let r = match (a.first(), a.get(1)) {
        (Some(Value::Object(p)), Some(Value::Object(s))) => object_subset(p, s),
        (Some(Value::Set(p)), Some(Value::Set(s))) => s.is_subset(p),
        (Some(Value::Array(p)), Some(Value::Array(s))) => array_subset(p, s),
        (Some(Value::Array(p)), Some(Value::Set(s))) => array_set_subset(p, s),
        _ => {
            return Err(BuiltinError::Type("both arguments object.subset must be of the same type or array and set".into()));
        }
    };
    Ok(Value::Bool(r))
}

// ---- JSON paths ----

/// One path: a `/`-separated string or an array of segments.
fn parse_path(v: &Value) -> Result<Vec<Value>, BuiltinError> {
    match v {
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(s
            .trim_start_matches('/')
            .split('/')
            .map(|part| Value::from(part.replace("~1", "/").replace("~0", "~")))
            .collect()),
        Value::Array(a) => Ok(a.to_vec()),
        v => Err(BuiltinError::Type(format!(
            "operand 2 must be one of {{set, array}} containing string paths or array of path segments but got {}",
            v.type_name()
        ))),
    }
}

/// Operand 2 of `json.filter` / `json.remove`.
fn json_paths(a: &[Value]) -> Result<Vec<Vec<Value>>, BuiltinError> {
    match a.get(1) {
        Some(Value::Array(v)) => v.iter().map(parse_path).collect(),
        Some(Value::Set(s)) => s.iter().map(parse_path).collect(),
        Some(v) => Err(type_err(1, "one of {set, array}", v)),
        None => Err(BuiltinError::Eval("missing operand 2".into())),
    }
}

/// A set of paths as a tree: a `Leaf` selects everything beneath it.
#[derive(Debug)]
enum PathTree {
    Leaf,
    Node(BTreeMap<Value, PathTree>),
}

/// Paths can be arbitrarily long: drop the tree without recursion.
impl Drop for PathTree {
    fn drop(&mut self) {
        let mut pending: Vec<PathTree> = match self {
            PathTree::Node(m) => std::mem::take(m).into_values().collect(),
            PathTree::Leaf => return,
        };
        while let Some(mut t) = pending.pop() {
            if let PathTree::Node(m) = &mut t {
                pending.extend(std::mem::take(m).into_values());
            }
        }
    }
}

/// Merges paths into a tree. A shorter path wins over the longer ones it
/// prefixes; empty paths select nothing.
fn paths_to_tree(paths: &[Vec<Value>]) -> BTreeMap<Value, PathTree> {
    let mut root = BTreeMap::new();
    'paths: for path in paths {
        let Some((last, init)) = path.split_last() else { continue };
        let mut node = &mut root;
        for k in init {
            match node.entry(k.clone()).or_insert_with(|| PathTree::Node(BTreeMap::new())) {
                PathTree::Leaf => continue 'paths,
                PathTree::Node(m) => node = m,
            }
        }
        node.insert(last.clone(), PathTree::Leaf);
    }
    root
}

/// Array elements are addressed by their index as a string (`"a/0/b"`).
fn index_key(i: usize) -> Value {
    Value::from(i.to_string())
}

/// Keeps only the parts of `v` selected by `tree`.
fn filter_value(v: &Value, tree: &BTreeMap<Value, PathTree>) -> Value {
    let sub = |v: &Value, t: &PathTree| match t {
        PathTree::Leaf => v.clone(),
        PathTree::Node(m) => filter_value(v, m),
    };
    match v {
        Value::Object(o) => {
            Value::from_map(o.iter().filter_map(|(k, x)| tree.get(k).map(|t| (k.clone(), sub(x, t)))).collect())
        }
        Value::Set(s) => Value::from_set(s.iter().filter_map(|x| tree.get(x).map(|t| sub(x, t))).collect()),
        Value::Array(a) => {
            Value::from_array(a.iter().enumerate().filter_map(|(i, x)| tree.get(&index_key(i)).map(|t| sub(x, t))).collect())
        }
        scalar => scalar.clone(),
    }
}

/// Drops the parts of `v` selected by `tree`.
fn remove_value(v: &Value, tree: &BTreeMap<Value, PathTree>) -> Value {
    let sub = |v: &Value, t: Option<&PathTree>| match t {
        None => Some(v.clone()),
        Some(PathTree::Leaf) => None,
        Some(PathTree::Node(m)) => Some(remove_value(v, m)),
    };
    match v {
        Value::Object(o) => Value::from_map(o.iter().filter_map(|(k, x)| sub(x, tree.get(k)).map(|x| (k.clone(), x))).collect()),
        Value::Set(s) => Value::from_set(s.iter().filter_map(|x| sub(x, tree.get(x))).collect()),
        Value::Array(a) => Value::from_array(a.iter().enumerate().filter_map(|(i, x)| sub(x, tree.get(&index_key(i)))).collect()),
        scalar => scalar.clone(),
    }
}

fn json_filter(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    arg_object(a, 0)?;
    let tree = paths_to_tree(&json_paths(a)?);
    Ok(filter_value(a.first().unwrap_or(&Value::Null), &tree))
}

fn json_remove(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    arg_object(a, 0)?;
    let tree = paths_to_tree(&json_paths(a)?);
    Ok(remove_value(a.first().unwrap_or(&Value::Null), &tree))
}

// ---- json.patch (RFC 6902) ----

type PatchResult<T> = Result<T, BuiltinError>;

fn perr<T>(msg: impl Into<String>) -> PatchResult<T> {
    Err(BuiltinError::Eval(msg.into()))
}

/// An array index from a path segment: an integer, a decimal string without
/// leading zeros, or `-` (one past the end).
fn to_index(len: usize, key: &Value) -> PatchResult<i64> {
    match key {
        Value::Number(crate::number::Number::Int(i)) => Ok(*i),
        Value::Number(_) => perr("invalid number type for indexing"),
        Value::String(s) if &**s == "-" => Ok(len as i64),
        Value::String(s) => {
            let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return perr("invalid string for indexing");
            }
            let Ok(i) = s.parse::<i64>() else { return perr("invalid string for indexing") };
            if &**s != "0" && s.starts_with('0') {
                return perr("leading zeros are not allowed in JSON paths");
            }
            Ok(i)
        }
        _ => perr("invalid type for indexing"),
    }
}

/// The element of an array at `key`, if `key` names an existing index.
fn array_index(arr: &[Value], key: &Value) -> PatchResult<usize> {
    let i = to_index(arr.len(), key)?;
    match usize::try_from(i) {
        Ok(u) if u < arr.len() => Ok(u),
        _ => perr(format!("path {} does not exist in array term {}", i, Value::from_array(arr.to_vec()))),
    }
}

/// The child of a composite value at one path segment.
fn child<'a>(parent: &'a Value, key: &Value) -> PatchResult<&'a Value> {
    match parent {
        Value::Object(o) => match o.get(key) {
            Some(v) => Ok(v),
            None => perr(format!("path {} does not exist in object term {}", key, parent)),
        },
        Value::Set(s) => match s.get(key) {
            Some(v) => Ok(v),
            None => perr(format!("path {} does not exist in set term {}", key, parent)),
        },
        Value::Array(a) => {
            let i = array_index(a, key)?;
            a.get(i).map_or_else(|| perr("index out of range"), Ok)
        }
        scalar => perr(format!("expected composite type for path {}, found value: {} (type: {})", key, scalar, scalar.type_name())),
    }
}

fn get_at<'a>(doc: &'a Value, path: &[Value]) -> PatchResult<&'a Value> {
    path.iter().try_fold(doc, |cur, k| child(cur, k))
}

/// `parent` with the child at `key` (as located by [`child`]) replaced.
fn replace_child(parent: &Value, key: &Value, new: Value) -> PatchResult<Value> {
    match parent {
        Value::Object(o) => {
            let mut m = (**o).clone();
            m.insert(key.clone(), new);
            Ok(Value::from_map(m))
        }
        Value::Set(s) => {
            let mut m = (**s).clone();
            m.remove(key);
            m.insert(new);
            Ok(Value::from_set(m))
        }
        Value::Array(a) => {
            let i = array_index(a, key)?;
            let mut v = a.to_vec();
            if let Some(slot) = v.get_mut(i) {
                *slot = new;
            }
            Ok(Value::from_array(v))
        }
        _ => perr("expected composite type"),
    }
}

/// Applies `f` to the parent of the last segment of `path` (non-empty) and
/// rebuilds the document around its result.
fn edit_at(doc: &Value, path: &[Value], f: &dyn Fn(&Value, &Value) -> PatchResult<Value>) -> PatchResult<Value> {
    match path {
        [] => perr("empty path"),
        [last] => f(doc, last),
        [first, rest @ ..] => {
            let updated = edit_at(child(doc, first)?, rest, f)?;
            replace_child(doc, first, updated)
        }
    }
}

fn insert_child(parent: &Value, key: &Value, value: &Value) -> PatchResult<Value> {
    match parent {
        Value::Object(o) => {
            let mut m = (**o).clone();
            m.insert(key.clone(), value.clone());
            Ok(Value::from_map(m))
        }
        Value::Set(s) => {
            if key != value {
                return perr(format!("set key {} does not equal value to be inserted {}", key, value));
            }
            let mut m = (**s).clone();
            m.insert(value.clone());
            Ok(Value::from_set(m))
        }
        Value::Array(a) => {
            let i = to_index(a.len(), key)?;
            let i = match usize::try_from(i) {
                Ok(i) if i <= a.len() => i,
                _ => return perr("index for array insertion out of bounds"),
            };
            let mut v = a.to_vec();
            v.insert(i, value.clone());
            Ok(Value::from_array(v))
        }
        scalar => perr(format!("expected composite type, found value: {} (type: {})", scalar, scalar.type_name())),
    }
}

fn delete_child(parent: &Value, key: &Value) -> PatchResult<Value> {
    let missing = || perr(format!("cannot delete child key {} that does not exist", key));
    match parent {
        Value::Object(o) => {
            let mut m = (**o).clone();
            if m.remove(key).is_none() {
                return missing();
            }
            Ok(Value::from_map(m))
        }
        Value::Set(s) => {
            let mut m = (**s).clone();
            if !m.remove(key) {
                return missing();
            }
            Ok(Value::from_set(m))
        }
        Value::Array(a) => {
            let i = to_index(a.len(), key)?;
            let i = match usize::try_from(i) {
                Ok(i) if i < a.len() => i,
                _ => return perr("index for array delete out of bounds"),
            };
            let mut v = a.to_vec();
            v.remove(i);
            Ok(Value::from_array(v))
        }
        scalar => perr(format!("expected composite type, found value: {} (type: {})", scalar, scalar.type_name())),
    }
}

/// The document being patched; `None` once the root has been removed.
type Doc = Option<Value>;

fn doc_ref(doc: &Doc) -> PatchResult<&Value> {
    doc.as_ref().map_or_else(|| perr("nil value encountered where composite value was expected"), Ok)
}

fn insert_at(doc: &Doc, path: &[Value], value: &Value) -> PatchResult<Doc> {
    if path.is_empty() {
        return Ok(Some(value.clone()));
    }
    edit_at(doc_ref(doc)?, path, &|p, k| insert_child(p, k, value)).map(Some)
}

fn delete_at(doc: &Doc, path: &[Value]) -> PatchResult<Doc> {
    if path.is_empty() {
        doc_ref(doc)?;
        return Ok(None);
    }
    edit_at(doc_ref(doc)?, path, &delete_child).map(Some)
}

fn render_at(doc: &Doc, path: &[Value]) -> PatchResult<Value> {
    get_at(doc_ref(doc)?, path).cloned()
}

fn attr<'a>(op: &'a Map, name: &str) -> Option<&'a Value> {
    op.get(&Value::from(name))
}

fn required<'a>(op: &'a Map, name: &str) -> PatchResult<&'a Value> {
    attr(op, name).map_or_else(|| perr(format!("missing required attribute '{}'", name)), Ok)
}

fn apply_op(doc: Doc, op: &Value) -> PatchResult<Doc> {
    let Value::Object(op) = op else {
        return perr("must be an array of JSON-Patch objects, but at least one element is not an object");
    };
    let path_v = required(op, "path")?;
    let name = match required(op, "op")? {
        Value::String(s) => s.clone(),
        v => return perr(format!("attribute 'op' must be a string but found: {}", v.type_name())),
    };
    let path = parse_path(path_v)?;
    match &*name {
        "add" => insert_at(&doc, &path, required(op, "value")?),
        "remove" => delete_at(&doc, &path),
        "replace" => {
            let doc = delete_at(&doc, &path)?;
            insert_at(&doc, &path, required(op, "value")?)
        }
        "move" => {
            let from = parse_path(required(op, "from")?)?;
            let chunk = render_at(&doc, &from)?;
            let doc = delete_at(&doc, &from)?;
            insert_at(&doc, &path, &chunk)
        }
        "copy" => {
            let from = parse_path(required(op, "from")?)?;
            let chunk = render_at(&doc, &from)?;
            insert_at(&doc, &path, &chunk)
        }
        "test" => {
            let chunk = render_at(&doc, &path)?;
            let want = required(op, "value")?;
            if &chunk != want {
                return perr(format!("value from EditTree != patch value.\n\nExpected: {}\n\nFound: {}", want, chunk));
            }
            Ok(doc)
        }
        other => perr(format!("unrecognized op: '{}'", other)),
    }
}

fn json_patch(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let ops = arg_array(a, 1)?;
    let mut doc: Doc = Some(a.first().cloned().unwrap_or_default());
    for op in ops.iter() {
        doc = apply_op(doc, op)?;
    }
    doc.map_or_else(|| perr("the patch removed the whole document"), Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> Value {
        Value::from_json_str(s).unwrap_or_else(|e| panic!("bad json {s}: {e}"))
    }
    fn call(f: super::super::BuiltinFn, args: &[Value]) -> BuiltinResult {
        f(&mut Ctx::new(0, true), args)
    }
    fn set(v: Vec<Value>) -> Value {
        Value::from_set(v.into_iter().collect())
    }

    #[test]
    fn get_paths() {
        let o = j(r#"{"a": {"b": [10, {"c": 1}]}}"#);
        assert_eq!(call(get, &[o.clone(), j(r#"["a", "b", 1, "c"]"#), Value::Null]), Ok(Value::int(1)));
        assert_eq!(call(get, &[o.clone(), j(r#"["a", "x"]"#), Value::int(7)]), Ok(Value::int(7)));
        assert_eq!(call(get, &[o.clone(), j("[]"), Value::Null]), Ok(o.clone()));
        assert_eq!(call(get, &[o.clone(), Value::from("z"), Value::Bool(true)]), Ok(Value::Bool(true)));
        assert!(matches!(call(get, &[Value::Null, Value::from("z"), Value::Null]), Err(BuiltinError::Type(_))));
    }

    #[test]
    fn remove_and_filter() {
        let o = j(r#"{"a": 1, "b": 2, "c": 3}"#);
        assert_eq!(call(remove, &[o.clone(), j(r#"["a", "c"]"#)]), Ok(j(r#"{"b": 2}"#)));
        assert_eq!(call(filter, &[o.clone(), j(r#"{"a": 0, "c": 0}"#)]), Ok(j(r#"{"a": 1, "c": 3}"#)));
        assert_eq!(
            call(filter, &[o, Value::Null]),
            Err(BuiltinError::Type("operand 2 must be one of {object, set, array} but got null".into()))
        );
    }

    #[test]
    fn unions() {
        let a = j(r#"{"a": {"b": 1, "c": 2}, "d": 1}"#);
        let b = j(r#"{"a": {"b": 5}, "d": {"x": 1}}"#);
        assert_eq!(call(union, &[a, b]), Ok(j(r#"{"a": {"b": 5, "c": 2}, "d": {"x": 1}}"#)));
        let arr = j(r#"[{"a": {"b": 2}}, {"a": 4}, {"a": {"c": 3}}]"#);
        assert_eq!(call(union_n, &[arr]), Ok(j(r#"{"a": {"c": 3}}"#)));
        assert_eq!(
            call(union_n, &[j(r#"[{}, 1]"#)]),
            Err(BuiltinError::Type("operand 1 must be array of objects but got array containing number".into()))
        );
    }

    #[test]
    fn subsets() {
        let t = |a: &str, b: &str| call(subset, &[j(a), j(b)]);
        assert_eq!(t(r#"{"a": [1, 2, 3, 4], "b": 1}"#, r#"{"a": [2, 3]}"#), Ok(Value::Bool(true)));
        assert_eq!(t(r#"{"a": [1, 2, 3, 4]}"#, r#"{"a": [2, 4]}"#), Ok(Value::Bool(false)));
        assert_eq!(t("[1, 2, 3]", "[]"), Ok(Value::Bool(true)));
        assert_eq!(call(subset, &[j("[1, 2, 3]"), set(vec![Value::int(3), Value::int(1)])]), Ok(Value::Bool(true)));
        assert!(matches!(t("[1]", "{}"), Err(BuiltinError::Type(_))));
    }

    #[test]
    fn json_filter_remove() {
        let o = j(r#"{"a": {"b": {"c": 7, "d": 8}}, "e": 9, "f": [{"x": 1, "y": 2}, 3]}"#);
        let paths = set(vec![Value::from("a/b/c"), Value::from("/f/0/x")]);
        assert_eq!(call(json_filter, &[o.clone(), paths.clone()]), Ok(j(r#"{"a": {"b": {"c": 7}}, "f": [{"x": 1}]}"#)));
        assert_eq!(call(json_remove, &[o.clone(), paths]), Ok(j(r#"{"a": {"b": {"d": 8}}, "e": 9, "f": [{"y": 2}, 3]}"#)));
        let arr_paths = j(r#"[["a", "b"], "a/b/c"]"#);
        assert_eq!(call(json_remove, &[o, arr_paths]), Ok(j(r#"{"a": {}, "e": 9, "f": [{"x": 1, "y": 2}, 3]}"#)));
    }

    #[test]
    fn patch_ops() {
        let p = |doc: &str, ops: &str| call(json_patch, &[j(doc), j(ops)]);
        assert_eq!(p(r#"{"foo": ["bar"]}"#, r#"[{"op": "add", "path": "/foo/-", "value": 1}]"#), Ok(j(r#"{"foo": ["bar", 1]}"#)));
        assert_eq!(
            p(r#"{"foo": ["all", "grass", "cows", "eat"]}"#, r#"[{"op": "move", "from": "/foo/1", "path": "/foo/3"}]"#),
            Ok(j(r#"{"foo": ["all", "cows", "eat", "grass"]}"#))
        );
        assert_eq!(p(r#"{"/": 9, "~1": 10}"#, r#"[{"op": "test", "path": "/~01", "value": 10}]"#), Ok(j(r#"{"/": 9, "~1": 10}"#)));
        assert!(p(r#"["foo", "bar"]"#, r#"[{"op": "test", "path": "/01", "value": "bar"}]"#).is_err());
        assert!(p(r#"{"bar": [1, 2]}"#, r#"[{"op": "add", "path": "/bar/8", "value": 5}]"#).is_err());
        assert!(p(r#"{"foo": 1}"#, r#"[{"op": "remove", "path": "/baz"}]"#).is_err());
        assert_eq!(p("[1, 2, 3, 4]", r#"[{"op": "remove", "path": "/1"}, {"op": "remove", "path": "/2"}]"#), Ok(j("[1, 3]")));
        assert_eq!(p(r#"{"foo": "bar"}"#, r#"[{"op": "replace", "path": "", "value": [1]}]"#), Ok(j("[1]")));
    }

    #[test]
    fn patch_sets() {
        let doc = set(vec![j("[0]"), Value::from("a")]);
        let ops = j(r#"[{"op": "add", "path": [[0], 1], "value": 1}]"#);
        assert_eq!(call(json_patch, &[doc.clone(), ops]), Ok(set(vec![j("[0, 1]"), Value::from("a")])));
        let ops = j(r#"[{"op": "add", "path": ["b"], "value": "b"}, {"op": "remove", "path": ["a"]}]"#);
        assert_eq!(call(json_patch, &[doc, ops]), Ok(set(vec![j("[0]"), Value::from("b")])));
    }

    #[test]
    fn long_paths() {
        let long: Vec<Value> = (0..200_000).map(|_| Value::from("a")).collect();
        let paths = Value::from_array(vec![Value::from_array(long)]);
        let o = j(r#"{"a": {"a": 1}, "b": 2}"#);
        assert_eq!(call(json_remove, &[o.clone(), paths.clone()]), Ok(o.clone()));
        assert_eq!(call(json_filter, &[o, paths]), Ok(j(r#"{"a": {"a": 1}}"#)));
    }
}
