# Body rules: with Envoy's `with_request_body`, the body arrives parsed as
# input.parsed_body (JSON as a document; forms as {key: [values]}).
#   GET anything                          allowed
#   POST /transfers (JSON)                amount at most 1000, EUR or USD
#   POST /login (form)                    a non-empty username
# A body Envoy cut short (truncated_body) is never trusted.
#
#   sark-authz serve --policy envoy/policies/body.rego
package envoy.authz

import rego.v1

default allow := false

method := input.attributes.request.http.method

allow if method == "GET"

allow if {
	method == "POST"
	input.parsed_path == ["transfers"]
	not input.truncated_body
	is_number(input.parsed_body.amount)
	input.parsed_body.amount > 0
	input.parsed_body.amount <= 1000
	input.parsed_body.currency in {"EUR", "USD"}
}

allow if {
	method == "POST"
	input.parsed_path == ["login"]
	not input.truncated_body
	input.parsed_body.username[0] != ""
}
