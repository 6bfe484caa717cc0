import assert from "node:assert/strict";
import { test } from "node:test";
import { inflateSync } from "node:zlib";
import { encodePng } from "../src/png";

interface Chunk {
  type: string;
  data: Buffer;
}

/** Splits a PNG into chunks, checking the signature and every CRC with zlib's. */
function chunks(png: Buffer): Chunk[] {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const out: Chunk[] = [];
  for (let offset = 8; offset < png.length;) {
    const length = png.readUInt32BE(offset);
    const type = png.toString("latin1", offset + 4, offset + 8);
    const data = png.subarray(offset + 8, offset + 8 + length);
    const crc = png.readUInt32BE(offset + 8 + length);
    assert.equal(crc, crc32(png.subarray(offset + 4, offset + 8 + length)), `${type} CRC`);
    out.push({ type, data });
    offset += 12 + length;
  }
  return out;
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return ~c >>> 0;
}

test("an RGB PNG of the image, with the parameters in tEXt", async () => {
  const width = 3;
  const height = 2;
  const rgba = new Uint8ClampedArray(width * height * 4).map((_, i) => (i * 37) % 256);
  const blob = await encodePng(rgba, width, height, { parameters: "prompt: a cat, seed: 42" });
  assert.equal(blob.type, "image/png");
  const parts = chunks(Buffer.from(await blob.arrayBuffer()));
  assert.deepEqual(
    parts.map((c) => c.type),
    ["IHDR", "tEXt", "IDAT", "IEND"],
  );
  const header = parts[0]?.data as Buffer;
  assert.equal(header.readUInt32BE(0), width);
  assert.equal(header.readUInt32BE(4), height);
  assert.deepEqual([...header.subarray(8)], [8, 2, 0, 0, 0]);
  assert.equal(parts[1]?.data.toString("latin1"), "parameters\0prompt: a cat, seed: 42");
  const rows = inflateSync(parts[2]?.data as Buffer);
  for (let y = 0; y < height; y++) {
    const row = rows.subarray(y * (1 + 3 * width), (y + 1) * (1 + 3 * width));
    assert.equal(row[0], 0);
    for (let x = 0; x < width; x++) {
      const i = 4 * (y * width + x);
      assert.deepEqual(
        [...row.subarray(1 + 3 * x, 4 + 3 * x)],
        [rgba[i], rgba[i + 1], rgba[i + 2]],
      );
    }
  }
});

test("text beyond Latin-1 goes into iTXt as UTF-8", async () => {
  const blob = await encodePng(new Uint8ClampedArray(4), 1, 1, { parameters: "prompt: 猫 🐱" });
  const itxt = chunks(Buffer.from(await blob.arrayBuffer())).find((c) => c.type === "iTXt");
  assert.ok(itxt);
  assert.deepEqual([...itxt.data.subarray(0, 15)], [...Buffer.from("parameters\0\0\0\0\0")]);
  assert.equal(itxt.data.subarray(15).toString("utf8"), "prompt: 猫 🐱");
});
