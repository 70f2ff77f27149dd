/**
 * PURE geometry: source size + request -> output size and crop. This reproduces ImageMagick's
 * geometry arithmetic as the contract states it, to the pixel, because clients lay out pages on
 * these sizes and a 1 px difference breaks them.
 */
import type { Fit } from './params.ts';

export interface Size {
  width: number;
  height: number;
}

export interface Crop {
  left: number;
  top: number;
  width: number;
  height: number;
}

/** Resize the (oriented) source to `resize`, then, for cover, extract `crop`. */
export interface ResizePlan {
  resize: Size;
  crop: Crop | undefined;
}

/** ImageMagick rounds half up (floor(x + 0.5)); Math.round does the same for positive numbers. */
const roundHalfUp = (x: number) => Math.floor(x + 0.5);

export function planResize(source: Size, box: { width: number | undefined; height: number | undefined; fit: Fit }): ResizePlan {
  const { width: W0, height: H0 } = source;
  const sw = box.width === undefined ? Infinity : box.width / W0;
  const sh = box.height === undefined ? Infinity : box.height / H0;

  if (box.fit === 'cover') {
    if (box.width === undefined || box.height === undefined) throw new RangeError('cover needs both sides');
    const s = Math.max(sw, sh);
    const scaled = {
      width: Math.max(box.width, roundHalfUp(W0 * s)),
      height: Math.max(box.height, roundHalfUp(H0 * s)),
    };
    return {
      resize: scaled,
      crop: {
        left: Math.floor((scaled.width - box.width) / 2),
        top: Math.floor((scaled.height - box.height) / 2),
        width: box.width,
        height: box.height,
      },
    };
  }

  // inside: never enlarge. The side whose ratio won is exactly the box side, as ImageMagick gives it.
  const s = Math.min(sw, sh, 1);
  const width = box.width !== undefined && s === sw ? box.width : Math.max(1, roundHalfUp(W0 * s));
  const height = box.height !== undefined && s === sh ? box.height : Math.max(1, roundHalfUp(H0 * s));
  return { resize: { width, height }, crop: undefined };
}

/** EXIF orientations 5..8 swap the stored width and height. */
export function orientedSize(stored: Size, orientation: number | undefined): Size {
  return orientation !== undefined && orientation >= 5 && orientation <= 8 ? { width: stored.height, height: stored.width } : stored;
}
