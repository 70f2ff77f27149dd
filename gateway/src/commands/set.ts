/** `gateway set <route> <share>`: edit a route's share in the cutover file, then apply. */
import { GatewayError } from '../errors.ts';
import { commonHelp, commonOptions, configFrom, out, parseCommandArgs, setShare, type Command } from './common.ts';

const setUsage = `usage: gateway set <route> <share> [options]

Set a route's share (0..100, percent of variants sent to the new service) in the cutover file,
keeping its comments and layout, then apply it.

${commonHelp}
`;

function parseShare(raw: string | undefined, usage: string): number {
  if (raw === undefined || !/^[0-9]{1,3}%?$/.test(raw) || Number(raw.replace('%', '')) > 100) {
    throw new GatewayError('usage', `share: expected an integer from 0 to 100, got ${raw === undefined ? 'nothing' : `'${raw}'`}\n\n${usage}`, { exitCode: 2 });
  }
  return Number(raw.replace('%', ''));
}

export const set: Command = {
  async run(args, env) {
    const { values, positionals } = parseCommandArgs(args, commonOptions, setUsage);
    if (values.help) return (out(setUsage), 0);
    if (positionals.length !== 2)
      throw new GatewayError('usage', `expected a route and a share, such as: gateway set images 10\n\n${setUsage}`, { exitCode: 2 });
    return setShare(configFrom(values, env), env, positionals[0]!, parseShare(positionals[1], setUsage));
  },
};
