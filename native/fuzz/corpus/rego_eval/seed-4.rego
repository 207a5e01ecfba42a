# JWT claims: the caller presents `Authorization: Bearer <token>`, an HS256
# JWT issued by https://issuer.example.com for the audience `api`.
#
#   GET, HEAD      any role in `roles`: viewer, editor or admin
#   POST, PUT      editor, admin
#   anything else  admin
#
# io.jwt.decode_verify checks the signature, the issuer, the audience and
# `exp`/`nbf` against the current time. No token: 401 with a Bearer
# challenge; a token that does not verify: 401 with error="invalid_token"
# (RFC 6750); a good token without the role: 403. An allowed request goes
# upstream with the verified subject in `x-user`.
#
# The HMAC secret is read from data.jwt.secret (`--data secrets.json`, with
# {"jwt": {"secret": "..."}}); the constant below is only a fallback that
# keeps the example self-contained. Never ship it.
#
# Decisions that call io.jwt.decode_verify depend on the clock, so the
# decision cache keeps them only with --volatile-cache-ttl (e.g. 1000).
#
#   sark-authz serve --policy envoy/policies/jwt.rego --data secrets.json
package envoy.authz

import rego.v1

default secret := "example-secret-change-me"

secret := data.jwt.secret

constraints := {"secret": secret, "alg": "HS256", "iss": "https://issuer.example.com", "aud": "api"}

# No usable token at all.
default allow := {
	"allowed": false,
	"http_status": 401,
	"headers": {"www-authenticate": "Bearer realm=\"api\""},
	"body": "authentication required",
}

# A token was sent but did not verify (signature, expiry, issuer, audience).
allow := {
	"allowed": false,
	"http_status": 401,
	"headers": {"www-authenticate": "Bearer realm=\"api\", error=\"invalid_token\""},
	"body": "invalid token",
} if {
	token
	not claims
}

allow := {"allowed": true, "headers": {"x-user": object.get(claims, "sub", "")}} if permitted

allow := {"allowed": false, "http_status": 403, "body": "forbidden"} if {
	claims
	not permitted
}

token := t if {
	auth := input.attributes.request.http.headers.authorization
	startswith(auth, "Bearer ")
	t := trim_space(substring(auth, count("Bearer "), -1))
	t != ""
}

claims := payload if {
	[valid, _, payload] := io.jwt.decode_verify(token, constraints)
	valid
}

roles contains role if some role in claims.roles

method := input.attributes.request.http.method

permitted if {
	method in {"GET", "HEAD"}
	some role in roles
	role in {"viewer", "editor", "admin"}
}

permitted if {
	method in {"POST", "PUT"}
	some role in roles
	role in {"editor", "admin"}
}

permitted if "admin" in roles
