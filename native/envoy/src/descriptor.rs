//! A protobuf descriptor set (`FileDescriptorSet`, as `protoc --include_imports
//! --descriptor_set_out` writes it) read into what gRPC body decoding needs:
//! services and their methods, messages with their fields, and enums. Type
//! references are resolved to indices once, when the set is loaded.

use crate::wire::{Reader, WireError, LEN, VARINT};
use std::collections::{HashMap, HashSet};

/// A field's protobuf type (`FieldDescriptorProto.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Double,
    Float,
    Int64,
    Uint64,
    Int32,
    Fixed64,
    Fixed32,
    Bool,
    String,
    Group,
    Message,
    Bytes,
    Uint32,
    Enum,
    Sfixed32,
    Sfixed64,
    Sint32,
    Sint64,
}

impl Kind {
    fn from_number(n: u64) -> Option<Kind> {
        use Kind::*;
        Some(match n {
            1 => Double,
            2 => Float,
            3 => Int64,
            4 => Uint64,
            5 => Int32,
            6 => Fixed64,
            7 => Fixed32,
            8 => Bool,
            9 => String,
            10 => Group,
            11 => Message,
            12 => Bytes,
            13 => Uint32,
            14 => Enum,
            15 => Sfixed32,
            16 => Sfixed64,
            17 => Sint32,
            18 => Sint64,
            _ => return None,
        })
    }

    /// The wire type a value of this kind is written with (unpacked).
    pub fn wire_type(self) -> u32 {
        use Kind::*;
        match self {
            Double | Fixed64 | Sfixed64 => 1,
            Float | Fixed32 | Sfixed32 => 5,
            String | Bytes | Message => 2,
            Group => 3,
            _ => 0,
        }
    }

    /// Whether a repeated field of this kind may be packed.
    pub fn packable(self) -> bool {
        !matches!(self, Kind::String | Kind::Bytes | Kind::Message | Kind::Group)
    }
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    /// The protojson name: `json_name` from the descriptor, else lowerCamelCase.
    pub json_name: String,
    pub number: u32,
    pub kind: Kind,
    pub repeated: bool,
    /// Index into [`Descriptors::messages`] for message, group and map fields.
    pub message: Option<usize>,
    /// Index into [`Descriptors::enums`] for enum fields.
    pub enum_type: Option<usize>,
    /// Index of the containing oneof (real or synthetic) in the message.
    pub oneof: Option<u32>,
    /// Set means present, even at the zero value (proto2, `optional`, oneof members, messages).
    pub explicit_presence: bool,
    /// Strings must be valid UTF-8 (proto3); otherwise invalid bytes are replaced.
    pub strict_utf8: bool,
    /// A map field: its entry message has the key in field 1 and the value in field 2.
    pub map: bool,
    type_name: String,
}

#[derive(Debug, Clone)]
pub struct Message {
    pub full_name: String,
    pub fields: Vec<Field>,
    pub map_entry: bool,
    by_number: HashMap<u32, usize>,
}

impl Message {
    /// The index in `fields` of field `number`.
    pub fn field_index(&self, number: u32) -> Option<usize> {
        self.by_number.get(&number).copied()
    }
}

#[derive(Debug, Clone)]
pub struct Enum {
    pub full_name: String,
    /// Values in declaration order.
    pub values: Vec<(String, i32)>,
    /// proto2 enums are closed: unknown numbers are not values of the field.
    pub closed: bool,
}

impl Enum {
    /// The name of the first value declared with `number`.
    pub fn name_of(&self, number: i32) -> Option<&str> {
        self.values.iter().find(|(_, n)| *n == number).map(|(s, _)| s.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Method {
    /// Index into [`Descriptors::messages`] of the request message.
    pub input: usize,
    pub client_streaming: bool,
}

/// The contents of a descriptor set.
#[derive(Clone, Default)]
pub struct Descriptors {
    pub messages: Vec<Message>,
    pub enums: Vec<Enum>,
    message_index: HashMap<String, usize>,
    /// Service full name → method name → method.
    services: HashMap<String, HashMap<String, Method>>,
}

impl std::fmt::Debug for Descriptors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Descriptors")
            .field("messages", &self.messages.len())
            .field("enums", &self.enums.len())
            .field("services", &self.services.len())
            .finish()
    }
}

/// Why a descriptor set could not be loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct DescriptorError(pub String);

impl std::fmt::Display for DescriptorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn wire(context: &str) -> impl Fn(WireError) -> DescriptorError + '_ {
    move |e| DescriptorError(format!("not a FileDescriptorSet: {} ({})", e.0, context))
}

fn utf8(b: &[u8], context: &str) -> Result<String, DescriptorError> {
    String::from_utf8(b.to_vec()).map_err(|_| DescriptorError(format!("not a FileDescriptorSet: invalid UTF-8 in {}", context)))
}

impl Descriptors {
    /// Loads a serialized `FileDescriptorSet`. Every type a field or method
    /// names must be in the set (so it must be built with `--include_imports`).
    pub fn from_bytes(bytes: &[u8]) -> Result<Descriptors, DescriptorError> {
        let mut files = Vec::new();
        let mut r = Reader::new(bytes);
        while !r.done() {
            match r.tag().map_err(wire("FileDescriptorSet"))? {
                (1, LEN) => files.push(parse_file(r.bytes().map_err(wire("FileDescriptorSet.file"))?)?),
                (n, wt) => r.skip_field(n, wt).map_err(wire("FileDescriptorSet"))?,
            }
        }
        let names: HashSet<&str> = files.iter().map(|f| f.name.as_str()).collect();
        for f in &files {
            if let Some(dep) = f.dependencies.iter().find(|d| !names.contains(d.as_str())) {
                return Err(DescriptorError(format!(
                    "descriptor set lacks {:?}, imported by {:?} (build it with protoc --include_imports)",
                    dep, f.name
                )));
            }
        }
        let mut d = Descriptors::default();
        let mut enum_index: HashMap<String, usize> = HashMap::new();
        let mut pending_services = Vec::new();
        for f in files {
            for m in f.messages {
                if d.message_index.insert(m.full_name.clone(), d.messages.len()).is_some() || enum_index.contains_key(&m.full_name) {
                    return Err(DescriptorError(format!("type {:?} is defined twice", m.full_name)));
                }
                d.messages.push(m);
            }
            for e in f.enums {
                if enum_index.insert(e.full_name.clone(), d.enums.len()).is_some() || d.message_index.contains_key(&e.full_name) {
                    return Err(DescriptorError(format!("type {:?} is defined twice", e.full_name)));
                }
                d.enums.push(e);
            }
            pending_services.extend(f.services);
        }
        // Resolve field types.
        let map_entries: Vec<bool> = d.messages.iter().map(|m| m.map_entry).collect();
        for m in d.messages.iter_mut() {
            for fld in m.fields.iter_mut() {
                let needs_type = matches!(fld.kind, Kind::Message | Kind::Group | Kind::Enum);
                if !needs_type {
                    continue;
                }
                let name = fld.type_name.strip_prefix('.').unwrap_or("");
                let unresolved = || DescriptorError(format!("field {}.{} has unresolved type {:?}", m.full_name, fld.name, fld.type_name));
                if fld.kind == Kind::Enum {
                    fld.enum_type = Some(*enum_index.get(name).ok_or_else(unresolved)?);
                } else {
                    let i = *d.message_index.get(name).ok_or_else(unresolved)?;
                    fld.message = Some(i);
                    fld.map = fld.repeated && fld.kind == Kind::Message && map_entries.get(i).copied().unwrap_or(false);
                }
            }
        }
        for (svc_name, methods) in pending_services {
            let mut by_name = HashMap::new();
            for (name, input, client_streaming) in methods {
                let input_name = input.strip_prefix('.').unwrap_or("");
                let i = *d
                    .message_index
                    .get(input_name)
                    .ok_or_else(|| DescriptorError(format!("method {}.{} has unresolved input type {:?}", svc_name, name, input)))?;
                by_name.insert(name, Method { input: i, client_streaming });
            }
            d.services.insert(svc_name, by_name);
        }
        // Map entries must have a key (1) and a value (2).
        for m in &d.messages {
            if m.map_entry && (m.field_index(1).is_none() || m.field_index(2).is_none()) {
                return Err(DescriptorError(format!("map entry {} lacks its key or value field", m.full_name)));
            }
        }
        Ok(d)
    }

    /// [`Descriptors::from_bytes`] of base64 (standard alphabet) text, as
    /// the addon's options carry a descriptor set.
    pub fn from_base64(text: &str) -> Result<Descriptors, DescriptorError> {
        let bytes = base64::Engine::decode(&crate::BASE64, text.trim().as_bytes()).map_err(|e| DescriptorError(format!("descriptor set is not valid base64: {}", e)))?;
        Descriptors::from_bytes(&bytes)
    }

    /// `None` when the service is not in the set or has no such method.
    pub fn method(&self, service: &str, method: &str) -> Option<&Method> {
        self.services.get(service)?.get(method)
    }

    pub fn message_by_name(&self, full_name: &str) -> Option<usize> {
        self.message_index.get(full_name).copied()
    }

    pub fn service_count(&self) -> usize {
        self.services.len()
    }
}

#[derive(PartialEq, Clone, Copy)]
enum Syntax {
    Proto2,
    Proto3,
    Editions,
}

/// A service's full name and its methods: (name, input type name, client streaming).
type ServiceParts = (String, Vec<(String, String, bool)>);

struct FileParts {
    name: String,
    dependencies: Vec<String>,
    messages: Vec<Message>,
    enums: Vec<Enum>,
    services: Vec<ServiceParts>,
}

fn parse_file(bytes: &[u8]) -> Result<FileParts, DescriptorError> {
    let ctx = "FileDescriptorProto";
    // First pass: the scalars that decide how the rest is read.
    let mut name = String::new();
    let mut package = String::new();
    let mut syntax = Syntax::Proto2;
    let mut dependencies = Vec::new();
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag().map_err(wire(ctx))? {
            (1, LEN) => name = utf8(r.bytes().map_err(wire(ctx))?, ctx)?,
            (2, LEN) => package = utf8(r.bytes().map_err(wire(ctx))?, ctx)?,
            (3, LEN) => dependencies.push(utf8(r.bytes().map_err(wire(ctx))?, ctx)?),
            (12, LEN) => {
                syntax = match r.bytes().map_err(wire(ctx))? {
                    b"proto3" => Syntax::Proto3,
                    b"editions" => Syntax::Editions,
                    _ => Syntax::Proto2,
                }
            }
            (n, wt) => r.skip_field(n, wt).map_err(wire(ctx))?,
        }
    }
    let mut parts = FileParts { name, dependencies, messages: Vec::new(), enums: Vec::new(), services: Vec::new() };
    let prefix = if package.is_empty() { String::new() } else { format!("{}.", package) };
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag().map_err(wire(ctx))? {
            (4, LEN) => parse_message(r.bytes().map_err(wire(ctx))?, &prefix, syntax, &mut parts)?,
            (5, LEN) => {
                let e = parse_enum(r.bytes().map_err(wire(ctx))?, &prefix, syntax)?;
                parts.enums.push(e);
            }
            (6, LEN) => {
                let s = parse_service(r.bytes().map_err(wire(ctx))?, &prefix)?;
                parts.services.push(s);
            }
            (n, wt) => r.skip_field(n, wt).map_err(wire(ctx))?,
        }
    }
    Ok(parts)
}

fn parse_message(bytes: &[u8], prefix: &str, syntax: Syntax, parts: &mut FileParts) -> Result<(), DescriptorError> {
    let ctx = "DescriptorProto";
    let mut name = String::new();
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag().map_err(wire(ctx))? {
            (1, LEN) => name = utf8(r.bytes().map_err(wire(ctx))?, ctx)?,
            (n, wt) => r.skip_field(n, wt).map_err(wire(ctx))?,
        }
    }
    if name.is_empty() {
        return Err(DescriptorError("a message has no name".into()));
    }
    let full_name = format!("{}{}", prefix, name);
    let nested_prefix = format!("{}.", full_name);
    let mut fields = Vec::new();
    let mut map_entry = false;
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag().map_err(wire(ctx))? {
            (2, LEN) => fields.push(parse_field(r.bytes().map_err(wire(ctx))?, syntax)?),
            (3, LEN) => parse_message(r.bytes().map_err(wire(ctx))?, &nested_prefix, syntax, parts)?,
            (4, LEN) => {
                let e = parse_enum(r.bytes().map_err(wire(ctx))?, &nested_prefix, syntax)?;
                parts.enums.push(e);
            }
            (7, LEN) => {
                // MessageOptions.map_entry (7)
                let mut o = Reader::new(r.bytes().map_err(wire(ctx))?);
                while !o.done() {
                    match o.tag().map_err(wire("MessageOptions"))? {
                        (7, VARINT) => map_entry = o.varint().map_err(wire("MessageOptions"))? != 0,
                        (n, wt) => o.skip_field(n, wt).map_err(wire("MessageOptions"))?,
                    }
                }
            }
            (n, wt) => r.skip_field(n, wt).map_err(wire(ctx))?,
        }
    }
    let mut by_number = HashMap::new();
    for (i, f) in fields.iter().enumerate() {
        if by_number.insert(f.number, i).is_some() {
            return Err(DescriptorError(format!("message {} has two fields numbered {}", full_name, f.number)));
        }
    }
    parts.messages.push(Message { full_name, fields, map_entry, by_number });
    Ok(())
}

fn parse_field(bytes: &[u8], syntax: Syntax) -> Result<Field, DescriptorError> {
    let ctx = "FieldDescriptorProto";
    let mut name = String::new();
    let mut json_name = None;
    let mut number = 0u64;
    let mut label = 1u64;
    let mut kind = None;
    let mut type_name = String::new();
    let mut oneof = None;
    let mut proto3_optional = false;
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag().map_err(wire(ctx))? {
            (1, LEN) => name = utf8(r.bytes().map_err(wire(ctx))?, ctx)?,
            (3, VARINT) => number = r.varint().map_err(wire(ctx))?,
            (4, VARINT) => label = r.varint().map_err(wire(ctx))?,
            (5, VARINT) => {
                let t = r.varint().map_err(wire(ctx))?;
                kind = Some(Kind::from_number(t).ok_or_else(|| DescriptorError(format!("field {:?} has unknown type {}", name, t)))?);
            }
            (6, LEN) => type_name = utf8(r.bytes().map_err(wire(ctx))?, ctx)?,
            (9, VARINT) => oneof = Some(r.varint().map_err(wire(ctx))? as u32),
            (10, LEN) => json_name = Some(utf8(r.bytes().map_err(wire(ctx))?, ctx)?),
            (17, VARINT) => proto3_optional = r.varint().map_err(wire(ctx))? != 0,
            (n, wt) => r.skip_field(n, wt).map_err(wire(ctx))?,
        }
    }
    if number == 0 || number > 536_870_911 {
        return Err(DescriptorError(format!("field {:?} has invalid number {}", name, number)));
    }
    let kind = kind.ok_or_else(|| DescriptorError(format!("field {:?} has no type", name)))?;
    let repeated = label == 3;
    let explicit_presence = !repeated && (matches!(kind, Kind::Message | Kind::Group) || oneof.is_some() || proto3_optional || syntax != Syntax::Proto3);
    Ok(Field {
        json_name: json_name.unwrap_or_else(|| json_camel_case(&name)),
        name,
        number: number as u32,
        kind,
        repeated,
        message: None,
        enum_type: None,
        oneof,
        explicit_presence,
        strict_utf8: syntax != Syntax::Proto2,
        map: false,
        type_name,
    })
}

fn parse_enum(bytes: &[u8], prefix: &str, syntax: Syntax) -> Result<Enum, DescriptorError> {
    let ctx = "EnumDescriptorProto";
    let mut name = String::new();
    let mut values = Vec::new();
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag().map_err(wire(ctx))? {
            (1, LEN) => name = utf8(r.bytes().map_err(wire(ctx))?, ctx)?,
            (2, LEN) => {
                let mut v = Reader::new(r.bytes().map_err(wire(ctx))?);
                let (mut vname, mut vnum) = (String::new(), 0i32);
                while !v.done() {
                    match v.tag().map_err(wire("EnumValueDescriptorProto"))? {
                        (1, LEN) => vname = utf8(v.bytes().map_err(wire("EnumValueDescriptorProto"))?, "EnumValueDescriptorProto")?,
                        (2, VARINT) => vnum = v.varint().map_err(wire("EnumValueDescriptorProto"))? as i32,
                        (n, wt) => v.skip_field(n, wt).map_err(wire("EnumValueDescriptorProto"))?,
                    }
                }
                values.push((vname, vnum));
            }
            (n, wt) => r.skip_field(n, wt).map_err(wire(ctx))?,
        }
    }
    if values.is_empty() {
        return Err(DescriptorError(format!("enum {}{} has no values", prefix, name)));
    }
    Ok(Enum { full_name: format!("{}{}", prefix, name), values, closed: syntax == Syntax::Proto2 })
}

fn parse_service(bytes: &[u8], prefix: &str) -> Result<ServiceParts, DescriptorError> {
    let ctx = "ServiceDescriptorProto";
    let mut name = String::new();
    let mut methods = Vec::new();
    let mut r = Reader::new(bytes);
    while !r.done() {
        match r.tag().map_err(wire(ctx))? {
            (1, LEN) => name = utf8(r.bytes().map_err(wire(ctx))?, ctx)?,
            (2, LEN) => {
                let mctx = "MethodDescriptorProto";
                let mut m = Reader::new(r.bytes().map_err(wire(ctx))?);
                let (mut mname, mut input, mut client_streaming) = (String::new(), String::new(), false);
                while !m.done() {
                    match m.tag().map_err(wire(mctx))? {
                        (1, LEN) => mname = utf8(m.bytes().map_err(wire(mctx))?, mctx)?,
                        (2, LEN) => input = utf8(m.bytes().map_err(wire(mctx))?, mctx)?,
                        (5, VARINT) => client_streaming = m.varint().map_err(wire(mctx))? != 0,
                        (n, wt) => m.skip_field(n, wt).map_err(wire(mctx))?,
                    }
                }
                methods.push((mname, input, client_streaming));
            }
            (n, wt) => r.skip_field(n, wt).map_err(wire(ctx))?,
        }
    }
    Ok((format!("{}{}", prefix, name), methods))
}

/// protoc's default JSON name: `foo_bar_baz` → `fooBarBaz`.
pub fn json_camel_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut upper_next = false;
    for c in s.chars() {
        if c == '_' {
            upper_next = true;
        } else if upper_next {
            out.push(c.to_ascii_uppercase());
            upper_next = false;
        } else {
            out.push(c);
        }
    }
    out
}
