/**
 * The ignore file: intended differences (the new service fixing a legacy bug, say). Each entry
 * names a route and/or path pattern and/or parameter patterns, a category and a reason. Findings
 * it matches move from mismatches to `intended` and are reported apart with their reason, never
 * dropped. YAML or JSON (YAML is a superset):
 *
 * ```yaml
 * ignore:
 *   - path: /image/files/cmyk-*.jpg      # glob on the path: * within a segment, ** across segments
 *     params: { format: webp }          # glob per known parameter; "" means "absent"
 *     category: pixels
 *     reason: legacy ignores the ICC profile of CMYK sources (LEG-123); new converts it
 * ```
 */
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { CATEGORIES, primaryCategory, type Category, type Finding, type IntendedFinding, type Verdict } from './result.ts';

const entrySchema = z
  .object({
    /** Route name (e.g. `images`), exact. */
    route: z.string().min(1).optional(),
    /** Glob on the request path (no query). */
    path: z.string().min(1).optional(),
    /** Globs on known query parameters; the empty string matches an absent parameter. */
    params: z.record(z.enum(['w', 'h', 'fit', 'q', 'format']), z.string()).optional(),
    /** Which findings this entry accepts. */
    category: z.enum(CATEGORIES),
    /** Optional: only findings of this rule (e.g. `cache_control`). */
    rule: z.string().min(1).optional(),
    reason: z.string().min(1, 'expected a reason: why this difference is intended'),
  })
  .strict()
  .refine((e) => e.route !== undefined || e.path !== undefined || e.params !== undefined, {
    message: 'expected at least one of route, path or params (an entry that matches everything would hide every difference)',
  });

const fileSchema = z.union([z.object({ ignore: z.array(entrySchema) }).strict(), z.array(entrySchema)]);

/** One ignore entry. */
export type IgnoreEntry = z.infer<typeof entrySchema>;

/** Parses the ignore file's text; throws an Error whose message names the entry and field. */
export function parseIgnoreFile(text: string, name = 'ignore file'): IgnoreEntry[] {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (err) {
    throw new Error(`${name}: not valid YAML or JSON: ${(err as Error).message}`, { cause: err });
  }
  if (data === null || data === undefined) return [];
  const r = fileSchema.safeParse(data);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw new Error(
      `${name}: expected a list of entries (or {ignore: [...]}) with category (${CATEGORIES.join(', ')}), reason, and route/path/params; ${issues.join('; ')}`,
    );
  }
  return Array.isArray(r.data) ? r.data : r.data.ignore;
}

/** Glob -> RegExp: `**` any characters, `*` any characters but `/`, `?` one character; the rest literal. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** What an entry is matched against. */
export interface IgnoreSubject {
  route: string;
  /** Path of the request target, without the query. */
  path: string;
  params: Readonly<Record<string, string>>;
}

export function entryMatches(entry: IgnoreEntry, subject: IgnoreSubject, finding: Finding): boolean {
  if (finding.category !== entry.category) return false;
  if (entry.rule !== undefined && finding.rule !== entry.rule) return false;
  if (entry.route !== undefined && entry.route !== subject.route) return false;
  if (entry.path !== undefined && !globToRegExp(entry.path).test(subject.path)) return false;
  for (const [name, pattern] of Object.entries(entry.params ?? {})) {
    const value = subject.params[name];
    if (pattern === '') {
      if (value !== undefined) return false;
    } else if (value === undefined || !globToRegExp(pattern).test(value)) return false;
  }
  return true;
}

/**
 * Splits findings into the ones still standing and the intended ones, and gives the verdict:
 * `match` (no findings), `intended` (every finding accepted by an entry), `mismatch` otherwise.
 * The category is the primary category of what stands (or of what was accepted, for `intended`).
 */
export function applyIgnore(
  findings: readonly Finding[],
  subject: IgnoreSubject,
  entries: readonly IgnoreEntry[],
): { verdict: Verdict; category: Category | null; findings: Finding[]; intended: IntendedFinding[] } {
  const standing: Finding[] = [];
  const intended: IntendedFinding[] = [];
  for (const f of findings) {
    const entry = entries.find((e) => entryMatches(e, subject, f));
    if (entry) intended.push({ ...f, reason: entry.reason });
    else standing.push(f);
  }
  if (standing.length > 0) return { verdict: 'mismatch', category: primaryCategory(standing), findings: standing, intended };
  if (intended.length > 0) return { verdict: 'intended', category: primaryCategory(intended), findings: standing, intended };
  return { verdict: 'match', category: null, findings: standing, intended };
}
