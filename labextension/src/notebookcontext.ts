/** "Include active cell / selection": read from the notebook the user last worked in. */
import { INotebookTracker, NotebookActions } from '@jupyterlab/notebook';
import { ISignal, Signal } from '@lumino/signaling';

import type { ContextSource } from './chatmodel';
import type { CellContext } from './conversation';

export class NotebookContext implements ContextSource {
  private readonly _changed = new Signal<this, void>(this);

  constructor(private readonly tracker: INotebookTracker) {
    tracker.currentChanged.connect(() => this._changed.emit(), this);
    tracker.activeCellChanged.connect(() => this._changed.emit(), this);
  }

  get changed(): ISignal<this, void> {
    return this._changed;
  }

  private where(): { name: string; index: number } | null {
    const panel = this.tracker.currentWidget;
    if (!panel || !this.tracker.activeCell) {
      return null;
    }
    return { name: panel.title.label, index: panel.content.activeCellIndex + 1 };
  }

  describe(): string | null {
    const where = this.where();
    return where ? `cell ${where.index} of ${where.name}` : null;
  }

  current(): CellContext | null {
    const where = this.where();
    const panel = this.tracker.currentWidget;
    const cell = this.tracker.activeCell;
    if (!where || !panel || !cell) {
      return null;
    }
    const source = cell.model.sharedModel.getSource();
    let text = source;
    let what = 'cell';
    const editor = cell.editor;
    if (editor) {
      const range = editor.getSelection();
      const start = editor.getOffsetAt(range.start);
      const end = editor.getOffsetAt(range.end);
      if (start !== end) {
        text = source.slice(Math.min(start, end), Math.max(start, end));
        what = 'selection in cell';
      }
    }
    if (!text.trim()) {
      return null;
    }
    const info = panel.content.model?.getMetadata('language_info') as { name?: string } | undefined;
    const language = cell.model.type === 'code' ? (info?.name ?? 'python') : 'markdown';
    return { label: `${what} ${where.index} of ${where.name}`, source: text, language };
  }

  /** Put code into the notebook as a new cell below the active one; false without a notebook. */
  insert(code: string): boolean {
    const panel = this.tracker.currentWidget;
    if (!panel) {
      return false;
    }
    NotebookActions.insertBelow(panel.content);
    panel.content.activeCell?.model.sharedModel.setSource(code);
    return true;
  }
}
