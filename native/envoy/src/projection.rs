//! Which parts of a CheckRequest to decode: the input paths a policy can
//! read, plus what the derived fields (`parsed_path`, `parsed_query`,
//! `parsed_body`, header folding) and request validation always need.
//! Fields outside the projection are skipped on the wire, never built.
//! The policy cannot observe the difference: it reads only its paths.

use sark_engine::Value;

/// A node of the path tree; `all` takes the whole subtree.
#[derive(Clone, Debug, Default)]
pub struct Node {
    pub all: bool,
    /// Few per node: a linear scan beats hashing.
    pub children: Vec<(Box<str>, Node)>,
}

impl Node {
    fn insert(&mut self, path: &[&str]) {
        if self.all {
            return;
        }
        match path.split_first() {
            None => {
                self.all = true;
                self.children.clear();
            }
            Some((first, rest)) => {
                if !self.children.iter().any(|(k, _)| &**k == *first) {
                    self.children.push((Box::from(*first), Node::default()));
                }
                if let Some((_, child)) = self.children.iter_mut().find(|(k, _)| &**k == *first) {
                    child.insert(rest);
                }
            }
        }
    }

    /// What to decode below key `k` of this node.
    pub fn child(&self, k: &str) -> Option<Sel<'_>> {
        self.child_bytes(k.as_bytes())
    }

    /// As `child`, for a key still in wire bytes (not yet checked to be UTF-8).
    pub fn child_bytes(&self, k: &[u8]) -> Option<Sel<'_>> {
        if self.all {
            return Some(Sel::All);
        }
        self.children.iter().find(|(name, _)| name.as_bytes() == k).map(|(_, n)| if n.all { Sel::All } else { Sel::Some(n) })
    }
}

/// A selection while decoding: everything, or the parts a node names.
#[derive(Clone, Copy, Debug)]
pub enum Sel<'a> {
    All,
    Some(&'a Node),
}

impl<'a> Sel<'a> {
    pub fn child(self, k: &str) -> Option<Sel<'a>> {
        self.child_bytes(k.as_bytes())
    }
    pub fn child_bytes(self, k: &[u8]) -> Option<Sel<'a>> {
        match self {
            Sel::All => Some(Sel::All),
            Sel::Some(n) => n.child_bytes(k),
        }
    }
    pub fn is_all(self) -> bool {
        matches!(self, Sel::All)
    }
}

/// The projection of one prepared decision, for one API version's names.
#[derive(Clone, Debug)]
pub struct Projection {
    /// Below `attributes`.
    pub attributes: Node,
    /// Top-level keys of the input the decision reads (all when `top_all`).
    top_keys: Vec<String>,
    top_all: bool,
}

/// Header entries request validation and body parsing read.
const BODY_HEADERS: [&str; 3] = ["content-type", "content-length", "x-envoy-auth-partial-body"];

impl Projection {
    /// From the engine's input paths (steps after `input`; `[]` = the whole
    /// input). `json_names`: v3 (`rawBody`) or v2 (`raw_body`) field names.
    pub fn from_input_paths(paths: &[Vec<Value>], json_names: bool) -> Projection {
        let mut attributes = Node::default();
        let mut top_keys = Vec::new();
        let mut top_all = false;
        for path in paths {
            match path.first() {
                None => top_all = true,
                Some(Value::String(k)) => top_keys.push(k.to_string()),
                Some(_) => {}
            }
            let steps: Vec<&str> = path.iter().map_while(|s| s.as_str()).collect();
            // A non-string step (an array index, a number) keeps its prefix whole.
            match steps.split_first() {
                None => attributes.insert(&[]),
                Some((&"attributes", rest)) => attributes.insert(rest),
                Some(_) => {}
            }
        }
        let (raw_body, header_map) = if json_names { ("rawBody", "headerMap") } else { ("raw_body", "header_map") };
        for field in ["path", "body", raw_body, header_map] {
            attributes.insert(&["request", "http", field]);
        }
        for h in BODY_HEADERS {
            attributes.insert(&["request", "http", "headers", h]);
        }
        // source_principal is derived from attributes.source.principal.
        attributes.insert(&["source", "principal"]);
        Projection { attributes, top_keys, top_all }
    }

    /// Whether the decision can read top-level input key `k` (`parsed_query`, ...).
    pub fn wants(&self, k: &str) -> bool {
        self.top_all || self.top_keys.iter().any(|t| t == k)
    }

    pub fn attributes(&self) -> Sel<'_> {
        if self.attributes.all {
            Sel::All
        } else {
            Sel::Some(&self.attributes)
        }
    }
}
