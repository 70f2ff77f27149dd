import { describe, expect, it } from 'vitest';
import { expectedSize, ipxPath, PEER_VARIANTS, thumborPath } from '../lib/peer-urls.ts';

const p = (v: string) => `/image/files/a.jpg?${v}`;

describe("the four peer variants in each subject's syntax", () => {
  it("are the issue's four at q=85", () => {
    expect(PEER_VARIANTS).toEqual(['w=300&format=jpeg&q=85', 'w=640&format=webp&q=85', 'w=1280&format=jpeg&q=85', 'w=200&h=200&fit=cover&format=jpeg&q=85']);
  });
  it('ipx: width without enlargement, cover crop, format and quality', () => {
    expect(PEER_VARIANTS.map((v) => ipxPath(p(v)))).toEqual([
      '/w_300,f_jpeg,q_85/a.jpg',
      '/w_640,f_webp,q_85/a.jpg',
      '/w_1280,f_jpeg,q_85/a.jpg',
      '/s_200x200,fit_cover,f_jpeg,q_85/a.jpg',
    ]);
  });
  it('thumbor: fit-in for a width (no upscaling), a plain box for the centred cover crop', () => {
    expect(PEER_VARIANTS.map((v) => thumborPath(p(v)))).toEqual([
      '/unsafe/fit-in/300x0/filters:format(jpeg):quality(85)/a.jpg',
      '/unsafe/fit-in/640x0/filters:format(webp):quality(85)/a.jpg',
      '/unsafe/fit-in/1280x0/filters:format(jpeg):quality(85)/a.jpg',
      '/unsafe/200x200/filters:format(jpeg):quality(85)/a.jpg',
    ]);
  });
  it('keeps a key with a folder as a path', () => {
    expect(ipxPath('/image/files/d%2Fb.jpg?w=300&format=jpeg&q=85')).toBe('/w_300,f_jpeg,q_85/d/b.jpg');
    expect(thumborPath('/image/files/d/b.jpg?w=300&format=jpeg&q=85')).toBe('/unsafe/fit-in/300x0/filters:format(jpeg):quality(85)/d/b.jpg');
  });
  it('refuses a variant it cannot spell', () => {
    expect(() => ipxPath(p('w=300'))).toThrow(/needs w, format/);
    expect(() => thumborPath(p('w=300&fit=cover&format=jpeg'))).toThrow(/fit=cover, h/);
  });
});

describe('expectedSize (the contract geometry)', () => {
  it('fits a width, rounding the other side half up', () => {
    expect(expectedSize('w=300&format=jpeg', 1600, 1203)).toEqual({ width: 300, height: 226, format: 'jpeg' });
    expect(expectedSize('w=640&format=webp', 3000, 4000)).toEqual({ width: 640, height: 853, format: 'webp' });
  });
  it('never enlarges a width-only box', () => {
    expect(expectedSize('w=1280&format=jpeg', 1024, 772)).toEqual({ width: 1024, height: 772, format: 'jpeg' });
  });
  it('cover is always the box', () => {
    expect(expectedSize('w=200&h=200&fit=cover&format=jpeg', 150, 90)).toEqual({ width: 200, height: 200, format: 'jpeg' });
  });
});
