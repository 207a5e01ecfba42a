//! GraphQL builtins (`graphql.*`), with OPA's semantics: documents are parsed
//! with our own GraphQL lexer/parser (`graphql/syntax.rs`), queries are
//! validated against schemas with the specification's validation rules
//! (`graphql/validate.rs`), and ASTs are rendered as objects shaped like
//! OPA's (gqlparser's AST as JSON, positions dropped, null and empty values
//! pruned). ASTs given as objects are read back into documents.

pub mod syntax;
pub mod validate;

use super::{type_err, BuiltinError, BuiltinResult, Ctx, Registry};
use crate::number::Number;
use crate::value::{Map, Value};
use syntax::*;


pub fn register(r: &mut Registry) {
    r.func("graphql", "graphql.is_valid", "(any<string, object[any: any]>, any<string, object[any: any]>) => boolean", is_valid);
    r.func(
        "graphql",
        "graphql.parse",
        "(any<string, object[any: any]>, any<string, object[any: any]>) => [object[any: any], object[any: any]]",
        parse,
    );
    r.func(
        "graphql",
        "graphql.parse_and_verify",
        "(any<string, object[any: any]>, any<string, object[any: any]>) => [boolean, object[any: any], object[any: any]]",
        parse_and_verify,
    );
    r.func("graphql", "graphql.parse_query", "(string) => object[any: any]", parse_query);
    r.func("graphql", "graphql.parse_schema", "(string) => object[any: any]", parse_schema);
    r.func("graphql", "graphql.schema_is_valid", "(any<string, object[any: any]>) => boolean", schema_is_valid);
}

fn syntax_msg(e: &SyntaxError) -> String {
    format!("{} in GraphQL string at location {}:{}", e.msg, e.pos.line, e.pos.col)
}

fn operand(a: &[Value], i: usize) -> Result<&Value, BuiltinError> {
    let v = a.get(i).ok_or_else(|| BuiltinError::Eval(format!("missing operand {}", i + 1)))?;
    match v {
        Value::String(_) | Value::Object(_) => Ok(v),
        other => Err(type_err(i, "one of {string, object}", other)),
    }
}

fn query_doc(v: &Value) -> Result<QueryDoc, BuiltinError> {
    match v {
        Value::String(s) => syntax::parse_query(s).map_err(|e| BuiltinError::Eval(syntax_msg(&e))),
        other => from_obj::query_doc(other).map_err(BuiltinError::Eval),
    }
}

fn schema_doc(v: &Value) -> Result<SchemaDoc, BuiltinError> {
    match v {
        Value::String(s) => syntax::parse_schema(s).map_err(|e| BuiltinError::Eval(syntax_msg(&e))),
        other => from_obj::schema_doc(other).map_err(BuiltinError::Eval),
    }
}

fn build_schema(doc: &SchemaDoc) -> Result<validate::Schema, BuiltinError> {
    validate::build_schema(doc).map_err(|e| {
        BuiltinError::Eval(format!(
            "Error in gqlparser SchemaDocument to Schema conversion: input:{}:{}: {}",
            e.pos.line, e.pos.col, e.msg
        ))
    })
}

/// OPA's rendering of gqlparser's error list: every error as
/// `input:L:C: message`, then the first location and the rest of the text.
fn validation_msg(errs: &[validate::VError]) -> String {
    let mut text = String::new();
    for e in errs {
        text.push_str(&format!("input:{}:{}: {}\n", e.pos.line, e.pos.col, e.msg));
    }
    let first = &errs[0];
    let rest = text.splitn(4, ':').nth(3).unwrap_or("").trim_start_matches(' ');
    let rest = rest.strip_suffix(".\n").unwrap_or(rest);
    format!("{} in GraphQL string at location {}:{}", rest, first.pos.line, first.pos.col)
}

fn check(q: &QueryDoc, s: &SchemaDoc) -> Result<(), BuiltinError> {
    let schema = build_schema(s)?;
    let errs = validate::validate_query(&schema, q);
    if errs.is_empty() {
        Ok(())
    } else {
        Err(BuiltinError::Eval(validation_msg(&errs)))
    }
}

fn is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (qv, sv) = (operand(a, 0)?, operand(a, 1)?);
    let ok = (|| -> Result<(), BuiltinError> {
        let q = query_doc(qv)?;
        let s = schema_doc(sv)?;
        check(&q, &s)
    })()
    .is_ok();
    Ok(Value::Bool(ok))
}

fn schema_is_valid(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let sv = operand(a, 0)?;
    let ok = schema_doc(sv).and_then(|s| build_schema(&s).map(|_| ())).is_ok();
    Ok(Value::Bool(ok))
}

fn parse(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (qv, sv) = (operand(a, 0)?, operand(a, 1)?);
    let q = query_doc(qv)?;
    let s = schema_doc(sv)?;
    check(&q, &s)?;
    let (qa, sa) = (render::query(&q), render::schema(&s));
    Ok(Value::from_array(vec![qa, sa]))
}

fn parse_and_verify(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let (qv, sv) = (operand(a, 0)?, operand(a, 1)?);
    let r = (|| -> Result<(QueryDoc, SchemaDoc), BuiltinError> {
        let q = query_doc(qv)?;
        let s = schema_doc(sv)?;
        check(&q, &s)?;
        Ok((q, s))
    })();
    match r {
        Ok((q, s)) => {
            Ok(Value::from_array(vec![Value::Bool(true), render::query(&q), render::schema(&s)]))
        }
        Err(_) => Ok(Value::from_array(vec![Value::Bool(false), Value::empty_object(), Value::empty_object()])),
    }
}

fn parse_query(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = super::arg_str(a, 0)?;
    let q = syntax::parse_query(s).map_err(|e| BuiltinError::Eval(syntax_msg(&e)))?;
    Ok(render::query(&q))
}

fn parse_schema(_: &mut Ctx, a: &[Value]) -> BuiltinResult {
    let s = super::arg_str(a, 0)?;
    let d = syntax::parse_schema(s).map_err(|e| BuiltinError::Eval(syntax_msg(&e)))?;
    Ok(render::schema(&d))
}

/// ASTs as OPA renders them: gqlparser's field names, nulls and empty
/// arrays/objects left out.
mod render {
    use super::*;

    struct Obj(Map);

    impl Obj {
        fn new() -> Obj {
            Obj(Map::new())
        }
        fn s(mut self, k: &'static str, v: &str) -> Obj {
            self.0.insert(Value::interned(k), Value::string(v));
            self
        }
        fn b(mut self, k: &'static str, v: bool) -> Obj {
            self.0.insert(Value::interned(k), Value::Bool(v));
            self
        }
        fn v(mut self, k: &'static str, v: Value) -> Obj {
            let empty = match &v {
                Value::Null => true,
                Value::Array(a) => a.is_empty(),
                Value::Object(o) => o.is_empty(),
                _ => false,
            };
            if !empty {
                self.0.insert(Value::interned(k), v);
            }
            self
        }
        fn done(self) -> Value {
            Value::from_map(self.0)
        }
        /// A schema definition's comment groups, where it has any.
        fn def_comments(self, c: &DefComments) -> Obj {
            self.v("BeforeDescriptionComment", comment(&c.before_description))
                .v("AfterDescriptionComment", comment(&c.after_description))
                .v("EndOfDefinitionComment", comment(&c.end_of_definition))
        }
    }

    fn arr<T>(items: &[T], f: impl Fn(&T) -> Value) -> Value {
        Value::from_array(items.iter().map(f).collect())
    }

    fn strs(items: &[String]) -> Value {
        Value::from_array(items.iter().map(|s| Value::string(s.as_str())).collect())
    }

    /// A comment group as OPA shows it: its lines' `Value`s (positions pruned).
    fn comment(c: &Comments) -> Value {
        let lines = arr(c, |line| Obj::new().s("Value", line).done());
        Obj::new().v("List", lines).done()
    }

    pub fn value(v: &GValue) -> Value {
        let no_comment = Vec::new();
        let children = v.children.iter().enumerate().map(|(i, (n, c))| {
            let cm = v.child_comments.get(i).unwrap_or(&no_comment);
            Obj::new().s("Name", n).v("Value", value(c)).v("Comment", comment(cm)).done()
        });
        Obj::new()
            .s("Raw", &v.raw)
            .v("Kind", Value::Number(Number::Int(v.kind as i64)))
            .v("Children", Value::from_array(children.collect()))
            .v("Comment", comment(&v.comment))
            .b("ExpectedTypeHasDefault", false)
            .done()
    }

    fn opt_value(v: &Option<GValue>) -> Value {
        v.as_ref().map(value).unwrap_or(Value::Null)
    }

    pub fn ty(t: &GType) -> Value {
        Obj::new()
            .s("NamedType", &t.named)
            .b("NonNull", t.non_null)
            .v("Elem", t.elem.as_ref().map(|e| ty(e)).unwrap_or(Value::Null))
            .done()
    }

    fn args(a: &[Argument]) -> Value {
        arr(a, |a| Obj::new().s("Name", &a.name).v("Value", value(&a.value)).v("Comment", comment(&a.comment)).done())
    }

    fn directives(d: &[Directive]) -> Value {
        arr(d, |d| Obj::new().s("Name", &d.name).s("Location", "").v("Arguments", args(&d.args)).done())
    }

    fn var_defs(v: &[VarDef]) -> Value {
        arr(v, |v| {
            Obj::new()
                .s("Description", &v.description)
                .s("Variable", &v.var)
                .v("Type", ty(&v.ty))
                .v("DefaultValue", opt_value(&v.default))
                .v("Directives", directives(&v.directives))
                .b("Used", v.used)
                .v("Comment", comment(&v.comment))
                .done()
        })
    }

    fn selections(s: &[Selection]) -> Value {
        arr(s, |s| match s {
            Selection::Field(f) => Obj::new()
                .s("Alias", &f.alias)
                .s("Name", &f.name)
                .v("Arguments", args(&f.args))
                .v("Directives", directives(&f.directives))
                .v("SelectionSet", selections(&f.sel))
                .v("Comment", comment(&f.comment))
                .done(),
            Selection::Spread(sp) => Obj::new()
                .s("Name", &sp.name)
                .v("Directives", directives(&sp.directives))
                .v("Comment", comment(&sp.comment))
                .done(),
            Selection::Inline(i) => Obj::new()
                .s("TypeCondition", &i.type_cond)
                .v("Directives", directives(&i.directives))
                .v("SelectionSet", selections(&i.sel))
                .v("Comment", comment(&i.comment))
                .done(),
        })
    }

    pub fn query(d: &QueryDoc) -> Value {
        let ops = arr(&d.ops, |o| {
            Obj::new()
                .s("Description", &o.description)
                .s("Operation", &o.op)
                .s("Name", &o.name)
                .v("VariableDefinitions", var_defs(&o.vars))
                .v("Directives", directives(&o.directives))
                .v("SelectionSet", selections(&o.sel))
                .v("Comment", comment(&o.comment))
                .done()
        });
        let frags = arr(&d.frags, |f| {
            Obj::new()
                .s("Description", &f.description)
                .s("Name", &f.name)
                .v("VariableDefinition", var_defs(&f.vars))
                .s("TypeCondition", &f.type_cond)
                .v("Directives", directives(&f.directives))
                .v("SelectionSet", selections(&f.sel))
                .v("Comment", comment(&f.comment))
                .done()
        });
        Obj::new().v("Operations", ops).v("Fragments", frags).done()
    }

    fn field_defs(f: &[FieldDef]) -> Value {
        arr(f, |f| {
            Obj::new()
                .s("Description", &f.description)
                .s("Name", &f.name)
                .v("Arguments", field_defs(&f.args))
                .v("DefaultValue", opt_value(&f.default))
                .v("Type", ty(&f.ty))
                .v("Directives", directives(&f.directives))
                .def_comments(&f.comments)
                .done()
        })
    }

    fn definitions(d: &[Definition]) -> Value {
        arr(d, |d| {
            Obj::new()
                .s("Kind", &d.kind)
                .s("Description", &d.description)
                .s("Name", &d.name)
                .v("Directives", directives(&d.directives))
                .v("Interfaces", strs(&d.interfaces))
                .v("Fields", field_defs(&d.fields))
                .v("Types", strs(&d.types))
                .v(
                    "EnumValues",
                    arr(&d.enum_values, |e| {
                        Obj::new()
                            .s("Description", &e.description)
                            .s("Name", &e.name)
                            .v("Directives", directives(&e.directives))
                            .def_comments(&e.comments)
                            .done()
                    }),
                )
                .b("BuiltIn", d.builtin)
                .def_comments(&d.comments)
                .done()
        })
    }

    fn schema_defs(s: &[SchemaDef]) -> Value {
        arr(s, |s| {
            Obj::new()
                .s("Description", &s.description)
                .v("Directives", directives(&s.directives))
                .v(
                    "OperationTypes",
                    arr(&s.op_types, |o| Obj::new().s("Operation", &o.op).s("Type", &o.ty).v("Comment", comment(&o.comment)).done()),
                )
                .def_comments(&s.comments)
                .done()
        })
    }

    fn directive_defs(d: &[DirectiveDef]) -> Value {
        arr(d, |x| {
            Obj::new()
                .s("Description", &x.description)
                .s("Name", &x.name)
                .v("Arguments", field_defs(&x.args))
                .v("Directives", directives(&x.directives))
                .v("Locations", strs(&x.locations))
                .b("IsRepeatable", x.repeatable)
                .def_comments(&x.comments)
                .done()
        })
    }

    pub fn schema(d: &SchemaDoc) -> Value {
        Obj::new()
            .v("Comment", comment(&d.comment))
            .v("Schema", schema_defs(&d.schema))
            .v("SchemaExtension", schema_defs(&d.schema_ext))
            .v("Directives", directive_defs(&d.directives))
            .v("DirectiveExtensions", directive_defs(&d.directive_exts))
            .v("Definitions", definitions(&d.defs))
            .v("Extensions", definitions(&d.exts))
            .done()
    }
}

/// Reading ASTs given as objects (as the builtins above render them) back into documents.
mod from_obj {
    use super::*;

    type R<T> = Result<T, String>;

    fn get<'a>(o: &'a Map, k: &str) -> Option<&'a Value> {
        o.get(&Value::string(k)).filter(|v| !matches!(v, Value::Null))
    }

    fn obj<'a>(v: &'a Value, what: &str) -> R<&'a Map> {
        v.as_object().ok_or_else(|| format!("GraphQL AST: {} must be an object", what))
    }

    fn s(o: &Map, k: &str) -> R<String> {
        match get(o, k) {
            None => Ok(String::new()),
            Some(Value::String(x)) => Ok(x.to_string()),
            Some(_) => Err(format!("GraphQL AST: {} must be a string", k)),
        }
    }

    fn b(o: &Map, k: &str) -> R<bool> {
        match get(o, k) {
            None => Ok(false),
            Some(Value::Bool(x)) => Ok(*x),
            Some(_) => Err(format!("GraphQL AST: {} must be a boolean", k)),
        }
    }

    fn list<'a>(o: &'a Map, k: &str) -> R<&'a [Value]> {
        match get(o, k) {
            None => Ok(&[]),
            Some(Value::Array(a)) => Ok(a),
            Some(_) => Err(format!("GraphQL AST: {} must be an array", k)),
        }
    }

    fn strs(o: &Map, k: &str) -> R<Vec<String>> {
        list(o, k)?
            .iter()
            .map(|v| v.as_str().map(|x| x.to_string()).ok_or_else(|| format!("GraphQL AST: {} must hold strings", k)))
            .collect()
    }

    /// A `Comment` group's lines (`{"List": [{"Value": "# ..."}]}`).
    fn comment(o: &Map) -> R<Comments> {
        let Some(g) = get(o, "Comment") else { return Ok(Vec::new()) };
        let g = obj(g, "CommentGroup")?;
        list(g, "List")?.iter().map(|c| s(obj(c, "Comment")?, "Value")).collect()
    }

    fn def_comments(o: &Map) -> R<DefComments> {
        let group = |k: &str| match get(o, k) {
            Some(g) => list(obj(g, "CommentGroup")?, "List")?.iter().map(|c| s(obj(c, "Comment")?, "Value")).collect(),
            None => Ok(Vec::new()),
        };
        Ok(DefComments {
            before_description: group("BeforeDescriptionComment")?,
            after_description: group("AfterDescriptionComment")?,
            end_of_definition: group("EndOfDefinitionComment")?,
        })
    }

    fn deep(depth: usize) -> R<()> {
        if depth > MAX_DEPTH {
            return Err(format!("GraphQL AST: exceeded maximum nesting depth of {}", MAX_DEPTH));
        }
        Ok(())
    }

    fn value(v: &Value, depth: usize) -> R<GValue> {
        deep(depth)?;
        let o = obj(v, "Value")?;
        let kind = match get(o, "Kind") {
            None => 0,
            Some(Value::Number(n)) => match n.as_i64() {
                Some(k @ 0..=9) => k as u8,
                _ => return Err("GraphQL AST: invalid value Kind".into()),
            },
            Some(_) => return Err("GraphQL AST: Kind must be a number".into()),
        };
        let mut children = Vec::new();
        let mut child_comments = Vec::new();
        for c in list(o, "Children")? {
            let co = obj(c, "ChildValue")?;
            let cv = match get(co, "Value") {
                Some(x) => value(x, depth + 1)?,
                None => GValue::default(),
            };
            children.push((s(co, "Name")?, cv));
            child_comments.push(comment(co)?);
        }
        Ok(GValue { kind, raw: s(o, "Raw")?, children, comment: comment(o)?, child_comments, pos: Pos::default() })
    }

    fn opt_value(o: &Map, k: &str) -> R<Option<GValue>> {
        get(o, k).map(|v| value(v, 0)).transpose()
    }

    fn ty(v: Option<&Value>, depth: usize) -> R<GType> {
        deep(depth)?;
        let Some(v) = v else { return Ok(GType::default()) };
        let o = obj(v, "Type")?;
        let elem = match get(o, "Elem") {
            Some(e) => Some(Box::new(ty(Some(e), depth + 1)?)),
            None => None,
        };
        Ok(GType { named: s(o, "NamedType")?, elem, non_null: b(o, "NonNull")?, pos: Pos::default() })
    }

    fn args(o: &Map) -> R<Vec<Argument>> {
        list(o, "Arguments")?
            .iter()
            .map(|a| {
                let ao = obj(a, "Argument")?;
                let value = match get(ao, "Value") {
                    Some(v) => value(v, 0)?,
                    None => GValue::default(),
                };
                Ok(Argument { comment: comment(ao)?, name: s(ao, "Name")?, value, pos: Pos::default() })
            })
            .collect()
    }

    fn directives(o: &Map) -> R<Vec<Directive>> {
        list(o, "Directives")?
            .iter()
            .map(|d| {
                let dobj = obj(d, "Directive")?;
                Ok(Directive { name: s(dobj, "Name")?, args: args(dobj)?, pos: Pos::default() })
            })
            .collect()
    }

    fn var_defs(o: &Map, k: &str) -> R<Vec<VarDef>> {
        list(o, k)?
            .iter()
            .map(|v| {
                let vo = obj(v, "VariableDefinition")?;
                Ok(VarDef {
                    comment: comment(vo)?,
                    description: s(vo, "Description")?,
                    used: b(vo, "Used")?,
                    var: s(vo, "Variable")?,
                    ty: ty(get(vo, "Type"), 0)?,
                    default: opt_value(vo, "DefaultValue")?,
                    directives: directives(vo)?,
                    pos: Pos::default(),
                })
            })
            .collect()
    }

    fn selections(o: &Map, depth: usize) -> R<Vec<Selection>> {
        deep(depth)?;
        list(o, "SelectionSet")?
            .iter()
            .map(|x| {
                let so = obj(x, "Selection")?;
                let has = |k: &str| so.contains_key(&Value::string(k));
                if has("Alias") || (!has("TypeCondition") && has("Arguments")) {
                    Ok(Selection::Field(Field {
                        comment: comment(so)?,
                        alias: s(so, "Alias")?,
                        name: s(so, "Name")?,
                        args: args(so)?,
                        directives: directives(so)?,
                        sel: selections(so, depth + 1)?,
                        pos: Pos::default(),
                    }))
                } else if has("TypeCondition") || has("SelectionSet") {
                    Ok(Selection::Inline(Inline {
                        comment: comment(so)?,
                        type_cond: s(so, "TypeCondition")?,
                        directives: directives(so)?,
                        sel: selections(so, depth + 1)?,
                        pos: Pos::default(),
                    }))
                } else {
                    Ok(Selection::Spread(Spread { comment: comment(so)?, name: s(so, "Name")?, directives: directives(so)?, pos: Pos::default() }))
                }
            })
            .collect()
    }

    pub fn query_doc(v: &Value) -> R<QueryDoc> {
        let o = obj(v, "query document")?;
        let mut d = QueryDoc::default();
        for op in list(o, "Operations")? {
            let oo = obj(op, "OperationDefinition")?;
            let mut kind = s(oo, "Operation")?;
            if kind.is_empty() {
                kind = "query".into();
            }
            d.ops.push(Operation {
                comment: comment(oo)?,
                description: s(oo, "Description")?,
                op: kind,
                name: s(oo, "Name")?,
                vars: var_defs(oo, "VariableDefinitions")?,
                directives: directives(oo)?,
                sel: selections(oo, 0)?,
                pos: Pos::default(),
            });
        }
        for f in list(o, "Fragments")? {
            let fo = obj(f, "FragmentDefinition")?;
            d.frags.push(Fragment {
                comment: comment(fo)?,
                description: s(fo, "Description")?,
                name: s(fo, "Name")?,
                vars: var_defs(fo, "VariableDefinition")?,
                type_cond: s(fo, "TypeCondition")?,
                directives: directives(fo)?,
                sel: selections(fo, 0)?,
                pos: Pos::default(),
            });
        }
        Ok(d)
    }

    fn field_defs(o: &Map, k: &str) -> R<Vec<FieldDef>> {
        list(o, k)?
            .iter()
            .map(|f| {
                let fo = obj(f, "FieldDefinition")?;
                Ok(FieldDef {
                    comments: def_comments(fo)?,
                    description: s(fo, "Description")?,
                    name: s(fo, "Name")?,
                    args: if k == "Arguments" { Vec::new() } else { field_defs(fo, "Arguments")? },
                    default: opt_value(fo, "DefaultValue")?,
                    ty: ty(get(fo, "Type"), 0)?,
                    directives: directives(fo)?,
                    pos: Pos::default(),
                })
            })
            .collect()
    }

    fn definitions(o: &Map, k: &str) -> R<Vec<Definition>> {
        list(o, k)?
            .iter()
            .map(|d| {
                let dobj = obj(d, "Definition")?;
                let enum_values = list(dobj, "EnumValues")?
                    .iter()
                    .map(|e| {
                        let eo = obj(e, "EnumValueDefinition")?;
                        Ok(EnumValueDef {
                            comments: def_comments(eo)?,
                            description: s(eo, "Description")?,
                            name: s(eo, "Name")?,
                            directives: directives(eo)?,
                            pos: Pos::default(),
                        })
                    })
                    .collect::<R<Vec<_>>>()?;
                Ok(Definition {
                    comments: def_comments(dobj)?,
                    kind: s(dobj, "Kind")?,
                    description: s(dobj, "Description")?,
                    name: s(dobj, "Name")?,
                    directives: directives(dobj)?,
                    interfaces: strs(dobj, "Interfaces")?,
                    fields: field_defs(dobj, "Fields")?,
                    types: strs(dobj, "Types")?,
                    enum_values,
                    builtin: b(dobj, "BuiltIn")?,
                    pos: Pos::default(),
                })
            })
            .collect()
    }

    fn schema_defs(o: &Map, k: &str) -> R<Vec<SchemaDef>> {
        list(o, k)?
            .iter()
            .map(|x| {
                let so = obj(x, "SchemaDefinition")?;
                let op_types = list(so, "OperationTypes")?
                    .iter()
                    .map(|t| {
                        let to = obj(t, "OperationTypeDefinition")?;
                        Ok(OpTypeDef { comment: comment(to)?, op: s(to, "Operation")?, ty: s(to, "Type")?, pos: Pos::default() })
                    })
                    .collect::<R<Vec<_>>>()?;
                Ok(SchemaDef {
                    comments: def_comments(so)?,
                    description: s(so, "Description")?,
                    directives: directives(so)?,
                    op_types,
                    pos: Pos::default(),
                })
            })
            .collect()
    }

    fn directive_defs(o: &Map, k: &str) -> R<Vec<DirectiveDef>> {
        list(o, k)?
            .iter()
            .map(|d| {
                let dobj = obj(d, "DirectiveDefinition")?;
                Ok(DirectiveDef {
                    comments: def_comments(dobj)?,
                    description: s(dobj, "Description")?,
                    name: s(dobj, "Name")?,
                    args: field_defs(dobj, "Arguments")?,
                    directives: directives(dobj)?,
                    locations: strs(dobj, "Locations")?,
                    repeatable: b(dobj, "IsRepeatable")?,
                    pos: Pos::default(),
                })
            })
            .collect()
    }

    pub fn schema_doc(v: &Value) -> R<SchemaDoc> {
        let o = obj(v, "schema document")?;
        let directives = directive_defs(o, "Directives")?;
        Ok(SchemaDoc {
            comment: comment(o)?,
            directive_exts: directive_defs(o, "DirectiveExtensions")?,
            schema: schema_defs(o, "Schema")?,
            schema_ext: schema_defs(o, "SchemaExtension")?,
            directives,
            defs: definitions(o, "Definitions")?,
            exts: definitions(o, "Extensions")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: super::super::BuiltinFn, args: &[Value]) -> BuiltinResult {
        let mut ctx = Ctx::new(0, true);
        f(&mut ctx, args)
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let q = format!("{}{}", "{a".repeat(100_000), "}".repeat(100_000));
        assert!(call(parse_query, &[Value::string(q)]).is_err());
        let v = format!("{{ f(a: {}1{}) }}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(call(parse_query, &[Value::string(v)]).is_err());
        let t = format!("query ($a: {}Int{}) {{ f }}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(call(parse_query, &[Value::string(t)]).is_err());
    }

    #[test]
    fn parse_errors() {
        let e = call(parse_query, &[Value::string("{")]).unwrap_err();
        assert_eq!(e, BuiltinError::Eval("Expected Name, found <EOF> in GraphQL string at location 1:2".into()));
    }

    /// gqlparser 2.5.64 reads descriptions on operations, fragments and variable
    /// definitions (not on the `{ ... }` shorthand); `opa eval` renders them.
    #[test]
    fn executable_descriptions() {
        let q = r#""op" query Q("v" $a: Int) { a(x: $a) } "frag" fragment F on Q { a }"#;
        let ast = call(parse_query, &[Value::string(q)]).unwrap();
        let op = &ast.field("Operations").unwrap().as_array().unwrap()[0];
        assert_eq!(op.field("Description"), Some(&Value::string("op")));
        let var = &op.field("VariableDefinitions").unwrap().as_array().unwrap()[0];
        assert_eq!(var.field("Description"), Some(&Value::string("v")));
        let frag = &ast.field("Fragments").unwrap().as_array().unwrap()[0];
        assert_eq!(frag.field("Description"), Some(&Value::string("frag")));
        let e = call(parse_query, &[Value::string(r#""d" { a }"#)]).unwrap_err();
        assert_eq!(e, BuiltinError::Eval(r#"Unexpected String "d" in GraphQL string at location 1:2"#.into()));
    }

    /// Comments right before a node's first token are its `Comment`, as gqlparser
    /// attaches them (checked against `opa eval`); the `{ ... }` shorthand keeps none.
    #[test]
    fn comments_attach_as_gqlparser() {
        let q = "# top\nquery Q { # on a\n  a(x: # on [\n [1], y: {# on k\n k: 2}) }";
        let ast = call(parse_query, &[Value::string(q)]).unwrap();
        let lines = |v: &Value| -> Vec<String> {
            let list = v.field("Comment").and_then(|c| c.field("List")).and_then(|l| l.as_array()).unwrap_or(&[]);
            list.iter().filter_map(|c| c.field("Value").and_then(|x| x.as_str()).map(str::to_string)).collect()
        };
        let op = &ast.field("Operations").unwrap().as_array().unwrap()[0];
        assert_eq!(lines(op), ["# top"]);
        let a = &op.field("SelectionSet").unwrap().as_array().unwrap()[0];
        assert_eq!(lines(a), ["# on a"]);
        let args = a.field("Arguments").unwrap().as_array().unwrap();
        assert_eq!(lines(args[0].field("Value").unwrap()), ["# on ["]);
        let k = &args[1].field("Value").unwrap().field("Children").unwrap().as_array().unwrap()[0];
        assert_eq!(lines(k), ["# on k"]);
        let shorthand = call(parse_query, &[Value::string("# c\n{ a }")]).unwrap();
        assert_eq!(lines(&shorthand.field("Operations").unwrap().as_array().unwrap()[0]), Vec::<String>::new());
    }

    /// Schema comments as gqlparser groups them (checked against `opa eval`).
    #[test]
    fn schema_comments_attach_as_gqlparser() {
        let text = "# before\n\"d\" # after\ntype Q { # on a\n \"fd\" # name\n a: Int # end\n}\n# eof";
        let ast = call(parse_schema, &[Value::string(text)]).unwrap();
        let lines = |v: &Value, k: &str| -> Vec<String> {
            let list = v.field(k).and_then(|c| c.field("List")).and_then(|l| l.as_array()).unwrap_or(&[]);
            list.iter().filter_map(|c| c.field("Value").and_then(|x| x.as_str()).map(str::to_string)).collect()
        };
        let q = &ast.field("Definitions").unwrap().as_array().unwrap()[0];
        assert_eq!(lines(q, "BeforeDescriptionComment"), ["# before"]);
        assert_eq!(lines(q, "AfterDescriptionComment"), ["# after"]);
        assert_eq!(lines(q, "EndOfDefinitionComment"), ["# end"]);
        let a = &q.field("Fields").unwrap().as_array().unwrap()[0];
        assert_eq!(lines(a, "BeforeDescriptionComment"), ["# on a"]);
        assert_eq!(lines(a, "AfterDescriptionComment"), ["# name"]);
        assert_eq!(lines(&ast, "Comment"), ["# eof"]);
    }

    /// gqlparser 2.5.64's `extend directive @d @x` and directives on directive definitions.
    #[test]
    fn directive_extensions() {
        let ok = |t: &str| call(schema_is_valid, &[Value::string(t)]).unwrap() == Value::Bool(true);
        assert!(ok("directive @x on DIRECTIVE_DEFINITION\ndirective @k @x on OBJECT\ntype Query { a: Int }"));
        assert!(ok("directive @x on DIRECTIVE_DEFINITION\ndirective @k on OBJECT\nextend directive @k @x\ntype Query { a: Int }"));
        assert!(!ok("directive @x on OBJECT\ndirective @k @x on OBJECT\ntype Query { a: Int }"));
        let e = call(parse, &[Value::string("{ a }"), Value::string("extend directive @nope @deprecated\ntype Query { a: Int }")]).unwrap_err();
        assert_eq!(
            e,
            BuiltinError::Eval("Error in gqlparser SchemaDocument to Schema conversion: input:1:19: Cannot extend directive @nope because it is not defined.".into())
        );
        let ast = call(parse_schema, &[Value::string("extend directive @k @x")]).unwrap();
        let ext = &ast.field("DirectiveExtensions").unwrap().as_array().unwrap()[0];
        assert_eq!(ext.field("Name"), Some(&Value::string("k")));
    }

    #[test]
    fn schema_errors_as_opa_wraps_them() {
        let e = call(parse, &[Value::string("{ a }"), Value::string("type Query { a: Foo }")]).unwrap_err();
        assert_eq!(
            e,
            BuiltinError::Eval("Error in gqlparser SchemaDocument to Schema conversion: input:1:17: Undefined type Foo.".into())
        );
    }

    #[test]
    fn validation() {
        let schema = Value::string("type Query { a(x: Int!): String b: B } type B { c: Int }");
        let ok = call(is_valid, &[Value::string("{ a(x: 1) b { c } }"), schema.clone()]).unwrap();
        assert_eq!(ok, Value::Bool(true));
        for bad in ["{ a }", "{ a(x: \"s\") }", "{ b }", "{ z }", "{ a(x: 1) { c } }", "query Q($v: Int) { a(x: $v) }"] {
            let r = call(is_valid, &[Value::string(bad), schema.clone()]).unwrap();
            assert_eq!(r, Value::Bool(false), "{}", bad);
        }
    }

    #[test]
    fn hostile_documents_finish() {
        let schema = Value::string("type Query { a: Int q: Query }");
        // Fragment cycles are reported, not followed forever.
        let cyc = "query { q { ...A } } fragment A on Query { q { ...B } } fragment B on Query { ...A }";
        assert_eq!(call(is_valid, &[Value::string(cyc), schema.clone()]).unwrap(), Value::Bool(false));
        // Many operations spreading one large fragment: bounded work.
        let mut q = String::new();
        for i in 0..20_000 {
            q.push_str(&format!("query Q{} {{ ...F }} ", i));
        }
        q.push_str("fragment F on Query { ");
        for i in 0..20_000 {
            q.push_str(&format!("a{}: a ", i));
        }
        q.push('}');
        // Its expansion (20,000 × 20,000 selections) exceeds the validator's
        // walk budget: refused as invalid instead of walked for minutes.
        assert_eq!(call(is_valid, &[Value::string(q), schema.clone()]).unwrap(), Value::Bool(false));
        // A long chain of fragments nests no deeper than the walker's bound.
        let mut chain = String::from("query { ...F0 } ");
        for i in 0..5_000 {
            chain.push_str(&format!("fragment F{} on Query {{ q {{ ...F{} }} }} ", i, i + 1));
        }
        chain.push_str("fragment F5000 on Query { a }");
        let deep = format!("{}{{ a }}{}", "{ q ".repeat(120), " }".repeat(120));
        assert_eq!(call(is_valid, &[Value::string(deep), schema.clone()]).unwrap(), Value::Bool(true));
        let _ = call(is_valid, &[Value::string(chain), schema]).unwrap();
    }

    #[test]
    fn schema_rules() {
        for (s, ok) in [
            ("type Query { a: Int }", true),
            ("type Hello {}", false),
            ("interface I { a: Int } type T implements I { b: Int }", false),
            ("interface I { a: Int } interface J implements I { a: Int } type T implements J { a: Int }", false),
            ("union U = X", false),
            ("input I { a: Q } type Q { a: Int }", false),
            ("scalar S extend type S @deprecated", false),
        ] {
            assert_eq!(call(schema_is_valid, &[Value::string(s)]).unwrap(), Value::Bool(ok), "{}", s);
        }
    }
}
