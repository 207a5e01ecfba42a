//! Schema building/validation and query validation against a schema, with
//! the rules (and messages) of the GraphQL specification's validation
//! section as gqlparser implements them.

use super::syntax::*;
use std::collections::{HashMap, HashSet};

#[derive(Clone, Debug, PartialEq)]
pub struct VError {
    pub msg: String,
    pub pos: Pos,
}

fn verr<T>(pos: Pos, msg: String) -> Result<T, VError> {
    Err(VError { msg, pos })
}

/// The built-in scalars, directives and introspection types every schema has.
const PRELUDE: &str = r#"
scalar Int
scalar Float
scalar String
scalar Boolean
scalar ID

directive @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @skip(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @deprecated(reason: String = "No longer supported") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
directive @specifiedBy(url: String!) on SCALAR
directive @oneOf on INPUT_OBJECT
directive @defer(if: Boolean = true, label: String) on FRAGMENT_SPREAD | INLINE_FRAGMENT

type __Schema {
  description: String
  types: [__Type!]!
  queryType: __Type!
  mutationType: __Type
  subscriptionType: __Type
  directives: [__Directive!]!
}

type __Type {
  kind: __TypeKind!
  name: String
  description: String
  fields(includeDeprecated: Boolean = false): [__Field!]
  interfaces: [__Type!]
  possibleTypes: [__Type!]
  enumValues(includeDeprecated: Boolean = false): [__EnumValue!]
  inputFields(includeDeprecated: Boolean = false): [__InputValue!]
  ofType: __Type
  specifiedByURL: String
  isOneOf: Boolean
}

type __Field {
  name: String!
  description: String
  args(includeDeprecated: Boolean = false): [__InputValue!]!
  type: __Type!
  isDeprecated: Boolean!
  deprecationReason: String
}

type __InputValue {
  name: String!
  description: String
  type: __Type!
  defaultValue: String
  isDeprecated: Boolean!
  deprecationReason: String
}

type __EnumValue {
  name: String!
  description: String
  isDeprecated: Boolean!
  deprecationReason: String
}

enum __TypeKind {
  SCALAR
  OBJECT
  INTERFACE
  UNION
  ENUM
  INPUT_OBJECT
  LIST
  NON_NULL
}

type __Directive {
  name: String!
  description: String
  locations: [__DirectiveLocation!]!
  args(includeDeprecated: Boolean = false): [__InputValue!]!
  isRepeatable: Boolean!
}

enum __DirectiveLocation {
  QUERY
  MUTATION
  SUBSCRIPTION
  FIELD
  FRAGMENT_DEFINITION
  FRAGMENT_SPREAD
  INLINE_FRAGMENT
  VARIABLE_DEFINITION
  SCHEMA
  SCALAR
  OBJECT
  FIELD_DEFINITION
  ARGUMENT_DEFINITION
  INTERFACE
  UNION
  ENUM
  ENUM_VALUE
  INPUT_OBJECT
  INPUT_FIELD_DEFINITION
}
"#;

fn prelude() -> SchemaDoc {
    let mut doc = parse_schema(PRELUDE).unwrap_or_default();
    for d in &mut doc.defs {
        d.builtin = true;
    }
    doc
}

#[derive(Debug, Default)]
pub struct Schema {
    pub types: HashMap<String, Definition>,
    pub directives: HashMap<String, DirectiveDef>,
    pub query: Option<String>,
    pub mutation: Option<String>,
    pub subscription: Option<String>,
    pub possible: HashMap<String, Vec<String>>,
}

impl Schema {
    fn ty(&self, name: &str) -> Option<&Definition> {
        self.types.get(name)
    }

    fn possible_types(&self, name: &str) -> &[String] {
        self.possible.get(name).map(|v| v.as_slice()).unwrap_or(&[])
    }

    fn add_possible(&mut self, name: &str, t: &str) {
        let v = self.possible.entry(name.to_string()).or_default();
        if !v.iter().any(|x| x == t) {
            v.push(t.to_string());
        }
    }
}

fn is_composite(d: &Definition) -> bool {
    matches!(d.kind.as_str(), "OBJECT" | "INTERFACE" | "UNION")
}

fn is_leaf(d: &Definition) -> bool {
    matches!(d.kind.as_str(), "SCALAR" | "ENUM")
}

fn is_input(d: &Definition) -> bool {
    matches!(d.kind.as_str(), "SCALAR" | "ENUM" | "INPUT_OBJECT")
}

/// Builds and validates a schema from a document (the prelude is added first).
pub fn build_schema(user: &SchemaDoc) -> Result<Schema, VError> {
    let pre = prelude();
    let mut s = Schema::default();
    let mut order: Vec<String> = Vec::new();
    for def in pre.defs.iter().chain(user.defs.iter()) {
        if s.types.contains_key(&def.name) {
            return verr(def.pos, format!("Cannot redeclare type {}.", def.name));
        }
        order.push(def.name.clone());
        s.types.insert(def.name.clone(), def.clone());
    }
    for ext in &user.exts {
        let def = match s.types.get_mut(&ext.name) {
            Some(d) => d,
            None => {
                order.push(ext.name.clone());
                s.types.entry(ext.name.clone()).or_insert_with(|| Definition {
                    kind: ext.kind.clone(),
                    name: ext.name.clone(),
                    pos: ext.pos,
                    ..Default::default()
                })
            }
        };
        if def.kind != ext.kind {
            return verr(
                ext.pos,
                format!("Cannot extend type {} because the base type is a {}, not {}.", ext.name, def.kind, ext.kind),
            );
        }
        def.directives.extend(ext.directives.iter().cloned());
        def.interfaces.extend(ext.interfaces.iter().cloned());
        def.fields.extend(ext.fields.iter().cloned());
        def.types.extend(ext.types.iter().cloned());
        def.enum_values.extend(ext.enum_values.iter().cloned());
    }
    for name in &order {
        let Some(def) = s.types.get(name) else { continue };
        let (kind, types, interfaces) = (def.kind.clone(), def.types.clone(), def.interfaces.clone());
        match kind.as_str() {
            "UNION" => {
                for t in &types {
                    if s.types.contains_key(t) {
                        s.add_possible(name, t);
                    }
                }
            }
            "INPUT_OBJECT" | "OBJECT" => {
                for i in &interfaces {
                    s.add_possible(i, name);
                }
                s.add_possible(name, name);
            }
            "INTERFACE" => {
                for i in &interfaces {
                    s.add_possible(i, name);
                }
            }
            _ => {}
        }
    }
    for dir in pre.directives.iter().chain(user.directives.iter()) {
        if s.directives.contains_key(&dir.name) {
            match dir.name.as_str() {
                "include" | "skip" | "deprecated" | "specifiedBy" | "defer" | "oneOf" => continue,
                _ => return verr(dir.pos, format!("Cannot redeclare directive {}.", dir.name)),
            }
        }
        s.directives.insert(dir.name.clone(), dir.clone());
    }
    for ext in &user.directive_exts {
        let Some(def) = s.directives.get_mut(&ext.name) else {
            return verr(ext.pos, format!("Cannot extend directive @{} because it is not defined.", ext.name));
        };
        def.directives.extend(ext.directives.iter().cloned());
    }
    if user.schema.len() > 1 {
        return verr(
            user.schema[1].pos,
            "Cannot have multiple schema entry points, consider schema extensions instead.".into(),
        );
    }
    for sd in user.schema.iter().chain(user.schema_ext.iter()) {
        for ep in &sd.op_types {
            if !s.types.contains_key(&ep.ty) {
                return verr(ep.pos, format!("Schema root {} refers to a type {} that does not exist.", ep.op, ep.ty));
            }
            match ep.op.as_str() {
                "query" => s.query = Some(ep.ty.clone()),
                "mutation" => s.mutation = Some(ep.ty.clone()),
                _ => s.subscription = Some(ep.ty.clone()),
            }
        }
        validate_directives(&s, &sd.directives, "SCHEMA", None)?;
    }
    let mut names: Vec<&String> = s.types.keys().collect();
    names.sort();
    for n in names {
        if let Some(def) = s.types.get(n) {
            validate_definition(&s, def)?;
        }
    }
    let mut dnames: Vec<&String> = s.directives.keys().collect();
    dnames.sort();
    for n in dnames {
        if let Some(d) = s.directives.get(n) {
            validate_name(d.pos, &d.name)?;
            validate_directives(&s, &d.directives, "DIRECTIVE_DEFINITION", Some(&d.name))?;
            for arg in &d.args {
                validate_name(arg.pos, &arg.name)?;
                validate_type_ref(&s, &arg.ty)?;
                validate_directives(&s, &arg.directives, "ARGUMENT_DEFINITION", Some(&d.name))?;
            }
        }
    }
    if user.schema.is_empty() {
        for (slot, name) in [(0, "Query"), (1, "Mutation"), (2, "Subscription")] {
            let present = s.types.contains_key(name);
            let r = match slot {
                0 => &mut s.query,
                1 => &mut s.mutation,
                _ => &mut s.subscription,
            };
            if r.is_none() && present {
                *r = Some(name.to_string());
            }
        }
    }
    if let Some(q) = s.query.clone() {
        if let Some(def) = s.types.get_mut(&q) {
            def.fields.push(FieldDef {
                name: "__schema".into(),
                ty: GType { named: "__Schema".into(), non_null: true, ..Default::default() },
                ..Default::default()
            });
            def.fields.push(FieldDef {
                name: "__type".into(),
                ty: GType { named: "__Type".into(), ..Default::default() },
                args: vec![FieldDef {
                    name: "name".into(),
                    ty: GType { named: "String".into(), non_null: true, ..Default::default() },
                    ..Default::default()
                }],
                ..Default::default()
            });
        }
    }
    Ok(s)
}

fn validate_name(pos: Pos, name: &str) -> Result<(), VError> {
    if name.starts_with("__") {
        return verr(pos, format!("Name \"{}\" must not begin with \"__\", which is reserved by GraphQL introspection.", name));
    }
    Ok(())
}

fn validate_type_ref(s: &Schema, t: &GType) -> Result<(), VError> {
    if !s.types.contains_key(t.name()) {
        return verr(t.pos, format!("Undefined type {}.", t.name()));
    }
    Ok(())
}

fn kind_list(kinds: &[&str]) -> String {
    kinds.join(", ")
}

fn validate_definition(s: &Schema, def: &Definition) -> Result<(), VError> {
    validate_directives(s, &def.directives, &def.kind, None)?;
    match def.kind.as_str() {
        "OBJECT" | "INTERFACE" => {
            if def.fields.is_empty() {
                return verr(def.pos, format!("{} {}: must define one or more fields.", def.kind, def.name));
            }
            for f in &def.fields {
                if let Some(t) = s.ty(f.ty.name()) {
                    if !matches!(t.kind.as_str(), "SCALAR" | "OBJECT" | "INTERFACE" | "UNION" | "ENUM") {
                        return verr(
                            f.pos,
                            format!(
                                "{} {}: field must be one of {}.",
                                def.kind,
                                def.name,
                                kind_list(&["SCALAR", "OBJECT", "INTERFACE", "UNION", "ENUM"])
                            ),
                        );
                    }
                }
            }
        }
        "ENUM" => {
            if def.enum_values.is_empty() {
                return verr(def.pos, format!("{} {}: must define one or more unique enum values.", def.kind, def.name));
            }
            for v in &def.enum_values {
                if matches!(v.name.as_str(), "true" | "false" | "null") {
                    return verr(v.pos, format!("{} {}: non-enum value {}.", def.kind, def.name, v.name));
                }
                validate_directives(s, &v.directives, "ENUM_VALUE", None)?;
            }
        }
        "INPUT_OBJECT" => {
            if def.fields.is_empty() {
                return verr(def.pos, format!("{} {}: must define one or more input fields.", def.kind, def.name));
            }
            for f in &def.fields {
                if let Some(t) = s.ty(f.ty.name()) {
                    if !matches!(t.kind.as_str(), "SCALAR" | "ENUM" | "INPUT_OBJECT") {
                        return verr(
                            f.pos,
                            format!("{} {}: field must be one of {}.", t.kind, f.name, kind_list(&["SCALAR", "ENUM", "INPUT_OBJECT"])),
                        );
                    }
                }
            }
        }
        _ => {}
    }
    for (i, f1) in def.fields.iter().enumerate() {
        if let Some(f2) = def.fields[i + 1..].iter().find(|f2| f2.name == f1.name) {
            return verr(f2.pos, format!("Field {}.{} can only be defined once.", def.name, f2.name));
        }
    }
    if !def.builtin {
        validate_name(def.pos, &def.name)?;
    }
    let field_loc = if def.kind == "INPUT_OBJECT" { "INPUT_FIELD_DEFINITION" } else { "FIELD_DEFINITION" };
    for f in &def.fields {
        validate_name(f.pos, &f.name)?;
        validate_type_ref(s, &f.ty)?;
        for a in &f.args {
            validate_name(a.pos, &a.name)?;
            validate_type_ref(s, &a.ty)?;
            validate_directives(s, &a.directives, "ARGUMENT_DEFINITION", None)?;
        }
        validate_directives(s, &f.directives, field_loc, None)?;
    }
    for t in &def.types {
        match s.ty(t) {
            None => return verr(def.pos, format!("Undefined type {}.", go_quote(t))),
            Some(td) if td.kind != "OBJECT" => {
                return verr(def.pos, format!("{} type {} must be {}.", def.kind, go_quote(t), "OBJECT"));
            }
            _ => {}
        }
    }
    for i in &def.interfaces {
        validate_implements(s, def, i)?;
    }
    Ok(())
}

fn validate_implements(s: &Schema, def: &Definition, intf: &str) -> Result<(), VError> {
    let Some(idef) = s.ty(intf) else {
        return verr(def.pos, format!("Undefined type {}.", go_quote(intf)));
    };
    if idef.kind != "INTERFACE" {
        return verr(def.pos, format!("{} is a non interface type {}.", go_quote(intf), idef.kind));
    }
    for req in &idef.fields {
        let Some(found) = def.fields.iter().find(|f| f.name == req.name) else {
            return verr(def.pos, format!("For {} to implement {} it must have a field called {}.", def.name, intf, req.name));
        };
        if !is_covariant(s, &req.ty, &found.ty, 0) {
            return verr(
                found.pos,
                format!("For {} to implement {} the field {} must have type {}.", def.name, intf, req.name, req.ty.render()),
            );
        }
        for ra in &req.args {
            let Some(fa) = found.args.iter().find(|a| a.name == ra.name) else {
                return verr(
                    found.pos,
                    format!(
                        "For {} to implement {} the field {} must have the same arguments but it is missing {}.",
                        def.name, intf, req.name, ra.name
                    ),
                );
            };
            if !ra.ty.is_compatible(&fa.ty) {
                return verr(
                    found.pos,
                    format!(
                        "For {} to implement {} the field {} must have the same arguments but {} has the wrong type.",
                        def.name, intf, req.name, ra.name
                    ),
                );
            }
        }
        for fa in &found.args {
            if !req.args.iter().any(|a| a.name == fa.name) && fa.ty.non_null && fa.default.is_none() {
                return verr(
                    found.pos,
                    format!(
                        "For {} to implement {} any additional arguments on {} must be optional or have a default value but {} is required.",
                        def.name, intf, req.name, fa.name
                    ),
                );
            }
        }
    }
    // Interfaces the implemented interface itself implements must be implemented too.
    for anc in &idef.interfaces {
        if !def.interfaces.contains(anc) {
            if anc == &def.name {
                return verr(
                    def.pos,
                    format!("Type {} cannot implement {} because it would create a circular reference.", def.name, intf),
                );
            }
            return verr(def.pos, format!("Type {} must implement {} because it is implemented by {}.", def.name, anc, intf));
        }
    }
    Ok(())
}

fn is_covariant(s: &Schema, required: &GType, actual: &GType, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    if required.non_null && !actual.non_null {
        return false;
    }
    match (&required.elem, &actual.elem) {
        (Some(r), Some(a)) => return is_covariant(s, r, a, depth + 1),
        (Some(_), None) | (None, Some(_)) => return false,
        _ => {}
    }
    if required.named == actual.named {
        return true;
    }
    let (Some(rd), Some(ad)) = (s.ty(&required.named), s.ty(&actual.named)) else { return false };
    if rd.kind == "UNION" && ad.kind == "OBJECT" {
        return rd.types.contains(&ad.name);
    }
    if rd.kind == "INTERFACE" && matches!(ad.kind.as_str(), "OBJECT" | "INTERFACE") {
        return ad.interfaces.contains(&rd.name);
    }
    false
}

fn validate_directives(s: &Schema, dirs: &[Directive], location: &str, current: Option<&str>) -> Result<(), VError> {
    for dir in dirs {
        validate_name(dir.pos, &dir.name)?;
        if current == Some(dir.name.as_str()) {
            return verr(dir.pos, format!("Directive {} cannot refer to itself.", dir.name));
        }
        let Some(dd) = s.directives.get(&dir.name) else {
            return verr(dir.pos, format!("Undefined directive {}.", dir.name));
        };
        if !dd.locations.iter().any(|l| l == location) {
            return verr(dir.pos, format!("Directive {} is not applicable on {}.", dir.name, location));
        }
        for a in &dir.args {
            if !dd.args.iter().any(|d| d.name == a.name) {
                return verr(a.pos, format!("Undefined argument {} for directive {}.", a.name, dir.name));
            }
        }
        for da in &dd.args {
            if da.ty.non_null && da.default.is_none() {
                match dir.args.iter().find(|a| a.name == da.name) {
                    Some(a) if a.value.kind != K_NULL => {}
                    _ => return verr(dir.pos, format!("Argument {} for directive {} cannot be null.", da.name, dir.name)),
                }
            }
        }
    }
    Ok(())
}

// ---- query validation ----

/// gqlparser's `Value.String()`.
pub fn value_string(v: &GValue, depth: usize) -> String {
    if depth > MAX_DEPTH {
        return "...".into();
    }
    match v.kind {
        K_VARIABLE => format!("${}", v.raw),
        K_STRING | K_BLOCK => go_quote(&v.raw),
        K_LIST => {
            let items: Vec<String> = v.children.iter().map(|(_, c)| value_string(c, depth + 1)).collect();
            format!("[{}]", items.join(", "))
        }
        K_OBJECT => {
            let items: Vec<String> = v.children.iter().map(|(n, c)| format!("{}: {}", n, value_string(c, depth + 1))).collect();
            format!("{{{}}}", items.join(", "))
        }
        _ => v.raw.clone(),
    }
}

struct Walker<'a> {
    schema: &'a Schema,
    doc: &'a QueryDoc,
    errs: Vec<VError>,
    seen: HashSet<(String, Pos)>,
    cur_op: Option<&'a Operation>,
    used_vars: HashSet<&'a str>,
    visited: HashSet<&'a str>,
    used_frags: HashSet<&'a str>,
    depth: usize,
    /// Selections left to visit: fragments are re-walked for every
    /// operation that spreads them, so hostile documents are cut short.
    budget: usize,
}

/// Most selections visited while validating one document.
const WALK_BUDGET: usize = 2_000_000;

impl<'a> Walker<'a> {
    fn err(&mut self, pos: Pos, msg: String) {
        if self.seen.insert((msg.clone(), pos)) {
            self.errs.push(VError { msg, pos });
        }
    }

    fn frag(&self, name: &str) -> Option<&'a Fragment> {
        self.doc.frags.iter().find(|f| f.name == name)
    }

    fn walk_document(&mut self) {
        let doc = self.doc;
        let schema = self.schema;
        // Document-level rules.
        let mut op_names = HashSet::new();
        for op in &doc.ops {
            if !op.name.is_empty() && !op_names.insert(op.name.as_str()) {
                self.err(op.pos, format!("There can be only one operation named \"{}\".", op.name));
            }
            if op.name.is_empty() && doc.ops.len() > 1 {
                self.err(op.pos, "This anonymous operation must be the only defined operation.".into());
            }
        }
        let mut frag_names = HashSet::new();
        for f in &doc.frags {
            if !frag_names.insert(f.name.as_str()) {
                self.err(f.pos, format!("There can be only one fragment named \"{}\".", f.name));
            }
        }
        for op in &doc.ops {
            self.cur_op = Some(op);
            self.used_vars.clear();
            self.visited.clear();
            let mut var_names = HashSet::new();
            for v in &op.vars {
                if !var_names.insert(v.var.as_str()) {
                    self.err(v.pos, format!("There can be only one variable named \"${}\".", v.var));
                }
                match schema.ty(v.ty.name()) {
                    None => self.err(v.pos, format!("Unknown type \"{}\".", v.ty.name())),
                    Some(d) if !is_input(d) => {
                        self.err(v.pos, format!("Variable \"${}\" cannot be non-input type \"{}\".", v.var, v.ty.render()))
                    }
                    _ => {}
                }
            }
            let (root, loc) = match op.op.as_str() {
                "mutation" => (schema.mutation.as_deref(), "MUTATION"),
                "subscription" => (schema.subscription.as_deref(), "SUBSCRIPTION"),
                _ => (schema.query.as_deref(), "QUERY"),
            };
            let root_def = root.and_then(|r| schema.ty(r));
            for v in &op.vars {
                let vdef = schema.ty(v.ty.name());
                if let Some(d) = &v.default {
                    self.walk_value(d, Some(&v.ty), vdef, 0);
                }
                self.walk_directives(&v.directives, "VARIABLE_DEFINITION");
            }
            self.walk_directives(&op.directives, loc);
            self.walk_selection_set(root_def, &op.sel);
            if root_def.is_none() {
                self.err(op.pos, format!("Schema does not support operation type \"{}\"", op.op));
            }
            for v in &op.vars {
                if !self.used_vars.contains(v.var.as_str()) {
                    if op.name.is_empty() {
                        self.err(v.pos, format!("Variable \"${}\" is never used.", v.var));
                    } else {
                        self.err(v.pos, format!("Variable \"${}\" is never used in operation \"{}\".", v.var, op.name));
                    }
                }
            }
            if op.op == "subscription" {
                let n = self.count_top_fields(&op.sel);
                if n > 1 {
                    if op.name.is_empty() {
                        self.err(op.pos, "Anonymous Subscription must select only one top level field.".into());
                    } else {
                        self.err(op.pos, format!("Subscription \"{}\" must select only one top level field.", op.name));
                    }
                }
            }
        }
        self.cur_op = None;
        for f in &doc.frags {
            self.visited.clear();
            let def = schema.ty(&f.type_cond);
            match def {
                None => self.err(f.pos, format!("Unknown type \"{}\".", f.type_cond)),
                Some(d) if !is_composite(d) => self.err(
                    f.pos,
                    format!("Fragment \"{}\" cannot condition on non composite type \"{}\".", f.name, f.type_cond),
                ),
                _ => {}
            }
            self.walk_directives(&f.directives, "FRAGMENT_DEFINITION");
            self.walk_selection_set(def, &f.sel);
        }
        self.check_fragment_cycles();
        for f in &doc.frags {
            if !self.used_frags.contains(f.name.as_str()) {
                self.err(f.pos, format!("Fragment \"{}\" is never used.", f.name));
            }
        }
    }

    fn count_top_fields(&mut self, sel: &'a [Selection]) -> usize {
        let mut n = 0;
        let mut stack: Vec<&'a [Selection]> = vec![sel];
        let mut seen: HashSet<&str> = HashSet::new();
        while let Some(s) = stack.pop() {
            if self.budget < s.len() {
                self.budget = 0;
                break;
            }
            self.budget -= s.len();
            for x in s {
                match x {
                    Selection::Field(_) => n += 1,
                    Selection::Inline(i) => stack.push(&i.sel),
                    Selection::Spread(sp) => {
                        if seen.insert(&sp.name) {
                            if let Some(f) = self.frag(&sp.name) {
                                stack.push(&f.sel);
                            }
                        }
                    }
                }
            }
        }
        n
    }

    /// Fragment names spread directly or through inline fragments within a selection set.
    fn spreads_of(sel: &'a [Selection], out: &mut Vec<&'a Spread>) {
        let mut stack: Vec<&'a [Selection]> = vec![sel];
        while let Some(s) = stack.pop() {
            for x in s {
                match x {
                    Selection::Field(f) => stack.push(&f.sel),
                    Selection::Inline(i) => stack.push(&i.sel),
                    Selection::Spread(sp) => out.push(sp),
                }
            }
        }
    }

    /// NoFragmentCycles: one depth-first pass over the spread graph
    /// (iterative, each fragment entered once), reporting spreads that
    /// lead back to a fragment on the current path.
    fn check_fragment_cycles(&mut self) {
        let doc = self.doc;
        let mut edges: HashMap<&str, Vec<&Spread>> = HashMap::new();
        for f in &doc.frags {
            let mut v = Vec::new();
            Self::spreads_of(&f.sel, &mut v);
            v.reverse();
            edges.entry(f.name.as_str()).or_insert(v);
        }
        let mut visited: HashSet<&str> = HashSet::new();
        for f in &doc.frags {
            if !visited.insert(f.name.as_str()) {
                continue;
            }
            // Path of (fragment, next edge index); on_path maps a fragment to its index in the path.
            let mut path: Vec<(&str, usize)> = vec![(f.name.as_str(), 0)];
            let mut on_path: HashMap<&str, usize> = HashMap::new();
            on_path.insert(f.name.as_str(), 0);
            while let Some(&(name, i)) = path.last() {
                let out = edges.get(name).map(|v| v.as_slice()).unwrap_or(&[]);
                let Some(sp) = out.get(i) else {
                    on_path.remove(name);
                    path.pop();
                    continue;
                };
                if let Some(top) = path.last_mut() {
                    top.1 += 1;
                }
                let target = sp.name.as_str();
                if let Some(&at) = on_path.get(target) {
                    let via: Vec<String> = path[at + 1..].iter().map(|(n, _)| format!("\"{}\"", n)).collect();
                    if via.is_empty() {
                        self.err(sp.pos, format!("Cannot spread fragment \"{}\" within itself.", target));
                    } else {
                        self.err(sp.pos, format!("Cannot spread fragment \"{}\" within itself via {}.", target, via.join(", ")));
                    }
                    continue;
                }
                if edges.contains_key(target) && visited.insert(target) {
                    on_path.insert(target, path.len());
                    path.push((target, 0));
                }
            }
        }
    }

    fn possible_of(&self, d: &'a Definition) -> Vec<&'a str> {
        match d.kind.as_str() {
            "OBJECT" => vec![d.name.as_str()],
            "INTERFACE" | "UNION" => self.schema.possible_types(&d.name).iter().map(|s| s.as_str()).collect(),
            _ => Vec::new(),
        }
    }

    /// PossibleFragmentSpreads: true when the fragment type can overlap the parent type.
    fn can_overlap(&self, parent: Option<&'a Definition>, frag_type: &str) -> bool {
        let Some(parent) = parent else { return true };
        if !is_composite(parent) {
            return true;
        }
        let Some(fd) = self.schema.ty(frag_type) else { return true };
        if !is_composite(fd) {
            return true;
        }
        let pp = self.possible_of(parent);
        self.possible_of(fd).iter().any(|x| pp.contains(x))
    }

    fn walk_selection_set(&mut self, parent: Option<&'a Definition>, sel: &'a [Selection]) {
        self.depth += 1;
        if self.depth > MAX_DEPTH + 16 {
            self.depth -= 1;
            self.err(Pos::default(), "Exceeded maximum nesting depth".into());
            return;
        }
        if self.budget < sel.len() {
            self.depth -= 1;
            self.budget = 0;
            self.err(Pos::default(), "Document is too complex to validate".into());
            return;
        }
        self.budget -= sel.len();
        for s in sel {
            self.walk_selection(parent, s);
        }
        self.check_overlaps(sel);
        self.depth -= 1;
    }

    /// A simplified OverlappingFieldsCanBeMerged: same response name in one
    /// selection set must mean the same field with the same arguments.
    fn check_overlaps(&mut self, sel: &'a [Selection]) {
        let mut by_name: HashMap<&str, &Field> = HashMap::new();
        for s in sel {
            if let Selection::Field(f) = s {
                match by_name.get(f.alias.as_str()) {
                    None => {
                        by_name.insert(f.alias.as_str(), f);
                    }
                    Some(prev) => {
                        if prev.name != f.name {
                            self.err(
                                f.pos,
                                format!(
                                    "Fields \"{}\" conflict because {} and {} are different fields. Use different aliases on the fields to fetch both if this was intentional.",
                                    f.alias,
                                    go_quote(&prev.name),
                                    go_quote(&f.name)
                                ),
                            );
                        } else if !same_args(&prev.args, &f.args) {
                            self.err(
                                f.pos,
                                format!(
                                    "Fields \"{}\" conflict because they have differing arguments. Use different aliases on the fields to fetch both if this was intentional.",
                                    f.alias
                                ),
                            );
                        }
                    }
                }
            }
        }
    }

    fn walk_selection(&mut self, parent: Option<&'a Definition>, s: &'a Selection) {
        let schema = self.schema;
        match s {
            Selection::Field(f) => {
                let typename = f.name == "__typename";
                let fdef: Option<&'a FieldDef> =
                    if typename { None } else { parent.and_then(|p| p.fields.iter().find(|x| x.name == f.name)) };
                // FieldsOnCorrectType
                if let (Some(p), None, false) = (parent, fdef, typename) {
                    self.err(f.pos, format!("Cannot query field \"{}\" on type \"{}\".", f.name, p.name));
                }
                let mut arg_names = HashSet::new();
                for a in &f.args {
                    if !arg_names.insert(a.name.as_str()) {
                        self.err(a.pos, format!("There can be only one argument named \"{}\".", a.name));
                    }
                    let adef = fdef.and_then(|d| d.args.iter().find(|x| x.name == a.name));
                    if let (Some(d), None, Some(p)) = (fdef, adef, parent) {
                        self.err(a.pos, format!("Unknown argument \"{}\" on field \"{}.{}\".", a.name, p.name, d.name));
                    }
                    if typename && parent.is_some() {
                        self.err(a.pos, format!("Unknown argument \"{}\" on field \"{}.__typename\".", a.name, parent.map(|p| p.name.as_str()).unwrap_or("")));
                    }
                    match adef {
                        Some(ad) => self.walk_value(&a.value, Some(&ad.ty), schema.ty(ad.ty.name()), 0),
                        None => self.walk_value(&a.value, None, None, 0),
                    }
                }
                let next = fdef.and_then(|d| schema.ty(d.ty.name()));
                self.walk_directives(&f.directives, "FIELD");
                self.walk_selection_set(next, &f.sel);
                if let Some(d) = fdef {
                    // ProvidedRequiredArguments
                    for ad in &d.args {
                        if ad.ty.non_null && ad.default.is_none() && !f.args.iter().any(|a| a.name == ad.name) {
                            self.err(
                                f.pos,
                                format!(
                                    "Field \"{}\" argument \"{}\" of type \"{}\" is required, but it was not provided.",
                                    f.name,
                                    ad.name,
                                    ad.ty.render()
                                ),
                            );
                        }
                    }
                    // ScalarLeafs
                    if let Some(t) = schema.ty(d.ty.name()) {
                        if is_leaf(t) && !f.sel.is_empty() {
                            self.err(
                                f.pos,
                                format!("Field \"{}\" must not have a selection since type \"{}\" has no subfields.", f.name, d.ty.render()),
                            );
                        }
                        if !is_leaf(t) && f.sel.is_empty() {
                            self.err(f.pos, format!("Field \"{}\" of type \"{}\" must have a selection of subfields.", f.name, d.ty.render()));
                        }
                    }
                } else if typename && !f.sel.is_empty() {
                    self.err(f.pos, format!("Field \"{}\" must not have a selection since type \"String!\" has no subfields.", f.name));
                }
            }
            Selection::Inline(i) => {
                let mut next = parent;
                if !i.type_cond.is_empty() {
                    next = schema.ty(&i.type_cond);
                    match next {
                        None => self.err(i.pos, format!("Unknown type \"{}\".", i.type_cond)),
                        Some(d) => {
                            if parent.is_some() && !is_composite(d) {
                                self.err(i.pos, format!("Fragment cannot condition on non composite type \"{}\".", i.type_cond));
                            } else if !self.can_overlap(parent, &i.type_cond) {
                                self.err(
                                    i.pos,
                                    format!(
                                        "Fragment cannot be spread here as objects of type \"{}\" can never be of type \"{}\".",
                                        parent.map(|p| p.name.as_str()).unwrap_or(""),
                                        i.type_cond
                                    ),
                                );
                            }
                        }
                    }
                }
                self.walk_directives(&i.directives, "INLINE_FRAGMENT");
                self.walk_selection_set(next, &i.sel);
            }
            Selection::Spread(sp) => {
                let fd = self.frag(&sp.name);
                let next = fd.and_then(|f| schema.ty(&f.type_cond));
                self.walk_directives(&sp.directives, "FRAGMENT_SPREAD");
                match fd {
                    None => self.err(sp.pos, format!("Unknown fragment \"{}\".", sp.name)),
                    Some(f) => {
                        if self.cur_op.is_some() {
                            self.used_frags.insert(f.name.as_str());
                        }
                        if !self.can_overlap(parent, &f.type_cond) {
                            self.err(
                                sp.pos,
                                format!(
                                    "Fragment \"{}\" cannot be spread here as objects of type \"{}\" can never be of type \"{}\".",
                                    sp.name,
                                    parent.map(|p| p.name.as_str()).unwrap_or(""),
                                    f.type_cond
                                ),
                            );
                        }
                        if self.visited.insert(f.name.as_str()) {
                            self.walk_selection_set(next, &f.sel);
                        }
                    }
                }
            }
        }
    }

    fn walk_directives(&mut self, dirs: &'a [Directive], location: &str) {
        let schema = self.schema;
        let mut seen: HashSet<&str> = HashSet::new();
        for d in dirs {
            let dd = schema.directives.get(&d.name);
            let mut arg_names = HashSet::new();
            for a in &d.args {
                if !arg_names.insert(a.name.as_str()) {
                    self.err(a.pos, format!("There can be only one argument named \"{}\".", a.name));
                }
                let ad = dd.and_then(|x| x.args.iter().find(|y| y.name == a.name));
                match ad {
                    Some(ad) => self.walk_value(&a.value, Some(&ad.ty), schema.ty(ad.ty.name()), 0),
                    None => {
                        if dd.is_some() {
                            self.err(a.pos, format!("Unknown argument \"{}\" on directive \"@{}\".", a.name, d.name));
                        }
                        self.walk_value(&a.value, None, None, 0)
                    }
                }
            }
            match dd {
                None => self.err(d.pos, format!("Unknown directive \"@{}\".", d.name)),
                Some(dd) => {
                    if !dd.locations.iter().any(|l| l == location) {
                        self.err(d.pos, format!("Directive \"@{}\" may not be used on {}.", d.name, location));
                    }
                    for ad in &dd.args {
                        if ad.ty.non_null && ad.default.is_none() && !d.args.iter().any(|a| a.name == ad.name) {
                            self.err(
                                d.pos,
                                format!(
                                    "Directive \"@{}\" argument \"{}\" of type \"{}\" is required, but it was not provided.",
                                    d.name,
                                    ad.name,
                                    ad.ty.render()
                                ),
                            );
                        }
                    }
                    if !seen.insert(d.name.as_str()) && !dd.repeatable {
                        self.err(d.pos, format!("The directive \"@{}\" can only be used once at this location.", d.name));
                    }
                }
            }
        }
    }

    fn walk_value(&mut self, v: &'a GValue, expected: Option<&'a GType>, def: Option<&'a Definition>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let schema = self.schema;
        let mut var_def: Option<&'a VarDef> = None;
        if v.kind == K_VARIABLE {
            if let Some(op) = self.cur_op {
                var_def = op.vars.iter().find(|x| x.var == v.raw);
                if var_def.is_some() {
                    self.used_vars.insert(v.raw.as_str());
                }
            }
        }
        if v.kind == K_OBJECT {
            let mut names = HashSet::new();
            for (name, c) in &v.children {
                if !names.insert(name.as_str()) {
                    self.err(c.pos, format!("There can be only one input field named \"{}\".", name));
                }
                let fd = def.and_then(|d| d.fields.iter().find(|f| &f.name == name));
                match fd {
                    Some(fd) => self.walk_value(c, Some(&fd.ty), schema.ty(fd.ty.name()), depth + 1),
                    None => self.walk_value(c, None, None, depth + 1),
                }
            }
        }
        if v.kind == K_LIST {
            for (_, c) in &v.children {
                match expected.and_then(|e| e.elem.as_deref()) {
                    Some(el) => self.walk_value(c, Some(el), def, depth + 1),
                    None => self.walk_value(c, None, None, depth + 1),
                }
            }
        }
        // NoUndefinedVariables
        if v.kind == K_VARIABLE && var_def.is_none() {
            if let Some(op) = self.cur_op {
                if op.name.is_empty() {
                    self.err(v.pos, format!("Variable \"${}\" is not defined.", v.raw));
                } else {
                    self.err(v.pos, format!("Variable \"${}\" is not defined by operation \"{}\".", v.raw, op.name));
                }
            }
        }
        // VariablesInAllowedPosition
        if let (K_VARIABLE, Some(exp), Some(vd), true) = (v.kind, expected, var_def, self.cur_op.is_some()) {
            let mut tmp = exp.clone();
            if vd.default.as_ref().is_some_and(|d| d.kind != K_NULL) && exp.non_null {
                tmp.non_null = false;
            }
            if !vd.ty.is_compatible(&tmp) {
                self.err(
                    v.pos,
                    format!(
                        "Variable \"${}\" of type \"{}\" used in position expecting type \"{}\".",
                        v.raw,
                        vd.ty.render(),
                        exp.render()
                    ),
                );
            }
        }
        // ValuesOfCorrectType
        let (Some(def), Some(exp)) = (def, expected) else { return };
        let unexpected = |w: &mut Self| {
            w.err(v.pos, format!("Expected value of type \"{}\", found {}.", exp.render(), value_string(v, 0)));
        };
        if v.kind == K_NULL && exp.non_null {
            unexpected(self);
        }
        if def.kind == "SCALAR" && !matches!(def.name.as_str(), "Int" | "Float" | "String" | "Boolean" | "ID") {
            return;
        }
        match v.kind {
            K_NULL | K_VARIABLE => {}
            K_LIST if exp.elem.is_none() => unexpected(self),
            K_INT
                if !matches!(def.name.as_str(), "Int" | "Float" | "ID")
                    || def.kind != "SCALAR"
                    || v.raw.parse::<i64>().is_err() =>
            {
                unexpected(self)
            }
            K_FLOAT if def.name != "Float" || def.kind != "SCALAR" => unexpected(self),
            K_STRING | K_BLOCK => {
                if def.kind == "ENUM" {
                    self.err(
                        v.pos,
                        format!("Enum \"{}\" cannot represent non-enum value: {}.", exp.render(), value_string(v, 0)),
                    );
                } else if !matches!(def.name.as_str(), "String" | "ID") || def.kind != "SCALAR" {
                    unexpected(self);
                }
            }
            K_ENUM => {
                if def.kind != "ENUM" {
                    unexpected(self);
                } else if !def.enum_values.iter().any(|e| e.name == v.raw) {
                    self.err(v.pos, format!("Value \"{}\" does not exist in \"{}\" enum.", v.raw, exp.render()));
                }
            }
            K_BOOLEAN if def.name != "Boolean" || def.kind != "SCALAR" => unexpected(self),
            K_OBJECT => {
                if def.kind != "INPUT_OBJECT" {
                    unexpected(self);
                    return;
                }
                for f in &def.fields {
                    if f.ty.non_null && f.default.is_none() && !v.children.iter().any(|(n, _)| n == &f.name) {
                        self.err(
                            v.pos,
                            format!("Field \"{}.{}\" of required type \"{}\" was not provided.", def.name, f.name, f.ty.render()),
                        );
                    }
                }
                for (n, c) in &v.children {
                    if !def.fields.iter().any(|f| &f.name == n) {
                        self.err(c.pos, format!("Field \"{}\" is not defined by type \"{}\".", n, def.name));
                    }
                }
            }
            _ => {}
        }
    }
}

fn same_args(a: &[Argument], b: &[Argument]) -> bool {
    a.len() == b.len()
        && a.iter().all(|x| b.iter().any(|y| y.name == x.name && value_string(&y.value, 0) == value_string(&x.value, 0)))
}

/// All validation errors of a query against a schema (empty when valid).
pub fn validate_query(schema: &Schema, doc: &QueryDoc) -> Vec<VError> {
    let mut w = Walker {
        schema,
        doc,
        errs: Vec::new(),
        seen: HashSet::new(),
        cur_op: None,
        used_vars: HashSet::new(),
        visited: HashSet::new(),
        used_frags: HashSet::new(),
        depth: 0,
        budget: WALK_BUDGET,
    };
    w.walk_document();
    w.errs
}
