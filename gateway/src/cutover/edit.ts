/**
 * Edits of the cutover file's YAML text that keep everything else byte for byte: comments,
 * spacing, key order, quoting. PURE (text in, text out).
 *
 * The yaml package's Document API locates the node; an existing scalar is replaced by splicing
 * its source range, because re-serialising the document would re-flow the author's layout
 * (it collapses the aligned inline comments, for one). Only a key that does not exist yet goes
 * through the Document (setIn), which keeps comments but formats the new node its own way.
 */
import { isMap, isScalar, isSeq, parseDocument, type Document } from 'yaml';
import { GatewayError } from '../errors.ts';

export type YamlPath = ReadonlyArray<string | number>;

function parse(text: string): Document.Parsed {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new GatewayError('invalid_cutover', `the cutover file is not valid YAML: ${doc.errors[0]!.message}`, { exitCode: 2 });
  }
  return doc;
}

/** YAML source of a scalar value, in flow style so it fits on the line it replaces. */
function scalarSource(value: string | number | boolean): string {
  if (typeof value !== 'string') return String(value);
  // Plain when it reads back as the same string; quoted otherwise ('true', '10', ': ', ...).
  const doc = parseDocument(value);
  return doc.errors.length === 0 && doc.contents !== null && isScalar(doc.contents) && doc.contents.value === value && !/[#\n]/.test(value)
    ? value
    : JSON.stringify(value);
}

/** Sets one value. `value` may be a list (written in flow style, e.g. `[GET, HEAD]`). */
export function setYamlValue(text: string, path: YamlPath, value: string | number | boolean | ReadonlyArray<string | number>): string {
  const doc = parse(text);
  const node = doc.getIn(path, true);
  if (isScalar(node) && node.range && !Array.isArray(value)) {
    const [start, end] = node.range;
    return text.slice(0, start) + scalarSource(value as string | number | boolean) + text.slice(end);
  }
  if (isSeq(node) && node.range && Array.isArray(value)) {
    const end = node.range[1];
    let start = node.range[0];
    const flow = `[${value.map((v) => scalarSource(v)).join(', ')}]`;
    if (node.flow) return text.slice(0, start) + flow + text.slice(end);
    // A block sequence starts on the line after its key and ends after its last item's
    // newline: the flow list goes right after the key's colon, and the newline stays.
    while (start > 0 && /[ \t\n]/.test(text[start - 1]!)) start--;
    const tail = text.slice(start, end).match(/\n[ \t]*$/)?.[0] ?? '';
    return `${text.slice(0, start)} ${flow}${tail}${text.slice(end)}`;
  }
  const parent = doc.getIn(path.slice(0, -1), true);
  if (path.length > 1 && !isMap(parent)) {
    throw new GatewayError('invalid_cutover', `cannot set ${path.join('.')}: ${path.slice(0, -1).join('.')} is not a mapping`, { exitCode: 2 });
  }
  doc.setIn(path, Array.isArray(value) ? doc.createNode(value, { flow: true }) : value);
  return doc.toString();
}

/** Index of the route named `name`, or a GatewayError that lists the routes there are. */
export function routeIndex(text: string, name: string): number {
  const doc = parse(text);
  const routes = doc.get('routes', true);
  const names: string[] = [];
  if (isSeq(routes)) {
    for (const [i, item] of routes.items.entries()) {
      const n = isMap(item) ? item.get('name') : undefined;
      if (n === name) return i;
      if (typeof n === 'string') names.push(n);
    }
  }
  throw new GatewayError(
    'unknown_route',
    `no route named '${name}' in the cutover file; expected one of: ${names.length ? names.join(', ') : '(the file has no routes)'}`,
    { exitCode: 2 },
  );
}

/** The file with route `name`'s share set to `share` (validated by the caller's schema pass). */
export function setRouteShare(text: string, name: string, share: number): string {
  return setYamlValue(text, ['routes', routeIndex(text, name), 'share'], share);
}
