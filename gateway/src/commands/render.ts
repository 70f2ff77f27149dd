/** `gateway render`: print (or write) the nginx config the cutover file renders to; nothing is checked or reloaded. */
import { readCutoverText, renderCutover } from '../nginx/cutover-file.ts';
import { writeFileAtomic } from '../nginx/run-dir.ts';
import { commonHelp, commonOptions, configFrom, err, out, parseCommandArgs, type Command } from './common.ts';

const renderUsage = `usage: gateway render [options]

Print the nginx config the cutover file renders to (or write it with --out). Nothing is
checked with nginx or reloaded: see 'gateway apply'.

${commonHelp}
  --out <path>        write the config there (atomically) instead of printing it
`;

export const render: Command = {
  async run(args, env) {
    const { values } = parseCommandArgs(args, { ...commonOptions, out: { type: 'string', short: 'o' } }, renderUsage);
    if (values.help) return (out(renderUsage), 0);
    const config = configFrom(values, env);
    const { rendered } = renderCutover(readCutoverText(config.cutoverFile), {
      source: config.cutoverFile,
      runDir: config.runDir,
      envOverrides: config.addressOverrides,
    });
    if (values.out) {
      writeFileAtomic(values.out, rendered.text);
      err(`wrote ${values.out} (config ${rendered.digest})\n`);
    } else {
      out(rendered.text);
    }
    return 0;
  },
};
