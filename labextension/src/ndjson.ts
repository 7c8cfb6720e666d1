/**
 * Newline-delimited JSON, as Ollama's streaming routes send it: bytes arrive in arbitrary pieces, and a
 * line is only parsed once its newline has arrived.
 */
export class NdjsonDecoder {
  private buffer = '';

  /** Feed a piece of text; returns every complete object it finished. */
  push(text: string): unknown[] {
    this.buffer += text;
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    return lines.filter(line => line.trim() !== '').map(parseLine);
  }

  /** The stream ended: a last line without a newline still counts. */
  end(): unknown[] {
    const rest = this.buffer;
    this.buffer = '';
    return rest.trim() === '' ? [] : [parseLine(rest)];
  }
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    const shown = line.length > 80 ? `${line.slice(0, 80)}…` : line;
    throw new SyntaxError(`the server sent a line that is not JSON: ${shown}`);
  }
}

/** Decode a fetch body as NDJSON, one object at a time. */
export async function* readNdjson(body: ReadableStream<Uint8Array>): AsyncGenerator<unknown, void, undefined> {
  const reader = body.getReader();
  const text = new TextDecoder();
  const lines = new NdjsonDecoder();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        break;
      }
      yield* lines.push(text.decode(value, { stream: true }));
    }
    yield* lines.push(text.decode());
    yield* lines.end();
  } finally {
    reader.releaseLock();
  }
}
