import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { gifClaiming } from '../../support/hostile-images.ts';
import { checkGifScreen, gifLogicalScreen, gifOnLogicalScreen } from '../src/gif-screen.ts';

const frame = (width: number, height: number) =>
  sharp({ create: { width, height, channels: 3, background: '#ff0000' } })
    .gif()
    .toBuffer();

describe('gifLogicalScreen', () => {
  it.each<[string, Buffer, { width: number; height: number } | undefined]>([
    ['GIF89a, 300x200', Buffer.from('474946383961' + '2c01' + 'c800' + '00', 'hex'), { width: 300, height: 200 }],
    ['GIF87a, 65535x1', Buffer.from('474946383761' + 'ffff' + '0100' + '00', 'hex'), { width: 65535, height: 1 }],
    ['a PNG', Buffer.from('89504e470d0a1a0a0000000d', 'hex'), undefined],
    ['too short to hold a screen', Buffer.from('474946383961', 'hex'), undefined],
  ])('%s', (_what, head, screen) => {
    expect(gifLogicalScreen(head)).toEqual(screen);
  });
});

describe('checkGifScreen', () => {
  it.each<[number, number, string | undefined]>([
    [7000, 7000, undefined],
    [7071, 7071, undefined], // 49,999,041: just under
    [7072, 7071, 'image_too_large'], // 50,006,112: just over
    [65535, 65535, 'image_too_large'],
    [0, 100, 'unsupported_image'],
    [100, 0, 'unsupported_image'],
  ])('%ix%i: %s', (width, height, code) => {
    let got: string | undefined;
    try {
      checkGifScreen({ width, height }, 50_000_000);
    } catch (err) {
      got = (err as { code: string }).code;
    }
    expect(got).toBe(code);
  });
});

describe('gifOnLogicalScreen', () => {
  it('leaves a GIF alone when libvips already gives its screen size', async () => {
    expect(await gifOnLogicalScreen(await frame(40, 30), { width: 40, height: 30 }, 50_000_000)).toBeUndefined();
  });

  it.each<[string, [number, number], [number, number]]>([
    ['a small frame on a screen libvips ignores (over 2048 wide)', [10, 10], [2500, 20]],
    ['a small frame on a "common" screen libvips ignores (640x480)', [10, 10], [640, 480]],
    ['a frame reaching past its screen (cut at the screen)', [300, 200], [100, 50]],
  ])('%s: the screen size, the frame at the top left, transparent elsewhere', async (_what, [fw, fh], [sw, sh]) => {
    const out = await gifOnLogicalScreen(gifClaiming(await frame(fw, fh), sw, sh), { width: sw, height: sh }, 50_000_000);
    const { data, info } = await sharp(out!).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([sw, sh, 4]);
    expect([...data.subarray(0, 4)]).toEqual([255, 0, 0, 255]);
    if (fw < sw) expect(data[(sw - 1) * 4 + 3]).toBe(0);
  });
});
