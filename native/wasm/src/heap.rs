//! The ABI's heap, as the host sees it: every block (`opa_malloc`), value
//! (`opa_json_parse`), dumped string and evaluation context gets an address
//! and a sequence number. OPA's hosts reset the heap between evaluations
//! with `opa_heap_ptr_set(mark)` on a mark from `opa_heap_ptr_get`: here the
//! mark is a sequence number and the reset frees everything made after it.
//! (A real bump pointer cannot be given: Rust's allocator owns the memory.)

use sark_engine::Value;
use std::cell::RefCell;
use std::collections::HashMap;

/// What an ABI address refers to.
pub enum Object {
    Bytes(Box<[u8]>),
    Value(Box<Value>),
    Ctx(Box<EvalCtx>),
}

/// An evaluation context (`opa_eval_ctx_new`): addresses of input and data,
/// the entrypoint, and the result once evaluated.
#[derive(Default)]
pub struct EvalCtx {
    pub input: u32,
    pub data: u32,
    pub entrypoint: u32,
    pub result: u32,
}

#[derive(Default)]
struct Heap {
    objects: HashMap<u32, (u32, Object)>,
    next_seq: u32,
}

thread_local! {
    static HEAP: RefCell<Heap> = RefCell::new(Heap { objects: HashMap::new(), next_seq: 1 });
}

fn address_of(o: &Object) -> u32 {
    (match o {
        Object::Bytes(b) => b.as_ptr() as usize,
        Object::Value(v) => &**v as *const Value as usize,
        Object::Ctx(c) => &**c as *const EvalCtx as usize,
    }) as u32
}

/// Registers `o`; its address.
pub fn put(o: Object) -> u32 {
    let addr = address_of(&o);
    HEAP.with(|h| {
        let mut h = h.borrow_mut();
        let seq = h.next_seq;
        h.next_seq += 1;
        h.objects.insert(addr, (seq, o));
    });
    addr
}

/// The value at `addr`, cloned (values are reference counted: cheap).
pub fn value(addr: u32) -> Option<Value> {
    HEAP.with(|h| match h.borrow().objects.get(&addr) {
        Some((_, Object::Value(v))) => Some((**v).clone()),
        _ => None,
    })
}

/// The bytes of block `addr`, if it is one.
pub fn with_bytes<T>(addr: u32, f: impl FnOnce(&[u8]) -> T) -> Option<T> {
    HEAP.with(|h| match h.borrow().objects.get(&addr) {
        Some((_, Object::Bytes(b))) => Some(f(b)),
        _ => None,
    })
}

/// Runs `f` on context `addr`.
pub fn with_ctx<T>(addr: u32, f: impl FnOnce(&mut EvalCtx) -> T) -> Option<T> {
    HEAP.with(|h| match h.borrow_mut().objects.get_mut(&addr) {
        Some((_, Object::Ctx(c))) => Some(f(c)),
        _ => None,
    })
}

/// The sequence number `addr` was registered with: with the address, an identity.
pub fn seq(addr: u32) -> Option<u32> {
    HEAP.with(|h| h.borrow().objects.get(&addr).map(|(s, _)| *s))
}

pub fn free(addr: u32) {
    let gone = HEAP.with(|h| h.borrow_mut().objects.remove(&addr));
    drop(gone);
}

/// The mark `opa_heap_ptr_get` returns.
pub fn mark() -> u32 {
    HEAP.with(|h| h.borrow().next_seq)
}

/// Frees everything registered at or after `mark`.
pub fn reset(mark: u32) {
    let gone: Vec<(u32, Object)> = HEAP.with(|h| {
        let mut h = h.borrow_mut();
        let addrs: Vec<u32> = h.objects.iter().filter(|(_, (s, _))| *s >= mark).map(|(a, _)| *a).collect();
        addrs.into_iter().filter_map(|a| h.objects.remove(&a)).collect()
    });
    drop(gone);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_frees_what_came_after_the_mark() {
        let kept = put(Object::Value(Box::new(Value::from("kept"))));
        let m = mark();
        let gone = put(Object::Value(Box::new(Value::from("gone"))));
        reset(m);
        assert!(value(kept).is_some());
        assert!(value(gone).is_none());
    }
}
