import { describe, expect, it } from 'vitest';

import {
  applyFrame,
  ask,
  ChatStore,
  Conversation,
  endStreaming,
  findModel,
  formatContext,
  MAX_CONVERSATIONS,
  newConversation,
  remove,
  restoreStore,
  statsLine,
  titleFrom,
  upsert,
  wireMessages,
  withTag
} from '../src/conversation';

const CONTEXT = { label: 'cell 1 of a.ipynb', source: 'x = 1', language: 'python' };

function started(text = 'Hello', context?: typeof CONTEXT): { conv: Conversation; id: string } {
  const { conversation, answerId } = ask(newConversation('m:1', 0, 'c1'), text, 'm:1', 1, context, ['u1', 'a1']);
  return { conv: conversation, id: answerId };
}

describe('asking', () => {
  it('adds the question and an empty streaming answer whose id is the chat id', () => {
    const { conv, id } = started('Why is the sky blue?', CONTEXT);
    expect(id).toBe('a1');
    expect(conv.messages.map(m => [m.role, m.state, m.content])).toEqual([
      ['user', 'done', 'Why is the sky blue?'],
      ['assistant', 'streaming', '']
    ]);
    expect(conv.messages[0].context).toEqual(CONTEXT);
    expect(conv.messages[1].model).toBe('m:1');
    expect(conv.title).toBe('Why is the sky blue?');
  });

  it('titles a conversation after its first question only', () => {
    expect(titleFrom('  first   line\nsecond')).toBe('first line');
    expect(titleFrom('\n\n')).toBe('New chat');
    const long = titleFrom('x'.repeat(100));
    expect(long).toHaveLength(48);
    expect(long.endsWith('…')).toBe(true);
    const { conv } = started('First');
    const next = ask(conv, 'Second', 'm:1', 2, undefined, ['u2', 'a2']).conversation;
    expect(next.title).toBe('First');
  });
});

describe('frames', () => {
  it('streams tokens and thinking into the answer, then its figures', () => {
    let { conv } = started();
    conv = applyFrame(conv, { type: 'thinking', id: 'a1', content: 'hmm ' }, 2);
    conv = applyFrame(conv, { type: 'token', id: 'a1', content: 'Hel' }, 2);
    conv = applyFrame(conv, { type: 'token', id: 'a1', content: 'lo' }, 3);
    conv = applyFrame(
      conv,
      {
        type: 'done',
        id: 'a1',
        done_reason: 'stop',
        eval_count: 20,
        eval_duration: 400_000_000,
        total_duration: 1_500_000_000,
        prompt_eval_count: 7
      },
      4
    );
    const answer = conv.messages[1];
    expect(answer).toMatchObject({ content: 'Hello', thinking: 'hmm ', state: 'done' });
    expect(answer.stats).toEqual({
      evalCount: 20,
      evalDuration: 400_000_000,
      totalDuration: 1_500_000_000,
      promptEvalCount: 7,
      doneReason: 'stop'
    });
    expect(conv.updated).toBe(4);
  });

  it('marks a cancelled answer stopped and a failed one with its message', () => {
    const { conv } = started();
    expect(applyFrame(conv, { type: 'done', id: 'a1', done_reason: 'cancelled' }, 2).messages[1].state).toBe('stopped');
    const failed = applyFrame(conv, { type: 'error', id: 'a1', message: "model 'x' not found", status: 404 }, 2);
    expect(failed.messages[1]).toMatchObject({ state: 'error', error: "model 'x' not found" });
  });

  it('ignores frames of other chats (same object back) and matches numeric ids', () => {
    const { conv } = started();
    expect(applyFrame(conv, { type: 'token', id: 'other', content: 'x' }, 2)).toBe(conv);
    expect(applyFrame(conv, { type: 'token', id: null, content: 'x' }, 2)).toBe(conv);
    expect(applyFrame(conv, { type: 'pong', id: 'a1' }, 2)).toBe(conv);
    const numeric = ask(newConversation('m', 0), 'q', 'm', 1, undefined, ['u', '7']).conversation;
    expect(applyFrame(numeric, { type: 'token', id: 7, content: 'ok' }, 2).messages[1].content).toBe('ok');
  });

  it('shows a tool call as a JSON block', () => {
    const { conv } = started();
    const out = applyFrame(conv, { type: 'tool_call', id: 'a1', call: { name: 'get_weather', arguments: { city: 'Oslo' } } }, 2);
    expect(out.messages[1].content).toContain('```json');
    expect(out.messages[1].content).toContain('"tool": "get_weather"');
    expect(out.messages[1].content).toContain('"city": "Oslo"');
  });

  it('ends whatever still streams', () => {
    const { conv } = started();
    expect(endStreaming(conv, 'stopped', 5).messages[1].state).toBe('stopped');
    expect(endStreaming(conv, 'error', 5, 'connection lost').messages[1]).toMatchObject({ state: 'error', error: 'connection lost' });
    const done = applyFrame(conv, { type: 'done', id: 'a1', done_reason: 'stop' }, 2);
    expect(endStreaming(done, 'stopped', 5)).toBe(done);
  });
});

describe('what the model is sent', () => {
  it('puts the system prompt first and inlines attached code before the question', () => {
    const { conv } = started('What does it do?', CONTEXT);
    expect(wireMessages(conv, 'Be brief.')).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Here is the cell 1 of a.ipynb:\n\n```python\nx = 1\n```\n\nWhat does it do?' }
    ]);
    expect(wireMessages(conv, '  ')[0].role).toBe('user');
  });

  it('keeps finished turns, drops failed ones with their question, and empty answers', () => {
    let { conv } = started('one');
    conv = applyFrame(applyFrame(conv, { type: 'token', id: 'a1', content: 'first' }, 2), { type: 'done', id: 'a1', done_reason: 'stop' }, 2);
    conv = ask(conv, 'two', 'm:1', 3, undefined, ['u2', 'a2']).conversation;
    conv = applyFrame(conv, { type: 'error', id: 'a2', message: 'boom', status: 500 }, 3);
    conv = ask(conv, 'three', 'm:1', 4, undefined, ['u3', 'a3']).conversation;
    conv = applyFrame(conv, { type: 'done', id: 'a3', done_reason: 'cancelled' }, 4); // stopped before any token
    conv = ask(conv, 'four', 'm:1', 5, undefined, ['u4', 'a4']).conversation;
    expect(wireMessages(conv, '')).toEqual([
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'first' },
      { role: 'user', content: 'three' },
      { role: 'user', content: 'four' }
    ]);
  });

  it('fences code that itself contains a fence', () => {
    expect(formatContext({ label: 'cell', source: '```\nx\n```', language: 'markdown' })).toBe(
      'Here is the cell:\n\n~~~~markdown\n```\nx\n```\n~~~~\n\n'
    );
  });
});

describe('figures', () => {
  it('reads like a person would write it', () => {
    expect(statsLine({ evalCount: 1, evalDuration: 0, totalDuration: 0, promptEvalCount: 0 })).toBe('1 token');
    expect(statsLine({ evalCount: 42, evalDuration: 2e9, totalDuration: 2.44e9, promptEvalCount: 3 })).toBe(
      '42 tokens · 21.0 tok/s · 2.4 s'
    );
    expect(
      statsLine({ evalCount: 200, evalDuration: 4e9, totalDuration: 4.8e9, promptEvalCount: 3, doneReason: 'length' })
    ).toBe('200 tokens · 50.0 tok/s · 4.8 s · token limit');
  });
});

describe('model names', () => {
  it('treats a name without a tag as :latest, as Ollama does', () => {
    expect(withTag('thinker')).toBe('thinker:latest');
    expect(withTag('smollm2:135m')).toBe('smollm2:135m');
    expect(withTag('hf.co/org/repo:Q4_K_M')).toBe('hf.co/org/repo:Q4_K_M');
    expect(withTag('localhost:5000/lib/model')).toBe('localhost:5000/lib/model:latest');
    expect(findModel(['smollm2:135m', 'thinker:latest'], 'Thinker')).toBe('thinker:latest');
    expect(findModel(['smollm2:135m'], 'smollm2')).toBeUndefined();
  });
});

describe('the store of conversations', () => {
  it('keeps the most recent first and at most MAX_CONVERSATIONS', () => {
    let store: ChatStore = { conversations: [], activeId: null };
    for (let i = 0; i < MAX_CONVERSATIONS + 5; i++) {
      store = upsert(store, newConversation('m', i, `c${i}`));
    }
    expect(store.conversations).toHaveLength(MAX_CONVERSATIONS);
    expect(store.conversations[0].id).toBe(`c${MAX_CONVERSATIONS + 4}`);
    store = upsert(store, { ...store.conversations[10], title: 'moved' });
    expect(store.conversations[0].title).toBe('moved');
    expect(store.conversations).toHaveLength(MAX_CONVERSATIONS);
  });

  it('picks another conversation when the one in view is deleted', () => {
    const a = newConversation('m', 0, 'a');
    const b = newConversation('m', 0, 'b');
    expect(remove({ conversations: [a, b], activeId: 'a' }, 'a')).toEqual({ conversations: [b], activeId: 'b' });
    expect(remove({ conversations: [a, b], activeId: 'b' }, 'a').activeId).toBe('b');
    expect(remove({ conversations: [a], activeId: 'a' }, 'a')).toEqual({ conversations: [], activeId: null });
  });

  it('round-trips through JSON, and a streaming answer comes back stopped', () => {
    let { conv } = started('Hi', CONTEXT);
    conv = applyFrame(conv, { type: 'token', id: 'a1', content: 'partial' }, 2);
    const saved: ChatStore = { conversations: [conv], activeId: conv.id };
    const back = restoreStore(JSON.parse(JSON.stringify(saved)));
    expect(back.activeId).toBe('c1');
    expect(back.conversations[0].messages[0]).toEqual(conv.messages[0]);
    expect(back.conversations[0].messages[1]).toEqual({ ...conv.messages[1], state: 'stopped' });
    const done = applyFrame(conv, { type: 'done', id: 'a1', done_reason: 'length', eval_count: 3 }, 3);
    expect(restoreStore(JSON.parse(JSON.stringify({ conversations: [done], activeId: 'c1' }))).conversations[0]).toEqual(done);
  });

  it('survives whatever the workspace file holds', () => {
    for (const junk of [null, undefined, 42, 'x', [], { conversations: 'no' }]) {
      expect(restoreStore(junk)).toEqual({ conversations: [], activeId: null });
    }
    const back = restoreStore({
      activeId: 'missing',
      conversations: [
        null,
        { id: 7 },
        {
          id: 'ok',
          messages: [
            { id: 'm1', role: 'user', content: 'hi', state: 'done' },
            { id: 'm2', role: 'robot', content: 'x' },
            { id: 'm3', role: 'assistant', content: 5 },
            { id: 'm4', role: 'assistant', content: 'yo', state: 'weird', stats: { evalCount: 'many' } }
          ]
        }
      ]
    });
    expect(back.activeId).toBe('ok');
    expect(back.conversations).toHaveLength(1);
    expect(back.conversations[0].title).toBe('New chat');
    expect(back.conversations[0].messages.map(m => [m.id, m.state, m.stats])).toEqual([
      ['m1', 'done', undefined],
      ['m4', 'done', undefined]
    ]);
  });
});
