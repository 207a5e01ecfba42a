# JWT claims: the caller presents `Authorization: Bearer <token>`, an HS256 JWT
# from our issuer. Viewers may read, admins may do anything. A missing or
# invalid token gets 401 with a WWW-Authenticate challenge; a valid token
# without the right role gets 403. The verified subject is passed upstream.
#
# The secret is a constant here to keep the example self-contained; in
# production put it in data (`--data secrets.json`) or use a JWKS (`cert`).
package envoy.authz

import rego.v1

secret := "example-secret-change-me"

issuer := "https://issuer.example.com"

default allow := {
	"allowed": false,
	"http_status": 401,
	"headers": {"www-authenticate": "Bearer realm=\"api\""},
	"body": "missing or invalid token",
}

allow := {"allowed": true, "headers": {"x-user": claims.sub}} if permitted

allow := {"allowed": false, "http_status": 403, "body": "forbidden"} if {
	claims
	not permitted
}

token := t if {
	auth := input.attributes.request.http.headers.authorization
	startswith(auth, "Bearer ")
	t := substring(auth, count("Bearer "), -1)
}

# io.jwt.decode_verify checks the signature, `iss`, and `exp`/`nbf` against now.
claims := payload if {
	[valid, _, payload] := io.jwt.decode_verify(token, {"secret": secret, "alg": "HS256", "iss": issuer})
	valid
}

permitted if claims.role == "admin"

permitted if {
	claims.role == "viewer"
	input.attributes.request.http.method in {"GET", "HEAD"}
}
