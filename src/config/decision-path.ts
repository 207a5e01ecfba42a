/**
 * The decision path (`--path`), normalised once. opa-envoy-plugin reads
 * `test/com.foo.envoy.ingress/allow/main` as one key per `/` segment —
 * `data.test["com.foo.envoy.ingress"].allow.main` — so a segment may hold
 * dots or any other character; it becomes a bracketed string key unless it
 * is a plain identifier. A path starting with `data.` or `data[` is taken
 * as a Rego reference as written (the engine parses it).
 */
import { AuthzError } from '../errors';

export interface DecisionPath {
  /** The Rego reference the engine evaluates: `data.envoy.authz.allow`, `data.test["com.foo"].allow`. */
  ref: string;
  /** The path as written, `/`-trimmed (`envoy/authz/allow`), for logs. */
  path: string;
}

/** Words that cannot follow a `.` in a reference unquoted. */
const KEYWORDS = new Set(['as', 'contains', 'default', 'else', 'every', 'false', 'if', 'import', 'in', 'not', 'null', 'package', 'some', 'true', 'with']);

/** `allow` → `.allow`; `com.foo` → `["com.foo"]`. */
function refSegment(segment: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(segment) && !KEYWORDS.has(segment) ? `.${segment}` : `[${JSON.stringify(segment)}]`;
}

/**
 * `envoy/authz/allow`, `/envoy/authz/allow/` → `data.envoy.authz.allow`;
 * `data.envoy.authz.allow` as is; `` or `/` → `data`. Throws AuthzError
 * `config_invalid` for an empty segment (`a//b`) or an unbalanced reference.
 */
export function normaliseDecisionPath(text: string): DecisionPath {
  const trimmed = text.trim();
  if (trimmed === 'data' || trimmed.startsWith('data.') || trimmed.startsWith('data[')) {
    if (!/^data(\.[A-Za-z_][A-Za-z0-9_]*|\["(?:[^"\\]|\\.)*"\])*$/.test(trimmed)) {
      throw new AuthzError('config_invalid', `invalid decision path "${text}" (expected e.g. envoy/authz/allow or data.envoy.authz.allow)`);
    }
    return { ref: trimmed, path: trimmed };
  }
  const path = trimmed.replace(/^\/+|\/+$/g, '');
  if (path === '') return { ref: 'data', path };
  const segments = path.split('/');
  if (segments.some((s) => s === '')) throw new AuthzError('config_invalid', `invalid decision path "${text}": empty segment`);
  return { ref: `data${segments.map(refSegment).join('')}`, path };
}

/** The engine reference of a decision path (`envoy/authz/allow` → `data.envoy.authz.allow`). */
export function decisionRef(text: string): string {
  return normaliseDecisionPath(text).ref;
}

/**
 * A reference back to the slash path OPA logs: `data.envoy.authz.allow` →
 * `envoy/authz/allow`, `data.test["com.foo"].allow` → `test/com.foo/allow`.
 */
export function refToPath(ref: string): string {
  const segments: string[] = [];
  const re = /\.([A-Za-z_][A-Za-z0-9_]*)|\[("(?:[^"\\]|\\.)*")\]/gy;
  re.lastIndex = ref.startsWith('data') ? 4 : 0;
  for (let m = re.exec(ref); m; m = re.exec(ref)) segments.push(m[1] ?? (JSON.parse(m[2]) as string));
  return segments.join('/');
}
