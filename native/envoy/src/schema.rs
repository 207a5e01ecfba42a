//! Static descriptors of the Envoy messages a CheckRequest carries, with the
//! field numbers of Envoy's API and the JSON names protojson (and so
//! opa-envoy-plugin's `protomap`) gives them. v2 uses the Go struct names
//! (snake_case), which is what the plugin's `encoding/json` produces there.

use sark_engine::value::Str;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    String,
    Bytes,
    Bool,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Enum,
    Double,
    Float,
    Message(&'static Message),
    /// `map<string, string>`
    MapString,
    /// `map<string, M>`
    MapMessage(&'static Message),
    /// google.protobuf.Struct, rendered as a plain object (`AsMap`)
    Struct,
}

#[derive(Debug, PartialEq)]
pub struct Field {
    pub number: u32,
    /// The JSON name for v3 (lowerCamelCase).
    pub json: &'static str,
    /// The proto name, used for v2 (snake_case).
    pub proto: &'static str,
    /// `json` and `proto` as object keys, built at compile time (`None`: too
    /// long to be stored inline; such keys are interned when decoding).
    pub json_key: Option<Str>,
    pub proto_key: Option<Str>,
    pub kind: Kind,
    pub repeated: bool,
    /// Member of a oneof: present when on the wire, even with a default value.
    pub oneof: bool,
    /// Added in v3: unknown to v2 readers, so skipped when decoding v2.
    pub v3_only: bool,
}

#[derive(Debug, PartialEq)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

impl Message {
    pub fn field(&self, number: u32) -> Option<&'static Field> {
        // Messages are small: a scan beats hashing.
        self.fields.iter().find(|f| f.number == number)
    }
}

/// A field with its flags (`repeated`, `oneof`, `v3_only`); written out in
/// full because a `const fn` cannot drop the partial value `..` would make.
const fn field(number: u32, json: &'static str, proto: &'static str, kind: Kind, flags: (bool, bool, bool)) -> Field {
    let json_key = Str::inline(json);
    let proto_key = Str::inline(proto);
    Field { number, json, proto, json_key, proto_key, kind, repeated: flags.0, oneof: flags.1, v3_only: flags.2 }
}
const fn f(number: u32, json: &'static str, proto: &'static str, kind: Kind) -> Field {
    field(number, json, proto, kind, (false, false, false))
}
const fn rep(number: u32, json: &'static str, proto: &'static str, kind: Kind) -> Field {
    field(number, json, proto, kind, (true, false, false))
}
const fn one(number: u32, json: &'static str, proto: &'static str, kind: Kind) -> Field {
    field(number, json, proto, kind, (false, true, false))
}
/// A field v2's API does not have.
const fn v3(number: u32, json: &'static str, proto: &'static str, kind: Kind) -> Field {
    field(number, json, proto, kind, (false, false, true))
}

pub static TIMESTAMP: Message = Message {
    name: "google.protobuf.Timestamp",
    fields: &[f(1, "seconds", "seconds", Kind::Int64), f(2, "nanos", "nanos", Kind::Int32)],
};

pub static ANY: Message = Message {
    name: "google.protobuf.Any",
    fields: &[f(1, "typeUrl", "type_url", Kind::String), f(2, "value", "value", Kind::Bytes)],
};

pub static SOCKET_ADDRESS: Message = Message {
    name: "envoy.config.core.v3.SocketAddress",
    fields: &[
        f(1, "protocol", "protocol", Kind::Enum),
        f(2, "address", "address", Kind::String),
        one(3, "portValue", "port_value", Kind::Uint32),
        one(4, "namedPort", "named_port", Kind::String),
        f(5, "resolverName", "resolver_name", Kind::String),
        f(6, "ipv4Compat", "ipv4_compat", Kind::Bool),
        f(7, "networkNamespaceFilepath", "network_namespace_filepath", Kind::String),
    ],
};

pub static PIPE: Message = Message {
    name: "envoy.config.core.v3.Pipe",
    fields: &[f(1, "path", "path", Kind::String), f(2, "mode", "mode", Kind::Uint32)],
};

pub static ENVOY_INTERNAL_ADDRESS: Message = Message {
    name: "envoy.config.core.v3.EnvoyInternalAddress",
    fields: &[
        one(1, "serverListenerName", "server_listener_name", Kind::String),
        f(2, "endpointId", "endpoint_id", Kind::String),
    ],
};

pub static ADDRESS: Message = Message {
    name: "envoy.config.core.v3.Address",
    fields: &[
        one(1, "socketAddress", "socket_address", Kind::Message(&SOCKET_ADDRESS)),
        one(2, "pipe", "pipe", Kind::Message(&PIPE)),
        one(3, "envoyInternalAddress", "envoy_internal_address", Kind::Message(&ENVOY_INTERNAL_ADDRESS)),
    ],
};

pub static METADATA: Message = Message {
    name: "envoy.config.core.v3.Metadata",
    fields: &[
        f(1, "filterMetadata", "filter_metadata", Kind::MapMessage(&STRUCT_MARKER)),
        f(2, "typedFilterMetadata", "typed_filter_metadata", Kind::MapMessage(&ANY)),
    ],
};

/// Stands for google.protobuf.Struct as a map value (decoded with `Kind::Struct`).
pub static STRUCT_MARKER: Message = Message { name: "google.protobuf.Struct", fields: &[] };

pub static HEADER_VALUE: Message = Message {
    name: "envoy.config.core.v3.HeaderValue",
    fields: &[
        f(1, "key", "key", Kind::String),
        f(2, "value", "value", Kind::String),
        f(3, "rawValue", "raw_value", Kind::Bytes),
    ],
};

pub static HEADER_MAP: Message = Message {
    name: "envoy.config.core.v3.HeaderMap",
    fields: &[rep(1, "headers", "headers", Kind::Message(&HEADER_VALUE))],
};

pub static PEER: Message = Message {
    name: "envoy.service.auth.v3.AttributeContext.Peer",
    fields: &[
        f(1, "address", "address", Kind::Message(&ADDRESS)),
        f(2, "service", "service", Kind::String),
        f(3, "labels", "labels", Kind::MapString),
        f(4, "principal", "principal", Kind::String),
        f(5, "certificate", "certificate", Kind::String),
    ],
};

pub static HTTP_REQUEST: Message = Message {
    name: "envoy.service.auth.v3.AttributeContext.HttpRequest",
    fields: &[
        f(1, "id", "id", Kind::String),
        f(2, "method", "method", Kind::String),
        f(3, "headers", "headers", Kind::MapString),
        f(4, "path", "path", Kind::String),
        f(5, "host", "host", Kind::String),
        f(6, "scheme", "scheme", Kind::String),
        f(7, "query", "query", Kind::String),
        f(8, "fragment", "fragment", Kind::String),
        f(9, "size", "size", Kind::Int64),
        f(10, "protocol", "protocol", Kind::String),
        f(11, "body", "body", Kind::String),
        v3(12, "rawBody", "raw_body", Kind::Bytes),
        v3(13, "headerMap", "header_map", Kind::Message(&HEADER_MAP)),
    ],
};

pub static REQUEST: Message = Message {
    name: "envoy.service.auth.v3.AttributeContext.Request",
    fields: &[f(1, "time", "time", Kind::Message(&TIMESTAMP)), f(2, "http", "http", Kind::Message(&HTTP_REQUEST))],
};

pub static TLS_SESSION: Message = Message {
    name: "envoy.service.auth.v3.AttributeContext.TLSSession",
    fields: &[f(1, "sni", "sni", Kind::String)],
};

pub static ATTRIBUTE_CONTEXT: Message = Message {
    name: "envoy.service.auth.v3.AttributeContext",
    fields: &[
        f(1, "source", "source", Kind::Message(&PEER)),
        f(2, "destination", "destination", Kind::Message(&PEER)),
        f(4, "request", "request", Kind::Message(&REQUEST)),
        f(10, "contextExtensions", "context_extensions", Kind::MapString),
        f(11, "metadataContext", "metadata_context", Kind::Message(&METADATA)),
        v3(12, "tlsSession", "tls_session", Kind::Message(&TLS_SESSION)),
        v3(13, "routeMetadataContext", "route_metadata_context", Kind::Message(&METADATA)),
    ],
};

pub static CHECK_REQUEST: Message = Message {
    name: "envoy.service.auth.v3.CheckRequest",
    fields: &[f(1, "attributes", "attributes", Kind::Message(&ATTRIBUTE_CONTEXT))],
};

// google.protobuf.Value / ListValue field numbers, decoded by hand in protomap.rs.
pub const STRUCT_FIELDS: u32 = 1;
pub const VALUE_NULL: u32 = 1;
pub const VALUE_NUMBER: u32 = 2;
pub const VALUE_STRING: u32 = 3;
pub const VALUE_BOOL: u32 = 4;
pub const VALUE_STRUCT: u32 = 5;
pub const VALUE_LIST: u32 = 6;
pub const LIST_VALUES: u32 = 1;
