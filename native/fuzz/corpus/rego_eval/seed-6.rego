# Object and boolean decisions at data.envoy.authz.allow, one per path, for
# the end-to-end tests. Paths matching no rule leave the decision undefined.
package envoy.authz

allow := {"allowed": true, "headers": {"x-user": "alice"}} if {
	input.parsed_path == ["ok"]
}

allow := true if {
	input.parsed_path == ["plain-allow"]
}

allow := false if {
	input.parsed_path == ["plain-deny"]
}

allow := {"allowed": false, "http_status": 401, "body": "login required", "headers": {"www-authenticate": "Bearer realm=\"items\""}} if {
	input.parsed_path == ["login"]
}

# The parsed JSON body and the query reach the policy.
allow := {"allowed": true, "headers": {"x-item": input.parsed_body.name, "x-page": input.parsed_query.page[0]}} if {
	input.parsed_path == ["body"]
	input.attributes.request.http.method == "POST"
}

# Not a boolean nor an object with `allowed`.
allow := "yes" if {
	input.parsed_path == ["string"]
}

# Two complete rules with different values: an evaluation error.
allow := true if {
	input.parsed_path == ["conflict"]
}

allow := false if {
	input.parsed_path == ["conflict"]
}
