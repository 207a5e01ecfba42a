# A decision that never finishes in reasonable time: 10^10 iterations.
package envoy.authz

import rego.v1

default allow := false

allow if {
	input.parsed_path[0] == "spin"
	some x in numbers.range(1, 100000)
	some y in numbers.range(1, 100000)
	x + y < 0
}

allow if input.parsed_path[0] == "ok"
