/**
 * The `gateway` command. The only module of the gateway that reads process.env or argv; each
 * subcommand lives in its own module and is loaded only when used, so `gateway status` does not
 * pay for sharp or the report renderer.
 */
import { GatewayError } from './errors.ts';

type Command = { summary: string; load: () => Promise<{ run(args: string[], env: NodeJS.ProcessEnv): Promise<number> }> };

const commands: Record<string, Command> = {
  apply: { summary: 'render nginx config from the cutover file, check it, swap it in, reload', load: () => import('./commands/apply.ts').then((m) => m.apply) },
  set: { summary: 'set <route> <share>: edit the cutover file, then apply', load: () => import('./commands/set.ts').then((m) => m.set) },
  rollback: { summary: 'rollback <route>: share 0, then apply', load: () => import('./commands/rollback.ts').then((m) => m.rollback) },
  status: {
    summary: 'per route: share in the file, share nginx runs, traffic from the access log',
    load: () => import('./commands/status.ts').then((m) => m.status),
  },
  rollout: {
    summary: 'rollout run|status|pause|resume|promote|abort|restart <route>: the evidence-gated rollout of a share',
    load: () => import('./commands/rollout.ts').then((m) => m.rollout),
  },
  render: { summary: 'print the nginx config the cutover file renders to', load: () => import('./commands/render.ts').then((m) => m.render) },
  compare: {
    summary: 'replay recorded traffic against legacy and new; pixel parity and latency report',
    load: () => import('./compare/command.ts').then((m) => m.compare),
  },
  shadow: { summary: 'run the live shadow sink that nginx mirrors hot-path GETs to', load: () => import('./shadow/command.ts').then((m) => m.shadow) },
  requests: { summary: 'turn an access log or the sample originals into a k6 request list', load: () => import('./requests.ts').then((m) => m.requests) },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return `usage: gateway <command> [options]\n\ncommands:\n${Object.entries(commands)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n')}\n\nRun 'gateway <command> --help' for a command's options.\n`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...args] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name ? 0 : 2;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`gateway: unknown command '${name}'\n\n${usage()}`);
    return 2;
  }
  const module = await command.load();
  return module.run(args, process.env);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof GatewayError) {
      process.stderr.write(`gateway: ${err.message}\n`);
      process.exitCode = err.exitCode;
    } else {
      process.stderr.write(`gateway: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exitCode = 1;
    }
  },
);
