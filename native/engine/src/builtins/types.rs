//! Declared builtin types: the `decl` DSL, parsed into `Type`, rendered as
//! OPA's capabilities JSON, and used by the compiler's arity/type checks.
