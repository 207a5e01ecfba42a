# Reads a gRPC request body parsed with --proto-descriptor.
package envoy.authz

import rego.v1

default allow := false

allow if {
	input.parsed_path == ["sark.test.v1.UserService", "GetUser"]
	input.parsed_body.userId == "42"
}
