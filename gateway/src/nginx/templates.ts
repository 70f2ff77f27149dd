/** Reads the nginx templates from nginx/templates/ (the sources; what render.ts makes of them is output). */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { gatewayProjectRoot } from '../config.ts';
import type { Templates } from './render.ts';

export const templatesDir = path.join(gatewayProjectRoot, 'nginx/templates');

let cached: Templates | undefined;

export function loadTemplates(dir: string = templatesDir): Templates {
  if (dir === templatesDir && cached) return cached;
  const read = (name: string) => readFileSync(path.join(dir, name), 'utf8');
  const templates = { main: read('frontdoor.conf.tmpl'), routeHttp: read('route-http.conf.tmpl'), routeLocation: read('route-location.conf.tmpl') };
  if (dir === templatesDir) cached = templates;
  return templates;
}
