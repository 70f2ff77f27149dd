/** `gateway apply`: render, check, swap and reload the cutover file (nginx/apply.ts does the work). */
import { applyAndReport, commonHelp, commonOptions, configFrom, out, parseCommandArgs, type Command } from './common.ts';

const applyUsage = `usage: gateway apply [options]

Render the nginx config from the cutover file, check it with nginx -t, swap it in atomically
and reload nginx. On any failure the running config stays as it was and the exit code is not 0
(2: invalid file, 3: nginx not running, 1: nginx refused the config or the reload).

${commonHelp}
`;

export const apply: Command = {
  async run(args, env) {
    const { values } = parseCommandArgs(args, commonOptions, applyUsage);
    if (values.help) return (out(applyUsage), 0);
    await applyAndReport(configFrom(values, env), env);
    return 0;
  },
};
