/**
 * @module oci/uri
 * The `uri` format of descriptor `urls`, decided the way the reference validator decides it:
 * the JSON-schema library (santhosh-tekuri/jsonschema v6) accepts a string when Go's
 * `url.Parse` succeeds, the URL is absolute (has a scheme), and a host containing `:` is a
 * bracketed IPv6 address. This restates the checks `url.Parse` makes (control characters,
 * scheme, userinfo characters, port digits, host characters, `%` escapes) rather than a full
 * RFC 3986 grammar, because that is what decides the conformance vectors; a URL that passes
 * may still be one no client can fetch.
 */

/** True when `value` is an absolute URI as the reference validator judges it. */
export function isAbsoluteUri(value: string): boolean {
  // Control characters anywhere, before any splitting.
  if (/[\u0000-\u001f\u007f]/.test(value)) return false;
  const hash = value.indexOf('#');
  const beforeFragment = hash < 0 ? value : value.slice(0, hash);
  const fragment = hash < 0 ? '' : value.slice(hash + 1);
  if (!validEscapes(fragment)) return false;

  const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:/.exec(beforeFragment);
  if (scheme === null) return false; // relative, or "missing protocol scheme"
  let rest = beforeFragment.slice(scheme[0].length);
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q); // the query is not checked by url.Parse
  if (!rest.startsWith('/')) return true; // opaque ("mailto:x"): kept raw, not checked

  let path = rest;
  if (rest.startsWith('//')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    path = slash < 0 ? '' : rest.slice(slash);
    if (!validAuthority(authority)) return false;
  }
  return validEscapes(path);
}

function validAuthority(authority: string): boolean {
  const at = authority.lastIndexOf('@');
  const host = at < 0 ? authority : authority.slice(at + 1);
  if (at >= 0) {
    const userinfo = authority.slice(0, at);
    if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo) || !validEscapes(userinfo)) return false;
  }
  return validHost(host);
}

function validHost(host: string): boolean {
  let name = host;
  if (host.startsWith('[')) {
    const close = host.lastIndexOf(']');
    if (close < 0 || !validPort(host.slice(close + 1))) return false;
    // jsonschema v6 parses the bracketed name with net.ParseIP, which takes no zone.
    return isIPv6(host.slice(1, close));
  }
  const colon = host.lastIndexOf(':');
  if (colon >= 0) {
    if (!validPort(host.slice(colon))) return false;
    name = host.slice(0, colon);
    if (name.includes(':')) return false; // an IPv6 address must be bracketed
  }
  // Host characters url.Parse allows unescaped; '%' only for non-ASCII bytes (or %25).
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 0x80 || /[A-Za-z0-9\-_.~!$&'()*+,;=:[\]<>"]/.test(name[i] ?? '')) continue;
    if (name[i] !== '%') return false;
    const hex = name.slice(i + 1, i + 3);
    if (!/^[0-9a-fA-F]{2}$/.test(hex)) return false;
    if (parseInt(hex[0] ?? '0', 16) < 8 && hex !== '25') return false;
    i += 2;
  }
  return true;
}

function validPort(colonPort: string): boolean {
  return colonPort === '' || /^:[0-9]*$/.test(colonPort);
}

/** Every '%' starts a two-hex-digit escape. */
function validEscapes(s: string): boolean {
  return !/%(?![0-9a-fA-F]{2})/.test(s);
}

function isIPv4(s: string): boolean {
  const parts = s.split('.');
  return parts.length === 4 && parts.every((p) => /^(?:0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** IPv6 text form (RFC 4291 §2.2) as Go's net.ParseIP reads it: no zone. */
export function isIPv6(s: string): boolean {
  let text = s;
  let extra = 0;
  const lastColon = s.lastIndexOf(':');
  if (lastColon < 0) return false;
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return false;
    text = s.slice(0, lastColon + 1) + '0'; // stands for the first of the two groups
    extra = 1;
  }
  const halves = text.split('::');
  if (halves.length > 2) return false;
  let groups = extra;
  for (const half of halves) {
    if (half === '') continue;
    for (const group of half.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(group)) return false;
      groups++;
    }
  }
  return halves.length === 2 ? groups <= 7 : groups === 8;
}
