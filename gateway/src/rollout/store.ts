/**
 * Where a rollout lives on disk, in the front door's run directory (it belongs to that front
 * door, and `gateway status` already reads there): rollout/<route>.state.json (the state, written
 * atomically), rollout/<route>.audit.jsonl (append-only, one decision per line) and
 * rollout/<route>.lock (one writer at a time: the controller and the operator's commands).
 *
 * A decision that changes the share is written in two phases: the state file first records it
 * as `pending` (next state + audit record + share), then the share is applied, the record
 * appended and the pending entry cleared. A controller killed in between finds the pending entry
 * at start and finishes it: the share is applied again (the same share: idempotent), and the
 * record is appended only when the audit log does not have its seq yet. So no step is repeated
 * or skipped.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { GatewayError } from '../errors.ts';
import { writeFileAtomic } from '../nginx/run-dir.ts';
import { auditRecordSchema, rolloutStateSchema, type AuditRecord, type RolloutState, type Transition } from './core/machine.ts';

export interface RolloutPaths {
  dir: string;
  state: string;
  audit: string;
  lock: string;
}

export function rolloutPaths(runDir: string, route: string): RolloutPaths {
  const dir = path.join(path.resolve(runDir), 'rollout');
  return { dir, state: path.join(dir, `${route}.state.json`), audit: path.join(dir, `${route}.audit.jsonl`), lock: path.join(dir, `${route}.lock`) };
}

const stateFileSchema = z.object({
  state: rolloutStateSchema,
  pending: z.object({ state: rolloutStateSchema, record: auditRecordSchema, share: z.number() }).optional(),
});
export type StateFile = z.infer<typeof stateFileSchema>;

export function readStateFile(paths: RolloutPaths): StateFile | undefined {
  if (!existsSync(paths.state)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(paths.state, 'utf8'));
  } catch (err) {
    throw new GatewayError('rollout_state', `${paths.state} is not valid JSON (${(err as Error).message}); move it away to start the rollout afresh`, {
      cause: err,
    });
  }
  const parsed = stateFileSchema.safeParse(data);
  if (!parsed.success) throw new GatewayError('rollout_state', `${paths.state} is not a rollout state file: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

export function writeStateFile(paths: RolloutPaths, file: StateFile): void {
  mkdirSync(paths.dir, { recursive: true });
  writeFileAtomic(paths.state, `${JSON.stringify(file, null, 2)}\n`);
}

/** The audit log's records (a torn last line, from a crash mid-write, is skipped). */
export function readAudit(paths: RolloutPaths): AuditRecord[] {
  if (!existsSync(paths.audit)) return [];
  const out: AuditRecord[] = [];
  for (const line of readFileSync(paths.audit, 'utf8').split('\n')) {
    if (!line.trim()) continue;
    try {
      const r = auditRecordSchema.safeParse(JSON.parse(line));
      if (r.success) out.push(r.data);
    } catch {
      /* torn line */
    }
  }
  return out;
}

function lastAuditSeq(paths: RolloutPaths): number {
  if (!existsSync(paths.audit)) return 0;
  // The last few KiB hold the last record: the log may be long, a decision is one short line.
  const text = readFileSync(paths.audit, 'utf8');
  const lines = text.trimEnd().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    try {
      const seq = (JSON.parse(lines[i]!) as { seq?: unknown }).seq;
      if (typeof seq === 'number') return seq;
    } catch {
      /* torn line */
    }
  }
  return 0;
}

export function appendAudit(paths: RolloutPaths, record: AuditRecord): void {
  mkdirSync(paths.dir, { recursive: true });
  if (lastAuditSeq(paths) >= record.seq) return; // already written before a crash
  // A line torn by a crash mid-write is ended first, so the record starts a line of its own.
  const torn = existsSync(paths.audit) && !readFileSync(paths.audit, 'utf8').endsWith('\n') && statSync(paths.audit).size > 0;
  const fd = openSync(paths.audit, 'a');
  try {
    writeSync(fd, `${torn ? '\n' : ''}${JSON.stringify(record)}\n`);
  } finally {
    closeSync(fd);
  }
}

/**
 * Persists a transition: two phases when it applies a share (see the top of this file).
 * `apply` is the router's setShare; when it throws, the state stays as it was.
 */
export async function commitTransition(
  paths: RolloutPaths,
  previous: RolloutState | undefined,
  t: Transition,
  apply: (share: number) => Promise<void>,
): Promise<void> {
  if (t.apply !== undefined) {
    if (previous) writeStateFile(paths, { state: previous, pending: { state: t.state, record: t.record, share: t.apply } });
    try {
      await apply(t.apply);
    } catch (err) {
      if (previous) writeStateFile(paths, { state: previous });
      throw err;
    }
  }
  appendAudit(paths, t.record);
  writeStateFile(paths, { state: t.state });
}

/** Finishes a transition a crash interrupted; returns the state it leaves. */
export async function finishPending(paths: RolloutPaths, file: StateFile, apply: (share: number) => Promise<void>): Promise<RolloutState> {
  if (!file.pending) return file.state;
  await apply(file.pending.share);
  appendAudit(paths, file.pending.record);
  writeStateFile(paths, { state: file.pending.state });
  return file.pending.state;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function holderAlive(lock: string): boolean {
  let text: string;
  try {
    text = readFileSync(lock, 'utf8');
  } catch {
    return false;
  }
  const holder = Number(text.trim());
  // Empty: taken a moment ago, its pid not written yet (a lock older than that was left by a crash).
  if (!(holder > 0)) {
    const st = statSync(lock, { throwIfNoEntry: false });
    return st !== undefined && Date.now() - st.mtimeMs < 5000;
  }
  try {
    process.kill(holder, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Runs `fn` holding the route's rollout lock. A lock whose holder is gone (a killed controller)
 * is taken over; a live holder is waited for, up to `waitMs` (an apply takes seconds at most).
 */
export async function withRolloutLock<T>(paths: RolloutPaths, fn: () => Promise<T>, waitMs = 60_000): Promise<T> {
  mkdirSync(paths.dir, { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const fd = openSync(paths.lock, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!holderAlive(paths.lock)) {
        rmSync(paths.lock, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new GatewayError('rollout_busy', `${paths.lock} is held by a live process for over ${waitMs / 1000} s; try again`);
      await sleep(100);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(paths.lock, { force: true });
  }
}
