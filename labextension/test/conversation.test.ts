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
  replace,
  restoreStore,
  statsLine,
  takeBackLast,
  titleFrom,
  UNTITLED,
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

  it('keeps what was there, moves the conversation to the model asked and never changes the old one', () => {
    const { conv } = started('one');
    const frozen = JSON.parse(JSON.stringify(conv));
    const next = ask(conv, 'two', 'other:2', 9, undefined, ['u2', 'a2']);
    expect(next.answerId).toBe('a2');
    expect(next.conversation.messages.map(m => m.id)).toEqual(['u1', 'a1', 'u2', 'a2']);
    expect(next.conversation.messages[0]).toBe(conv.messages[0]);
    expect(next.conversation.model).toBe('other:2');
    expect(next.conversation.messages[3].model).toBe('other:2');
    expect(next.conversation.updated).toBe(9);
    expect(next.conversation.created).toBe(0);
    expect(conv).toEqual(frozen);
  });

  it('attaches no context unless given one', () => {
    const { conv } = started('plain');
    expect('context' in conv.messages[0]).toBe(false);
  });

  it('makes up distinct ids when none are given', () => {
    const a = ask(newConversation('m', 0), 'q', 'm', 1);
    const b = ask(a.conversation, 'q', 'm', 2);
    const ids = b.conversation.messages.map(m => m.id);
    expect(new Set(ids).size).toBe(4);
    expect(b.answerId).toBe(ids[3]);
    expect(newConversation('m', 0).id).not.toBe(newConversation('m', 0).id);
  });

  it('cuts a long title at 48 characters with an ellipsis', () => {
    const text = 'Explain the difference between a list and a tuple in Python, with examples';
    const title = titleFrom(text);
    expect(title).toHaveLength(48);
    expect(title).toBe(`${text.slice(0, 47)}…`);
    expect(titleFrom('y'.repeat(48))).toBe('y'.repeat(48)); // exactly 48 fits
    expect(titleFrom('y'.repeat(49))).toBe(`${'y'.repeat(47)}…`);
    expect(titleFrom('a\t\t b   c\n d')).toBe('a b c');
  });

  it('never cuts an emoji in half', () => {
    const title = titleFrom(`${'x'.repeat(46)}🦙 and more words after it`);
    expect(title).toBe(`${'x'.repeat(46)}…`);
    expect(title).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/); // no lone half of a pair
    expect(titleFrom(`${'x'.repeat(45)}🦙 and more words after it`)).toBe(`${'x'.repeat(45)}🦙…`);
  });

  it('titles a still untitled conversation from the next question', () => {
    const blank = ask(newConversation('m', 0, 'c'), '   ', 'm', 1, undefined, ['u1', 'a1']).conversation;
    expect(blank.title).toBe(UNTITLED);
    expect(ask(blank, 'Real question', 'm', 2, undefined, ['u2', 'a2']).conversation.title).toBe('Real question');
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

  it('records zero figures when the server sends none', () => {
    const { conv } = started();
    const done = applyFrame(conv, { type: 'done', id: 'a1' }, 2).messages[1];
    expect(done.state).toBe('done');
    expect(done.stats).toMatchObject({ evalCount: 0, evalDuration: 0, totalDuration: 0, promptEvalCount: 0 });
  });

  it('changes only the message the frame is for, and never the conversation it was given', () => {
    let { conv } = started('one');
    conv = applyFrame(conv, { type: 'done', id: 'a1', done_reason: 'stop' }, 2);
    conv = ask(conv, 'two', 'm:1', 3, undefined, ['u2', 'a2']).conversation;
    const frozen = JSON.parse(JSON.stringify(conv));
    const next = applyFrame(conv, { type: 'token', id: 'a2', content: 'hi' }, 4);
    expect(next).not.toBe(conv);
    expect(conv).toEqual(frozen);
    expect(next.messages.slice(0, 3).every((m, i) => m === conv.messages[i])).toBe(true);
    expect(next.messages[3].content).toBe('hi');
    expect(next.updated).toBe(4);
  });

  it('marks a cancelled answer stopped and a failed one with its message', () => {
    const { conv } = started();
    expect(applyFrame(conv, { type: 'done', id: 'a1', done_reason: 'cancelled' }, 2).messages[1].state).toBe('stopped');
    const failed = applyFrame(conv, { type: 'error', id: 'a1', message: "model 'x' not found", status: 404 }, 2);
    expect(failed.messages[1]).toMatchObject({ state: 'error', error: "model 'x' not found" });
    expect(applyFrame(conv, { type: 'error', id: 'a1' }, 2).messages[1]).toMatchObject({
      state: 'error',
      error: 'the request failed'
    });
    // Stopped keeps what had arrived, and no figures.
    const partial = applyFrame(conv, { type: 'token', id: 'a1', content: 'half an ans' }, 2);
    const stopped = applyFrame(partial, { type: 'done', id: 'a1', done_reason: 'cancelled', eval_count: 3 }, 3).messages[1];
    expect(stopped).toMatchObject({ state: 'stopped', content: 'half an ans' });
    expect(stopped.stats).toBeUndefined();
  });

  it('ignores frames of other chats (same object back) and matches numeric ids', () => {
    const { conv } = started();
    expect(applyFrame(conv, { type: 'token', id: 'other', content: 'x' }, 2)).toBe(conv);
    expect(applyFrame(conv, { type: 'token', id: null, content: 'x' }, 2)).toBe(conv);
    expect(applyFrame(conv, { type: 'pong', id: 'a1' }, 2)).toBe(conv);
    expect(applyFrame(conv, { type: 'done', id: 'other', done_reason: 'stop' }, 2)).toBe(conv);
    expect(applyFrame(conv, { type: 'error', id: 99, message: 'x' }, 2)).toBe(conv);
    const numeric = ask(newConversation('m', 0), 'q', 'm', 1, undefined, ['u', '7']).conversation;
    expect(applyFrame(numeric, { type: 'token', id: 7, content: 'ok' }, 2).messages[1].content).toBe('ok');
  });

  it('shows a tool call as a JSON block', () => {
    const { conv } = started();
    const out = applyFrame(conv, { type: 'tool_call', id: 'a1', call: { name: 'get_weather', arguments: { city: 'Oslo' } } }, 2);
    expect(out.messages[1].content).toContain('```json');
    expect(out.messages[1].content).toContain('"tool": "get_weather"');
    expect(out.messages[1].content).toContain('"city": "Oslo"');
    // After what was already said, as a block whose JSON parses back.
    const said = applyFrame(conv, { type: 'token', id: 'a1', content: 'Let me look.' }, 2);
    const content = applyFrame(said, { type: 'tool_call', id: 'a1', call: { name: 'f', arguments: { n: 1 } } }, 3).messages[1].content;
    expect(content.startsWith('Let me look.\n\n```json\n')).toBe(true);
    const block = /```json\n([\s\S]*?)\n```\n$/.exec(content);
    expect(block).not.toBeNull();
    expect(JSON.parse(block![1])).toEqual({ tool: 'f', arguments: { n: 1 } });
  });

  it('ends whatever still streams', () => {
    const { conv } = started();
    expect(endStreaming(conv, 'stopped', 5).messages[1].state).toBe('stopped');
    expect(endStreaming(conv, 'error', 5, 'connection lost').messages[1]).toMatchObject({ state: 'error', error: 'connection lost' });
    const done = applyFrame(conv, { type: 'done', id: 'a1', done_reason: 'stop' }, 2);
    expect(endStreaming(done, 'stopped', 5)).toBe(done);
    expect(endStreaming(conv, 'error', 5).messages[1]).toMatchObject({ state: 'error', error: 'interrupted' });
    expect(endStreaming(conv, 'stopped', 5).messages[1].error).toBeUndefined();
    expect(endStreaming(conv, 'stopped', 5).updated).toBe(5);
  });

  it('ends only the answers still streaming', () => {
    let { conv } = started('one');
    conv = applyFrame(conv, { type: 'error', id: 'a1', message: 'boom' }, 2);
    conv = ask(conv, 'two', 'm:1', 3, undefined, ['u2', 'a2']).conversation;
    conv = applyFrame(conv, { type: 'token', id: 'a2', content: 'part' }, 4);
    const ended = endStreaming(conv, 'error', 5, 'connection lost');
    expect(ended.messages.map(m => [m.id, m.state, m.error])).toEqual([
      ['u1', 'done', undefined],
      ['a1', 'error', 'boom'],
      ['u2', 'done', undefined],
      ['a2', 'error', 'connection lost']
    ]);
    expect(ended.messages[3].content).toBe('part');
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

  it('leaves out the answer still streaming, and sends each question with its own code', () => {
    let { conv } = started('first', CONTEXT);
    conv = applyFrame(conv, { type: 'token', id: 'a1', content: 'half' }, 2);
    expect(wireMessages(conv, '')).toEqual([{ role: 'user', content: formatContext(CONTEXT) + 'first' }]);
    conv = applyFrame(conv, { type: 'done', id: 'a1', done_reason: 'stop' }, 3);
    const other = { label: 'selection in b.ipynb, cell 2', source: 'print(1)', language: 'python' };
    conv = ask(conv, 'second', 'm:1', 4, other, ['u2', 'a2']).conversation;
    expect(wireMessages(conv, 'sys')).toEqual([
      { role: 'system', content: 'sys' },
      { role: 'user', content: formatContext(CONTEXT) + 'first' },
      { role: 'assistant', content: 'half' },
      { role: 'user', content: 'Here is the selection in b.ipynb, cell 2:\n\n```python\nprint(1)\n```\n\nsecond' }
    ]);
  });

  it('keeps an answer that was stopped after some words, and drops one that is only whitespace', () => {
    let { conv } = started('one');
    conv = applyFrame(conv, { type: 'token', id: 'a1', content: 'Partly' }, 2);
    conv = endStreaming(conv, 'stopped', 3);
    conv = ask(conv, 'two', 'm:1', 4, undefined, ['u2', 'a2']).conversation;
    conv = applyFrame(conv, { type: 'token', id: 'a2', content: ' \n ' }, 5);
    conv = applyFrame(conv, { type: 'done', id: 'a2', done_reason: 'stop' }, 5);
    expect(wireMessages(conv, '')).toEqual([
      { role: 'user', content: 'one' },
      { role: 'assistant', content: 'Partly' },
      { role: 'user', content: 'two' }
    ]);
  });

  it('drops a question whose answer was cut off by an error', () => {
    let { conv } = started('one', CONTEXT);
    conv = applyFrame(conv, { type: 'token', id: 'a1', content: 'partial' }, 2);
    conv = endStreaming(conv, 'error', 3, 'connection lost');
    expect(wireMessages(conv, 'sys')).toEqual([{ role: 'system', content: 'sys' }]);
    conv = ask(conv, 'one again', 'm:1', 4, undefined, ['u2', 'a2']).conversation;
    expect(wireMessages(conv, '')).toEqual([{ role: 'user', content: 'one again' }]);
  });

  it('fences attached code with backticks', () => {
    expect(formatContext(CONTEXT)).toBe('Here is the cell 1 of a.ipynb:\n\n```python\nx = 1\n```\n\n');
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
    expect(statsLine({ evalCount: 0, evalDuration: 0, totalDuration: 0, promptEvalCount: 0 })).toBe('0 tokens');
    expect(statsLine({ evalCount: 1, evalDuration: 5e8, totalDuration: 0, promptEvalCount: 0, doneReason: 'stop' })).toBe(
      '1 token · 2.0 tok/s'
    );
    expect(statsLine({ evalCount: 2, evalDuration: 0, totalDuration: 3e8, promptEvalCount: 0 })).toBe('2 tokens · 0.3 s');
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

  it('puts a changed conversation first without touching which one is in view', () => {
    const a = newConversation('m', 0, 'a');
    const b = newConversation('m', 0, 'b');
    const store: ChatStore = { conversations: [a, b], activeId: 'a' };
    const changed = { ...b, title: 'changed' };
    const next = upsert(store, changed);
    expect(next.conversations).toEqual([changed, a]);
    expect(next.activeId).toBe('a');
    expect(store.conversations).toEqual([a, b]);
    const c = newConversation('m', 0, 'c');
    expect(upsert(next, c).conversations.map(x => x.id)).toEqual(['c', 'b', 'a']);
  });

  it('replaces a conversation where it is, and adds none that is not there', () => {
    const a = newConversation('m', 0, 'a');
    const b = newConversation('m', 0, 'b');
    const store: ChatStore = { conversations: [a, b], activeId: 'b' };
    const changed = { ...b, title: 'changed' };
    expect(replace(store, changed)).toEqual({ conversations: [a, changed], activeId: 'b' });
    expect(replace(store, newConversation('m', 0, 'gone')).conversations).toEqual([a, b]);
  });

  it('picks another conversation when the one in view is deleted', () => {
    const a = newConversation('m', 0, 'a');
    const b = newConversation('m', 0, 'b');
    expect(remove({ conversations: [a, b], activeId: 'a' }, 'a')).toEqual({ conversations: [b], activeId: 'b' });
    expect(remove({ conversations: [a, b], activeId: 'b' }, 'a').activeId).toBe('b');
    expect(remove({ conversations: [a], activeId: 'a' }, 'a')).toEqual({ conversations: [], activeId: null });
    expect(remove({ conversations: [a, b], activeId: 'b' }, 'b')).toEqual({ conversations: [a], activeId: 'a' });
    expect(remove({ conversations: [a, b], activeId: 'a' }, 'nope')).toEqual({ conversations: [a, b], activeId: 'a' });
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

  it('round-trips a whole store with every kind of message', () => {
    let { conv: one } = started('Why?', CONTEXT);
    one = applyFrame(one, { type: 'thinking', id: 'a1', content: 'let me think' }, 2);
    one = applyFrame(one, { type: 'token', id: 'a1', content: 'Because.' }, 2);
    one = applyFrame(
      one,
      { type: 'done', id: 'a1', done_reason: 'stop', eval_count: 2, eval_duration: 1e8, total_duration: 2e8, prompt_eval_count: 5 },
      3
    );
    one = ask(one, 'And?', 'other:7b', 4, undefined, ['u2', 'a2']).conversation;
    one = applyFrame(one, { type: 'error', id: 'a2', message: 'out of memory' }, 5);
    let two = ask(newConversation('m', 10, 'c2'), 'Stop me', 'm', 11, undefined, ['u3', 'a3']).conversation;
    two = applyFrame(two, { type: 'done', id: 'a3', done_reason: 'cancelled' }, 12);
    const store: ChatStore = { conversations: [two, one], activeId: 'c1' };
    const back = restoreStore(JSON.parse(JSON.stringify(store)));
    expect(back).toEqual(store);
    expect(back.conversations[1].messages[1].stats?.doneReason).toBe('stop');
    expect(back.conversations[1].messages[3]).toMatchObject({ state: 'error', error: 'out of memory', model: 'other:7b' });
    expect(back.conversations[0].messages[1].state).toBe('stopped');
  });

  it('keeps at most MAX_CONVERSATIONS when reading back', () => {
    const many = Array.from({ length: MAX_CONVERSATIONS + 3 }, (_, i) => newConversation('m', i, `c${i}`));
    const back = restoreStore({ conversations: many, activeId: 'c0' });
    expect(back.conversations).toHaveLength(MAX_CONVERSATIONS);
    expect(back.activeId).toBe('c0');
  });

  it('fills in what a saved conversation or message lacks', () => {
    const back = restoreStore({
      activeId: 5,
      conversations: [
        {
          id: 'c',
          title: 3,
          model: null,
          messages: [
            {
              id: 'm1',
              role: 'assistant',
              content: 'x',
              state: 'done',
              created: 'yesterday',
              thinking: 1,
              model: 2,
              error: 3,
              stats: { evalCount: 4, evalDuration: '5', totalDuration: 'slow', doneReason: 7 },
              context: { label: 'cell', source: 'x' }
            }
          ]
        }
      ]
    });
    expect(back.activeId).toBe('c');
    expect(back.conversations[0]).toEqual({
      id: 'c',
      title: UNTITLED,
      model: '',
      created: 0,
      updated: 0,
      messages: [
        {
          id: 'm1',
          role: 'assistant',
          content: 'x',
          state: 'done',
          created: 0,
          stats: { evalCount: 4, evalDuration: 5, totalDuration: 0, promptEvalCount: 0 }
        }
      ]
    });
    expect('context' in back.conversations[0].messages[0]).toBe(false);
    expect('doneReason' in back.conversations[0].messages[0].stats!).toBe(false);
  });

  it('survives whatever the workspace file holds', () => {
    for (const junk of [
      null,
      undefined,
      0,
      42,
      NaN,
      true,
      'x',
      '{"conversations":[]}',
      [],
      [{ id: 'c', messages: [] }],
      {},
      { conversations: 'no' },
      { conversations: null },
      { conversations: { 0: { id: 'c', messages: [] } } }
    ]) {
      expect(restoreStore(junk)).toEqual({ conversations: [], activeId: null });
    }
    expect(
      restoreStore({ conversations: [null, 1, 'c', [], { id: 'c' }, { id: 'c', messages: 'none' }, { messages: [] }], activeId: 'c' })
    ).toEqual({ conversations: [], activeId: null });
  });

  it('drops malformed messages', () => {
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
            { id: 'm4', role: 'assistant', content: 'yo', state: 'weird', stats: { evalCount: 'many' } },
            null,
            7,
            'text',
            [],
            { role: 'user', content: 'no id' },
            { id: 5, role: 'user', content: 'numeric id' },
            { id: 'm5', content: 'no role' },
            { id: 'm6', role: 'user' },
            { id: 'm7', role: 'assistant', content: '', state: 'streaming', stats: null, context: 'cell' }
          ]
        }
      ]
    });
    expect(back.activeId).toBe('ok');
    expect(back.conversations).toHaveLength(1);
    expect(back.conversations[0].title).toBe('New chat');
    expect(back.conversations[0].messages.map(m => [m.id, m.state, m.stats])).toEqual([
      ['m1', 'done', undefined],
      ['m4', 'done', undefined],
      ['m7', 'stopped', undefined]
    ]);
  });
});

describe('taking back the last question', () => {
  it('returns the conversation without the last pair and what was asked', () => {
    let { conv } = started('Why?', CONTEXT);
    expect(takeBackLast(conv, 2)).toBeNull(); // still streaming
    conv = applyFrame(conv, { type: 'error', id: 'a1', message: 'boom' }, 2);
    const taken = takeBackLast(conv, 3)!;
    expect(taken.text).toBe('Why?');
    expect(taken.context).toEqual(CONTEXT);
    expect(taken.conversation.messages).toEqual([]);
    expect(taken.conversation.updated).toBe(3);
    expect(takeBackLast(newConversation('m', 0), 1)).toBeNull();
  });
});
