/** `gateway render`: print (or write) what the cutover file renders to; nothing is checked, reloaded or applied. */
import { parseCutover } from '../cutover/schema.ts';
import { GatewayError } from '../errors.ts';
import { isK8sTarget, K8S_TARGET_NAMES, renderK8s, type K8sTargetName } from '../k8s/render.ts';
import { readCutoverText, renderCutover } from '../nginx/cutover-file.ts';
import { writeFileAtomic } from '../nginx/run-dir.ts';
import { sourceName, writeManifestFiles } from '../router/manifests.ts';
import { commonHelp, commonOptions, configFrom, err, out, parseCommandArgs, type Command } from './common.ts';

const renderUsage = `usage: gateway render [options]

Print the nginx config the cutover file renders to (or write it with --out). Nothing is
checked with nginx or reloaded: see 'gateway apply'. With --target, render the Kubernetes
routing manifests instead (docs/kubernetes.md: what each target can and cannot express).

${commonHelp}
  --target <name>     nginx (default), ${K8S_TARGET_NAMES.join(', ')}
  --out <path>        nginx: write the config there (atomically) instead of printing it;
                      Kubernetes targets: the directory to write routes.yaml into
`;

export const render: Command = {
  async run(args, env) {
    const { values } = parseCommandArgs(args, { ...commonOptions, out: { type: 'string', short: 'o' }, target: { type: 'string', short: 't' } }, renderUsage);
    if (values.help) return (out(renderUsage), 0);
    const config = configFrom(values, env);
    const target = values.target ?? 'nginx';
    if (target !== 'nginx') {
      if (!isK8sTarget(target)) {
        throw new GatewayError('usage', `--target: unknown target '${target}'; expected nginx, ${K8S_TARGET_NAMES.join(', ')}\n\n${renderUsage}`, {
          exitCode: 2,
        });
      }
      return renderManifests(target, config.cutoverFile, values.out);
    }
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

/**
 * The cutover file as written, not the deployment's address overrides: those say where the
 * local front door's parts listen, while a cluster reaches them by Service name.
 */
function renderManifests(target: K8sTargetName, cutoverFile: string, outDir: string | undefined): number {
  const rendered = renderK8s(target, parseCutover(readCutoverText(cutoverFile), cutoverFile), {}, sourceName(cutoverFile));
  if (!outDir) {
    for (const text of Object.values(rendered.files)) out(text);
    return 0;
  }
  writeManifestFiles(outDir, rendered.files);
  const written = Object.keys(rendered.files).map((f) => `${outDir}/${f}`);
  const count = rendered.manifests.length;
  err(
    `wrote ${written.join(', ')} (${count} object${count === 1 ? '' : 's'} for ${target})\n${rendered.notes.map((n) => `  not expressible: ${n}\n`).join('')}`,
  );
  return 0;
}
