/** The models panel: local models with their state, pulls with live progress, remove, unload, Modelfile. */
import { Dialog, ReactWidget, showDialog, showErrorMessage, UseSignal } from '@jupyterlab/apputils';
import { refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import * as React from 'react';

import { ModelEntry } from './api';
import { modelsIcon } from './icons';
import { ModelsModel } from './modelsmodel';
import { describePull, formatBytes, PullState } from './pullprogress';

/** Loaded models expire on the server; while the panel is open its list follows. */
const POLL_MS = 15_000;

export class ModelsPanel extends ReactWidget {
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    readonly model: ModelsModel,
    private readonly chatWith: (name: string) => void
  ) {
    super();
    this.id = 'mullama-models';
    this.addClass('jp-mullama-models-panel');
    this.node.style.minWidth = '280px';
    this.title.icon = modelsIcon;
    this.title.caption = 'Mullama models';
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    void this.model.refresh();
    this.timer = setInterval(() => void this.model.refresh(), POLL_MS);
  }

  protected onBeforeHide(msg: Message): void {
    super.onBeforeHide(msg);
    if (this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  dispose(): void {
    if (this.timer) {
      clearInterval(this.timer);
    }
    super.dispose();
  }

  render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed}>
        {() => <ModelsView model={this.model} chatWith={this.chatWith} />}
      </UseSignal>
    );
  }
}

function ModelsView({ model, chatWith }: { model: ModelsModel; chatWith: (name: string) => void }): JSX.Element {
  const total = model.models.reduce((sum, m) => sum + m.size, 0);
  return (
    <div className="jp-mullama-models">
      <div className="jp-mullama-models-header">
        <h2>Models</h2>
        <button className="jp-mullama-icon-button" title="Reload" onClick={() => void model.refresh()}>
          <refreshIcon.react tag="span" />
        </button>
      </div>
      <PullForm model={model} />
      {model.pulls.map(p => (
        <PullCard key={p.spec} state={p} model={model} />
      ))}
      {model.error && (
        <div className="jp-mullama-error jp-mullama-banner" role="alert">
          {model.error}
        </div>
      )}
      <div className="jp-mullama-model-list" role="list">
        {model.loaded && !model.error && model.models.length === 0 && (
          <div className="jp-mullama-hint jp-mullama-none">No local models. Pull one above.</div>
        )}
        {model.models.map(m => (
          <ModelRow key={m.name} entry={m} model={model} chatWith={chatWith} />
        ))}
      </div>
      {model.models.length > 0 && (
        <div className="jp-mullama-hint jp-mullama-total">
          {model.models.length} model{model.models.length === 1 ? '' : 's'} · {formatBytes(total)}
        </div>
      )}
    </div>
  );
}

function PullForm({ model }: { model: ModelsModel }): JSX.Element {
  const [spec, setSpec] = React.useState('');
  const pull = () => {
    if (spec.trim()) {
      void model.pull(spec);
      setSpec('');
    }
  };
  return (
    <div className="jp-mullama-pull-form">
      <input
        className="jp-mullama-text jp-mullama-pull-input"
        aria-label="Model to pull"
        placeholder="smollm2:135m or hf:org/repo:Q4_K_M"
        value={spec}
        onChange={e => setSpec(e.target.value)}
        onKeyDown={e => {
          if (e.key === 'Enter') {
            pull();
          }
        }}
      />
      <button className="jp-mullama-button jp-mod-accept jp-mullama-pull-button" disabled={!spec.trim()} onClick={pull}>
        Pull
      </button>
    </div>
  );
}

function PullCard({ state, model }: { state: PullState; model: ModelsModel }): JSX.Element {
  const percent = state.percent === null ? null : Math.round(state.percent * 10) / 10;
  return (
    <div className={`jp-mullama-pull jp-mod-${state.phase}`} data-spec={state.spec}>
      <div className="jp-mullama-pull-title">
        <span className="jp-mullama-pull-spec">{state.spec}</span>
        <span className="jp-mullama-pull-percent">{percent === null ? state.status : `${Math.floor(percent)}%`}</span>
      </div>
      <div
        className="jp-mullama-progress"
        role="progressbar"
        aria-label={`Pulling ${state.spec}`}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent ?? undefined}
      >
        <div
          className={`jp-mullama-progress-fill ${percent === null && state.phase === 'running' ? 'jp-mod-indeterminate' : ''}`}
          style={{ width: `${percent ?? (state.phase === 'running' ? 30 : 100)}%` }}
        />
      </div>
      <div className="jp-mullama-pull-status">
        <span className={state.phase === 'failed' ? 'jp-mullama-error' : ''}>{describePull(state)}</span>
        {state.phase === 'running' ? (
          <button className="jp-mullama-link-button" onClick={() => model.cancel(state.spec)}>
            Cancel
          </button>
        ) : (
          <button className="jp-mullama-link-button" onClick={() => model.dismiss(state.spec)}>
            Dismiss
          </button>
        )}
      </div>
    </div>
  );
}

function ModelRow(props: { entry: ModelEntry; model: ModelsModel; chatWith: (name: string) => void }): JSX.Element {
  const { entry, model } = props;
  const [busy, setBusy] = React.useState(false);
  const d = entry.details ?? {};
  const facts = [formatBytes(entry.size), d.family, d.parameter_size, d.quantization_level].filter(Boolean);
  const run = async (what: string, action: () => Promise<void>) => {
    setBusy(true);
    try {
      await action();
    } catch (e) {
      await showErrorMessage(`Could not ${what} ${entry.name}`, e as Error);
    } finally {
      setBusy(false);
    }
  };
  const remove = async () => {
    const answer = await showDialog({
      title: `Remove ${entry.name}?`,
      body: `Its files (${formatBytes(entry.size)}) are deleted unless another model shares them. You can pull it again later.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
    });
    if (answer.button.accept) {
      await run('remove', () => model.remove(entry.name));
    }
  };
  const showModelfile = async () => {
    let text: string;
    try {
      const info = await model.show(entry.name);
      text = info.modelfile ?? '(no Modelfile)';
    } catch (e) {
      await showErrorMessage(`Could not read ${entry.name}`, e as Error);
      return;
    }
    await showDialog({
      title: `Modelfile of ${entry.name}`,
      body: <pre className="jp-mullama-modelfile">{text}</pre>,
      buttons: [Dialog.okButton({ label: 'Close' })]
    });
  };
  return (
    <div className="jp-mullama-model" role="listitem" data-name={entry.name}>
      <div className="jp-mullama-model-head">
        <span className="jp-mullama-model-name" title={entry.digest}>
          {entry.name}
        </span>
        {entry.loaded && (
          <span className="jp-mullama-badge" title={entry.expires_at ? `unloads at ${entry.expires_at}` : 'in memory'}>
            loaded
          </span>
        )}
      </div>
      <div className="jp-mullama-model-facts">{facts.join(' · ')}</div>
      <div className="jp-mullama-model-actions">
        <button className="jp-mullama-link-button" disabled={busy} onClick={() => props.chatWith(entry.name)}>
          Chat
        </button>
        <button className="jp-mullama-link-button" disabled={busy} onClick={() => void showModelfile()}>
          Modelfile
        </button>
        {entry.loaded && (
          <button className="jp-mullama-link-button" disabled={busy} onClick={() => void run('unload', () => model.unload(entry.name))}>
            Unload
          </button>
        )}
        <button className="jp-mullama-link-button jp-mod-warn" disabled={busy} onClick={() => void remove()}>
          Remove
        </button>
      </div>
    </div>
  );
}
