/**
 * Conversations and what the `/ws/chat` frames do to them. Pure and immutable (every change returns a new
 * object), so React re-renders on identity and the tests need no browser.
 */

export type MessageState = 'streaming' | 'done' | 'stopped' | 'error';

/** Code from the notebook attached to a question ("include active cell / selection"). */
export interface CellContext {
  /** What the user sees on the chip, e.g. "selection in analysis.ipynb, cell 3". */
  label: string;
  source: string;
  language: string;
}

export interface Stats {
  evalCount: number;
  /** Nanoseconds, as the server reports them. */
  evalDuration: number;
  totalDuration: number;
  promptEvalCount: number;
  /** "stop" (the model finished) or "length" (cut at the token limit). */
  doneReason?: string;
}

export interface ChatMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  thinking?: string;
  state: MessageState;
  model?: string;
  error?: string;
  stats?: Stats;
  context?: CellContext;
  created: number;
}

export interface Conversation {
  id: string;
  title: string;
  model: string;
  messages: ChatMessage[];
  created: number;
  updated: number;
}

export interface ChatStore {
  conversations: Conversation[];
  activeId: string | null;
}

/** A server frame of the `/ws/chat` protocol (docs/websocket.md). */
export interface ServerFrame {
  type: 'token' | 'thinking' | 'tool_call' | 'done' | 'error' | 'pong';
  id: string | number | null;
  content?: string;
  message?: string;
  status?: number;
  done_reason?: string;
  eval_count?: number;
  eval_duration?: number;
  total_duration?: number;
  prompt_eval_count?: number;
  call?: { name: string; arguments: unknown };
}

/** What the model is sent: Ollama's chat messages. */
export interface WireMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export const MAX_CONVERSATIONS = 50;

/** Ollama's rule: a name without a tag means ":latest" ("llama3" is "llama3:latest"). */
export function withTag(name: string): string {
  const trimmed = name.trim();
  const last = trimmed.split('/').pop() ?? '';
  return trimmed && !last.includes(':') ? `${trimmed}:latest` : trimmed;
}

/** The local model a user-typed name refers to, if any. */
export function findModel(names: string[], wanted: string): string | undefined {
  const key = withTag(wanted).toLowerCase();
  return names.find(n => withTag(n).toLowerCase() === key);
}
const TITLE_LENGTH = 48;
export const UNTITLED = 'New chat';

let counter = 0;
/** Unique enough within a browser: time, a counter and randomness. */
export function newId(prefix: string): string {
  counter += 1;
  return `${prefix}-${Date.now().toString(36)}-${counter.toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}

export function newConversation(model: string, now: number, id = newId('c')): Conversation {
  return { id, title: UNTITLED, model, messages: [], created: now, updated: now };
}

export function titleFrom(text: string): string {
  const line = text.trim().split('\n')[0].replace(/\s+/g, ' ').trim();
  if (!line) {
    return UNTITLED;
  }
  if (line.length <= TITLE_LENGTH) {
    return line;
  }
  // Never cut an emoji (a UTF-16 surrogate pair) in half.
  const cut = /[\uD800-\uDBFF]/.test(line[TITLE_LENGTH - 2]) ? TITLE_LENGTH - 2 : TITLE_LENGTH - 1;
  return `${line.slice(0, cut)}…`;
}

export function isStreaming(conv: Conversation): boolean {
  return conv.messages.some(m => m.state === 'streaming');
}

/**
 * The user's turn and the (empty, streaming) answer it will get. The answer's id doubles as the chat id on
 * the socket, so frames find their message.
 */
export function ask(
  conv: Conversation,
  text: string,
  model: string,
  now: number,
  context?: CellContext,
  ids: [string, string] = [newId('u'), newId('a')]
): { conversation: Conversation; answerId: string } {
  const user: ChatMessage = { id: ids[0], role: 'user', content: text, state: 'done', created: now };
  if (context) {
    user.context = context;
  }
  const answer: ChatMessage = { id: ids[1], role: 'assistant', content: '', state: 'streaming', model, created: now };
  const title = conv.messages.length === 0 || conv.title === UNTITLED ? titleFrom(text) : conv.title;
  return {
    conversation: { ...conv, title, model, messages: [...conv.messages, user, answer], updated: now },
    answerId: answer.id
  };
}

function updateMessage(
  conv: Conversation,
  id: string,
  change: (m: ChatMessage) => ChatMessage,
  now: number
): Conversation {
  let found = false;
  const messages = conv.messages.map(m => {
    if (m.id !== id) {
      return m;
    }
    found = true;
    return change(m);
  });
  return found ? { ...conv, messages, updated: now } : conv;
}

/** Fold one server frame into the conversation; frames for other chats leave it unchanged. */
export function applyFrame(conv: Conversation, frame: ServerFrame, now: number): Conversation {
  if (frame.id === null || frame.id === undefined) {
    return conv;
  }
  const id = String(frame.id);
  switch (frame.type) {
    case 'token':
      return updateMessage(conv, id, m => ({ ...m, content: m.content + (frame.content ?? '') }), now);
    case 'thinking':
      return updateMessage(conv, id, m => ({ ...m, thinking: (m.thinking ?? '') + (frame.content ?? '') }), now);
    case 'tool_call':
      return updateMessage(
        conv,
        id,
        m => ({
          ...m,
          content: `${m.content}\n\n\`\`\`json\n${JSON.stringify({ tool: frame.call?.name, arguments: frame.call?.arguments }, null, 2)}\n\`\`\`\n`
        }),
        now
      );
    case 'done':
      return updateMessage(
        conv,
        id,
        m => {
          if (frame.done_reason === 'cancelled') {
            return { ...m, state: 'stopped' };
          }
          return {
            ...m,
            state: 'done',
            stats: {
              evalCount: frame.eval_count ?? 0,
              evalDuration: frame.eval_duration ?? 0,
              totalDuration: frame.total_duration ?? 0,
              promptEvalCount: frame.prompt_eval_count ?? 0,
              doneReason: frame.done_reason
            }
          };
        },
        now
      );
    case 'error':
      return updateMessage(conv, id, m => ({ ...m, state: 'error', error: frame.message ?? 'the request failed' }), now);
    default:
      return conv;
  }
}

/**
 * Take back the last question and its answer (to ask it again): the conversation without them, and what was
 * asked. Null when the last turn is not a finished question-and-answer pair.
 */
export function takeBackLast(
  conv: Conversation,
  now: number
): { conversation: Conversation; text: string; context?: CellContext } | null {
  const n = conv.messages.length;
  const [question, answer] = conv.messages.slice(n - 2);
  if (n < 2 || question.role !== 'user' || answer.role !== 'assistant' || answer.state === 'streaming') {
    return null;
  }
  return {
    conversation: { ...conv, messages: conv.messages.slice(0, n - 2), updated: now },
    text: question.content,
    context: question.context
  };
}

/** Every answer still streaming ends this way (Stop pressed, the socket lost, the page reloaded). */
export function endStreaming(conv: Conversation, state: 'stopped' | 'error', now: number, error?: string): Conversation {
  if (!isStreaming(conv)) {
    return conv;
  }
  const messages = conv.messages.map(m =>
    m.state === 'streaming' ? { ...m, state, ...(state === 'error' ? { error: error ?? 'interrupted' } : {}) } : m
  );
  return { ...conv, messages, updated: now };
}

export function formatContext(context: CellContext): string {
  const fence = context.source.includes('```') ? '~~~~' : '```';
  return `Here is the ${context.label}:\n\n${fence}${context.language}\n${context.source}\n${fence}\n\n`;
}

/**
 * The history sent with a new question: every finished turn, the attached code inlined, failed answers
 * (and the question they failed on) left out so a retry does not repeat them.
 */
export function wireMessages(conv: Conversation, system: string): WireMessage[] {
  const out: WireMessage[] = [];
  if (system.trim()) {
    out.push({ role: 'system', content: system });
  }
  const msgs = conv.messages;
  for (let i = 0; i < msgs.length; i++) {
    const m = msgs[i];
    if (m.role === 'user') {
      const reply = msgs[i + 1];
      if (reply && reply.role === 'assistant' && reply.state === 'error') {
        i += 1;
        continue;
      }
      out.push({ role: 'user', content: (m.context ? formatContext(m.context) : '') + m.content });
    } else if (m.state !== 'streaming' && m.state !== 'error' && m.content.trim()) {
      out.push({ role: 'assistant', content: m.content });
    }
  }
  return out;
}

/** "42 tokens · 18.3 tok/s · 2.4 s" */
export function statsLine(stats: Stats): string {
  const parts = [`${stats.evalCount} token${stats.evalCount === 1 ? '' : 's'}`];
  if (stats.evalDuration > 0) {
    parts.push(`${((stats.evalCount * 1e9) / stats.evalDuration).toFixed(1)} tok/s`);
  }
  if (stats.totalDuration > 0) {
    parts.push(`${(stats.totalDuration / 1e9).toFixed(1)} s`);
  }
  if (stats.doneReason === 'length') {
    parts.push('token limit');
  }
  return parts.join(' · ');
}

/** Put a changed conversation back, most recently used first, and keep the store bounded. */
export function upsert(store: ChatStore, conv: Conversation): ChatStore {
  const rest = store.conversations.filter(c => c.id !== conv.id);
  const conversations = [conv, ...rest].slice(0, MAX_CONVERSATIONS);
  return { ...store, conversations };
}

export function replace(store: ChatStore, conv: Conversation): ChatStore {
  return { ...store, conversations: store.conversations.map(c => (c.id === conv.id ? conv : c)) };
}

export function remove(store: ChatStore, id: string): ChatStore {
  const conversations = store.conversations.filter(c => c.id !== id);
  const activeId = store.activeId === id ? (conversations[0]?.id ?? null) : store.activeId;
  return { conversations, activeId };
}

function isString(v: unknown): v is string {
  return typeof v === 'string';
}

function restoreMessage(raw: unknown): ChatMessage | null {
  if (!raw || typeof raw !== 'object') {
    return null;
  }
  const r = raw as Record<string, unknown>;
  if (!isString(r.id) || (r.role !== 'user' && r.role !== 'assistant') || !isString(r.content)) {
    return null;
  }
  const states: MessageState[] = ['streaming', 'done', 'stopped', 'error'];
  let state = states.includes(r.state as MessageState) ? (r.state as MessageState) : 'done';
  if (state === 'streaming') {
    state = 'stopped'; // the page went away while it streamed; the server cancelled it with the socket
  }
  const m: ChatMessage = {
    id: r.id,
    role: r.role,
    content: r.content,
    state,
    created: typeof r.created === 'number' ? r.created : 0
  };
  if (isString(r.thinking)) {
    m.thinking = r.thinking;
  }
  if (isString(r.model)) {
    m.model = r.model;
  }
  if (isString(r.error)) {
    m.error = r.error;
  }
  const s = r.stats as Record<string, unknown> | undefined;
  if (s && typeof s === 'object' && typeof s.evalCount === 'number') {
    m.stats = {
      evalCount: s.evalCount,
      evalDuration: Number(s.evalDuration) || 0,
      totalDuration: Number(s.totalDuration) || 0,
      promptEvalCount: Number(s.promptEvalCount) || 0
    };
    if (isString(s.doneReason)) {
      m.stats.doneReason = s.doneReason;
    }
  }
  const c = r.context as Record<string, unknown> | undefined;
  if (c && typeof c === 'object' && isString(c.label) && isString(c.source) && isString(c.language)) {
    m.context = { label: c.label, source: c.source, language: c.language };
  }
  return m;
}

/**
 * Read back what was saved (the workspace is a file anyone can edit): whatever does not have the expected
 * shape is dropped, never thrown.
 */
export function restoreStore(raw: unknown): ChatStore {
  const empty: ChatStore = { conversations: [], activeId: null };
  if (!raw || typeof raw !== 'object') {
    return empty;
  }
  const r = raw as Record<string, unknown>;
  if (!Array.isArray(r.conversations)) {
    return empty;
  }
  const conversations: Conversation[] = [];
  for (const item of r.conversations.slice(0, MAX_CONVERSATIONS)) {
    if (!item || typeof item !== 'object') {
      continue;
    }
    const c = item as Record<string, unknown>;
    if (!isString(c.id) || !Array.isArray(c.messages)) {
      continue;
    }
    conversations.push({
      id: c.id,
      title: isString(c.title) ? c.title : UNTITLED,
      model: isString(c.model) ? c.model : '',
      messages: c.messages.map(restoreMessage).filter((m): m is ChatMessage => m !== null),
      created: typeof c.created === 'number' ? c.created : 0,
      updated: typeof c.updated === 'number' ? c.updated : 0
    });
  }
  const activeId =
    isString(r.activeId) && conversations.some(c => c.id === r.activeId) ? r.activeId : (conversations[0]?.id ?? null);
  return { conversations, activeId };
}
