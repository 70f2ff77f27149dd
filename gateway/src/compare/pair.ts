/**
 * One request, end to end: send it to both backends directly (in a random order, or at the same
 * time, so that neither always sees a warm cache), then run the parity rules and the ignore file.
 * Shared by replay and the live shadow sink, so that both judge the same way.
 */
import { createHash } from 'node:crypto';
import sharp from 'sharp';
import { decodeNormalised, formatOfContentType, type DecodedImage } from './image.ts';
import { applyIgnore, type IgnoreEntry } from './ignore.ts';
import { knownParams, targetPath, type ReplayMethod } from './input.ts';
import { primaryCategory, type Finding, type IntendedFinding, type PairResult, type SideRecord } from './result.ts';
import { applyDeclaredDifferences, compareImages, compareResponses, type DecodeOutcome, type ResponseFacts } from './rules.ts';
import type { Sender, SendOutcome } from './send.ts';
import type { Thresholds } from './thresholds.ts';

/** How the two requests of a pair are ordered. */
export type PairOrder = 'random' | 'parallel';

export interface PairContext {
  sender: Sender;
  legacyUrl: string;
  newUrl: string;
  thresholds: Thresholds;
  ignore: readonly IgnoreEntry[];
  /** 'random' (default): one after the other, a coin flip says which first. 'parallel': both at once. */
  order: PairOrder;
  random: () => number;
}

/** What the report needs beyond the record to draw a mismatch: the bodies and decoded images. */
export interface PairEvidence {
  legacyBody?: Buffer;
  newBody?: Buffer;
  legacyImage?: DecodedImage;
  newImage?: DecodedImage;
}

export interface PairOutcome {
  result: PairResult;
  evidence: PairEvidence;
}

/** Short stable id of a request: file names of its images, anchors in the HTML. */
export function requestId(method: string, target: string): string {
  return createHash('sha256').update(`${method} ${target}`).digest('hex').slice(0, 12);
}

export async function comparePair(request: { method: ReplayMethod; target: string; route: string }, ctx: PairContext): Promise<PairOutcome> {
  const { method, target } = request;
  const sendLegacy = () => ctx.sender.send(ctx.legacyUrl, method, target);
  const sendNew = () => ctx.sender.send(ctx.newUrl, method, target);
  let legacy: SendOutcome;
  let next: SendOutcome;
  if (ctx.order === 'parallel') {
    [legacy, next] = await Promise.all([sendLegacy(), sendNew()]);
  } else if (ctx.random() < 0.5) {
    legacy = await sendLegacy();
    next = await sendNew();
  } else {
    next = await sendNew();
    legacy = await sendLegacy();
  }
  return judgePair(request, legacy, next, ctx);
}

/** The rules over two answers (exported for tests that bring their own answers). */
export async function judgePair(
  request: { method: ReplayMethod; target: string; route: string },
  legacy: SendOutcome,
  next: SendOutcome,
  ctx: Pick<PairContext, 'thresholds' | 'ignore'>,
): Promise<PairOutcome> {
  const { method, target } = request;
  const params = knownParams(target);
  const legacyFacts = facts(legacy);
  const newFacts = facts(next);
  const findings: Finding[] = compareResponses(method, legacyFacts, newFacts);
  const sides: { legacy: SideRecord; new: SideRecord } = { legacy: sideRecord(legacy, legacyFacts), new: sideRecord(next, newFacts) };
  const evidence: PairEvidence = {};
  const declaredIntended: IntendedFinding[] = [];
  let signals: PairResult['signals'];

  if (legacy.ok && next.ok) {
    evidence.legacyBody = legacy.body;
    evidence.newBody = next.body;
    const typeL = formatOfContentType(legacy.headers['content-type']);
    const typeN = formatOfContentType(next.headers['content-type']);
    const bothOk = legacy.status === 200 && next.status === 200;
    if (method === 'GET' && bothOk && (typeL !== undefined || typeN !== undefined)) {
      if (Object.keys(params).length === 0 && !legacy.body.equals(next.body)) {
        // A plain download is the stored original, byte for byte (contract, section 1).
        findings.push({
          category: 'pixels',
          rule: 'original_bytes',
          detail: `plain download: the bodies differ (legacy ${legacy.body.length} bytes, new ${next.body.length} bytes); expected the original bytes on both`,
        });
      }
      if (legacy.body.equals(next.body)) {
        // Same bytes, same pixels: only the facts for the report, no decoding.
        const m = await metadataOf(legacy.body);
        if (m) {
          Object.assign(sides.legacy, m);
          Object.assign(sides.new, m);
        }
        if (m && typeL !== undefined && typeL !== m.format) {
          findings.push({ category: 'format', rule: 'declared_format', detail: `both declare ${typeL} but the body is ${m.format}` });
        }
      } else {
        const [dl, dn] = await Promise.all([decode(legacy.body), decode(next.body)]);
        for (const [d, side, key] of [
          [dl, sides.legacy, 'legacyImage'],
          [dn, sides.new, 'newImage'],
        ] as const) {
          if (d.ok) {
            side.width = d.image.width;
            side.height = d.image.height;
            side.format = d.image.format;
            evidence[key] = d.image;
          }
        }
        const cmp = compareImages(dl, dn, { legacy: typeL, new: typeN }, ctx.thresholds);
        // Declared differences (docs/parity.md) are recognised on the images and reported as intended.
        const declared = applyDeclaredDifferences(targetPath(target), cmp.findings, dl.ok ? dl.image : undefined, dn.ok ? dn.image : undefined, ctx.thresholds);
        findings.push(...declared.findings);
        declaredIntended.push(...declared.intended);
        signals = cmp.signals;
      }
    }
  }

  const ignored = applyIgnore(findings, { route: request.route, path: targetPath(target), params }, ctx.ignore);
  const intended = [...declaredIntended, ...ignored.intended];
  // A pair whose only differences are declared ones is `intended`, not a match.
  const judged =
    ignored.verdict === 'match' && intended.length > 0
      ? { ...ignored, verdict: 'intended' as const, category: primaryCategory(intended), intended }
      : { ...ignored, intended };
  const result: PairResult = {
    v: 1,
    time: new Date().toISOString(),
    id: requestId(method, target),
    method,
    target,
    route: request.route,
    params,
    verdict: judged.verdict,
    category: judged.category,
    findings: judged.findings,
    intended: judged.intended,
    ...(signals ? { signals } : {}),
    legacy: sides.legacy,
    new: sides.new,
  };
  return { result, evidence };
}

function facts(o: SendOutcome): ResponseFacts {
  if (!o.ok) return { status: null, error: o.error, headers: {}, bodyLength: 0 };
  return { status: o.status, headers: o.headers, bodyLength: o.body.length, errorCode: errorCodeOf(o) };
}

/** The `error` field of a JSON error body, if there is one. */
function errorCodeOf(o: SendOutcome & { ok: true }): string | undefined {
  if (o.status < 400 || o.body.length === 0 || o.body.length > 65536) return undefined;
  if (!(o.headers['content-type'] ?? '').toLowerCase().includes('json')) return undefined;
  try {
    const parsed = JSON.parse(o.body.toString('utf8')) as { error?: unknown };
    return typeof parsed.error === 'string' ? parsed.error : undefined;
  } catch {
    return undefined;
  }
}

function sideRecord(o: SendOutcome, f: ResponseFacts): SideRecord {
  if (!o.ok) return { status: null, error: o.error, bytes: 0, ttfbMs: o.ttfbMs, totalMs: o.totalMs };
  const cl = o.headers['content-length'];
  return {
    status: o.status,
    ...(f.errorCode ? { errorCode: f.errorCode } : {}),
    ...(o.headers['content-type'] !== undefined ? { contentType: o.headers['content-type'] } : {}),
    ...(o.headers['cache-control'] !== undefined ? { cacheControl: o.headers['cache-control'] } : {}),
    ...(o.headers.etag !== undefined ? { etag: o.headers.etag } : {}),
    ...(cl !== undefined && /^[0-9]+$/.test(cl) ? { contentLength: Number(cl) } : {}),
    bytes: o.body.length,
    ttfbMs: o.ttfbMs,
    totalMs: o.totalMs,
  };
}

async function decode(body: Buffer): Promise<DecodeOutcome> {
  try {
    return { ok: true, image: await decodeNormalised(body) };
  } catch (err) {
    return { ok: false, reason: (err as Error).message.split('\n')[0]!.slice(0, 200) };
  }
}

async function metadataOf(body: Buffer): Promise<{ width: number; height: number; format: string } | undefined> {
  try {
    const m = await sharp(body).metadata();
    const w = m.autoOrient?.width ?? m.width;
    const h = m.autoOrient?.height ?? m.height;
    return w && h && m.format ? { width: w, height: h, format: m.format } : undefined;
  } catch {
    return undefined;
  }
}
