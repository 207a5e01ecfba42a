# A decision that echoes much of the input back into the response, so any
# difference between two input documents shows in the CheckResponse too.
package envoy.authz

import rego.v1

http := input.attributes.request.http

allowed if count(input.parsed_path) % 2 == 0

allowed if http.headers["x-role"] == "admin"

default allowed := false

allow := {
	"allowed": allowed,
	"headers": {
		"x-method": http.method,
		"x-segments": [s | some s in input.parsed_path],
		"x-role": object.get(http.headers, "x-role", "none"),
	},
	"response_headers_to_add": {"x-query-keys": [k | some k, _ in input.parsed_query]},
	"request_headers_to_remove": ["authorization"],
	"body": http.path,
	"http_status": 403,
	"dynamic_metadata": {
		"truncated": object.get(input, "truncated_body", null),
		"has_body": object.get(input, "parsed_body", null) != null,
		"principal": object.get(input, "source_principal", ""),
	},
}
