//! Builtins the evaluator implements itself (they need its state: unification,
//! iteration, output). Declared here so that the registry, capabilities and the
//! compiler's arity checks know them; `func` is `None`.

use super::{Builtin, Registry};

/// Declares a builtin unless a category file already registered it (a real
/// implementation always wins over a declaration).
fn lang(r: &mut Registry, name: &'static str, decl: &'static str, infix: Option<&'static str>, deterministic: bool) {
    if r.get(name).is_none() {
        r.add(Builtin { name, decl, infix, deterministic, category: "language", func: None });
    }
}

pub fn register(r: &mut Registry) {
    lang(r, "eq", "(any, any) => boolean", Some("="), true);
    lang(r, "assign", "(any, any) => boolean", Some(":="), true);
    lang(r, "internal.member_2", "(any, any) => boolean", Some("in"), true);
    lang(r, "internal.member_3", "(any, any, any) => boolean", Some("in"), true);
    lang(r, "walk", "(any) => [array[any], any]", None, true);
    lang(r, "print", "(any...)", None, true);
    lang(r, "internal.print", "(array[set[any]])", None, true);
    lang(r, "trace", "(string) => boolean", None, true);
    lang(r, "internal.template_string", "(array[any]) => string", None, true);
    lang(r, "rego.metadata.chain", "() => array[any]", None, true);
    lang(r, "rego.metadata.rule", "() => any", None, true);
    lang(r, "rego.parse_module", "(string, string) => object[string: any]", None, true);
    // Declared so that policies can mock it (`with http.send as f`); calling it
    // unmocked is an error (no network access from the engine).
    lang(r, "http.send", "(object[string: any]) => object[any: any]", None, false);
    lang(r, "opa.runtime", "() => object[string: any]", None, false);
}
