/**
 * PNG files of generated images that carry how they were made: the settings go into a text
 * chunk with the keyword `parameters`, where image viewers and other Stable Diffusion tools
 * look for them (the native runner's save_png writes the same).
 *
 * Canvas `toBlob` cannot add text chunks, so the file is written here: RGB, 8 bits, no filter,
 * deflated by the browser's CompressionStream.
 */

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/**
 * tEXt holds Latin-1 only; text with other characters (most prompts in other scripts, emoji)
 * goes into iTXt, the UTF-8 variant, under the same keyword.
 */
function textChunk(keyword: string, text: string): Uint8Array<ArrayBuffer> {
  if ([...text].every((c) => (c.codePointAt(0) as number) <= 0xff)) {
    return chunk("tEXt", concat([latin1(keyword), new Uint8Array([0]), latin1(text)]));
  }
  // keyword, 0, compression flag 0, method 0, empty language tag 0, empty translation 0, text
  const header = concat([latin1(keyword), new Uint8Array([0, 0, 0, 0, 0])]);
  return chunk("iTXt", concat([header, new TextEncoder().encode(text)]));
}

async function deflate(bytes: Uint8Array<ArrayBuffer>): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream("deflate"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A PNG of the RGB channels of `rgba` (alpha is opaque in generated images). */
export async function encodePng(
  rgba: Uint8ClampedArray,
  width: number,
  height: number,
  text: Readonly<Record<string, string>> = {},
): Promise<Blob> {
  const rows = new Uint8Array(height * (1 + 3 * width));
  for (let y = 0; y < height; y++) {
    let o = y * (1 + 3 * width) + 1; // filter byte 0: none
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      rows[o++] = rgba[i] as number;
      rows[o++] = rgba[i + 1] as number;
      rows[o++] = rgba[i + 2] as number;
    }
  }
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 2, 0, 0, 0], 8); // 8 bits, RGB, deflate, no filter method, no interlace
  const parts = [
    new Uint8Array(SIGNATURE),
    chunk("IHDR", header),
    ...Object.entries(text).map(([keyword, value]) => textChunk(keyword, value)),
    chunk("IDAT", await deflate(rows)),
    chunk("IEND", new Uint8Array(0)),
  ];
  return new Blob(parts, { type: "image/png" });
}
