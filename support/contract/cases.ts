/** The contract suite's expected geometry, worked out by hand from the contract (never by the code under test). */

/** The dimensions the contract gives, worked out by hand (not by the code under test). */
export const GEOMETRY: Array<{ key: string; query: string; width: number; height: number; why: string }> = [
  { key: 'gen-photo-2999x2001.jpg', query: 'w=300', width: 300, height: 200, why: '2001*300/2999 = 200.17' },
  { key: 'gen-photo-2999x2001.jpg', query: 'h=333', width: 499, height: 333, why: '2999*333/2001 = 499.09' },
  { key: 'gen-photo-2999x2001.jpg', query: 'w=1000&h=1000', width: 1000, height: 667, why: 'width wins; 2001/2.999 = 667.22' },
  { key: 'gen-photo-2999x2001.jpg', query: 'w=1&h=1', width: 1, height: 1, why: 'never below 1 px' },
  { key: 'gen-photo-2999x2001.jpg', query: 'w=2', width: 2, height: 1, why: '2001*2/2999 = 1.33' },
  { key: 'gen-photo-2999x2001.jpg', query: 'h=1', width: 1, height: 1, why: '2999/2001 = 1.499, rounds down' },
  { key: 'gen-photo-2999x2001.jpg', query: 'w=4096', width: 2999, height: 2001, why: 'inside never enlarges' },
  { key: 'gen-photo-2999x2001.jpg', query: 'w=3000&h=3000&fit=inside', width: 2999, height: 2001, why: 'inside never enlarges' },
  { key: 'gen-photo-2999x2001.jpg', query: 'w=300&h=300&fit=cover', width: 300, height: 300, why: 'cover: exactly the box' },
  { key: 'gen-photo-2999x2001.jpg', query: 'w=3100&h=50&fit=cover', width: 3100, height: 50, why: 'cover may enlarge' },
  { key: 'gen-photo-777x555.png', query: 'w=100', width: 100, height: 71, why: '555*100/777 = 71.43' },
  { key: 'gen-photo-777x555.png', query: 'h=100', width: 140, height: 100, why: '777*100/555 = 140.0' },
  { key: 'gen-photo-777x555.png', query: 'w=777', width: 777, height: 555, why: 'scale 1' },
  { key: 'gen-photo-777x555.png', query: 'w=101&h=33&fit=cover', width: 101, height: 33, why: 'cover on an odd box' },
  { key: 'gen-photo-1001x667.webp', query: 'w=500', width: 500, height: 333, why: '667*500/1001 = 333.17' },
  { key: 'gen-photo-1001x667.webp', query: 'w=99&h=99&fit=cover', width: 99, height: 99, why: 'cover on an odd box' },
  { key: 'gen-exif-6.jpg', query: 'w=300', width: 300, height: 225, why: 'orientation 6: 450x600 stored, 600x450 shown' },
  { key: 'gen-exif-6.jpg', query: 'h=300', width: 400, height: 300, why: 'the oriented height is the box side' },
];

/** The same, for the real photographs (run when the fixtures folder is present). */
export const REAL_GEOMETRY: Array<{ file: string; query: string; width: number; height: number }> = [
  { file: 'photo-flower-1600x1203.jpg', query: 'w=300', width: 300, height: 226 }, // 225.56
  { file: 'photo-flower-1600x1203.jpg', query: 'h=301', width: 400, height: 301 }, // 400.33
  { file: 'photo-flower-1600x1203.jpg', query: 'w=250&h=250&fit=cover', width: 250, height: 250 },
  { file: 'photo-1024x772.webp', query: 'w=333', width: 333, height: 251 }, // 251.05
  { file: 'alpha-blackbug.png', query: 'w=301&format=jpeg', width: 301, height: 226 }, // 225.75
];
