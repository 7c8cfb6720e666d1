import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { ChatSocket } from '../src/chatsocket';
import type { ServerFrame } from '../src/conversation';

/** Enough of the browser's WebSocket for ChatSocket: tests open, close and deliver frames by hand. */
class FakeWebSocket {
  static OPEN = 1;
  static made: FakeWebSocket[] = [];
  readyState = 0;
  sent: unknown[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: string }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;

  constructor(readonly url: string) {
    FakeWebSocket.made.push(this);
  }

  send(data: string): void {
    this.sent.push(JSON.parse(data));
  }

  close(): void {
    this.drop(1000, '');
  }

  open(): void {
    this.readyState = FakeWebSocket.OPEN;
    this.onopen?.();
  }

  deliver(frame: Record<string, unknown>): void {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }

  drop(code: number, reason: string): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

describe('ChatSocket', () => {
  const original = (globalThis as { WebSocket?: unknown }).WebSocket;

  beforeEach(() => {
    FakeWebSocket.made = [];
    (globalThis as { WebSocket?: unknown }).WebSocket = FakeWebSocket;
  });

  afterEach(() => {
    (globalThis as { WebSocket?: unknown }).WebSocket = original;
  });

  async function opened(socket: ChatSocket, id: string, frames: ServerFrame[]): Promise<FakeWebSocket> {
    const started = socket.chat(id, { model: 'm', messages: [] }, f => frames.push(f));
    const ws = FakeWebSocket.made[FakeWebSocket.made.length - 1];
    ws.open();
    await started;
    return ws;
  }

  it('opens one socket for all chats and routes frames by id', async () => {
    const socket = new ChatSocket(() => 'ws://host/base/mullama/ws/chat?token=t');
    const a: ServerFrame[] = [];
    const b: ServerFrame[] = [];
    const ws = await opened(socket, 'a', a);
    await socket.chat('b', { model: 'm', messages: [] }, f => b.push(f));
    expect(FakeWebSocket.made).toHaveLength(1);
    expect(ws.url).toBe('ws://host/base/mullama/ws/chat?token=t');
    expect(ws.sent).toEqual([
      { model: 'm', messages: [], type: 'chat', id: 'a' },
      { model: 'm', messages: [], type: 'chat', id: 'b' }
    ]);
    ws.deliver({ type: 'token', id: 'b', content: 'x' });
    ws.deliver({ type: 'token', id: 'a', content: 'y' });
    ws.deliver({ type: 'done', id: 'a', done_reason: 'stop' });
    ws.deliver({ type: 'token', id: 'a', content: 'late' }); // after done: nobody listens
    expect(a.map(f => f.type)).toEqual(['token', 'done']);
    expect(b.map(f => f.content)).toEqual(['x']);
    expect(socket.running).toBe(1);
  });

  it('sends cancel only for a chat still running', async () => {
    const socket = new ChatSocket(() => 'ws://x');
    const ws = await opened(socket, 'a', []);
    expect(socket.cancel('a')).toBe(true);
    expect(ws.sent[1]).toEqual({ type: 'cancel', id: 'a' });
    expect(socket.cancel('nope')).toBe(false);
  });

  it('ends every running chat when the socket drops, and reconnects on the next chat', async () => {
    const socket = new ChatSocket(() => 'ws://x');
    const frames: ServerFrame[] = [];
    const ws = await opened(socket, 'a', frames);
    ws.drop(1006, '');
    expect(frames).toEqual([
      { type: 'error', id: 'a', message: 'the connection to the server was lost (1006); send again to retry', status: 0 }
    ]);
    expect(socket.running).toBe(0);
    await opened(socket, 'b', []);
    expect(FakeWebSocket.made).toHaveLength(2);
  });

  it('says so when the socket cannot open', async () => {
    const socket = new ChatSocket(() => 'ws://x');
    const started = socket.chat('a', {}, () => undefined);
    FakeWebSocket.made[0].drop(1006, '');
    await expect(started).rejects.toThrow(/cannot open the chat connection/);
  });

  it('ignores frames it cannot read or route', async () => {
    const socket = new ChatSocket(() => 'ws://x');
    const frames: ServerFrame[] = [];
    const ws = await opened(socket, 'a', frames);
    ws.onmessage?.({ data: 'not json' });
    ws.deliver({ type: 'token', id: 'other', content: 'x' });
    expect(frames).toEqual([]);
  });
});
