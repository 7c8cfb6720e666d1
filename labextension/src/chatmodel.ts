/**
 * The chat panel's state: conversations, the one in view, what is streaming. Sending goes over the shared
 * `/ws/chat` socket; every frame is folded in by the pure functions of `conversation.ts`.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { ChatSocket } from './chatsocket';
import {
  applyFrame,
  ask,
  CellContext,
  ChatStore,
  Conversation,
  endStreaming,
  findModel,
  isStreaming,
  newConversation,
  remove,
  replace,
  restoreStore,
  ServerFrame,
  takeBackLast,
  upsert,
  wireMessages
} from './conversation';
import { ModelsModel } from './modelsmodel';

export interface ChatSettings {
  defaultModel: string;
  temperature: number;
  maxTokens: number;
  systemPrompt: string;
  think: boolean;
  includeContext: boolean;
}

export const DEFAULT_SETTINGS: ChatSettings = {
  defaultModel: '',
  temperature: 0.7,
  maxTokens: 1024,
  systemPrompt: '',
  think: false,
  includeContext: false
};

/** Where "include active cell / selection" reads from (the notebook tracker, in the app). */
export interface ContextSource {
  /** The selection in the active cell if there is one, else the whole cell; null without a notebook. */
  current(): CellContext | null;
  /** A short label for the chip ("cell 3 of analysis.ipynb"), or null. */
  describe(): string | null;
  readonly changed: ISignal<unknown, void>;
}

const SAVE_DELAY_MS = 400;
const STREAM_EMIT_MS = 60;

export class ChatModel {
  store: ChatStore = { conversations: [], activeId: null };
  settings: ChatSettings = { ...DEFAULT_SETTINGS };
  includeContext = false;
  /** A problem to show above the input (no model, the socket refused…), or null. */
  notice: string | null = null;
  private readonly _changed = new Signal<this, void>(this);
  private saveTimer: ReturnType<typeof setTimeout> | null = null;
  private emitTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    readonly socket: ChatSocket,
    readonly models: ModelsModel,
    private readonly persist: ((store: ChatStore) => Promise<void>) | null = null,
    readonly context: ContextSource | null = null
  ) {
    models.changed.connect(() => this._changed.emit(), this);
    context?.changed.connect(() => this._changed.emit(), this);
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get active(): Conversation | null {
    return this.store.conversations.find(c => c.id === this.store.activeId) ?? null;
  }

  get streaming(): boolean {
    const conv = this.active;
    return conv !== null && isStreaming(conv);
  }

  /** The model the next message goes to. */
  get model(): string {
    const conv = this.active;
    if (conv?.model) {
      return conv.model;
    }
    return this.preferredModel();
  }

  private preferredModel(): string {
    const names = this.models.names();
    const wanted = this.settings.defaultModel;
    if (wanted) {
      const found = findModel(names, wanted);
      if (found || !this.models.loaded) {
        return found ?? wanted;
      }
    }
    const recent = this.store.conversations.find(c => c.model && names.includes(c.model));
    return recent?.model ?? names[0] ?? '';
  }

  restore(raw: unknown): void {
    this.store = restoreStore(raw);
    this._changed.emit();
  }

  updateSettings(settings: Partial<ChatSettings>): void {
    const before = this.settings.includeContext;
    this.settings = { ...this.settings, ...settings };
    if (this.settings.includeContext !== before) {
      this.includeContext = this.settings.includeContext; // the toggle starts from the setting
    }
    this._changed.emit();
  }

  setIncludeContext(on: boolean): void {
    this.includeContext = on;
    this._changed.emit();
  }

  newChat(): void {
    const current = this.active;
    if (current && current.messages.length === 0) {
      return; // already looking at an empty chat
    }
    const conv = newConversation(this.model, Date.now());
    this.store = { ...upsert(this.store, conv), activeId: conv.id };
    this.notice = null;
    this.changedAndSave();
  }

  select(id: string): void {
    if (this.store.conversations.some(c => c.id === id)) {
      this.store = { ...this.store, activeId: id };
      this.notice = null;
      this.changedAndSave();
    }
  }

  delete(id: string): void {
    const conv = this.store.conversations.find(c => c.id === id);
    if (conv) {
      this.stopConversation(conv);
    }
    this.store = remove(this.store, id);
    this.changedAndSave();
  }

  /** Chat with this model: in the conversation in view if it is empty, else in a new one. */
  chatWith(name: string): void {
    const conv = this.active;
    if (conv && conv.messages.length > 0) {
      const fresh = newConversation(name, Date.now());
      this.store = { ...upsert(this.store, fresh), activeId: fresh.id };
      this.notice = null;
      this.changedAndSave();
    } else {
      this.setModel(name);
    }
  }

  setModel(name: string): void {
    let conv = this.active;
    if (!conv) {
      conv = newConversation(name, Date.now());
      this.store = { ...upsert(this.store, conv), activeId: conv.id };
    } else {
      this.store = replace(this.store, { ...conv, model: name });
    }
    this.notice = null;
    this.changedAndSave();
  }

  /** Ask the last question again (after an error, a Stop, or for another answer), with the same attached code. */
  async retry(): Promise<boolean> {
    const conv = this.active;
    const taken = conv ? takeBackLast(conv, Date.now()) : null;
    if (!taken) {
      return false;
    }
    this.store = replace(this.store, taken.conversation);
    return this.send(taken.text, taken.context ?? null);
  }

  /**
   * Send a message in the conversation in view. `context`: the code to attach; by default the active cell when
   * "include" is on.
   */
  async send(text: string, context?: CellContext | null): Promise<boolean> {
    if (!text.trim()) {
      return false;
    }
    const model = this.model;
    if (!model) {
      this.notice = 'No model to answer: pull one in the Models panel (for example smollm2:135m), then pick it here.';
      this._changed.emit();
      return false;
    }
    if (this.streaming) {
      return false;
    }
    let conv = this.active ?? newConversation(model, Date.now());
    let attach: CellContext | undefined;
    if (context !== undefined) {
      attach = context ?? undefined;
    } else if (this.includeContext && this.context) {
      attach = this.context.current() ?? undefined;
    }
    const asked = ask(conv, text, model, Date.now(), attach);
    conv = asked.conversation;
    this.store = { ...upsert(this.store, conv), activeId: conv.id };
    this.notice = null;
    this._changed.emit();
    const options: Record<string, unknown> = { temperature: this.settings.temperature };
    if (this.settings.maxTokens !== 0) {
      options.num_predict = this.settings.maxTokens;
    }
    const body: Record<string, unknown> = {
      model,
      messages: wireMessages(conv, this.settings.systemPrompt),
      options
    };
    // Only models that can think are asked to (the server refuses `think` for the others, as Ollama does).
    const capabilities = this.models.models.find(m => m.name === model)?.capabilities ?? [];
    if (this.settings.think && capabilities.includes('thinking')) {
      body.think = true;
    }
    const convId = conv.id;
    try {
      await this.socket.chat(asked.answerId, body, frame => this.onFrame(convId, frame));
    } catch (e) {
      this.onFrame(convId, { type: 'error', id: asked.answerId, message: (e as Error).message, status: 0 });
    }
    return true;
  }

  /** Stop the answer streaming in the visible conversation. */
  stop(): void {
    const conv = this.active;
    if (conv) {
      this.stopConversation(conv);
    }
  }

  private stopConversation(conv: Conversation): void {
    for (const m of conv.messages) {
      if (m.state === 'streaming' && !this.socket.cancel(m.id)) {
        this.store = replace(this.store, endStreaming(conv, 'stopped', Date.now()));
        this.changedAndSave();
      }
    }
  }

  private onFrame(convId: string, incoming: ServerFrame): void {
    let frame = incoming;
    if (frame.type === 'error' && frame.status === 404) {
      // Say what to do next, not only what went wrong.
      frame = { ...frame, message: `${frame.message}: pull it in the Models panel, or pick another model above.` };
    }
    const conv = this.store.conversations.find(c => c.id === convId);
    if (!conv) {
      return; // deleted while it streamed
    }
    const before = conv.messages.find(m => m.id === String(frame.id));
    const first = before !== undefined && !before.content && !before.thinking;
    this.store = replace(this.store, applyFrame(conv, frame, Date.now()));
    if (frame.type === 'done' || frame.type === 'error') {
      this.changedAndSave();
      if (frame.type === 'done') {
        void this.models.refresh(); // the model is loaded now
      }
    } else if (first) {
      this._changed.emit(); // the first words show at once
    } else if (!this.emitTimer) {
      // Tokens arrive every ~25 ms; the view does not need to follow faster than this, and on a small
      // machine every render is CPU the model does not get.
      this.emitTimer = setTimeout(() => {
        this.emitTimer = null;
        this._changed.emit();
      }, STREAM_EMIT_MS);
    }
  }

  private changedAndSave(): void {
    this._changed.emit();
    if (!this.persist) {
      return;
    }
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
    }
    this.saveTimer = setTimeout(() => {
      this.saveTimer = null;
      this.persist?.(this.store).catch(e => console.warn('mullama: could not save the conversations:', e));
    }, SAVE_DELAY_MS);
  }
}
