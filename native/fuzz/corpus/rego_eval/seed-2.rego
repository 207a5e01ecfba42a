# Role-based access for a small items API behind Envoy.
#
# The caller's role comes from the `x-role` header (in production it would
# come from a verified JWT or the mTLS principal).
#
#   GET         /health, /public/...   anyone
#   GET, HEAD   /api/v1/items[/...]    viewer, editor, admin
#   POST        /api/v1/items          editor, admin
#   PUT         /api/v1/items/ID       editor, admin
#   DELETE      /api/v1/items/ID       admin
#   any         /admin/...             admin, from the internal network (10.x) only
package envoy.authz

default allow := false

method := input.attributes.request.http.method

path := input.parsed_path

role := input.attributes.request.http.headers["x-role"]

# What each role may do.
permissions := {
	"viewer": ["read"],
	"editor": ["read", "write"],
	"admin": ["read", "write", "delete", "admin"],
}

can_read if {
	some p in permissions[role]
	p == "read"
}

can_write if {
	some p in permissions[role]
	p == "write"
}

can_delete if {
	some p in permissions[role]
	p == "delete"
}

is_admin if {
	some p in permissions[role]
	p == "admin"
}

# Health checks and public assets need no role.
allow if {
	method == "GET"
	path == ["health"]
}

allow if {
	method == "GET"
	path[0] == "public"
	count(path) > 1
}

# Reading items.
allow if {
	method in ["GET", "HEAD"]
	path[0] == "api"
	path[1] == "v1"
	path[2] == "items"
	can_read
}

# Creating an item: POST on the collection.
allow if {
	method == "POST"
	path == ["api", "v1", "items"]
	can_write
}

# Updating one item.
allow if {
	method == "PUT"
	count(path) == 4
	startswith(input.attributes.request.http.path, "/api/v1/items/")
	path[3] != ""
	can_write
}

# Deleting one item.
allow if {
	method == "DELETE"
	count(path) == 4
	path[2] == "items"
	can_delete
}

# The admin area: admins, from the internal network only.
allow if {
	path[0] == "admin"
	is_admin
	startswith(input.attributes.source.address.socketAddress.address, "10.")
}
