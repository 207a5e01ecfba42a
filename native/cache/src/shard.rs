//! One shard: a hash map from key to slab slot, slots linked in recency order.

use crate::FxBuild;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

const NIL: usize = usize::MAX;

/// Per-entry bookkeeping charged against the byte bound besides key and value.
const ENTRY_OVERHEAD: usize = 64;

struct Slot {
    key: Arc<[u8]>,
    value: Arc<[u8]>,
    expires: Option<Instant>,
    prev: usize,
    next: usize,
}

impl Slot {
    fn cost(&self) -> usize {
        self.key.len() + self.value.len() + ENTRY_OVERHEAD
    }
}

pub(crate) enum Lookup {
    Hit(Arc<[u8]>),
    Expired,
    Miss,
}

pub(crate) struct Shard {
    map: HashMap<Arc<[u8]>, usize, FxBuild>,
    slots: Vec<Option<Slot>>,
    free: Vec<usize>,
    /// Most recently used.
    head: usize,
    /// Least recently used: evicted first.
    tail: usize,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

impl Shard {
    pub(crate) fn new(max_entries: usize, max_bytes: usize) -> Shard {
        Shard {
            map: HashMap::with_hasher(FxBuild),
            slots: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            bytes: 0,
            max_entries,
            max_bytes,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    fn slot(&self, i: usize) -> Option<&Slot> {
        self.slots.get(i).and_then(|s| s.as_ref())
    }

    fn slot_mut(&mut self, i: usize) -> Option<&mut Slot> {
        self.slots.get_mut(i).and_then(|s| s.as_mut())
    }

    fn unlink(&mut self, i: usize) {
        let Some((prev, next)) = self.slot(i).map(|s| (s.prev, s.next)) else { return };
        match self.slot_mut(prev) {
            Some(p) => p.next = next,
            None => self.head = next,
        }
        match self.slot_mut(next) {
            Some(n) => n.prev = prev,
            None => self.tail = prev,
        }
    }

    fn push_front(&mut self, i: usize) {
        let old = self.head;
        if let Some(s) = self.slot_mut(i) {
            s.prev = NIL;
            s.next = old;
        }
        match self.slot_mut(old) {
            Some(h) => h.prev = i,
            None => self.tail = i,
        }
        self.head = i;
    }

    fn drop_slot(&mut self, i: usize) {
        self.unlink(i);
        if let Some(s) = self.slots.get_mut(i).and_then(Option::take) {
            self.bytes -= s.cost();
            self.map.remove(&s.key);
            self.free.push(i);
        }
    }

    pub(crate) fn get(&mut self, key: &[u8], now: Instant) -> Lookup {
        let Some(&i) = self.map.get(key) else { return Lookup::Miss };
        let Some(slot) = self.slot(i) else { return Lookup::Miss };
        if slot.expires.is_some_and(|e| e <= now) {
            self.drop_slot(i);
            return Lookup::Expired;
        }
        let v = slot.value.clone();
        if self.head != i {
            self.unlink(i);
            self.push_front(i);
        }
        Lookup::Hit(v)
    }

    /// Inserts or replaces; returns the number of entries evicted to make
    /// room, or `None` when the entry can never fit.
    pub(crate) fn insert(&mut self, key: &[u8], value: &[u8], expires: Option<Instant>) -> Option<u64> {
        let cost = key.len() + value.len() + ENTRY_OVERHEAD;
        if cost > self.max_bytes {
            self.remove(key);
            return None;
        }
        if let Some(&i) = self.map.get(key) {
            self.drop_slot(i);
        }
        let mut evicted = 0u64;
        while self.tail != NIL && (self.map.len() + 1 > self.max_entries || self.bytes + cost > self.max_bytes) {
            let t = self.tail;
            self.drop_slot(t);
            evicted += 1;
        }
        let key: Arc<[u8]> = Arc::from(key);
        let slot = Slot { key: key.clone(), value: Arc::from(value), expires, prev: NIL, next: NIL };
        // A free index always names an empty slot.
        let i = match self.free.pop().and_then(|i| Some((i, self.slots.get_mut(i)?))) {
            Some((i, free)) => {
                *free = Some(slot);
                i
            }
            None => {
                self.slots.push(Some(slot));
                self.slots.len() - 1
            }
        };
        self.bytes += cost;
        self.map.insert(key, i);
        self.push_front(i);
        Some(evicted)
    }

    pub(crate) fn remove(&mut self, key: &[u8]) -> bool {
        match self.map.get(key) {
            Some(&i) => {
                self.drop_slot(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.slots.clear();
        self.free.clear();
        self.head = NIL;
        self.tail = NIL;
        self.bytes = 0;
    }
}
