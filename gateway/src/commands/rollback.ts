/** `gateway rollback <route>`: all of a route's traffic back to legacy (share 0), applied. */
import { GatewayError } from '../errors.ts';
import { commonHelp, commonOptions, configFrom, out, parseCommandArgs, setShare, type Command } from './common.ts';

const rollbackUsage = `usage: gateway rollback <route> [options]

Send all of a route's traffic back to legacy at once: share 0 in the cutover file, applied.

${commonHelp}
`;

export const rollback: Command = {
  async run(args, env) {
    const { values, positionals } = parseCommandArgs(args, commonOptions, rollbackUsage);
    if (values.help) return (out(rollbackUsage), 0);
    if (positionals.length !== 1) throw new GatewayError('usage', `expected a route, such as: gateway rollback images\n\n${rollbackUsage}`, { exitCode: 2 });
    return setShare(configFrom(values, env), env, positionals[0]!, 0);
  },
};
