# Header injection: an object decision that tells Envoy what to add and
# remove. Requests from a known user (x-user) are allowed; Envoy adds
# x-authz-user and x-authz-decision upstream, x-served-by downstream, drops
# the internal token the client should never have sent, and passes the user
# to later filters as dynamic metadata. Anonymous requests get 403 with a
# short body.
#
#   sark-authz serve --policy envoy/policies/headers.rego
package envoy.authz

import rego.v1

user := object.get(input.attributes.request.http.headers, "x-user", "")

default allow := {
	"allowed": false,
	"http_status": 403,
	"body": "unknown user",
	"headers": {"x-authz-decision": "deny"},
}

allow := {
	"allowed": true,
	"headers": {"x-authz-user": user, "x-authz-decision": "allow"},
	"response_headers_to_add": {"x-served-by": "sark-authz"},
	"request_headers_to_remove": ["x-internal-token"],
	"dynamic_metadata": {"user": user},
} if user != ""
