/**
 * Answers rendered by JupyterLab's own Markdown renderer (the notebook's parser, sanitizer, math and code
 * highlighting, following the theme), with a Copy / Insert toolbar on every code block.
 */
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { addBelowIcon, copyIcon } from '@jupyterlab/ui-components';
import * as React from 'react';

import { withoutRemoteImages } from './remoteimages';

export interface CodeActions {
  copy(code: string): void;
  insert(code: string): void;
}

/** While tokens stream in, render at most this often (each render parses, sanitizes and highlights it all). */
const STREAM_RENDER_MS = 200;

export function Markdown(props: {
  source: string;
  rendermime: IRenderMimeRegistry;
  actions: CodeActions;
  streaming: boolean;
}): JSX.Element {
  const host = React.useRef<HTMLDivElement>(null);
  const latest = React.useRef(props.source);
  const generation = React.useRef(0);
  const timer = React.useRef<ReturnType<typeof setTimeout> | null>(null);
  latest.current = props.source;

  const render = React.useCallback(async () => {
    const mine = ++generation.current;
    const renderer = props.rendermime.createRenderer('text/markdown');
    const model = props.rendermime.createModel({ data: { 'text/markdown': withoutRemoteImages(latest.current) }, trusted: false });
    try {
      await renderer.renderModel(model);
    } catch (e) {
      renderer.dispose();
      console.warn('mullama: markdown rendering failed', e);
      return;
    }
    if (mine !== generation.current || !host.current) {
      renderer.dispose(); // a newer render won
      return;
    }
    decorateCodeBlocks(renderer.node, props.actions);
    host.current.replaceChildren(renderer.node);
  }, [props.rendermime, props.actions]);

  React.useEffect(() => {
    if (!props.streaming) {
      if (timer.current) {
        clearTimeout(timer.current);
        timer.current = null;
      }
      void render();
      return;
    }
    if (generation.current === 0) {
      void render(); // the first tokens show at once; later ones are batched
      return;
    }
    if (!timer.current) {
      timer.current = setTimeout(() => {
        timer.current = null;
        void render();
      }, STREAM_RENDER_MS);
    }
  }, [props.source, props.streaming, render]);

  React.useEffect(
    () => () => {
      if (timer.current) {
        clearTimeout(timer.current);
      }
    },
    []
  );

  return <div className="jp-mullama-markdown" ref={host} />;
}

function languageOf(pre: HTMLElement): string {
  const code = pre.querySelector('code');
  const match = /(?:^|\s)language-([\w+#.-]+)/.exec(code?.className ?? '');
  return match ? match[1] : '';
}

function decorateCodeBlocks(root: HTMLElement, actions: CodeActions): void {
  for (const pre of Array.from(root.querySelectorAll('pre'))) {
    const code = pre.textContent ?? '';
    const frame = document.createElement('div');
    frame.className = 'jp-mullama-code';
    const bar = document.createElement('div');
    bar.className = 'jp-mullama-code-bar';
    const label = document.createElement('span');
    label.className = 'jp-mullama-code-lang';
    label.textContent = languageOf(pre) || 'code';
    bar.appendChild(label);
    bar.appendChild(
      button('Copy', copyIcon.element({ tag: 'span' }), 'Copy this code', self => {
        actions.copy(code);
        self.querySelector('.jp-mullama-button-label')!.textContent = 'Copied';
        setTimeout(() => (self.querySelector('.jp-mullama-button-label')!.textContent = 'Copy'), 1500);
      })
    );
    bar.appendChild(
      button('Insert', addBelowIcon.element({ tag: 'span' }), 'Insert as a new cell below the active cell', () =>
        actions.insert(code.replace(/\n$/, ''))
      )
    );
    pre.replaceWith(frame);
    frame.appendChild(bar);
    frame.appendChild(pre);
  }
}

function button(text: string, icon: HTMLElement, title: string, onClick: (self: HTMLButtonElement) => void) {
  const b = document.createElement('button');
  b.className = 'jp-mullama-code-button';
  b.title = title;
  b.appendChild(icon);
  const label = document.createElement('span');
  label.className = 'jp-mullama-button-label';
  label.textContent = text;
  b.appendChild(label);
  b.addEventListener('click', () => onClick(b));
  return b;
}
