//! Rego objects: an ordered map from values to values, compact in memory.
//!
//! Most objects are small, so the usual form is one sorted vector of
//! entries (a binary search to read, one allocation). Objects read from a
//! JSON document share their sorted key list with every object of the same
//! keys (a "shape"): a data document of a million `{"id":..,"name":..}`
//! records stores the keys once, and each record only its values. A large
//! object that grows by inserts in the middle becomes a B-tree, so building
//! one stays O(n log n). The form never shows: iteration is in key order
//! and equality, order and hashing depend on the entries alone.

use crate::value::{Str, Value, STRING_RANK};
use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// An insert in the middle of a vector longer than this turns it into a B-tree.
const VEC_MAX: usize = 32;

#[derive(Clone, Default)]
pub struct Map(Repr);

#[derive(Clone)]
enum Repr {
    /// Sorted by key, keys unique.
    Vec(Vec<(Value, Value)>),
    /// `keys` sorted and unique, shared with other objects; `vals[i]` belongs to `keys[i]`.
    Shaped { keys: Arc<[Value]>, vals: Box<[Value]> },
    Tree(BTreeMap<Value, Value>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Vec(Vec::new())
    }
}

/// Objects up to this size are searched by a scan rather than by halving.
const SCAN_MAX: usize = 8;

/// Key order. Object keys are nearly always strings: comparing them here,
/// inline, saves the general `Value::cmp` dispatch on every probe.
#[inline]
fn key_cmp(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        _ => a.cmp(b),
    }
}

/// Binary search of a sorted key list for `key`.
#[inline]
fn find(keys: &[Value], key: &Value) -> Result<usize, usize> {
    keys.binary_search_by(|k| key_cmp(k, key))
}

impl Map {
    pub const fn new() -> Map {
        Map(Repr::Vec(Vec::new()))
    }

    /// Room for `n` entries before the first reallocation.
    pub fn with_capacity(n: usize) -> Map {
        Map(Repr::Vec(Vec::with_capacity(n)))
    }

    /// Values for a shared sorted key list (`keys.len() == vals.len()`).
    fn shaped(keys: Arc<[Value]>, vals: Box<[Value]>) -> Map {
        debug_assert_eq!(keys.len(), vals.len());
        debug_assert!(keys.windows(2).all(|w| w[0] < w[1]));
        Map(Repr::Shaped { keys, vals })
    }

    pub fn len(&self) -> usize {
        match &self.0 {
            Repr::Vec(v) => v.len(),
            Repr::Shaped { keys, .. } => keys.len(),
            Repr::Tree(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, key: &Value) -> Option<&Value> {
        if let Value::String(ks) = key {
            if let Some(found) = self.scan(|s| s == ks) {
                return found;
            }
        }
        match &self.0 {
            Repr::Vec(v) => v.binary_search_by(|(k, _)| key_cmp(k, key)).ok().map(|i| &v[i].1),
            Repr::Shaped { keys, vals } => find(keys, key).ok().map(|i| &vals[i]),
            Repr::Tree(t) => t.get(key),
        }
    }

    /// `get` for a string key, without making a `Value` of it.
    pub fn get_str(&self, key: &str) -> Option<&Value> {
        if let Some(found) = self.scan(|s| s.as_str() == key) {
            return found;
        }
        let probe = |k: &Value| match k {
            Value::String(s) => s.cmp_str(key),
            // Keys of other types sit before (scalars) or after (collections) strings.
            other => other.type_rank().cmp(&STRING_RANK),
        };
        match &self.0 {
            Repr::Vec(v) => v.binary_search_by(|(k, _)| probe(k)).ok().map(|i| &v[i].1),
            Repr::Shaped { keys, vals } => keys.binary_search_by(probe).ok().map(|i| &vals[i]),
            Repr::Tree(t) => t.get(&Value::string(key)),
        }
    }

    /// Small objects (most of an input document) are searched by a scan of
    /// equality tests on string keys: short strings compare as words, cheaper
    /// than ordering them. The value of the key `is_key` accepts (`Some(None)`:
    /// absent); `None` for an object large enough to be searched by halving.
    #[inline]
    fn scan(&self, is_key: impl Fn(&Str) -> bool) -> Option<Option<&Value>> {
        let key_of = |k: &Value| matches!(k, Value::String(s) if is_key(s));
        match &self.0 {
            Repr::Vec(v) if v.len() <= SCAN_MAX => Some(v.iter().find(|(k, _)| key_of(k)).map(|(_, x)| x)),
            Repr::Shaped { keys, vals } if keys.len() <= SCAN_MAX => Some(keys.iter().position(key_of).map(|i| &vals[i])),
            _ => None,
        }
    }

    pub fn contains_key(&self, key: &Value) -> bool {
        self.get(key).is_some()
    }

    pub fn get_mut(&mut self, key: &Value) -> Option<&mut Value> {
        match &mut self.0 {
            Repr::Vec(v) => match v.binary_search_by(|(k, _)| key_cmp(k, key)) {
                Ok(i) => Some(&mut v[i].1),
                Err(_) => None,
            },
            Repr::Shaped { keys, vals } => match find(keys, key) {
                Ok(i) => Some(&mut vals[i]),
                Err(_) => None,
            },
            Repr::Tree(t) => t.get_mut(key),
        }
    }

    /// Inserts or replaces; returns the value replaced.
    pub fn insert(&mut self, key: Value, val: Value) -> Option<Value> {
        // Appending in key order (documents built in key order, sorted
        // sources) is one comparison and a push, without the general path.
        if let Repr::Vec(v) = &mut self.0 {
            if v.last().is_none_or(|(last, _)| key_cmp(last, &key) == Ordering::Less) {
                v.push((key, val));
                return None;
            }
        }
        match self.search(&key) {
            Ok(i) => Some(std::mem::replace(self.value_at_mut(i, &key), val)),
            Err(at) => {
                self.insert_at(at, key, val);
                None
            }
        }
    }

    /// Where `key` is (`Ok`) or would go (`Err`) in the vector or shaped
    /// form; for a tree, `Ok(0)` or `Err(0)`. One search.
    fn search(&self, key: &Value) -> Result<usize, usize> {
        match &self.0 {
            Repr::Vec(v) => match v.last() {
                // Appending in key order (sorted sources, protobuf fields) skips the search.
                Some((last, _)) if key_cmp(last, key) == Ordering::Less => Err(v.len()),
                None => Err(0),
                _ => v.binary_search_by(|(k, _)| key_cmp(k, key)),
            },
            Repr::Shaped { keys, .. } => find(keys, key),
            Repr::Tree(t) => {
                if t.contains_key(key) {
                    Ok(0)
                } else {
                    Err(0)
                }
            }
        }
    }

    /// The value found by `search` (`key` is only read for a tree).
    #[allow(clippy::expect_used)] // `search` just found the key
    fn value_at_mut(&mut self, i: usize, key: &Value) -> &mut Value {
        match &mut self.0 {
            Repr::Vec(v) => &mut v[i].1,
            Repr::Shaped { vals, .. } => &mut vals[i],
            Repr::Tree(t) => t.get_mut(key).expect("found by search"),
        }
    }

    /// Inserts a key known to be absent, at `at` in the vector form.
    fn insert_at(&mut self, at: usize, key: Value, val: Value) {
        self.unshare();
        match &mut self.0 {
            Repr::Vec(v) => {
                if at < v.len() && v.len() >= VEC_MAX {
                    let mut t: BTreeMap<Value, Value> = std::mem::take(v).into_iter().collect();
                    t.insert(key, val);
                    self.0 = Repr::Tree(t);
                } else {
                    v.insert(at, (key, val));
                }
            }
            Repr::Tree(t) => {
                t.insert(key, val);
            }
            Repr::Shaped { .. } => unreachable!("unshared above"),
        }
    }

    /// Turns a shaped map into a vector before its key list changes.
    #[inline]
    fn unshare(&mut self) {
        if matches!(self.0, Repr::Shaped { .. }) {
            self.unshare_shaped();
        }
    }

    fn unshare_shaped(&mut self) {
        if let Repr::Shaped { keys, vals } = &mut self.0 {
            let vals = std::mem::take(vals).into_vec();
            let v: Vec<(Value, Value)> = keys.iter().cloned().zip(vals).collect();
            self.0 = Repr::Vec(v);
        }
    }

    pub fn remove(&mut self, key: &Value) -> Option<Value> {
        if !self.contains_key(key) {
            return None;
        }
        self.unshare();
        match &mut self.0 {
            Repr::Vec(v) => {
                let i = v.binary_search_by(|(k, _)| key_cmp(k, key)).ok()?;
                Some(v.remove(i).1)
            }
            Repr::Tree(t) => t.remove(key),
            Repr::Shaped { .. } => unreachable!("unshared above"),
        }
    }

    /// The value at `key`, inserted by `f` when absent.
    pub fn get_or_insert_with(&mut self, key: Value, f: impl FnOnce() -> Value) -> &mut Value {
        match self.search(&key) {
            Ok(i) => self.value_at_mut(i, &key),
            Err(at) => {
                self.insert_at(at, key.clone(), f());
                match self.search(&key) {
                    Ok(i) => self.value_at_mut(i, &key),
                    Err(_) => unreachable!("just inserted"),
                }
            }
        }
    }

    pub fn entry(&mut self, key: Value) -> Entry<'_> {
        Entry { map: self, key }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&Value, &mut Value) -> bool) {
        self.unshare();
        match &mut self.0 {
            Repr::Vec(v) => v.retain_mut(|(k, val)| keep(k, val)),
            Repr::Tree(t) => t.retain(|k, val| keep(k, val)),
            Repr::Shaped { .. } => unreachable!("unshared above"),
        }
    }

    pub fn iter(&self) -> Iter<'_> {
        Iter(match &self.0 {
            Repr::Vec(v) => IterRepr::Vec(v.iter()),
            Repr::Shaped { keys, vals } => IterRepr::Shaped(keys.iter().zip(vals.iter())),
            Repr::Tree(t) => IterRepr::Tree(t.iter()),
        })
    }

    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(match &mut self.0 {
            Repr::Vec(v) => IterMutRepr::Vec(v.iter_mut()),
            Repr::Shaped { keys, vals } => IterMutRepr::Shaped(keys.iter().zip(vals.iter_mut())),
            Repr::Tree(t) => IterMutRepr::Tree(t.iter_mut()),
        })
    }

    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.iter().map(|(_, v)| v)
    }

}

/// `map.entry(k).or_insert_with(..)`, as on a BTreeMap.
pub struct Entry<'a> {
    map: &'a mut Map,
    key: Value,
}

impl<'a> Entry<'a> {
    pub fn or_insert_with(self, f: impl FnOnce() -> Value) -> &'a mut Value {
        self.map.get_or_insert_with(self.key, f)
    }
    pub fn or_insert(self, v: Value) -> &'a mut Value {
        self.map.get_or_insert_with(self.key, || v)
    }
    pub fn or_default(self) -> &'a mut Value {
        self.map.get_or_insert_with(self.key, Value::default)
    }
}

pub struct Iter<'a>(IterRepr<'a>);

enum IterRepr<'a> {
    Vec(std::slice::Iter<'a, (Value, Value)>),
    Shaped(std::iter::Zip<std::slice::Iter<'a, Value>, std::slice::Iter<'a, Value>>),
    Tree(std::collections::btree_map::Iter<'a, Value, Value>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a Value, &'a Value);
    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Vec(it) => it.next().map(|(k, v)| (k, v)),
            IterRepr::Shaped(it) => it.next(),
            IterRepr::Tree(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterRepr::Vec(it) => it.size_hint(),
            IterRepr::Shaped(it) => it.size_hint(),
            IterRepr::Tree(it) => it.size_hint(),
        }
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterRepr::Vec(it) => it.next_back().map(|(k, v)| (k, v)),
            IterRepr::Shaped(it) => it.next_back(),
            IterRepr::Tree(it) => it.next_back(),
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

pub struct IterMut<'a>(IterMutRepr<'a>);

enum IterMutRepr<'a> {
    Vec(std::slice::IterMut<'a, (Value, Value)>),
    Shaped(std::iter::Zip<std::slice::Iter<'a, Value>, std::slice::IterMut<'a, Value>>),
    Tree(std::collections::btree_map::IterMut<'a, Value, Value>),
}

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a Value, &'a mut Value);
    fn next(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterMutRepr::Vec(it) => it.next().map(|(k, v)| (&*k, v)),
            IterMutRepr::Shaped(it) => it.next(),
            IterMutRepr::Tree(it) => it.next(),
        }
    }
}

impl DoubleEndedIterator for IterMut<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match &mut self.0 {
            IterMutRepr::Vec(it) => it.next_back().map(|(k, v)| (&*k, v)),
            IterMutRepr::Shaped(it) => it.next_back(),
            IterMutRepr::Tree(it) => it.next_back(),
        }
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a Value, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl IntoIterator for Map {
    type Item = (Value, Value);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter(match self.0 {
            Repr::Vec(v) => IntoIterRepr::Vec(v.into_iter()),
            Repr::Shaped { keys, vals } => IntoIterRepr::Shaped(keys, vals.into_vec().into_iter(), 0),
            Repr::Tree(t) => IntoIterRepr::Tree(t.into_iter()),
        })
    }
}

pub struct IntoIter(IntoIterRepr);

enum IntoIterRepr {
    Vec(std::vec::IntoIter<(Value, Value)>),
    Shaped(Arc<[Value]>, std::vec::IntoIter<Value>, usize),
    Tree(std::collections::btree_map::IntoIter<Value, Value>),
}

impl Iterator for IntoIter {
    type Item = (Value, Value);
    fn next(&mut self) -> Option<(Value, Value)> {
        match &mut self.0 {
            IntoIterRepr::Vec(it) => it.next(),
            IntoIterRepr::Shaped(keys, vals, i) => {
                let v = vals.next()?;
                let k = keys[*i].clone();
                *i += 1;
                Some((k, v))
            }
            IntoIterRepr::Tree(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IntoIterRepr::Vec(it) => it.size_hint(),
            IntoIterRepr::Shaped(_, it, _) => it.size_hint(),
            IntoIterRepr::Tree(it) => it.size_hint(),
        }
    }
}

impl FromIterator<(Value, Value)> for Map {
    /// Later entries win over earlier ones with an equal key, as repeated inserts would.
    fn from_iter<I: IntoIterator<Item = (Value, Value)>>(iter: I) -> Map {
        let mut v: Vec<(Value, Value)> = iter.into_iter().collect();
        if !v.windows(2).all(|w| w[0].0 < w[1].0) {
            // A stable sort keeps equal keys in arrival order; keep the last of each run.
            v.sort_by(|a, b| a.0.cmp(&b.0));
            let mut out: Vec<(Value, Value)> = Vec::with_capacity(v.len());
            for e in v {
                match out.last_mut() {
                    Some(last) if last.0 == e.0 => *last = e,
                    _ => out.push(e),
                }
            }
            v = out;
        }
        Map(Repr::Vec(v))
    }
}

impl<const N: usize> From<[(Value, Value); N]> for Map {
    fn from(entries: [(Value, Value); N]) -> Map {
        entries.into_iter().collect()
    }
}

impl Extend<(Value, Value)> for Map {
    fn extend<I: IntoIterator<Item = (Value, Value)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        if let (Repr::Shaped { keys: a, vals: x }, Repr::Shaped { keys: b, vals: y }) = (&self.0, &other.0) {
            if Arc::ptr_eq(a, b) {
                return x == y;
            }
        }
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Map {}

impl PartialOrd for Map {
    fn partial_cmp(&self, other: &Map) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Map {
    fn cmp(&self, other: &Map) -> Ordering {
        self.iter().cmp(other.iter())
    }
}

impl Hash for Map {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_usize(self.len());
        for (k, v) in self.iter() {
            k.hash(state);
            v.hash(state);
        }
    }
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// Interns key lists while a JSON document is read, so objects with the same
/// keys share one list. Bounded: past the limits objects keep their own keys.
#[derive(Default)]
pub struct Shapes {
    table: std::collections::HashMap<Arc<[Value]>, ()>,
}

/// Objects with more keys than this are rarely repeated record shapes.
const SHAPE_MAX_KEYS: usize = 64;
const SHAPE_MAX_ENTRIES: usize = 1 << 14;

impl Shapes {
    /// A map from parsed entries (in document order, later duplicates win).
    pub fn map(&mut self, entries: Vec<(Value, Value)>) -> Map {
        let Map(Repr::Vec(sorted)) = Map::from_iter(entries) else { unreachable!("from_iter builds a vector") };
        if sorted.is_empty() || sorted.len() > SHAPE_MAX_KEYS {
            return Map(Repr::Vec(sorted));
        }
        let (keys, vals): (Vec<Value>, Vec<Value>) = sorted.into_iter().unzip();
        let keys = match self.table.get_key_value(keys.as_slice()) {
            Some((shared, _)) => shared.clone(),
            None => {
                let k: Arc<[Value]> = keys.into();
                if self.table.len() < SHAPE_MAX_ENTRIES {
                    self.table.insert(k.clone(), ());
                }
                k
            }
        };
        Map::shaped(keys, vals.into_boxed_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value {
        Value::from(x)
    }

    #[test]
    fn string_lookups_agree_with_value_lookups_among_keys_of_every_type() {
        let long = "a key longer than twenty-two bytes";
        let keys = [Value::Null, Value::Bool(true), Value::int(3), s(""), s("a"), s("ab"), s(long), Value::from_array(vec![s("a")]), Value::empty_object()];
        let entries: Vec<(Value, Value)> = keys.iter().enumerate().map(|(i, k)| (k.clone(), Value::int(i as i64))).collect();
        let vec_form: Map = entries.iter().cloned().collect();
        let mut tree_form = Map::new();
        for (k, v) in entries.iter().cloned().chain((0..40).map(|i| (s(&format!("k{i:02}")), Value::Null))) {
            tree_form.insert(k, v);
        }
        for m in [&vec_form, &tree_form] {
            for probe in ["", "a", "ab", "b", long, "k07", "zz"] {
                assert_eq!(m.get_str(probe), m.get(&s(probe)), "{probe:?}");
            }
        }
        assert_eq!(vec_form.get_str("ab"), Some(&Value::int(5)));
        assert_eq!(vec_form.get_str("b"), None);
    }

    #[test]
    fn small_objects_scanned_find_what_larger_ones_search() {
        // Around the scan limit, in the vector and shaped forms, with keys of other types beside.
        for n in [0, 1, SCAN_MAX - 1, SCAN_MAX, SCAN_MAX + 1, 3 * SCAN_MAX] {
            let mut entries: Vec<(Value, Value)> = (0..n).map(|i| (s(&format!("key{i}")), Value::int(i as i64))).collect();
            entries.push((Value::int(1), s("number key")));
            entries.sort();
            let vec_form: Map = entries.iter().cloned().collect();
            let shaped = Shapes::default().map(entries.clone());
            for m in [&vec_form, &shaped] {
                for i in 0..n {
                    let k = format!("key{i}");
                    assert_eq!(m.get(&s(&k)), Some(&Value::int(i as i64)), "{n}: {k}");
                    assert_eq!(m.get_str(&k), Some(&Value::int(i as i64)), "{n}: {k}");
                }
                assert_eq!(m.get(&s("absent")), None);
                assert_eq!(m.get_str("key"), None);
                assert_eq!(m.get(&Value::int(1)), Some(&s("number key")));
                assert_eq!(m.get(&s("1")), None, "a string key is not the number");
            }
        }
    }

    #[test]
    fn every_form_reads_alike() {
        let entries: Vec<(Value, Value)> = (0..50).rev().map(|i| (Value::int(i), s(&i.to_string()))).collect();
        let vec_form: Map = entries.iter().cloned().collect();
        let mut tree_form = Map::new();
        for (k, v) in entries.iter().cloned() {
            tree_form.insert(k, v);
        }
        let mut shapes = Shapes::default();
        let shaped = shapes.map(entries.clone());
        for m in [&vec_form, &tree_form, &shaped] {
            assert_eq!(m.len(), 50);
            assert_eq!(m.get(&Value::int(7)), Some(&s("7")));
            assert_eq!(m.get(&Value::int(70)), None);
            let keys: Vec<_> = m.keys().cloned().collect();
            assert_eq!(keys, (0..50).map(Value::int).collect::<Vec<_>>());
            assert_eq!(m.iter().next_back().map(|(k, _)| k.clone()), Some(Value::int(49)));
        }
        assert_eq!(vec_form, tree_form);
        assert_eq!(vec_form, shaped);
        assert_eq!(vec_form.cmp(&shaped), Ordering::Equal);
        let h = |m: &Map| {
            let mut st = std::collections::hash_map::DefaultHasher::new();
            m.hash(&mut st);
            st.finish()
        };
        assert_eq!(h(&vec_form), h(&tree_form));
        assert_eq!(h(&vec_form), h(&shaped));
    }

    #[test]
    fn values_change_in_place_in_every_form() {
        let entries: Vec<(Value, Value)> = (0..40).map(|i| (Value::int(i), Value::int(i))).collect();
        let mut shapes = Shapes::default();
        let mut tree = Map::new();
        for (k, v) in entries.iter().rev().cloned() {
            tree.insert(k, v);
        }
        for mut m in [entries.iter().cloned().collect::<Map>(), shapes.map(entries.clone()), tree] {
            for (k, v) in m.iter_mut() {
                *v = Value::int(k.as_number().and_then(|n| n.as_i64()).unwrap() * 2);
            }
            assert_eq!(m.get(&Value::int(39)), Some(&Value::int(78)));
            assert_eq!(m.iter_mut().next_back().map(|(k, _)| k.clone()), Some(Value::int(39)));
        }
    }

    #[test]
    fn later_duplicates_win() {
        let m: Map = vec![(s("a"), Value::int(1)), (s("b"), Value::int(2)), (s("a"), Value::int(3))].into_iter().collect();
        assert_eq!(m.len(), 2);
        assert_eq!(m.get(&s("a")), Some(&Value::int(3)));
    }

    #[test]
    fn shaped_maps_share_keys_and_unshare_on_change() {
        let mut shapes = Shapes::default();
        let a = shapes.map(vec![(s("id"), Value::int(1)), (s("name"), s("x"))]);
        let mut b = shapes.map(vec![(s("name"), s("y")), (s("id"), Value::int(2))]);
        match (&a.0, &b.0) {
            (Repr::Shaped { keys: ka, .. }, Repr::Shaped { keys: kb, .. }) => assert!(Arc::ptr_eq(ka, kb)),
            _ => panic!("expected shaped maps"),
        }
        *b.get_mut(&s("id")).unwrap() = Value::int(5);
        assert!(matches!(b.0, Repr::Shaped { .. }), "changing a value keeps the shape");
        b.insert(s("role"), s("admin"));
        assert_eq!(b.keys().cloned().collect::<Vec<_>>(), vec![s("id"), s("name"), s("role")]);
        assert_eq!(b.remove(&s("name")), Some(s("y")));
        assert_eq!(b.len(), 2);
        assert_eq!(a.get(&s("id")), Some(&Value::int(1)), "the other map is untouched");
    }

    #[test]
    fn inserts_and_removes_keep_order() {
        let mut m = Map::new();
        for i in [5, 1, 9, 3, 7] {
            assert_eq!(m.insert(Value::int(i), Value::int(i * 10)), None);
        }
        assert_eq!(m.insert(Value::int(3), Value::int(0)), Some(Value::int(30)));
        assert_eq!(m.remove(&Value::int(9)), Some(Value::int(90)));
        assert_eq!(m.keys().cloned().collect::<Vec<_>>(), [1, 3, 5, 7].map(Value::int).to_vec());
        *m.entry(Value::int(2)).or_insert_with(|| Value::int(0)) = Value::int(20);
        assert_eq!(m.get(&Value::int(2)), Some(&Value::int(20)));
        m.retain(|k, _| *k != Value::int(1));
        assert_eq!(m.len(), 4);
        let owned: Vec<_> = m.into_iter().map(|(k, _)| k).collect();
        assert_eq!(owned, [2, 3, 5, 7].map(Value::int).to_vec());
    }
}
