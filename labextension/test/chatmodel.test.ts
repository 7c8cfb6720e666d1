import { Signal } from '@lumino/signaling';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import type { ModelEntry } from '../src/api';
import { ChatModel, ChatSettings } from '../src/chatmodel';
import type { ChatSocket, FrameHandler } from '../src/chatsocket';
import type { ChatStore, ServerFrame } from '../src/conversation';
import type { ModelsModel } from '../src/modelsmodel';

class FakeSocket {
  sent: { id: string; body: Record<string, unknown>; handler: FrameHandler }[] = [];
  cancelled: string[] = [];
  refuse: Error | null = null;

  async chat(id: string, body: Record<string, unknown>, handler: FrameHandler): Promise<void> {
    if (this.refuse) {
      throw this.refuse;
    }
    this.sent.push({ id, body, handler });
  }

  cancel(id: string): boolean {
    this.cancelled.push(id);
    return true;
  }

  frame(frame: Omit<ServerFrame, 'id'>, i = this.sent.length - 1): void {
    this.sent[i].handler({ ...frame, id: this.sent[i].id } as ServerFrame);
  }
}

function entry(name: string, capabilities: string[] = ['completion']): ModelEntry {
  return { name, size: 1, digest: 'sha256:x', modified_at: '', details: {}, capabilities, loaded: false };
}

function fakeModels(models: ModelEntry[]) {
  const fake = {
    models,
    loaded: true,
    changed: new Signal<unknown, void>({}),
    names: () => models.map(m => m.name),
    refresh: vi.fn(async () => undefined)
  };
  return fake;
}

const SETTINGS: ChatSettings = {
  defaultModel: 'smollm2',
  temperature: 0.2,
  maxTokens: 64,
  systemPrompt: 'Be brief.',
  think: true,
  includeContext: false
};

describe('ChatModel', () => {
  let socket: FakeSocket;
  let saved: ChatStore[];
  let chat: ChatModel;
  const context = {
    changed: new Signal<unknown, void>({}),
    current: () => ({ label: 'cell 2 of a.ipynb', source: 'df.head()', language: 'python' }),
    describe: () => 'cell 2 of a.ipynb'
  };

  beforeEach(() => {
    vi.useFakeTimers();
    socket = new FakeSocket();
    saved = [];
    const models = fakeModels([entry('smollm2:latest'), entry('qwen3:0.6b', ['completion', 'thinking'])]);
    chat = new ChatModel(
      socket as unknown as ChatSocket,
      models as unknown as ModelsModel,
      async store => {
        saved.push(store);
      },
      context
    );
    chat.updateSettings(SETTINGS);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('picks the default model from the settings, with or without its tag', () => {
    expect(chat.model).toBe('smollm2:latest');
  });

  it('sends Ollama chat bodies built from the settings and the history', async () => {
    expect(await chat.send('Hi')).toBe(true);
    const { body } = socket.sent[0];
    expect(body).toEqual({
      model: 'smollm2:latest',
      messages: [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'Hi' }
      ],
      options: { temperature: 0.2, num_predict: 64 }
    });
    expect(chat.streaming).toBe(true);
    expect(await chat.send('again')).toBe(false); // one answer at a time per conversation
    socket.frame({ type: 'token', content: 'Hello!' });
    socket.frame({ type: 'done', done_reason: 'stop', eval_count: 2, eval_duration: 1e8, total_duration: 2e8 });
    expect(chat.streaming).toBe(false);
    await chat.send('And now?');
    expect(socket.sent[1].body.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello!' },
      { role: 'user', content: 'And now?' }
    ]);
  });

  it('asks only models that can think to think', async () => {
    await chat.send('plain model');
    expect(socket.sent[0].body.think).toBeUndefined();
    socket.frame({ type: 'done', done_reason: 'stop' });
    chat.chatWith('qwen3:0.6b');
    await chat.send('thinking model');
    expect(socket.sent[1].body.think).toBe(true);
    expect(socket.sent[1].body.model).toBe('qwen3:0.6b');
  });

  it('attaches the active cell when asked to', async () => {
    chat.setIncludeContext(true);
    await chat.send('What does this do?');
    const messages = socket.sent[0].body.messages as { content: string }[];
    expect(messages[1].content).toBe('Here is the cell 2 of a.ipynb:\n\n```python\ndf.head()\n```\n\nWhat does this do?');
    expect(chat.active?.messages[0].context?.source).toBe('df.head()');
  });

  it('stops through the socket, and says what to do about an unknown model', async () => {
    await chat.send('Tell a long story');
    chat.stop();
    expect(socket.cancelled).toEqual([socket.sent[0].id]);
    socket.frame({ type: 'done', done_reason: 'cancelled' });
    expect(chat.active?.messages[1].state).toBe('stopped');
    chat.setModel('gone:1b');
    await chat.send('Hello?');
    socket.frame({ type: 'error', message: "model 'gone:1b' not found", status: 404 });
    expect(chat.active?.messages[3].error).toBe(
      "model 'gone:1b' not found: pull it in the Models panel, or pick another model above."
    );
  });

  it('shows a refused connection in the answer', async () => {
    socket.refuse = new Error('cannot open the chat connection');
    await chat.send('Hi');
    expect(chat.active?.messages[1]).toMatchObject({ state: 'error', error: 'cannot open the chat connection' });
    expect(chat.streaming).toBe(false);
  });

  it('coalesces streaming updates but shows the first words at once', async () => {
    await chat.send('Hi');
    const seen = vi.fn();
    chat.changed.connect(seen);
    socket.frame({ type: 'token', content: 'A' });
    expect(seen).toHaveBeenCalledTimes(1);
    socket.frame({ type: 'token', content: 'B' });
    socket.frame({ type: 'token', content: 'C' });
    expect(seen).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(100);
    expect(seen).toHaveBeenCalledTimes(2);
    expect(chat.active?.messages[1].content).toBe('ABC');
  });

  it('saves after an answer ends, not on every token', async () => {
    await chat.send('Hi');
    socket.frame({ type: 'token', content: 'A' });
    vi.advanceTimersByTime(1000);
    const before = saved.length;
    socket.frame({ type: 'done', done_reason: 'stop' });
    vi.advanceTimersByTime(1000);
    expect(saved.length).toBe(before + 1);
    expect(saved[saved.length - 1].conversations[0].messages[1].state).toBe('done');
  });

  it('starts a new conversation to chat with another model, keeping the old one', async () => {
    await chat.send('Hi');
    socket.frame({ type: 'done', done_reason: 'stop' });
    const first = chat.store.activeId;
    chat.chatWith('qwen3:0.6b');
    expect(chat.store.conversations).toHaveLength(2);
    expect(chat.store.activeId).not.toBe(first);
    expect(chat.model).toBe('qwen3:0.6b');
    chat.delete(chat.store.activeId!);
    expect(chat.store.activeId).toBe(first);
  });

  it('asks the last question again, with the same attached code, in place of its answer', async () => {
    chat.setIncludeContext(true);
    await chat.send('Explain');
    socket.frame({ type: 'error', message: 'the runner crashed', status: 500 });
    chat.setIncludeContext(false); // the retry keeps what the question was sent with
    expect(await chat.retry()).toBe(true);
    const messages = chat.active!.messages;
    expect(messages.map(m => [m.role, m.state])).toEqual([
      ['user', 'done'],
      ['assistant', 'streaming']
    ]);
    expect(messages[0].context?.source).toBe('df.head()');
    expect((socket.sent[1].body.messages as { content: string }[])[1].content).toContain('df.head()');
    expect(await chat.retry()).toBe(false); // not while it streams
  });
});
