/**
 * The ports `npm start` is about to listen on, checked before anything starts: a port already
 * taken (a second `npm start`, another web server on 8080) is one line that says which part wanted
 * it and which variable moves it, instead of nginx's bind() errors five times over after legacy and
 * the service have been started and stopped again.
 */
import { canListen } from './process.ts';

export interface PlannedPort {
  port: number;
  host: string;
  /** The part that listens there, as the user knows it ("the front door"). */
  what: string;
  /** The environment variable that moves it. */
  variable: string;
}

export interface PortPlanInput {
  parts: ReadonlySet<'legacy' | 'service' | 'frontdoor'>;
  listenHost: string;
  front: number;
  legacy: number;
  /** One per replica, with its admin port when it has a fixed one (undefined: any free port). */
  services: ReadonlyArray<{ port: number; adminPort: number | undefined }>;
}

/** PURE: what the parts to run will listen on, in start order. */
export function plannedPorts(input: PortPlanInput): PlannedPort[] {
  const planned: PlannedPort[] = [];
  if (input.parts.has('legacy')) planned.push({ port: input.legacy, host: '127.0.0.1', what: "legacy's nginx", variable: 'LEGACY_PORT' });
  if (input.parts.has('service')) {
    const several = input.services.length > 1;
    input.services.forEach((s, i) => {
      const which = several ? `the image service (replica ${i + 1}/${input.services.length})` : 'the image service';
      planned.push({ port: s.port, host: '127.0.0.1', what: which, variable: 'SERVICE_PORT' });
      if (s.adminPort !== undefined) planned.push({ port: s.adminPort, host: '127.0.0.1', what: `${which}: its admin listener`, variable: 'ADMIN_PORT' });
    });
  }
  if (input.parts.has('frontdoor')) planned.push({ port: input.front, host: input.listenHost, what: 'the front door', variable: 'FRONT_PORT' });
  return planned;
}

/** PURE: the refusal for the ports found taken, one line each. */
export function portsInUseMessage(busy: readonly PlannedPort[]): string {
  const lines = busy.map((b) => `port ${b.port} on ${b.host} (${b.what}) is already in use; stop what listens there, or set ${b.variable}`);
  return `${lines.join('\n')}\n(\`ss -ltnp\` shows which process holds a port; another \`npm start\` still running?)`;
}

/** The planned ports that cannot be bound now. */
export async function busyPorts(planned: readonly PlannedPort[]): Promise<PlannedPort[]> {
  const busy: PlannedPort[] = [];
  for (const p of planned) if (!(await canListen(p.port, p.host))) busy.push(p);
  return busy;
}
