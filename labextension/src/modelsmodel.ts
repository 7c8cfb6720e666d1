/**
 * The local models and the pulls in flight, shared by the models panel and the chat's model picker.
 * Plain state plus a `changed` signal; the React views only read it.
 */
import { ISignal, Signal } from '@lumino/signaling';

import { MullamaApi, ModelEntry, ShowResponse } from './api';
import { applyPullEvent, cancelPull, PullState, startPull } from './pullprogress';

const KEEP_PULLS = 5;

export class ModelsModel {
  models: ModelEntry[] = [];
  /** Why the list could not be read, or null. */
  error: string | null = null;
  loaded = false;
  pulls: PullState[] = [];
  private readonly aborts = new Map<string, AbortController>();
  private readonly _changed = new Signal<this, void>(this);
  private refreshing: Promise<void> | null = null;

  constructor(readonly api: MullamaApi) {}

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  names(): string[] {
    return this.models.map(m => m.name);
  }

  refresh(): Promise<void> {
    // Several panels ask at once when the page opens: one request answers them all.
    if (!this.refreshing) {
      this.refreshing = this.load().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async load(): Promise<void> {
    try {
      const list = await this.api.models();
      this.models = [...list.models].sort((a, b) => a.name.localeCompare(b.name));
      this.error = null;
    } catch (e) {
      this.error = (e as Error).message;
    }
    this.loaded = true;
    this._changed.emit();
  }

  /** Pull a model by name or `hf:` spec, with progress; resolves when it ended, however it ended. */
  async pull(rawSpec: string): Promise<PullState> {
    const spec = rawSpec.trim();
    if (this.aborts.has(spec)) {
      return this.pulls.find(p => p.spec === spec)!;
    }
    let state = startPull(spec, Date.now());
    const set = (next: PullState): void => {
      state = next;
      this.pulls = [state, ...this.pulls.filter(p => p.spec !== spec)].slice(0, KEEP_PULLS);
      this._changed.emit();
    };
    set(state);
    const abort = new AbortController();
    this.aborts.set(spec, abort);
    try {
      await this.api.pull(spec, event => set(applyPullEvent(state, event, Date.now())), abort.signal);
      if (state.phase === 'running') {
        set({ ...state, phase: 'failed', status: 'failed', error: 'the server ended the pull without finishing it' });
      }
    } catch (e) {
      if (abort.signal.aborted) {
        set(cancelPull(state));
      } else {
        set({ ...state, phase: 'failed', status: 'failed', error: (e as Error).message });
      }
    } finally {
      this.aborts.delete(spec);
    }
    await this.refresh();
    return state;
  }

  cancel(spec: string): void {
    this.aborts.get(spec)?.abort();
  }

  dismiss(spec: string): void {
    this.pulls = this.pulls.filter(p => p.spec !== spec || p.phase === 'running');
    this._changed.emit();
  }

  async remove(name: string): Promise<void> {
    await this.api.remove(name);
    await this.refresh();
  }

  async unload(name: string): Promise<void> {
    await this.api.unload(name);
    await this.refresh();
  }

  show(name: string): Promise<ShowResponse> {
    return this.api.show(name);
  }
}
