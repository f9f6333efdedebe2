/**
 * @module oci/encode
 * The bytes cairn writes for the JSON documents it creates (manifests, indexes, configs,
 * index.json, oci-layout).
 *
 * Why plain `JSON.stringify`, keys in the order the object gives them, no indentation and no
 * trailing newline: a document's identity is the digest of its exact bytes (descriptor.md,
 * considerations.md), and the spec deliberately defines no canonical form. So cairn does not
 * sort keys or normalise anything: it builds each document with its keys in the order it
 * wants (spec order: schemaVersion, mediaType, config, layers, ...) and the same object always
 * yields the same bytes. Documents cairn *reads* are never re-encoded; their original bytes
 * are stored and hashed as they came, because re-encoding (Go escapes `<>&`, other tools
 * indent or reorder) would change their digest.
 */

/**
 * UTF-8 of `JSON.stringify(document)`. Members whose value is `undefined` are left out, as
 * `JSON.stringify` does, so optional fields can be written `field: maybe`.
 *
 * @example encodeDocument({ imageLayoutVersion: '1.0.0' }) // bytes of {"imageLayoutVersion":"1.0.0"}
 */
export function encodeDocument(document: object): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(document));
}
