import { describe, expect, it } from 'vitest';

import { NdjsonDecoder, readNdjson } from '../src/ndjson';

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) {
        controller.enqueue(c);
      }
      controller.close();
    }
  });
}

async function collect(body: ReadableStream<Uint8Array>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const item of readNdjson(body)) {
    out.push(item);
  }
  return out;
}

describe('NdjsonDecoder', () => {
  it('parses objects split at any point', () => {
    const text = '{"status":"pulling manifest"}\n{"status":"pulling","completed":5,"total":10}\n';
    for (let cut = 0; cut <= text.length; cut++) {
      const d = new NdjsonDecoder();
      const got = [...d.push(text.slice(0, cut)), ...d.push(text.slice(cut)), ...d.end()];
      expect(got).toEqual([{ status: 'pulling manifest' }, { status: 'pulling', completed: 5, total: 10 }]);
    }
  });

  it('ignores blank lines and keeps a last line without a newline', () => {
    const d = new NdjsonDecoder();
    expect(d.push('\n{"a":1}\n\n  \n{"b"')).toEqual([{ a: 1 }]);
    expect(d.push(':2}')).toEqual([]);
    expect(d.end()).toEqual([{ b: 2 }]);
    expect(d.end()).toEqual([]);
  });

  it('names the line that is not JSON', () => {
    const d = new NdjsonDecoder();
    expect(() => d.push('<html>Bad gateway</html>\n')).toThrow(SyntaxError);
    expect(() => new NdjsonDecoder().push('oops\n')).toThrow(/not JSON: oops/);
    expect(() => new NdjsonDecoder().push(`${'x'.repeat(200)}\n`)).toThrow(/x{80}…$/);
  });
});

describe('readNdjson', () => {
  it('decodes UTF-8 split across chunks', async () => {
    const bytes = new TextEncoder().encode('{"content":"café 🦙"}\n{"done":true}');
    const chunks = Array.from(bytes, b => new Uint8Array([b])); // one byte at a time: every split
    expect(await collect(streamOf(chunks))).toEqual([{ content: 'café 🦙' }, { done: true }]);
  });

  it('yields objects as their lines complete', async () => {
    const enc = new TextEncoder();
    const got = await collect(streamOf([enc.encode('{"n":1}\n{"n":'), enc.encode('2}\n'), enc.encode('{"n":3}\n')]));
    expect(got).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });
});
