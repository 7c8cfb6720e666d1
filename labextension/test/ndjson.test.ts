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

/** The bytes of `text`, cut at the given byte offsets. */
function cutAt(text: string, offsets: number[]): Uint8Array[] {
  const bytes = new TextEncoder().encode(text);
  const edges = [0, ...offsets, bytes.length];
  return edges.slice(1).map((end, i) => bytes.slice(edges[i], end));
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

  it('parses objects split into many pieces at once', () => {
    const text = '{"a":1}\n{"b":[1,2,3]}\n{"c":"x\\ny"}\n';
    for (let size = 1; size <= 5; size++) {
      const d = new NdjsonDecoder();
      const got: unknown[] = [];
      for (let i = 0; i < text.length; i += size) {
        got.push(...d.push(text.slice(i, i + size)));
      }
      got.push(...d.end());
      expect(got).toEqual([{ a: 1 }, { b: [1, 2, 3] }, { c: 'x\ny' }]);
    }
  });

  it('returns a line only once its newline has arrived', () => {
    const d = new NdjsonDecoder();
    expect(d.push('{"a":1}')).toEqual([]);
    expect(d.push('\n')).toEqual([{ a: 1 }]);
    expect(d.push('{"b":2}\n{"c":3}\n')).toEqual([{ b: 2 }, { c: 3 }]);
  });

  it('ignores blank lines and keeps a last line without a newline', () => {
    const d = new NdjsonDecoder();
    expect(d.push('\n{"a":1}\n\n  \n{"b"')).toEqual([{ a: 1 }]);
    expect(d.push(':2}')).toEqual([]);
    expect(d.end()).toEqual([{ b: 2 }]);
    expect(d.end()).toEqual([]);
    expect(new NdjsonDecoder().end()).toEqual([]);
    const blanks = new NdjsonDecoder();
    expect(blanks.push('\n\n \t\n')).toEqual([]);
    expect(blanks.push('   ')).toEqual([]);
    expect(blanks.end()).toEqual([]);
  });

  it('accepts CRLF line ends', () => {
    const d = new NdjsonDecoder();
    expect([...d.push('{"a":1}\r\n{"b":2}\r'), ...d.push('\n'), ...d.end()]).toEqual([{ a: 1 }, { b: 2 }]);
  });

  it('parses JSON values that are not objects', () => {
    const d = new NdjsonDecoder();
    expect(d.push('1\n"two"\nnull\n[3]\n')).toEqual([1, 'two', null, [3]]);
  });

  it('names the line that is not JSON', () => {
    const d = new NdjsonDecoder();
    expect(() => d.push('<html>Bad gateway</html>\n')).toThrow(SyntaxError);
    expect(() => new NdjsonDecoder().push('<html>Bad gateway</html>\n')).toThrow(/not JSON: <html>Bad gateway<\/html>$/);
    expect(() => new NdjsonDecoder().push('oops\n')).toThrow(/not JSON: oops/);
    // A long line is shown by its start only.
    expect(() => new NdjsonDecoder().push(`${'x'.repeat(200)}\n`)).toThrow(/: x{80}…$/);
  });

  it('names a last line that is not JSON when the stream ends', () => {
    const d = new NdjsonDecoder();
    expect(d.push('{"ok":true}\n{"trunc')).toEqual([{ ok: true }]);
    let thrown: unknown;
    try {
      d.end();
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(SyntaxError);
    expect((thrown as Error).message).toContain('{"trunc');
  });
});

describe('readNdjson', () => {
  it('decodes UTF-8 split across chunks, one byte at a time', async () => {
    const bytes = new TextEncoder().encode('{"content":"café 🦙"}\n{"done":true}');
    const chunks = Array.from(bytes, b => new Uint8Array([b])); // one byte at a time: every split
    expect(await collect(streamOf(chunks))).toEqual([{ content: 'café 🦙' }, { done: true }]);
  });

  it('decodes a two-byte character cut in the middle', async () => {
    const text = '{"content":"é"}\n';
    const at = new TextEncoder().encode('{"content":"').length + 1; // between the two bytes of é
    expect(await collect(streamOf(cutAt(text, [at])))).toEqual([{ content: 'é' }]);
  });

  it('decodes an emoji cut at each of its inner byte boundaries', async () => {
    const text = '{"content":"a🦙b"}\n{"n":2}\n';
    const start = new TextEncoder().encode('{"content":"a').length;
    for (const inner of [1, 2, 3]) {
      expect(await collect(streamOf(cutAt(text, [start + inner])))).toEqual([{ content: 'a🦙b' }, { n: 2 }]);
    }
    // And cut twice inside it.
    expect(await collect(streamOf(cutAt(text, [start + 1, start + 3])))).toEqual([{ content: 'a🦙b' }, { n: 2 }]);
  });

  it('decodes a multi-byte character cut in a last line without a newline', async () => {
    const text = '{"content":"naïve"}';
    const at = new TextEncoder().encode('{"content":"na').length + 1;
    expect(await collect(streamOf(cutAt(text, [at])))).toEqual([{ content: 'naïve' }]);
  });

  it('yields objects as their lines complete', async () => {
    const enc = new TextEncoder();
    const got = await collect(streamOf([enc.encode('{"n":1}\n{"n":'), enc.encode('2}\n'), enc.encode('{"n":3}\n')]));
    expect(got).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
  });

  it('yields nothing for an empty body and releases the stream', async () => {
    const body = streamOf([]);
    expect(await collect(body)).toEqual([]);
    expect(body.locked).toBe(false);
  });

  it('rejects with a SyntaxError on a line that is not JSON, and releases the stream', async () => {
    const enc = new TextEncoder();
    const body = streamOf([enc.encode('{"n":1}\n'), enc.encode('Internal Server Error\n')]);
    const got: unknown[] = [];
    await expect(
      (async () => {
        for await (const item of readNdjson(body)) {
          got.push(item);
        }
      })()
    ).rejects.toThrow(/not JSON: Internal Server Error/);
    expect(got).toEqual([{ n: 1 }]);
    expect(body.locked).toBe(false);
  });

  it('releases the stream when the reader stops early', async () => {
    const enc = new TextEncoder();
    const body = streamOf([enc.encode('{"n":1}\n{"n":2}\n')]);
    for await (const item of readNdjson(body)) {
      expect(item).toEqual({ n: 1 });
      break;
    }
    expect(body.locked).toBe(false);
  });
});
